"""tuners.cnn_lr: a resumable keras-tuner learning-rate grid over the CLI's own model builder."""
import json
import re

import keras_tuner
import pytest

from keras_hw2.cli import run_main
from keras_hw2.cnn.data import write_synthetic_npz
from keras_hw2.cnn.models import build_model, count_trainable_params
from keras_hw2.cnn.train import resolve_lr
from tuners import cnn_lr


def test_two_trial_search_resumes_and_feeds_train_lr_best(tmp_path, monkeypatch, capsys):
    data = write_synthetic_npz(tmp_path / "tiny.npz", num_per_class=2)
    monkeypatch.chdir(tmp_path)
    args = ["--data", str(data), "--epochs", "2", "--learning-rates", "0.1,0.01", "--batch-size", "6"]
    project = tmp_path / "tuner_results" / "cnn_lr_baseline"

    assert cnn_lr.main([*args, "--max-trials", "1"]) == 0  # interrupted after one trial
    first = json.loads((project / "best_lr.json").read_text())
    assert [t["lr"] for t in first["trials"]] == [0.1]
    trial_0 = (project / "trial_0" / "trial.json").read_text()

    capsys.readouterr()
    assert cnn_lr.main(args) == 0  # the re-run continues with the second lr only
    out = capsys.readouterr().out
    summary = json.loads((project / "best_lr.json").read_text())
    assert [t["lr"] for t in summary["trials"]] == [0.1, 0.01]
    assert (project / "trial_0" / "trial.json").read_text() == trial_0
    assert all(t["status"] == "COMPLETED" and len(t["val_accuracy"]) == 2 for t in summary["trials"])
    assert all(t["best_val_accuracy"] == max(t["val_accuracy"]) for t in summary["trials"])
    best = max(summary["trials"], key=lambda t: t["best_val_accuracy"])
    assert (summary["lr"], summary["val_accuracy"]) == (best["lr"], best["best_val_accuracy"])
    assert sorted(p.name for p in (project / "tensorboard").iterdir()) == ["0", "1"]
    assert (project / "val_accuracy_by_lr.png").is_file()
    assert out.splitlines()[-4].split() == ["trial", "lr", "best", "val", "acc", "epochs", "status"]
    assert resolve_lr("best", "baseline") == summary["lr"]

    capsys.readouterr()
    assert cnn_lr.main(args) == 0  # a finished search trains nothing more
    assert "Epoch" not in capsys.readouterr().out and len(list(project.glob("trial_*"))) == 2


def test_hypermodel_uses_the_cli_builder():
    hypermodel = cnn_lr.LearningRateHyperModel(cnn_lr.SweepConfig(model="batchnorm", learning_rates=(0.5,)))
    model = hypermodel.build(keras_tuner.HyperParameters())
    assert [layer.name for layer in model.layers] == [layer.name for layer in build_model(batch_norm=True).layers]
    assert count_trainable_params(model) == 755_718
    assert float(model.optimizer.learning_rate) == pytest.approx(0.5)


@pytest.mark.parametrize("flag", ["--learning-rates", "--lrs"])  # --lrs: the deprecated spelling
def test_bad_grid_is_refused(capsys, flag):
    assert run_main(cnn_lr.main, [flag, "0.1,fast"]) == 2
    assert capsys.readouterr().err.strip() == ("error: --learning-rates must be comma-separated numbers, "
                                               "e.g. 0.1,0.01,0.001. Received: --learning-rates='0.1,fast'")
    assert run_main(cnn_lr.main, [flag, "0.1,-1"]) == 2
    assert "--learning-rates must be a finite number > 0. Received: --learning-rates=-1.0" in capsys.readouterr().err


def test_lrs_is_a_hidden_alias(capsys):
    with pytest.raises(SystemExit):
        cnn_lr.main(["--help"])
    out = capsys.readouterr().out
    assert re.search(r"^  --learning-rates", out, re.M) and not re.search(r"^  --lrs", out, re.M)
