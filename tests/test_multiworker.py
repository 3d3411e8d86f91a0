"""`--strategy multiworker`: workers on 127.0.0.1 train like one process; faults end in bounded time.

One driver process per worker, started by tools/distributed_train.py, trains
both tasks for one epoch on tiny data (dropout 0: dropout masks are drawn per
replica) under one MultiWorkerMirroredStrategy; meanwhile this process trains
the same with the default strategy and the same global batch, as the reference.
A second scenario SIGKILLs one worker mid-run and resumes the run.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import REPO, _python
from keras_hw2.launch import free_port, tf_config

LAUNCHER = str(REPO / "tools" / "distributed_train.py")
WORDS = ["cat", "cab", "tab", "bat", "act", "tact", "taco", "coat", "boat", "oat", "cot", "bot", "tot", "cob"]
PHONES = {"c": "k", "a": "æ", "t": "t", "b": "b", "o": "oʊ"}

DRIVER = """
import json, sys
from keras_hw2.distribute import get_strategy

get_strategy("multiworker")  # before any other TensorFlow op
sys.path.insert(0, sys.argv[1])
from test_multiworker import train_both

for result in train_both("multiworker", *sys.argv[2:]):
    print("RESULT " + json.dumps(result), flush=True)
"""


def train_both(strategy, root, npz, corpus):
    """One epoch of each task (dropout 0) under `strategy`; returns what each run recorded."""
    import hashlib

    import keras

    from keras_hw2 import cnn, runs
    from keras_hw2.p2g import train as p2g

    tasks = {
        "cnn": (cnn.TrainConfig(data=npz, epochs=1, batch_size=8, learning_rate=0.05, dropout=0.0, strategy=strategy),
                cnn.train_and_evaluate),
        "p2g": (p2g.TrainConfig(data=corpus, use_attention=True, units=8, batch_size=16, epochs=1, dropout=0.0,
                                strategy=strategy), p2g.train_and_evaluate),
    }
    results = []
    for task, (config, train) in tasks.items():
        with runs.open_run(task, config, name="mw", root=root) as run:
            train(config, run, verbose=2)
            weights = keras.saving.load_model(run.file("best.keras")).get_weights()
            results.append({"task": task, "chief": run.is_chief, "path": str(run.path),
                            "loss": run.history["loss"], "val_loss": run.history["val_loss"],
                            "weights": hashlib.sha256(b"".join(w.tobytes() for w in weights)).hexdigest()})
    return results


def _results(stdout):
    return [json.loads(line.split("RESULT ", 1)[1]) for line in stdout.splitlines() if "RESULT " in line]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from keras_hw2.cnn.data import write_synthetic_npz

    tmp = tmp_path_factory.mktemp("multiworker")
    corpus = tmp / "corpus"
    corpus.mkdir()
    lines = [f"{' '.join(PHONES[ch] for ch in w)}\t{w}" for w in WORDS]
    (corpus / "train.tsv").write_text("\n".join(lines * 3) + "\n", encoding="utf-8")
    (corpus / "valid.tsv").write_text("\n".join(lines[:6]) + "\n", encoding="utf-8")
    (tmp / "driver.py").write_text(DRIVER)
    return tmp, write_synthetic_npz(tmp / "tiny.npz", num_per_class=4, seed=0), corpus


@pytest.fixture(scope="module")
def two_workers_and_one_process(data):
    """What 2 workers (through the launcher) and, meanwhile, this process record."""
    tmp, npz, corpus = data
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1", "KERAS_HW2_WORKER_TIMEOUT": "120"}
    workers = subprocess.Popen([sys.executable, LAUNCHER, "--workers", "2", "--timeout", "400", "--", sys.executable,
                                str(tmp / "driver.py"), str(REPO / "tests"), str(tmp / "runs"), str(npz), str(corpus)],
                               cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        single = train_both("default", str(tmp / "single"), str(npz), str(corpus))
        out, err = workers.communicate(timeout=450)
    finally:
        if workers.poll() is None:
            workers.kill()
            workers.communicate()
    assert workers.returncode == 0, out[-3000:] + err[-3000:]
    return _results(out), single, tmp / "runs"


@pytest.mark.parametrize("task", ["cnn", "p2g"])
def test_two_workers_end_with_identical_weights_and_the_single_process_losses(two_workers_and_one_process, task):
    workers, single, _ = two_workers_and_one_process
    chief, other = sorted((r for r in workers if r["task"] == task), key=lambda r: not r["chief"])
    reference = next(r for r in single if r["task"] == task)
    assert chief["chief"] and not other["chief"]
    assert chief["weights"] == other["weights"]
    for key in ("loss", "val_loss"):
        assert chief[key] == pytest.approx(reference[key], rel=1e-4)
        assert other[key] == chief[key]


def test_only_the_chief_keeps_a_run_directory(two_workers_and_one_process):
    workers, _, root = two_workers_and_one_process
    assert sorted(str(p.relative_to(root)) for p in root.glob("*/*")) == ["cnn/mw", "p2g/mw"]
    for result in workers:
        assert Path(result["path"]).exists() == result["chief"]
    assert json.loads((root / "cnn" / "mw" / "results.json").read_text())["status"] == "finished"


def _start_worker(args, addresses, index, timeout_s):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1",
           "TF_CONFIG": tf_config(addresses, index), "KERAS_HW2_WORKER_TIMEOUT": str(timeout_s)}
    out = tempfile.TemporaryFile("w+")
    process = subprocess.Popen([sys.executable, *args], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                               text=True)
    process.output = out
    return process


def _output(process):
    process.output.seek(0)
    return process.output.read()


def test_a_worker_alone_gives_up_in_bounded_time_naming_the_missing_address(data, tmp_path):
    _, npz, _ = data
    addresses = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]
    start = time.monotonic()
    alone = _start_worker(["-m", "keras_hw2.cnn", "train", "--data", str(npz), "--strategy", "multiworker",
                           "--runs-dir", str(tmp_path / "runs")], addresses, 0, timeout_s=3)
    assert alone.wait(timeout=120) == -signal.SIGKILL  # by the watchdog: TensorFlow ignores SIGTERM there
    assert time.monotonic() - start < 100  # start-up (TensorFlow import) plus the 3 s
    assert f"error: worker {addresses[0]} could not reach {addresses[1]} within 3 s" in _output(alone)
    assert not (tmp_path / "runs").exists()


def _epochs_done(history):
    try:
        return len(json.loads(history.read_text())["epoch"])
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return 0


@pytest.mark.slow  # two trainings, one killed, then a resume (~40 s); `make test-slow`
def test_killing_one_worker_stops_the_other_and_the_same_command_resumes(data, tmp_path):
    _, npz, _ = data
    epochs = 2
    args = ["-m", "keras_hw2.cnn", "train", "--model", "batchnorm", "--data", str(npz), "--epochs", str(epochs),
            "--batch-size", "4", "--strategy", "multiworker", "--runs-dir", str(tmp_path / "runs"), "--run-name", "kill"]
    run = tmp_path / "runs" / "cnn" / "kill"
    addresses = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]
    chief, other = (_start_worker(args, addresses, i, timeout_s=60) for i in (0, 1))
    try:
        deadline = time.monotonic() + 240
        while _epochs_done(run / "history.json") < 1 and chief.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _epochs_done(run / "history.json") == 1, _output(chief)[-3000:]
        other.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        code = chief.wait(timeout=120)
        assert time.monotonic() - killed_at < 90
    finally:
        for process in (chief, other):
            if process.poll() is None:
                process.kill()
                process.wait()
    out = _output(chief)
    assert code == 3 and f"error: {run}: lost contact with another worker at epoch 2" in out, out[-3000:]
    assert _epochs_done(run / "history.json") == 1 and not (run / "results.json").exists()

    done = _python(LAUNCHER, "--workers", "2", "--timeout", "300", "--", sys.executable, *args, timeout=360)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    chief_output = done.stdout.split("--- worker0 output ---", 1)[1]
    assert "(resumed)" in chief_output and "Epoch 1/" not in chief_output and f"Epoch {epochs}/{epochs}" in chief_output
    history = json.loads((run / "history.json").read_text())
    assert history["epoch"] == list(range(epochs)) and None not in history["loss"]
    assert json.loads((run / "results.json").read_text())["status"] == "finished"
