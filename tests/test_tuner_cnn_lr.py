"""tuners.cnn_lr: a resumable keras-tuner learning-rate grid whose trials are ordinary `cnn train` runs."""
import json
import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest

from conftest import REPO
from keras_hw2.cli import run_main
from keras_hw2.cnn.__main__ import main as cnn_main
from keras_hw2.cnn.data import write_synthetic_npz
from keras_hw2.cnn.train import resolve_lr
from keras_hw2.errors import InputError
from tuners import cnn_lr, lr_grid


def _status(main, argv) -> int:
    """The exit status of a command run in this process (argument errors included)."""
    try:
        return run_main(main, argv)
    except SystemExit as e:
        return e.code


def test_two_trial_search_resumes_and_feeds_train_learning_rate_best(tmp_path, monkeypatch, capsys):
    data = write_synthetic_npz(tmp_path / "tiny.npz", num_per_class=2)
    monkeypatch.chdir(tmp_path)
    args = ["--data", str(data), "--epochs", "2", "--learning-rates", "0.1,0.01", "--batch-size", "6"]
    project = tmp_path / "tuner_results" / "cnn_lr_baseline"
    runs = tmp_path / "runs" / "tuner" / "cnn_lr_baseline"

    assert cnn_lr.main([*args, "--max-trials", "1"]) == 0  # interrupted after one trial
    first = json.loads((project / "best_lr.json").read_text())
    assert [t["learning_rate"] for t in first["trials"]] == [0.1]
    trial_1 = (runs / "trial-1" / "history.json").read_text()

    capsys.readouterr()
    assert cnn_lr.main(args) == 0  # the re-run continues with the second learning rate only
    out = capsys.readouterr().out
    assert re.findall(r"Running Trial #(\d+)", out) == ["2"] and "run: runs/tuner/cnn_lr_baseline/trial-2\n" in out
    summary = json.loads((project / "best_lr.json").read_text())
    assert [(t["trial"], t["learning_rate"]) for t in summary["trials"]] == [(1, 0.1), (2, 0.01)]
    assert (runs / "trial-1" / "history.json").read_text() == trial_1  # not trained again
    assert all(t["status"] == "COMPLETED" and len(t["val_accuracy"]) == 2 for t in summary["trials"])
    for t in summary["trials"]:  # each trial is a finished run; the objective is its best validation accuracy
        results = json.loads((tmp_path / t["run"] / "results.json").read_text())
        assert results["status"] == "finished" and t["best_val_accuracy"] == results["best_val_accuracy"]
        assert t["best_val_accuracy"] == max(t["val_accuracy"])
    best = max(summary["trials"], key=lambda t: t["best_val_accuracy"])
    assert (summary["learning_rate"], summary["val_accuracy"], summary["run"]) == (
        best["learning_rate"], best["best_val_accuracy"], best["run"])
    assert sorted(p.name for p in runs.iterdir()) == ["trial-1", "trial-2"]
    assert (project / "val_accuracy_by_lr.png").is_file()
    table = out.splitlines()[-4:-1]
    assert table[0].split() == ["trial", "learning", "rate", "best", "val", "acc", "epochs", "status", "run"]
    assert sorted(row.split()[0] for row in table[1:]) == ["1", "2"]  # numbered as keras-tuner's "Trial #n"
    assert resolve_lr("best", "baseline") == summary["learning_rate"]

    capsys.readouterr()
    assert cnn_lr.main(args) == 0  # a finished search trains nothing more
    assert "Epoch" not in capsys.readouterr().out and len(list(project.glob("trial_*"))) == 2


def test_a_trial_is_the_run_cnn_train_makes_bit_for_bit(tmp_path, monkeypatch, capsys):
    """The trial at learning rate 0.05 and `cnn train --learning-rate 0.05` with the same seed: the same config,
    history and best.keras weights (CPU, one process)."""
    data = write_synthetic_npz(tmp_path / "tiny.npz", num_per_class=2)
    monkeypatch.chdir(tmp_path)
    options = ["--data", str(data), "--epochs", "2", "--batch-size", "6", "--seed", "3"]
    assert cnn_lr.main([*options, "--learning-rates", "0.05", "--project-name", "one"]) == 0
    assert cnn_main(["train", *options, "--learning-rate", "0.05", "--run-name", "same"]) == 0
    capsys.readouterr()
    trial, run = tmp_path / "runs" / "tuner" / "one" / "trial-1", tmp_path / "runs" / "cnn" / "same"
    assert json.loads((trial / "config.json").read_text()) == json.loads((run / "config.json").read_text())
    histories = [json.loads((path / "history.json").read_text()) for path in (trial, run)]
    for history in histories:
        del history["epoch_seconds"]
    assert histories[0] == histories[1]
    trial_weights = keras.saving.load_model(trial / "best.keras").get_weights()
    run_weights = keras.saving.load_model(run / "best.keras").get_weights()
    assert len(trial_weights) == len(run_weights) > 0
    for a, b in zip(trial_weights, run_weights):
        np.testing.assert_array_equal(a, b)
    # and `cnn evaluate` reads the trial like any run
    assert cnn_main(["evaluate", "--run", str(trial), "--data", str(data), "--quiet"]) == 0
    assert (trial / "evaluation-tiny-val.json").is_file()


