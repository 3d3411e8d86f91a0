"""Bad input never trains, crashes or escapes: one line, the right exit status, nothing created or changed.

Every command's bad-input promise, in one place (issue 14), in three sections:

1. Training and tuning: argument and config checks (finite, in range, integer),
   run names confined to one path component, ``--strategy multiworker`` without
   a usable ``TF_CONFIG``, a run or tuner directory in use by another process.
   Training is replaced by a tripwire, so an argument error that slipped
   through to TensorFlow fails loudly.
2. Using a trained model (evaluate / predict / export) and data files: missing,
   truncated, foreign and unsafe model files, bad images, folders and TSV lines,
   argument errors that must stop before any model is loaded.
3. Serving and exports: the client refuses input that does not fit the
   signature before sending; a served model rejects out-of-range decoding
   arguments naming them; exports lock, clean stale temporaries and clean up
   after SIGINT/SIGTERM.

Each case checks the exit status, that stderr is exactly one ``error: ...``
line holding the expected fragment where a command prints one, and that no
file under the test's directory was created or changed.
"""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import REPO

from keras_hw2 import training
from keras_hw2.cli import run_main
from keras_hw2.cnn import __main__ as cnn_cli
from keras_hw2.cnn.data import CLASS_NAMES, write_synthetic_npz
from keras_hw2.errors import InputError
from keras_hw2.export import export_saved_model
from keras_hw2.hopfield import __main__ as hopfield_cli
from keras_hw2.locks import DirectoryLock
from keras_hw2.p2g import __main__ as p2g_cli
from keras_hw2.p2g.decoding import MAX_LENGTH
from keras_hw2.serving import signatures
from keras_hw2.serving.__main__ import main
from keras_hw2.serving.client import RestClient
from tuners import cnn_lr


