"""Bad input to the evaluate / predict / export / train commands: one line, exit status 2, nothing written.

Each case runs a command in this process on prepared files and checks the exit
status, that stderr is exactly one ``error: ...`` line holding the expected
fragment, and that no file under the test's directory (runs, exports, data,
model files) was created or changed. Argument errors must also stop before any
model is loaded or trained (those functions are replaced by ones that fail).
"""
import json
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_hw2.cli import run_main
from keras_hw2.cnn import __main__ as cnn_cli
from keras_hw2.cnn.data import CLASS_NAMES, write_synthetic_npz
from keras_hw2.hopfield import __main__ as hopfield_cli
from keras_hw2.p2g import __main__ as p2g_cli

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
       "lambda.keras: holds a Keras Sequential model, not a p2g Seq2Seq checkpoint", False) for verb in LOADING["p2g"]],
    *[("cnn", [verb[0], "--run", "P2G_RUN", *verb[1:]],
       "p2g/good/best.keras: holds a p2g Seq2Seq checkpoint, not a CNN; pass a runs/cnn/<name> run", False)
      for verb in LOADING["cnn"]],
    *[("p2g", [verb[0], "--run", "CNN_RUN", *verb[1:]],
       "cnn/good/best.keras: holds a Keras Functional model, not a p2g Seq2Seq checkpoint", False)
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
     "arpabet.tsv: 6 of 6 phoneme symbols (100.00%) are unknown to the checkpoint, e.g. K, AE, T, B: is the data "
     "in another phoneme alphabet? The checkpoint's alphabet: b k oʊ t æ", False),
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


def _snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): (p.is_dir(), p.stat().st_size if p.is_file() else 0, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*"))}


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
