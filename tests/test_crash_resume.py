"""Killed runs resume: a CNN training run and a keras-tuner search, SIGKILLed at chosen moments and re-run.

Training resumes from its last finished epoch (the state `keras_hw2.training`
keeps in the run's resume/ directory) and ends bit for bit where an
uninterrupted run ends, with one continuous history.json; a search resumes from
its project directory and runs every trial exactly once; a run directory
holding another configuration is refused through the CLI. (Kills at random moments, for every task:
`test_kill.py`.)
"""
import json
import re
import zipfile
from pathlib import Path

import pytest

from kill_harness import finished as _finished
from kill_harness import kill_when as _kill_when
from kill_harness import start as _start

EPOCHS = 2


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


def test_a_search_killed_between_keras_tuners_two_writes_of_a_new_trial_runs_it(tiny_npz, tmp_path):
    """keras-tuner writes a new trial's trial.json, then oracle.json: the state a kill between the two leaves
    (made here by hand from a finished first trial) must not leave the trial "running" and never run."""
    project = tmp_path / "tuner" / "lr"
    args = ["-m", "tuners.cnn_lr", "--data", str(tiny_npz), "--epochs", "1", "--batch-size", "8",
            "--learning-rates", "0.1,0.01", "--directory", str(tmp_path / "tuner"), "--project-name", "lr",
            "--runs-dir", str(tmp_path / "runs")]
    code, _, err = _finished(_start(*args, "--max-trials", "1"))
    assert code == 0, err[-3000:]
    started = _read_json(project / "trial_0" / "trial.json")
    started.update(trial_id="1", status="RUNNING", metrics={"metrics": {}})
    started["hyperparameters"]["values"]["learning_rate"] = 0.01
    (project / "trial_1").mkdir()
    (project / "trial_1" / "trial.json").write_text(json.dumps(started))  # oracle.json does not list it

    code, out, err = _finished(_start(*args))
    assert code == 0, err[-3000:]
    trials = [_read_json(project / f"trial_{i}" / "trial.json") for i in range(2)]
    assert [trial["status"] for trial in trials] == ["COMPLETED", "COMPLETED"]
    assert [t["learning_rate"] for t in _read_json(project / "best_lr.json")["trials"]] == [0.1, 0.01]
    assert sorted(p.name for p in (tmp_path / "runs" / "tuner" / "lr").iterdir()) == ["trial-1", "trial-2"]
