"""Bad input to training and tuning (engine branch): one line, exit status 2, nothing created or changed.

Each case runs the command in this process with training and the multi-worker
strategy replaced by tripwires, so an argument error that slipped through to
TensorFlow would fail loudly; the working directory is compared before and after.
"""
import json
import os
import subprocess
import sys
import time

import pytest
import tensorflow as tf

from conftest import REPO
from keras_hw2 import training
from keras_hw2.cli import run_main
from keras_hw2.cnn import __main__ as cnn_cli
from keras_hw2.cnn.data import write_synthetic_npz
from keras_hw2.locks import DirectoryLock
from keras_hw2.p2g import __main__ as p2g_cli
from tuners import cnn_lr

MAINS = {"cnn": cnn_cli.main, "p2g": p2g_cli.main, "tuner": cnn_lr.main}
RUN_NAME = "--run-name must be one name matching [A-Za-z0-9][A-Za-z0-9_.-]*"
NO_TF_CONFIG = "--strategy multiworker needs the TF_CONFIG environment variable"


def _tripwire(*args, **kwargs):
    raise AssertionError("bad input reached training")


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A working directory holding tiny data (data/tiny.npz, data/p2g/*.tsv); training is a tripwire."""
    (tmp_path / "data" / "p2g").mkdir(parents=True)
    write_synthetic_npz(tmp_path / "data" / "tiny.npz", num_per_class=2)
    for split in ("train", "valid"):
        (tmp_path / "data" / "p2g" / f"{split}.tsv").write_text("k æ t\tcat\nb æ t\tbat\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TF_CONFIG", raising=False)
    monkeypatch.setattr(training, "train", _tripwire)
    monkeypatch.setattr(tf.distribute, "MultiWorkerMirroredStrategy", _tripwire)
    return tmp_path


def _snapshot(root):
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else None for p in sorted(root.rglob("*"))}


CNN = ["train", "--data", "data/tiny.npz", "--runs-dir", "a/runs"]
P2G = ["train", "--data-dir", "data/p2g", "--runs-dir", "a/runs"]


@pytest.mark.parametrize("command, argv, env, message", [
    ("cnn", [*CNN, "--lr", "nan"], {}, "--learning-rate must be a finite number > 0. Received: --learning-rate=nan"),
    ("cnn", [*CNN, "--lr", "inf"], {}, "--learning-rate must be a finite number > 0. Received: --learning-rate=inf"),
    ("cnn", [*CNN, "--lr", "-1"], {}, "--learning-rate must be a finite number > 0. Received: --learning-rate=-1.0"),
    ("cnn", [*CNN, "--epochs", "0"], {}, "--epochs must be an integer >= 1. Received: --epochs=0"),
    ("cnn", [*CNN, "--batch-size", "0"], {}, "--batch-size must be an integer >= 1. Received: --batch-size=0"),
    ("cnn", [*CNN, "--dropout", "-0.5"], {}, "--dropout must be a finite number in [0, 1). Received: --dropout=-0.5"),
    ("cnn", [*CNN, "--val-fraction", "nan"], {}, "--val-fraction must be a finite number in (0, 1)."),
    ("cnn", [*CNN, "--run-name", ""], {}, f"{RUN_NAME} (letters, digits, '_', '.', '-'; no path). Received: --run-name=''"),
    ("cnn", [*CNN, "--run-name", ".."], {}, f"{RUN_NAME}"),
    ("cnn", [*CNN, "--run-name", "../../escaped"], {}, "Received: --run-name='../../escaped'"),
    ("cnn", [*CNN, "--run-name", "a/b"], {}, "Received: --run-name='a/b'"),
    ("cnn", [*CNN, "--run-name", "/tmp/absolute"], {}, "Received: --run-name='/tmp/absolute'"),
    ("cnn", [*CNN, "--strategy", "multiworker"], {}, NO_TF_CONFIG),
    ("cnn", [*CNN, "--strategy", "multiworker"], {"TF_CONFIG": "{"}, "TF_CONFIG is not a multi-worker cluster"),
    ("p2g", [*P2G, "--learning-rate", "nan"], {}, "--learning-rate must be a finite number > 0. Received: --learning-rate=nan"),
    ("p2g", [*P2G, "--learning-rate", "inf"], {}, "--learning-rate must be a finite number > 0. Received: --learning-rate=inf"),
    ("p2g", [*P2G, "--learning-rate", "-1"], {}, "--learning-rate must be a finite number > 0. Received: --learning-rate=-1.0"),
    ("p2g", [*P2G, "--epochs", "0"], {}, "--epochs must be an integer >= 1. Received: --epochs=0"),
    ("p2g", [*P2G, "--batch-size", "0"], {}, "--batch-size must be an integer >= 1. Received: --batch-size=0"),
    ("p2g", [*P2G, "--dropout", "-0.5"], {}, "--dropout must be a finite number in [0, 1). Received: --dropout=-0.5"),
    ("p2g", [*P2G, "--units", "7"], {}, "--units must be an even integer >= 2"),
    ("p2g", [*P2G, "--run-name", "../../escaped"], {}, "Received: --run-name='../../escaped'"),
    ("p2g", [*P2G, "--run-name", ""], {}, "Received: --run-name=''"),
    ("p2g", [*P2G, "--strategy", "multiworker"], {}, NO_TF_CONFIG),
    ("tuner", ["--data", "data/tiny.npz", "--max-trials", "0"], {}, "--max-trials must be an integer >= 1. Received: --max-trials=0"),
    ("tuner", ["--data", "data/tiny.npz", "--learning-rates", "0.1,nan"], {}, "Received: --learning-rates=nan"),
    ("tuner", ["--data", "data/tiny.npz", "--epochs", "0"], {}, "--epochs must be an integer >= 1. Received: --epochs=0"),
    ("tuner", ["--data", "data/tiny.npz", "--batch-size", "-8"], {}, "Received: --batch-size=-8"),
])
def test_bad_arguments_fail_before_training_with_one_line(workdir, capsys, monkeypatch, command, argv, env, message):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    before = _snapshot(workdir)
    assert run_main(MAINS[command], argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert _snapshot(workdir) == before


def test_a_tuner_directory_in_use_is_refused_with_the_holders_pid(workdir, capsys):
    project = "tuner_results/cnn_lr_baseline"
    with DirectoryLock(workdir / project, what="tuner"):
        before = _snapshot(workdir)
        assert run_main(cnn_lr.main, ["--data", "data/tiny.npz", "--epochs", "1"]) == 2
        assert _snapshot(workdir) == before
    err = capsys.readouterr().err
    assert err == f"error: {project}: this tuner is in use by another process (pid {os.getpid()}); " \
                  "wait for it to finish or stop it\n"


def test_a_second_training_on_the_same_run_is_refused_and_the_first_finishes_intact(tmp_path, capsys):
    npz = write_synthetic_npz(tmp_path / "tiny.npz", num_per_class=2)
    argv = ["train", "--data", str(npz), "--epochs", "2", "--runs-dir", str(tmp_path / "runs"), "--run-name", "same"]
    run = tmp_path / "runs" / "cnn" / "same"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    first = subprocess.Popen([sys.executable, "-m", "keras_hw2.cnn", *argv], cwd=REPO, env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        while not (run / "config.json").exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (run / ".lock").read_text().strip() == str(first.pid)
        config = (run / "config.json").read_bytes()
        assert run_main(cnn_cli.main, argv) == 2
        assert capsys.readouterr().err == (f"error: {run}: this run is in use by another process (pid {first.pid}); "
                                           "wait for it to finish or stop it\n")
        assert (run / "config.json").read_bytes() == config and (run / ".lock").read_text().strip() == str(first.pid)
        out, err = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    assert first.returncode == 0, err[-3000:]
    assert "(resumed)" not in out
    assert json.loads((run / "history.json").read_text())["epoch"] == [0, 1]
    assert json.loads((run / "results.json").read_text())["status"] == "finished"