def test_a_diverged_trial_is_a_failed_trial_and_the_search_goes_on(tmp_path, monkeypatch, capsys):
    data = write_synthetic_npz(tmp_path / "tiny.npz", num_per_class=2)
    monkeypatch.chdir(tmp_path)
    assert cnn_lr.main(["--data", str(data), "--epochs", "1", "--batch-size", "6", "--learning-rates", "1e30,0.01"]) == 0
    summary = json.loads((tmp_path / "tuner_results/cnn_lr_baseline/best_lr.json").read_text())
    assert [(t["learning_rate"], t["status"]) for t in summary["trials"]] == [(1e30, "FAILED"), (0.01, "COMPLETED")]
    assert summary["learning_rate"] == 0.01
    failed = json.loads((tmp_path / summary["trials"][0]["run"] / "results.json").read_text())
    assert failed["status"] == "failed" and failed["failed_epoch"] == 1


def test_an_old_project_without_learning_rate_trials_is_refused(tmp_path, monkeypatch, capsys):
    import keras_tuner

    monkeypatch.chdir(tmp_path)
    config = lr_grid.SweepConfig(project_name="old")
    oracle = lr_grid.LearningRateGridOracle((0.1,), objective="val_accuracy", max_trials=1)
    tuner = lr_grid.RunTrialTuner(oracle, config)
    trial = keras_tuner.engine.trial.Trial(oracle.get_space(), trial_id="0")
    trial.hyperparameters.values = {"lr": 0.1}  # the spelling of the searches that trained with Keras' fit
    oracle.trials["0"] = trial
    with pytest.raises(InputError, match=r"^tuner_results/old: holds trials of an older learning-rate search \(no 'learning_rate' "
                                         r"in trial 0\); choose another --project-name or remove it$"):
        lr_grid.check_trials(tuner, config)


def test_best_lr_files_of_older_versions_are_read(tmp_path):
    (tmp_path / "old.json").write_text('{"lr": 0.03, "val_accuracy": 0.5}')
    (tmp_path / "new.json").write_text('{"learning_rate": 0.02, "val_accuracy": 0.5}')
    assert resolve_lr(str(tmp_path / "old.json"), "baseline") == 0.03
    assert resolve_lr(str(tmp_path / "new.json"), "baseline") == 0.02


def test_the_oracle_takes_each_learning_rate_once_in_order():
    oracle = lr_grid.LearningRateGridOracle((0.1, 0.01), objective="val_accuracy", max_trials=2)
    assert oracle.populate_space("0") == {"status": "RUNNING", "values": {"learning_rate": 0.1}}
    assert lr_grid.trial_run_name("0") == "trial-1" and lr_grid.trial_run_name("09") == "trial-10"


@pytest.mark.parametrize("flag", ["--learning-rates", "--lrs"])  # --lrs: the deprecated spelling
def test_bad_grid_is_refused(capsys, flag):
    assert _status(cnn_lr.main, [flag, "0.1,fast"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == ("error: python -m tuners.cnn_lr: --learning-rates must be comma-separated numbers, "
                       "e.g. 0.1,0.01,0.001. Received: --learning-rates='0.1,fast' (see --help)")
    assert _status(cnn_lr.main, [flag, "0.1,-1"]) == 2
    assert "--learning-rates must be a finite number > 0. Received: --learning-rates=-1.0" in capsys.readouterr().err


def test_lrs_is_a_hidden_deprecated_alias(capsys):
    assert _status(cnn_lr.main, ["--help"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^  --learning-rates", out, re.M) and not re.search(r"^  --lrs", out, re.M)
    assert cnn_lr.build_parser().parse_args(["--lrs", "0.5,0.25"]).learning_rates == (0.5, 0.25)
    assert capsys.readouterr().err == "warning: --lrs is deprecated; use --learning-rates\n"


def test_help_imports_no_tensorflow_and_errors_print_no_tensorflow_lines():
    code = ("import sys\nfrom tuners import cnn_lr\ntry:\n    cnn_lr.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('imported:', [n for n in ('tensorflow', 'keras', 'keras_tuner') if n in sys.modules])")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.stdout.startswith("usage: python -m tuners.cnn_lr") and done.stdout.splitlines()[-1] == "imported: []"
    done = subprocess.run([sys.executable, "-m", "tuners.cnn_lr", "--model", "resnet"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == "error: --model must be one of baseline, batchnorm. Received: --model='resnet'\n"


def test_the_command_defaults_are_the_sweep_config_defaults():
    args, defaults = cnn_lr.build_parser().parse_args([]), lr_grid.SweepConfig()
    for name in ("model", "data", "learning_rates", "epochs", "batch_size", "dropout", "seed", "directory",
                 "max_trials", "runs_dir"):
        assert getattr(args, name) == getattr(defaults, name), name
