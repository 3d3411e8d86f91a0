"""keras-tuner distributed mode: the chief check (tuners/distributed.py), the launcher (tools/distributed_sweep.py)."""
import json
import re
import socket
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, _python
from keras_hw2.errors import InputError
from tuners.distributed import check_chief_reachable, is_worker, oracle_address, tuner_environment

LAUNCHER = str(REPO / "tools" / "distributed_sweep.py")
LRS = (0.1, 0.03, 0.01, 0.003)


def _closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_worker_without_a_chief_fails_with_a_clear_message_in_bounded_time():
    env = tuner_environment("tuner0", "127.0.0.1", _closed_port())
    start = time.monotonic()
    with pytest.raises(InputError, match=r"worker 'tuner0' cannot reach its chief oracle at 127\.0\.0\.1:\d+ "
                                         r"within 1 s \(Connection refused\); start the chief"):
        check_chief_reachable(timeout_s=1, environ=env)
    assert time.monotonic() - start < 3


def test_worker_passes_once_the_chief_listens():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        env = tuner_environment("tuner1", "127.0.0.1", server.getsockname()[1])
        assert is_worker(env)
        check_chief_reachable(timeout_s=5, environ=env)


def test_chief_and_single_process_searches_are_not_checked():
    check_chief_reachable(timeout_s=1, environ=tuner_environment("chief", "127.0.0.1", _closed_port()))
    check_chief_reachable(timeout_s=1, environ={})
    assert not is_worker({}) and oracle_address({}) is None


@pytest.mark.parametrize("env, message", [
    ({"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": "8000"}, "KERASTUNER_TUNER_ID is not"),
    ({"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_TUNER_ID": "tuner0"},
     r"KERASTUNER_ORACLE_PORT must be a port number 1\.\.65535 .* Received: KERASTUNER_ORACLE_PORT=''"),
    ({**tuner_environment("tuner0", "127.0.0.1", 0)}, "Received: KERASTUNER_ORACLE_PORT='0'"),
])
def test_incomplete_distributed_environment_is_refused(env, message):
    with pytest.raises(InputError, match=message):
        check_chief_reachable(environ=env)


def test_launcher_needs_a_command_after_the_separator(python):
    done = python(LAUNCHER, "--workers", "2")
    assert done.returncode == 2
    assert done.stderr.strip() == ("error: no sweep command given; put it after '--', "
                                   "e.g. -- python -m tuners.cnn_lr ...")


def test_launcher_refuses_a_command_that_does_not_exist(python, tmp_path):
    done = python(LAUNCHER, "--", str(tmp_path / "no-such-sweep"))
    assert done.returncode == 2 and done.stderr == f"error: {tmp_path / 'no-such-sweep'}: no such command\n"


def test_launcher_stops_every_worker_when_the_chief_fails(python):
    sweep = ("import os, sys, time\n"
             "if os.environ['KERASTUNER_TUNER_ID'] == 'chief':\n"
             "    time.sleep(0.5); print('chief gives up'); sys.exit(3)\n"
             "print('worker', os.environ['KERASTUNER_TUNER_ID'], os.environ['KERASTUNER_ORACLE_PORT'], flush=True)\n"
             "time.sleep(120)\n")
    start = time.monotonic()
    done = python(LAUNCHER, "--workers", "2", "--", sys.executable, "-c", sweep, timeout=60)
    assert time.monotonic() - start < 30  # the workers were stopped, not waited for
    assert done.returncode == 1
    assert "error: chief exited with status 3; stopped the others" in done.stderr
    assert "chief gives up" in done.stdout
    port = re.search(r"chief oracle at 127\.0\.0\.1:(\d+); 2 workers", done.stdout).group(1)
    for worker in ("tuner0", "tuner1"):
        assert f"[{worker}] worker {worker} {port}" in done.stdout


@pytest.fixture(scope="module")
def distributed_search(tmp_path_factory):
    """A chief and 2 workers over a 4-trial learning-rate search on tiny data (1 epoch per trial)."""
    from keras_hw2.cnn.data import write_synthetic_npz

    tmp = tmp_path_factory.mktemp("distributed")
    npz = write_synthetic_npz(tmp / "tiny.npz", num_per_class=2, seed=0)
    start = time.monotonic()
    done = _python(LAUNCHER, "--workers", "2", "--timeout", "240", "--log-dir", str(tmp / "logs"), "--",
                   sys.executable, "-m", "tuners.cnn_lr", "--data", str(npz), "--epochs", "1", "--batch-size", "4",
                   "--learning-rates", ",".join(map(str, LRS)), "--directory", str(tmp / "tuner"), "--project-name", "lr",
                   "--runs-dir", str(tmp / "runs"), timeout=300)
    return done, tmp / "tuner" / "lr", tmp / "logs", time.monotonic() - start


@pytest.mark.slow  # three processes run a whole search (~40 s); `make test-slow`
def test_chief_and_two_workers_run_every_trial_exactly_once(distributed_search):
    done, project, logs, seconds = distributed_search
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert seconds < 240
    oracle = json.loads((project / "oracle.json").read_text())
    ids = ["0", "1", "2", "3"]
    assert sorted(oracle["start_order"]) == ids and sorted(oracle["end_order"]) == ids
    trials = [json.loads((project / f"trial_{i}" / "trial.json").read_text()) for i in ids]
    assert all(trial["status"] == "COMPLETED" for trial in trials)
    assert sorted(trial["hyperparameters"]["values"]["learning_rate"] for trial in trials) == sorted(LRS)
    # Both workers took part, each training its own trials: 4 one-epoch fits in all, none on the chief.
    assert (project / "tuner0.json").exists() and (project / "tuner1.json").exists()
    fits = {name: len(re.findall(r"val_loss: ", (logs / f"{name}.log").read_text()))
            for name in ("chief", "tuner0", "tuner1")}
    assert fits["chief"] == 0 and fits["tuner0"] + fits["tuner1"] == 4


@pytest.mark.slow  # three processes run a whole search (~40 s); `make test-slow`
def test_the_chief_reports_the_best_trial(distributed_search):
    done, project, _, _ = distributed_search
    best_score = max(json.loads((project / f"trial_{i}" / "trial.json").read_text())["score"] for i in "0123")
    summary = json.loads((project / "best_lr.json").read_text())
    assert summary["val_accuracy"] == pytest.approx(best_score) and summary["learning_rate"] in LRS
    # the workers' trial runs, read by the chief: one finished run per trial, numbered 1..4
    assert [(t["trial"], len(t["val_accuracy"])) for t in summary["trials"]] == [(1, 1), (2, 1), (3, 1), (4, 1)]
    assert all(json.loads((Path(t["run"]) / "results.json").read_text())["status"] == "finished"
               for t in summary["trials"])
    chief_output = done.stdout.split("--- chief output ---", 1)[1]
    assert f"best learning rate {summary['learning_rate']:g} (trial {summary['trial']}, val accuracy " \
           f"{best_score:.4f})" in chief_output
    assert "distributed sweep finished: chief and 2 other process(es) exited with status 0" in done.stdout