def _snapshot(root) -> dict:
    """Every path under `root` with its type, bytes and modification time: equal snapshots = nothing changed."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*"))}


# ---------------------------------------------------------------------------------------------------------------
# 1. Training and tuning
# ---------------------------------------------------------------------------------------------------------------

TRAIN_MAINS = {"cnn": cnn_cli.main, "p2g": p2g_cli.main, "tuner": cnn_lr.main}
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




CNN = ["train", "--data", "data/tiny.npz", "--runs-dir", "a/runs"]
P2G = ["train", "--data", "data/p2g", "--runs-dir", "a/runs"]


@pytest.mark.parametrize("command, argv, env, message", [
    ("cnn", [*CNN, "--learning-rate", "nan"], {}, "--learning-rate must be a finite number > 0. Received: --learning-rate=nan"),
    ("cnn", [*CNN, "--learning-rate", "inf"], {}, "--learning-rate must be a finite number > 0. Received: --learning-rate=inf"),
    ("cnn", [*CNN, "--learning-rate", "-1"], {}, "--learning-rate must be a finite number > 0. Received: --learning-rate=-1.0"),
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
    ("p2g", [*P2G, "--sort-window", "-1"], {}, "--sort-window must be an integer >= 0. Received: --sort-window=-1"),
    ("p2g", [*P2G, "--run-name", "../../escaped"], {}, "Received: --run-name='../../escaped'"),
    ("p2g", [*P2G, "--run-name", ""], {}, "Received: --run-name=''"),
    ("p2g", [*P2G, "--strategy", "multiworker"], {}, NO_TF_CONFIG),
    ("cnn", [*CNN, "--early-stopping", "0"], {}, "--early-stopping must be an integer >= 1. Received: --early-stopping=0"),
    ("cnn", [*CNN, "--early-stopping", "-2"], {}, "Received: --early-stopping=-2"),
    ("cnn", [*CNN, "--epochs", "3", "--warmup-epochs", "3"], {},
     "--warmup-epochs must be fewer than --epochs (3). Received: --warmup-epochs=3"),
    ("cnn", [*CNN, "--warmup-epochs", "-1"], {}, "--warmup-epochs must be an integer >= 0. Received: --warmup-epochs=-1"),
    ("cnn", [*CNN, "--lr-schedule", "linear"], {},
     "--lr-schedule must be one of constant, cosine, step. Received: --lr-schedule='linear'"),
    ("p2g", [*P2G, "--augment"], {}, "--augment is for the CNN's images; the P2G task has no augmentation. "
                                    "Received: --augment=True"),
    ("p2g", [*P2G, "--early-stopping", "0"], {}, "--early-stopping must be an integer >= 1. Received: --early-stopping=0"),
    ("p2g", [*P2G, "--epochs", "2", "--warmup-epochs", "5"], {},
     "--warmup-epochs must be fewer than --epochs (2). Received: --warmup-epochs=5"),
    ("p2g", [*P2G, "--lr-schedule", "exp"], {}, "Received: --lr-schedule='exp'"),
    ("tuner", ["--data", "data/tiny.npz", "--max-trials", "0"], {}, "--max-trials must be an integer >= 1. Received: --max-trials=0"),
    ("tuner", ["--data", "data/tiny.npz", "--learning-rates", "0.1,nan"], {}, "Received: --learning-rates=nan"),
    ("tuner", ["--data", "data/tiny.npz", "--epochs", "0"], {}, "--epochs must be an integer >= 1. Received: --epochs=0"),
    ("tuner", ["--data", "data/tiny.npz", "--batch-size", "-8"], {}, "Received: --batch-size=-8"),
])
def test_bad_arguments_fail_before_training_with_one_line(workdir, capsys, monkeypatch, command, argv, env, message):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    before = _snapshot(workdir)
    try:
        status = run_main(TRAIN_MAINS[command], argv)
    except SystemExit as e:  # refused by the argument parser (`keras_hw2.cli.integer`, ...)
        status = e.code
    assert status == 2
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


# ---------------------------------------------------------------------------------------------------------------
# 2. Using a trained model, and data files
# ---------------------------------------------------------------------------------------------------------------

IPA = ["k æ t\tcat", "b æ t\tbat", "t æ b\ttab", "k oʊ t\tcoat"]


def _save_p2g_model(path, units=4):
    from keras_hw2.p2g.data import Pair, build_vocabularies
    from keras_hw2.p2g.models import Seq2Seq

    source, target = build_vocabularies([Pair(*line.split("\t")) for line in IPA])
    model = Seq2Seq(source.tokens, target.tokens, units=units)
    model.build(((None, None), (None, None)))
    model.save(path)


def _image_folder(root, classes, bad_entry=None):
    rng = np.random.default_rng(0)
    for name in classes:
        (root / "seg_test" / name).mkdir(parents=True)
        pixels = rng.integers(0, 256, (30, 40, 3)).astype("uint8")
        (root / "seg_test" / name / "0.png").write_bytes(tf.io.encode_png(pixels).numpy())
    if bad_entry:
        (root / "seg_test" / CLASS_NAMES[1] / bad_entry).mkdir()
    return root


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Every file the cases refer to, by placeholder name."""
    from keras_hw2.cnn.models import build_model

    root = tmp_path_factory.mktemp("bad")
    paths = {"ROOT": root, "RUNS": root / "runs"}
    cnn_run = root / "runs" / "cnn" / "good"
    cnn_run.mkdir(parents=True)
    build_model(batch_norm=True).save(cnn_run / "best.keras")
    (cnn_run / "config.json").write_text(json.dumps({"model": "batchnorm", "seed": 0, "val_fraction": 0.1}))
    p2g_run = root / "runs" / "p2g" / "good"
    p2g_run.mkdir(parents=True)
    _save_p2g_model(p2g_run / "best.keras")
    p2g_data = root / "p2g_data"  # what the p2g run was trained on: no test.tsv
    p2g_data.mkdir()
    for split in ("train", "valid"):
        (p2g_data / f"{split}.tsv").write_text("\n".join(IPA) + "\n", encoding="utf-8")
    (p2g_run / "config.json").write_text(json.dumps({"data_dir": str(p2g_data), "units": 4}))
    unfinished = root / "runs" / "cnn" / "unfinished"
    unfinished.mkdir()
    (unfinished / "config.json").write_text("{}")
    models = root / "models"
    models.mkdir()
    _save_p2g_model(models / "lone_p2g.keras")  # no config.json beside it
    data = (cnn_run / "best.keras").read_bytes()
    (models / "truncated.keras").write_bytes(data[:len(data) // 2])
    (models / "random.keras").write_bytes(np.random.default_rng(0).bytes(4096))
    with zipfile.ZipFile(cnn_run / "best.keras") as archive, zipfile.ZipFile(models / "noweights.keras", "w") as out:
        out.writestr("config.json", archive.read("config.json"))
    keras.Sequential([keras.Input((48, 48, 3)), keras.layers.Lambda(lambda x: x / 255.0), keras.layers.Flatten(),
                      keras.layers.Dense(6)]).save(models / "lambda.keras")
    images = root / "images"
    images.mkdir()
    (images / "good.png").write_bytes(tf.io.encode_png(np.zeros((10, 10, 3), "uint8")).numpy())
    (images / "text.jpg").write_text("not an image")
    (images / "folder.jpg").mkdir()
    paths.update({
        "CNN_RUN": cnn_run, "P2G_RUN": p2g_run, "UNFINISHED": unfinished, "P2G_DATA": p2g_data,
        "LONE_P2G": models / "lone_p2g.keras", "TRUNCATED": models / "truncated.keras",
        "RANDOM": models / "random.keras", "NOWEIGHTS": models / "noweights.keras",
        "LAMBDA": models / "lambda.keras", "GOOD_PNG": images / "good.png", "TEXT_JPG": images / "text.jpg",
        "DIR_JPG": images / "folder.jpg", "MISSING_JPG": images / "missing.jpg",
        "NPZ": write_synthetic_npz(root / "tiny.npz", num_per_class=1),
        "OTHER_CLASSES": _image_folder(root / "other_classes", [*CLASS_NAMES[:5], "cats"]),
        "DIR_IN_CLASS": _image_folder(root / "dir_in_class", CLASS_NAMES, bad_entry="x.jpg"),
    })
    arrays = dict(np.load(paths["NPZ"]))
    np.savez(root / "renamed.npz", **arrays, class_names=np.array(["cat", *CLASS_NAMES[1:]]))
    paths["RENAMED_NPZ"] = root / "renamed.npz"
    train_folder = root / "train_folder"  # a Kaggle folder for `cnn train`, with a directory named like an image
    _image_folder(train_folder, CLASS_NAMES)
    (train_folder / "seg_test").rename(train_folder / "seg_train")
    (train_folder / "seg_train" / "sea" / "x.jpg").mkdir()
    paths["TRAIN_FOLDER"] = train_folder
    tsv = root / "tsv"
    tsv.mkdir()
    (tsv / "three.tsv").write_text("k æ t\tcat\textra\n", encoding="utf-8")
    (tsv / "arpabet.tsv").write_text("K AE T\tcat\nB AE T\tbat\n", encoding="utf-8")
    three = root / "three_fields"
    three.mkdir()
    (three / "train.tsv").write_text("k æ t\tcat\nb æ t\tbat\tbad\n", encoding="utf-8")
    (three / "valid.tsv").write_text("k æ t\tcat\n", encoding="utf-8")
    paths.update({"THREE_TSV": tsv / "three.tsv", "ARPABET_TSV": tsv / "arpabet.tsv", "TSV_DIR": tsv,
                  "THREE_DIR": three})
    return paths


MAINS = {"cnn": cnn_cli.main, "p2g": p2g_cli.main, "hopfield": hopfield_cli.main}
LOADING = {"cnn": (["evaluate", "--data", "NPZ"], ["predict", "GOOD_PNG"], ["export", "--models-dir", "ROOT/sm"]),
           "p2g": (["evaluate"], ["predict", "k æ t"], ["export", "--models-dir", "ROOT/sm"])}
BAD_MODEL_FILES = {
    "TRUNCATED": "truncated.keras: truncated or corrupt, not a readable .keras model file (BadZipFile",
    "RANDOM": "random.keras: truncated or corrupt, not a readable .keras model file (BadZipFile",
    "NOWEIGHTS": "noweights.keras: a zip archive but not a Keras model file (no model.weights.h5)",
}

# (task, argv, message fragment, argument error?)
CASES = [
    # a missing, truncated, corrupt, foreign or unsafe model, for every command that loads one
    *[(task, [verb[0], "--run", "ROOT/nowhere", *verb[1:]], "nowhere: no such run directory or .keras file", False)
      for task in LOADING for verb in LOADING[task]],
    *[(task, [verb[0], "--run", "UNFINISHED", *verb[1:]], "unfinished/best.keras: no trained model here", False)
      for task in LOADING for verb in LOADING[task]],
    *[(task, [verb[0], "--run", name, *verb[1:]], message, False)
      for task in LOADING for verb in LOADING[task] for name, message in BAD_MODEL_FILES.items()],
    *[("cnn", [verb[0], "--run", "LAMBDA", *verb[1:]], "lambda.keras: Keras safe mode refused to load it", False)
      for verb in LOADING["cnn"]],
    *[("p2g", [verb[0], "--run", "LAMBDA", *verb[1:]],
       "lambda.keras: holds a Keras Sequential model, not a p2g speller checkpoint (Seq2Seq or TransformerSpeller)", False) for verb in LOADING["p2g"]],
    *[("cnn", [verb[0], "--run", "P2G_RUN", *verb[1:]],
       "p2g/good/best.keras: holds a Keras Seq2Seq model, not a CNN; pass a runs/cnn/<name> run", False)
      for verb in LOADING["cnn"]],
    *[("p2g", [verb[0], "--run", "CNN_RUN", *verb[1:]],
       "cnn/good/best.keras: holds a Keras Functional model, not a p2g speller checkpoint (Seq2Seq or TransformerSpeller)", False)
      for verb in LOADING["p2g"]],
    # CNN predict: files
    ("cnn", ["predict", "--run", "CNN_RUN", "GOOD_PNG", "MISSING_JPG"], "images/missing.jpg: no such file", False),
    ("cnn", ["predict", "--run", "CNN_RUN", "TEXT_JPG", "GOOD_PNG"], "text.jpg: cannot be decoded as an image", False),
    ("cnn", ["predict", "--run", "CNN_RUN", "DIR_JPG"], "folder.jpg: not a file (an image file was expected)", False),
    ("cnn", ["predict", "--run", "CNN_RUN", "GOOD_PNG", "--top-k", "0"],
     "--top-k must be an integer >= 1. Received: --top-k=0", True),
    ("cnn", ["predict", "--run", "CNN_RUN", "GOOD_PNG", "--top-k", "7"],
     "--top-k must be an integer between 1 and 6. Received: --top-k=7", True),
    # CNN evaluate: data
    ("cnn", ["evaluate", "--run", "CNN_RUN", "--data", "RENAMED_NPZ"],
     "renamed.npz: its classes differ from the model's (missing buildings; unexpected cat)", False),
    ("cnn", ["evaluate", "--run", "CNN_RUN", "--data", "OTHER_CLASSES"],
     "seg_test: its classes differ from the model's (missing street; unexpected cats)", False),
    ("cnn", ["evaluate", "--run", "CNN_RUN", "--data", "NPZ", "--split", "test"],
     "tiny.npz: holds no test split (present: train, val). Received: --split=test", False),
    ("cnn", ["evaluate", "--run", "CNN_RUN", "--data", "NPZ", "--split", "dev"],
     "argument --split: invalid choice: 'dev'", True),
    ("cnn", ["evaluate", "--run", "CNN_RUN", "--data", "DIR_IN_CLASS"],
     "forest/x.jpg: not a file (an image file was expected) (1 unreadable image file(s)", False),
    ("cnn", ["evaluate", "--run", "CNN_RUN", "--data", "ROOT/nothing.npz"], "nothing.npz: no such file", False),
    ("cnn", ["evaluate", "--run", "CNN_RUN", "--data", "NPZ", "--batch-size", "0"],
     "--batch-size must be an integer >= 1. Received: --batch-size=0", True),
    ("cnn", ["evaluate", "--run", "CNN_RUN", "--data", "NPZ", "--seed", "-1"],
     "--seed must be an integer >= 0. Received: --seed=-1", True),
    ("cnn", ["evaluate", "--run", "CNN_RUN", "--data", "NPZ", "--val-fraction", "1"],
     "--val-fraction must be a finite number in (0, 1). Received: --val-fraction=1", True),
    ("cnn", ["export", "--run", "CNN_RUN", "--version", "0", "--models-dir", "ROOT/sm"],
     "--version must be an integer >= 1. Received: --version=0", True),
    ("cnn", ["export", "--run", "CNN_RUN", "--name", "../up", "--models-dir", "ROOT/sm"],
     "--name must be a model name of letters, digits", False),
    ("cnn", ["train", "--seed", "-5", "--runs-dir", "RUNS"], "--seed must be an integer >= 0. Received: --seed=-5",
     True),
    ("cnn", ["train", "--data", "TRAIN_FOLDER", "--runs-dir", "RUNS", "--run-name", "new"],
     "sea/x.jpg: not a file (an image file was expected)", False),
    # P2G
    ("p2g", ["predict", "--run", "P2G_RUN", "k æ t", "--beam", "0"], "--beam must be an integer >= 1", True),
    ("p2g", ["predict", "--run", "P2G_RUN", "k æ t", "--k", "0", "--top-p", "0.5"], "--k must be an integer >= 1",
     True),
    ("p2g", ["predict", "--run", "P2G_RUN", "k æ t", "--top-p", "0"],
     "--top-p must be a finite number in (0, 1]. Received: --top-p=0", True),
    ("p2g", ["evaluate", "--run", "P2G_RUN", "--top-p", "1.5"], "Received: --top-p=1.5", True),
    ("p2g", ["evaluate", "--run", "P2G_RUN", "--top-p", "nan"], "Received: --top-p=nan", True),
    ("p2g", ["predict", "--run", "P2G_RUN", "k æ t", "--seed", "-5"], "Received: --seed=-5", True),
    ("p2g", ["evaluate", "--run", "P2G_RUN", "--seed", "-5"], "Received: --seed=-5", True),
    ("p2g", ["evaluate", "--run", "P2G_RUN", "--batch-size", "0"], "Received: --batch-size=0", True),
    ("p2g", ["export", "--run", "P2G_RUN", "--version", "-1"], "Received: --version=-1", True),
    ("p2g", ["train", "--seed", "-5", "--runs-dir", "RUNS"], "Received: --seed=-5", True),
    ("p2g", ["predict", "--run", "P2G_RUN", " "], "an empty phoneme string was given", True),
    ("p2g", ["predict", "--run", "P2G_RUN", "k æ t", "--attention-png", "ROOT/att.png"],
     "--attention-png needs a run trained with --attention", False),
    ("p2g", ["predict", "--run", "P2G_RUN", "k æ t", "--attention-png", "ROOT/no/att.png"],
     "no/att.png: no such directory to write into", True),
    ("p2g", ["evaluate", "--run", "P2G_RUN"],
     "p2g_data/test.tsv: no such file; the run was trained on", False),
    ("p2g", ["evaluate", "--run", "LONE_P2G"], "the corpus it was trained on is unknown; pass --data", False),
    ("p2g", ["evaluate", "--run", "P2G_RUN", "--data", "TSV_DIR"], "tsv: holds no test.tsv; pass a TSV file", False),
    ("p2g", ["evaluate", "--run", "P2G_RUN", "--data", "THREE_TSV"],
     "three.tsv:1: 3 tab-separated fields; expected exactly 2", False),
    ("p2g", ["evaluate", "--run", "P2G_RUN", "--data", "ARPABET_TSV"],
     "arpabet.tsv: 6 of 6 phoneme symbols (100.00%) are unknown to the checkpoint, e.g. K, AE, T, B: is "
     "it in another phoneme alphabet? The checkpoint's alphabet: b k oʊ t æ", False),
    ("p2g", ["train", "--data", "THREE_DIR", "--runs-dir", "RUNS", "--run-name", "new"],
     "three_fields/train.tsv:2: 3 tab-separated fields", False),
    # Hopfield numbers
    ("hopfield", ["retrieve", "--num-patterns", "0", "--runs-dir", "RUNS"],
     "--num-patterns must be an integer >= 1. Received: --num-patterns=0", True),
    ("hopfield", ["retrieve", "--betas", "1", "-1", "--runs-dir", "RUNS"],
     "--betas must be a finite number > 0. Received: --betas=-1.0", True),
    ("hopfield", ["retrieve", "--tol", "inf", "--runs-dir", "RUNS"], "Received: --tol=inf", True),
    ("hopfield", ["retrieve", "--mask-levels", "1", "--runs-dir", "RUNS"], "Received: --mask-levels=1.0", True),
    ("hopfield", ["retrieve", "--seed", "-1", "--runs-dir", "RUNS"], "Received: --seed=-1", True),
    ("hopfield", ["check", "--num-instances", "0", "--runs-dir", "RUNS"], "Received: --num-instances=0", True),
]




@pytest.fixture
def nothing_runs(monkeypatch):
    """Replace model loading, training and retrieval by functions that fail the test."""
    def fail(*args, **kwargs):
        raise AssertionError("an argument error must stop the command before this")

    import keras_hw2.cnn.train
    import keras_hw2.hopfield.check
    import keras_hw2.hopfield.demo
    import keras_hw2.p2g.train

    monkeypatch.setattr(keras.saving, "load_model", fail)
    for module, name in [(keras_hw2.cnn.train, "train_and_evaluate"), (keras_hw2.p2g.train, "train_and_evaluate"),
                         (keras_hw2.hopfield.demo, "run_retrieval_demo"), (keras_hw2.hopfield.check, "run_checks")]:
        monkeypatch.setattr(module, name, fail)


@pytest.mark.parametrize("task, argv, message, argument_error", CASES,
                         ids=[f"{task} {' '.join(argv)}" for task, argv, _, _ in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(files, task, argv, message, argument_error, capsys,
                                                         monkeypatch, request):
    root = files["ROOT"]
    monkeypatch.chdir(root)
    if argument_error:
        request.getfixturevalue("nothing_runs")
    argv = [str(files[a]) if a in files else a.replace("ROOT", str(root)) for a in argv]
    before = _snapshot(root)
    try:
        code = run_main(MAINS[task], argv)
    except SystemExit as e:  # argparse's own errors
        code = e.code
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert err.startswith("error: ") and err.endswith("\n") and err.count("\n") == 1, err
    assert message in err, err
    assert out == ""
    assert _snapshot(root) == before


@pytest.mark.parametrize("argv, message", [
    (["--input", "ROOT", "--output", "x.npz", "--val-fraction", "1.5"],
     "--val-fraction must be a finite number in (0, 1). Received: --val-fraction=1.5"),
    (["--input", "ROOT", "--output", "x.npz", "--seed", "-1"], "Received: --seed=-1"),
])
def test_the_folder_converter_checks_its_numbers(files, argv, message, capsys):
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "tools" / "intel_folder_to_npz.py"
    spec = importlib.util.spec_from_file_location("intel_folder_to_npz", path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    with pytest.raises(SystemExit) as exit_info:
        tool.main([a.replace("ROOT", str(files["ROOT"])) for a in argv])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in err and err.count("\n") == 1


# ---------------------------------------------------------------------------------------------------------------
# 3. Serving and exports
# ---------------------------------------------------------------------------------------------------------------




NUCLEUS = ["--signature", "nucleus", "--strings", "k æ t"]
CLIENT_CASES = [
    ("p2g", [*NUCLEUS, "--param", "p=0.9", "--param", "num_samples=99999999999", "--param", "seed=1"],
     "--param num_samples must be an integer from -2147483648 to 2147483647 (int32). "
     "Received: --param num_samples=99999999999"),
    ("p2g", [*NUCLEUS, "--param", "p=nan", "--param", "num_samples=3", "--param", "seed=1"],
     "--param p must be a finite float32 number. Received: --param p=nan"),
    ("p2g", [*NUCLEUS, "--param", "p=inf", "--param", "num_samples=3", "--param", "seed=1"],
     "Received: --param p=inf"),
    ("p2g", [*NUCLEUS, "--param", "p=1e39", "--param", "num_samples=3", "--param", "seed=1"],
     "--param p must be a finite float32 number"),
    ("p2g", [*NUCLEUS, "--param", "p=0.9", "--param", "num_samples=3", "--param", "seed=1.5"],
     "--param seed must be an integer (int64). Received: --param seed=1.5"),
    ("p2g", [*NUCLEUS, "--param", "p"], "--param must be NAME=VALUE. Received: --param p"),
    ("p2g", [*NUCLEUS, "--param", "top_p=0.9"], "--param top_p: the signature has no input 'top_p'"),
    ("p2g", [*NUCLEUS, "--param", "p=0.9"],
     "missing ['num_samples', 'seed'], unknown none (scalars are set with --param NAME=VALUE)"),
    ("p2g", [*NUCLEUS, "--param", "phonemes=k"],
     "--param phonemes: sets scalars only, but the signature takes phonemes string (batch_size)"),
    ("p2g", [*NUCLEUS, "--param", "p=0.9", "--param", "num_samples=3", "--param", "seed=1", "--format", "instances"],
     "--format=instances needs inputs of one batch size"),
    ("p2g", ["--signature", "greedy", "--strings", "k"],
     "no signature 'greedy'; available: beam_search, nucleus, serving_default"),
    ("p2g", ["--images", "{small}"], "phonemes string (batch_size) is a string input but not one for encoded images"),
    ("p2g", ["--input-name", "spelling", "--strings", "k"], "--input-name=spelling: the signature has no such input"),
    ("cnn", ["--strings", "k æ t"], "signature input images uint8 (batch_size, 48, 48, 3) takes uint8, not strings"),
    ("cnn", ["--signature", "serve_image_bytes", "--strings", "x"],
     "image_bytes string (batch_size) takes encoded image files; use --images"),
    ("cnn", ["--images", "{missing}"], "missing.png: no such file"),
    ("cnn", ["--signature", "serve_image_bytes", "--images", "{text}"], "notes.txt: cannot be decoded as an image"),
    ("cnn", ["--export-dir", "{root}", "--images", "{small}"], "saved_model.pb: no SavedModel here"),
    ("cnn", ["--name", "../p2g", "--images", "{small}"], "--name must be a model name of letters, digits"),
]


@pytest.mark.parametrize("model, args, message", CLIENT_CASES)
def test_the_client_refuses_input_that_does_not_fit_the_signature(exports, tmp_path, capsys, model, args, message):
    (tmp_path / "notes.txt").write_text("not an image")
    files = {"small": exports["small"], "missing": str(tmp_path / "missing.png"), "text": str(tmp_path / "notes.txt"),
             "root": str(exports["root"])}
    name = "cnn_baseline" if model == "cnn" else "p2g"
    # A host that cannot exist and port 9 (discard): reaching the network would fail differently.
    argv = ["predict", "--name", name, "--export-dir", str(exports[model]), "--host", "no-such-host.invalid",
            "--port", "9", *[a.format(**files) for a in args]]
    code = run_main(main, argv)
    err = capsys.readouterr().err
    assert (code, err.count("\n")) == (2, 1), err
    assert err.startswith("error: ") and message in err, err


def test_models_config_without_models_is_refused_and_writes_nothing(tmp_path, capsys):
    assert run_main(main, ["config", "--models-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path}: holds no exported model (<name>/<version>/saved_model.pb)\n"
    assert run_main(main, ["config", "--models-dir", str(tmp_path / "none")]) == 2
    assert "no such directory" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


# -- served: out-of-range arguments are InvalidArgument naming the argument -------------------------------------

BEAM = ["--signature", "beam_search", "--strings", "k æ t"]
SAMPLE = ["--signature", "nucleus", "--strings", "k æ t", "--param", "seed=1"]
SERVED_CASES = [
    ([*BEAM, "--param", "num_beams=0", "--param", "length_penalty=1"],
     "num_beams must be an integer from 1 to 64. Received: num_beams=] [0]"),
    ([*BEAM, "--param", "num_beams=65", "--param", "length_penalty=1"], "Received: num_beams=] [65]"),
    ([*BEAM, "--param", "num_beams=3", "--param", "length_penalty=-1"],
     "length_penalty must be a finite number >= 0. Received: length_penalty=] [-1]"),
    ([*SAMPLE, "--param", "p=0", "--param", "num_samples=3"], "p must be in (0, 1]. Received: p=] [0]"),
    ([*SAMPLE, "--param", "p=1.5", "--param", "num_samples=3"], "p must be in (0, 1]. Received: p=] [1.5]"),
    ([*SAMPLE, "--param", "p=0.5", "--param", "num_samples=0"],
     "num_samples must be an integer from 1 to 100. Received: num_samples=] [0]"),
    ([*SAMPLE, "--param", "p=0.5", "--param", "num_samples=101"], "Received: num_samples=] [101]"),
]


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
@pytest.mark.parametrize("args, message", SERVED_CASES)
def test_the_served_model_rejects_decoding_arguments_out_of_range(servers, capsys, protocol, args, message):
    code = run_main(main, ["predict", "--name", "p2g", "--protocol", protocol, "--host", "127.0.0.1",
                           "--port", str(servers[protocol][0]), *args])
    err = capsys.readouterr().err.splitlines()
    assert code == 2 and err[-1].startswith("error: ") and message in err[-1], err
    assert ("HTTP 400: assertion failed" if protocol == "rest" else "gRPC INVALID_ARGUMENT: assertion") in err[-1]


def test_an_unknown_model_is_reported_by_the_server(servers, capsys):
    code = run_main(main, ["metadata", "--name", "rnn", "--host", "127.0.0.1", "--port", str(servers["rest"][0])])
    err = capsys.readouterr().err
    assert code == 2
    assert err.endswith("/v1/models/rnn/metadata: HTTP 404: Servable not found for request: Latest(rnn)\n")


def test_unknown_and_long_inputs_are_spelled_and_empty_or_over_long_ones_refused(servers, capsys):
    from keras_hw2.p2g.speller import MAX_PHONEME_BYTES

    port = str(servers["rest"][0])
    longest = " ".join(["k"] * (MAX_PHONEME_BYTES // 2))
    code = run_main(main, ["predict", "--name", "p2g", "--host", "127.0.0.1", "--port", port,
                           "--strings", "zz qq", longest])
    out = capsys.readouterr().out.splitlines()
    assert code == 0 and len(out) == 2
    assert all(0 <= len(line.split('"spellings": "', 1)[1].split('"')[0]) <= MAX_LENGTH for line in out)
    code = run_main(main, ["predict", "--name", "p2g", "--host", "127.0.0.1", "--port", port,
                           "--strings", "k", ""])  # refused before sending
    assert code == 2 and capsys.readouterr().err.startswith("error: --strings: string 2 is empty")
    code = run_main(main, ["predict", "--name", "p2g", "--host", "127.0.0.1", "--port", port,
                           "--strings", longest + " kk"])  # refused by the export
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "HTTP 400: assertion failed" in err[-1] and f"at most {MAX_PHONEME_BYTES}" in err[-1], err


def test_an_empty_batch_gives_an_empty_result(servers, exports):
    client = RestClient("127.0.0.1", servers["rest"][0], row_format=False)
    found = signatures.read_export(exports["p2g"])
    empty = np.array([], dtype=object)
    assert client.predict("p2g", "serving_default", found["serving_default"], {"phonemes": empty}) == {
        "spellings": [], "log_probs": []}
    beam = {"phonemes": empty, "num_beams": np.array(3, np.int32), "length_penalty": np.array(1.0, np.float32)}
    assert client.predict("p2g", "beam_search", found["beam_search"], beam) == {"spellings": [], "log_probs": [],
                                                                              "scores": []}


# -- exports ---------------------------------------------------------------------------------------------------

def _write_tiny(path):
    module = tf.Module()
    module.f = tf.function(lambda x: 2 * x, input_signature=[tf.TensorSpec([None], tf.float32)])
    tf.saved_model.save(module, path, signatures=module.f)


def test_a_second_export_of_the_same_model_is_refused_naming_the_holder(tmp_path):
    (tmp_path / "m" / "1").mkdir(parents=True)
    with DirectoryLock(tmp_path, what="export of m", lock_file=".m.lock"):
        before = _snapshot(tmp_path)
        with pytest.raises(InputError, match=rf"this export of m is in use by another process \(pid {os.getpid()}\)"):
            export_saved_model(_write_tiny, "m", root=tmp_path)
        assert _snapshot(tmp_path) == before


def test_stale_temporaries_are_removed_when_an_export_starts(tmp_path):
    stale = tmp_path / "m" / ".tmp-1-deadbeef"
    (stale / "variables").mkdir(parents=True)
    assert export_saved_model(_write_tiny, "m", root=tmp_path) == tmp_path / "m" / "1"
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["1"]


INTERRUPTED_EXPORT = """
import sys, time
from pathlib import Path
from keras_hw2.export import export_saved_model

def slow_write(path):
    Path(path).mkdir()
    (Path(path) / "half-written").write_text("x")
    print("writing", flush=True)
    time.sleep(600)

for _ in range(2):
    try:
        export_saved_model(slow_write, "m", root=sys.argv[1])
    except KeyboardInterrupt as e:
        print(f"interrupted: {e}", flush=True)
"""


def test_sigint_and_sigterm_during_an_export_remove_its_temporary(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(INTERRUPTED_EXPORT), str(tmp_path)],
                             stdout=subprocess.PIPE, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    try:
        lines = []
        for sent in (signal.SIGINT, signal.SIGTERM):
            assert child.stdout.readline().strip() == "writing"
            child.send_signal(sent)
            lines.append(child.stdout.readline().strip())
        assert child.wait(timeout=120) == 0
    finally:
        child.kill()
    assert lines == [f"interrupted: export to {tmp_path / 'm' / '1'} stopped; nothing was written ({name})"
                     for name in ("SIGINT", "SIGTERM")]
    assert not (tmp_path / "m").exists()
