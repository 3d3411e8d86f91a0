"""Killed runs resume: a CNN training run and a keras-tuner search, SIGKILLed and re-run.

Training resumes from its last finished epoch (the state `keras_hw2.training`
keeps in the run's resume/ directory) and ends bit for bit where an
uninterrupted run ends, with one continuous history.json; a search resumes from
its project directory and runs every trial exactly once; a run directory
holding another configuration is refused through the CLI.
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

from conftest import REPO

EPOCHS = 2


def _start(*args):
    """Start `python *args`; its output goes to temporary files (a full pipe would block it)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    out, err = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
    process = subprocess.Popen([sys.executable, *args], cwd=REPO, env=env, text=True, stdout=out, stderr=err)
    process.outputs = (out, err)
    return process


def _finished(process, timeout_s=300):
    """Wait for `process`; returns (exit status, stdout, stderr)."""
    try:
        process.wait(timeout=timeout_s)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    texts = []
    for file in process.outputs:
        file.seek(0)
        texts.append(file.read())
        file.close()
    return (process.returncode, *texts)


def _kill_when(process, condition, timeout_s=180):
    """SIGKILL `process` as soon as `condition()` holds; True if it was still running then."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        if condition():
            alive = process.poll() is None
            process.send_signal(signal.SIGKILL)
            _finished(process)
            return alive
        time.sleep(0.05)
    if process.poll() is None:
        process.kill()
    code, out, err = _finished(process)
    raise AssertionError(f"condition never held (exit status {code}):\n{out[-2000:]}\n{err[-3000:]}")


def _read_json(path):
    return json.loads(Path(path).read_text())


@pytest.fixture(scope="module")
def tiny_npz(tmp_path_factory):
    from keras_hw2.cnn.data import write_synthetic_npz

    return write_synthetic_npz(tmp_path_factory.mktemp("data") / "tiny.npz", num_per_class=4, seed=0)


def _train_args(npz, runs_dir, lr="0.01", name="crash"):
    return ["-m", "keras_hw2.cnn", "train", "--data", str(npz), "--epochs", str(EPOCHS), "--batch-size", "8",
            "--learning-rate", lr, "--seed", "0", "--runs-dir", str(runs_dir), "--run-name", name]


def _epochs_done(history_path):
    try:
        return len(_read_json(history_path)["epoch"])
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return 0


def _epochs_saved(run_dir):
    """The epochs whose state is saved for resuming (TensorFlow's checkpoint state file names the last)."""
    try:
        return int((run_dir / "resume" / "checkpoint").read_text().split('"ckpt-')[1].split('"')[0])
    except (FileNotFoundError, IndexError, ValueError):
        return 0


def test_killed_training_resumes_to_one_continuous_history_and_refuses_another_config(tiny_npz, tmp_path, capsys):
    from keras_hw2.cli import run_main
    from keras_hw2.cnn.__main__ import main

    run_dir = tmp_path / "runs" / "cnn" / "crash"
    history = run_dir / "history.json"
    first = _start(*_train_args(tiny_npz, tmp_path / "runs"))
    # The uninterrupted reference: the same command under another name, in a process of its own (a process
    # that imported TensorFlow before keras_hw2 computes without oneDNN, which differs in the last bits).
    whole = _start(*_train_args(tiny_npz, tmp_path / "runs", name="whole"))
    # Killed once the first epoch is finished: recorded in history.json and its state saved.
    assert _kill_when(first, lambda: _epochs_saved(run_dir) >= 1), "the run finished before it was killed"
    assert 1 <= _epochs_done(history) < EPOCHS

    # The same --run-name with another --lr is refused by the CLI (in this process: no second TF start-up).
    assert run_main(main, _train_args(tiny_npz, tmp_path / "runs", lr="0.02")[2:]) == 2
    assert capsys.readouterr().err == (f"error: {run_dir}: holds a run with another configuration (differs in: learning_rate); "
                                       "refusing to resume it; choose another --run-name\n")
    # The same command resumes.
    code, out, err = _finished(_start(*_train_args(tiny_npz, tmp_path / "runs")))
    assert code == 0, err[-3000:]
    assert "(resumed)" in out and "Epoch 1/" not in out and f"Epoch {EPOCHS}/{EPOCHS}" in out

    record = _read_json(history)
    assert record["epoch"] == list(range(EPOCHS))
    assert all(len(values) == EPOCHS and None not in values for values in record.values())
    assert _read_json(run_dir / "results.json")["epochs"] == EPOCHS
    assert _read_json(run_dir / "config.json")["learning_rate"] == 0.01
    with zipfile.ZipFile(run_dir / "best.keras") as archive:
        assert archive.testzip() is None
    assert (run_dir / "resume").is_dir()  # kept, so that a larger --epochs continues the run
    assert not list(run_dir.glob(".*.tmp")) and not list(run_dir.glob(".tmp-*"))

    # Bit for bit what the uninterrupted run gives.
    code, _, err = _finished(whole)
    assert code == 0, err[-3000:]
    whole = _read_json(tmp_path / "runs" / "cnn" / "whole" / "history.json")
    assert {k: v for k, v in whole.items() if k != "epoch_seconds"} == {
        k: v for k, v in record.items() if k != "epoch_seconds"}
    import keras
    import numpy as np

    for a, b in zip(keras.saving.load_model(run_dir / "best.keras").get_weights(),
                    keras.saving.load_model(tmp_path / "runs" / "cnn" / "whole" / "best.keras").get_weights()):
        np.testing.assert_array_equal(a, b)


def _trial_statuses(project):
    statuses = {}
    for path in project.glob("trial_*/trial.json"):
        try:
            statuses[path.parent.name] = _read_json(path)["status"]
        except (json.JSONDecodeError, KeyError):
            pass
    return statuses


def _ended_in_oracle(project):
    """The trials oracle.json records as ended (keras-tuner writes it in place, after trial.json)."""
    try:
        return _read_json(project / "oracle.json")["end_order"]
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return []


def test_search_killed_between_trials_resumes_and_runs_every_trial_once(tiny_npz, tmp_path):
    lrs = (0.1, 0.01)
    project = tmp_path / "tuner" / "lr"
    args = ["-m", "tuners.cnn_lr", "--data", str(tiny_npz), "--epochs", "1", "--batch-size", "8",
            "--learning-rates", ",".join(map(str, lrs)), "--directory", str(tmp_path / "tuner"), "--project-name", "lr",
            "--runs-dir", str(tmp_path / "runs")]
    first = _start(*args)
    # keras-tuner records a trial's end in oracle.json, then writes tuner0.json, whose presence makes the next
    # run print "Reloading Tuner": kill once both are on disk
    assert _kill_when(first, lambda: "0" in _ended_in_oracle(project) and (project / "tuner0.json").exists()), \
        "the search finished before it was killed"
    completed_before = sum(status == "COMPLETED" for status in _trial_statuses(project).values())
    assert 1 <= completed_before < len(lrs)

    code, out, err = _finished(_start(*args))
    assert code == 0, err[-3000:]
    assert "Reloading Tuner" in out
    assert len(re.findall(r"val_loss: ", out)) == len(lrs) - completed_before  # finished trials are not re-run
    trials = [_read_json(project / f"trial_{i}" / "trial.json") for i in range(len(lrs))]
    assert not (project / f"trial_{len(lrs)}").exists()
    assert all(trial["status"] == "COMPLETED" for trial in trials)
    assert sorted(trial["hyperparameters"]["values"]["learning_rate"] for trial in trials) == sorted(lrs)
    oracle = _read_json(project / "oracle.json")
    ids = [str(i) for i in range(len(lrs))]
    assert sorted(oracle["end_order"]) == ids and sorted(oracle["start_order"]) == ids
    summary = _read_json(project / "best_lr.json")
    assert [t["trial_id"] for t in summary["trials"]] == ids
    assert f"best learning rate {summary['learning_rate']:g}" in out
    runs = sorted(p.name for p in (tmp_path / "runs" / "tuner" / "lr").iterdir())
    assert runs == [f"trial-{i + 1}" for i in range(len(lrs))]  # one run per trial, none trained twice


def _killed_at_random_moments(args, kills, seed, started):
    """Run `args` to the end, SIGKILLing it `kills` times, each a random 0-3 s after `started(stdout)` held
    (the run has begun training: epochs, checkpoint, best.keras and history.json writes all lie in that span).
    Returns (the kills that hit a live process, the last run's exit status and stderr)."""
    import random

    rng = random.Random(seed)
    hits = 0
    for _ in range(kills):
        process = _start(*args)
        out = process.outputs[0]
        deadline = time.monotonic() + 300
        while process.poll() is None and time.monotonic() < deadline:
            out.seek(0)
            if started(out.read()):
                break
            time.sleep(0.05)
        time.sleep(rng.uniform(0, 3))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            hits += 1
        _finished(process)
    code, _, err = _finished(_start(*args))
    return hits, code, err


@pytest.mark.parametrize("kills", [3, pytest.param(20, marks=pytest.mark.slow)])
def test_training_killed_at_random_moments_ends_bit_for_bit_as_an_uninterrupted_run(tiny_npz, tmp_path, kills):
    import keras
    import numpy as np

    from keras_hw2.cnn import models  # noqa: F401  (registers the models' loss for loading best.keras)

    runs = tmp_path / "runs"
    whole = _start(*_train_args(tiny_npz, runs, name="whole"))
    hits, code, err = _killed_at_random_moments(_train_args(tiny_npz, runs, name="killed"), kills, seed=kills,
                                                started=lambda out: "run: " in out)
    assert code == 0, err[-3000:]
    assert hits >= min(3, kills), f"only {hits} of {kills} kills hit a running training"
    code, _, err = _finished(whole)
    assert code == 0, err[-3000:]
    killed, reference = runs / "cnn" / "killed", runs / "cnn" / "whole"
    strip = lambda history: {k: v for k, v in history.items() if k != "epoch_seconds"}  # noqa: E731
    assert strip(_read_json(killed / "history.json")) == strip(_read_json(reference / "history.json"))
    assert _read_json(killed / "history.json")["epoch"] == list(range(EPOCHS))
    for a, b in zip(keras.saving.load_model(killed / "best.keras").get_weights(),
                    keras.saving.load_model(reference / "best.keras").get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not list(killed.glob(".*.tmp"))  # resume/ stays: a finished run can be continued (issue 23)
