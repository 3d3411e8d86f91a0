"""python -m keras_hw2.cnn end to end on tiny data: train -> evaluate -> predict -> export -> clean-process reload."""
import json

import numpy as np
import pytest
import tensorflow as tf

from keras_hw2.cli import run_main
from keras_hw2.cnn import __main__ as cnn_cli
from keras_hw2.cnn.data import CLASS_NAMES, write_synthetic_npz

RELOAD = """
import json, sys
import tensorflow as tf
model = tf.saved_model.load(sys.argv[1])
files = tf.stack([tf.io.read_file(path) for path in sys.argv[2:]])
out = model.signatures["serve_image_bytes"](image_bytes=files)
print(json.dumps({"probabilities": out["probabilities"].numpy().tolist(),
                  "predicted": [c.decode() for c in out["predicted_class"].numpy()],
                  "keras_hw2_imported": any(m.startswith("keras_hw2") for m in sys.modules)}))
"""


def _cli(capsys, *argv):
    code = run_main(cnn_cli.main, [str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A batchnorm run trained for one epoch on a tiny synthetic npz, another npz, and two image files."""
    root = tmp_path_factory.mktemp("cnn")
    train = write_synthetic_npz(root / "tiny.npz", num_per_class=2, with_test=True)
    other = write_synthetic_npz(root / "other.npz", num_per_class=2, seed=7)  # train and val splits only
    assert run_main(cnn_cli.main, ["train", "--model", "batchnorm", "--data", str(train), "--epochs", "1",
                                   "--runs-dir", str(root / "runs"), "--run-name", "tiny", "--quiet"]) == 0
    images = np.load(other)["val_images"]
    files = [root / "a.png", root / "b.jpg"]
    files[0].write_bytes(tf.io.encode_png(images[0]).numpy())
    files[1].write_bytes(tf.io.encode_jpeg(np.repeat(np.repeat(images[1], 3, axis=0), 2, axis=1)).numpy())
    return root / "runs" / "cnn" / "tiny", other, files


def test_evaluate_on_another_file_prints_and_writes_beside_the_training_results(trained, capsys):
    run, other, _ = trained
    training_files = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    code, out, err = _cli(capsys, "evaluate", "--run", run, "--data", other)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].startswith("devices: ") and lines[1] == f"{run / 'best.keras'} on {other} (val split, 12 images):"
    written = json.loads((run / "evaluation-other-val.json").read_text())
    assert (written["data"], written["split"], written["images"]) == (str(other), "val", 12)
    matrix = np.array(written["confusion_matrix"])
    assert matrix.shape == (6, 6) and matrix.sum(axis=1).tolist() == [2] * 6
    assert written["accuracy"] == pytest.approx(np.trace(matrix) / 12)
    assert lines[2] == f"accuracy {written['accuracy']:.4f} ({np.trace(matrix)} of 12 images)"
    assert lines[5].split() == list(CLASS_NAMES)  # the confusion matrix's header
    assert [int(n) for n in lines[6].split()[1:]] == matrix[0].tolist()
    assert (run / "evaluation-other-val.png").stat().st_size > 0
    assert lines[-1] == (f"wrote {run / 'evaluation-other-val.json'}, {run / 'evaluation-other-val.png'}, "
                         f"{run / 'evaluation-other-val-errors.png'}")
    mistakes = written["misclassified"]
    assert len(mistakes) == 12 - np.trace(matrix) and (run / "evaluation-other-val-errors.png").stat().st_size > 0
    assert [m["probability"] for m in mistakes] == sorted((m["probability"] for m in mistakes), reverse=True)
    assert all(m["true"] != m["predicted"] and matrix[m["true"], m["predicted"]] > 0 for m in mistakes)
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.name in training_files} == training_files


def test_evaluate_chooses_a_split_and_reads_kaggle_folders(trained, capsys, tmp_path):
    run, other, _ = trained
    code, out, _ = _cli(capsys, "evaluate", "--run", run / "best.keras", "--data", other, "--split", "train",
                        "--quiet")
    assert code == 0 and out.startswith(f"{run / 'best.keras'} on {other} (train split, 12 images):")
    images = np.load(other)["val_images"]
    for i, name in enumerate(CLASS_NAMES):
        (tmp_path / "intel" / "seg_test" / name).mkdir(parents=True)
        for j in range(2):
            path = tmp_path / "intel" / "seg_test" / name / f"{j}.png"
            path.write_bytes(tf.io.encode_png(images[np.flatnonzero(np.load(other)["val_labels"] == i)[j]]).numpy())
    code, out, _ = _cli(capsys, "evaluate", "--run", run, "--data", tmp_path / "intel", "--quiet")
    assert code == 0 and out.startswith(f"{run / 'best.keras'} on {tmp_path / 'intel'} (test split, 12 images):")
    # the same images and labels as other.npz's val split: the same confusion matrix
    by_folder = json.loads((run / "evaluation-intel-test.json").read_text())["confusion_matrix"]
    assert by_folder == json.loads((run / "evaluation-other-val.json").read_text())["confusion_matrix"]


def test_predict_export_and_a_clean_process_agree(trained, capsys, python, tmp_path):
    run, other, files = trained
    code, out, err = _cli(capsys, "predict", "--run", run, *files, "--top-k", "2")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].startswith("devices: ") and [line.split(":")[0] for line in lines[1:]] == [str(f) for f in files]
    # `predict --json` in a clean process, TF_CPP_MIN_LOG_LEVEL empty (= unset): no TensorFlow start-up line at all
    result = python("-m", "keras_hw2.cnn", "predict", "--run", str(run), *map(str, files), "--top-k", "6",
                    "--json", "--quiet", env={"TF_CPP_MIN_LOG_LEVEL": ""})
    assert result.returncode == 0 and result.stderr == "", result.stderr[-3000:]
    predicted = json.loads(result.stdout)
    assert [p["file"] for p in predicted] == [str(f) for f in files]
    assert [f"{c['class']} {c['probability']:.3f}" for c in predicted[0]["classes"][:2]] == \
        lines[1].split(": ", 1)[1].split(", ")
    code, out, _ = _cli(capsys, "export", "--run", run, "--models-dir", tmp_path / "models")
    export_dir = tmp_path / "models" / "cnn_batchnorm" / "1"
    assert code == 0 and out.splitlines()[0].startswith("devices: ") and out.splitlines()[1:] == [
        f"exported {export_dir}"]  # the P2G export's shape too (test_p2g_cli)
    result = python("-c", RELOAD, str(export_dir), *map(str, files))
    assert result.returncode == 0, result.stderr[-2000:]
    served = json.loads(result.stdout.strip().splitlines()[-1])
    assert not served["keras_hw2_imported"]
    for row, prediction in zip(served["probabilities"], predicted):
        by_class = {c["class"]: c["probability"] for c in prediction["classes"]}
        np.testing.assert_allclose(row, [by_class[name] for name in CLASS_NAMES], rtol=1e-5)
    assert served["predicted"] == [p["classes"][0]["class"] for p in predicted]

