"""Both tasks' exports: reloaded in a clean process they agree with the library; what saved_model_cli shows.

One process that imports only TensorFlow and tensorflow-text (never keras_hw2)
runs every signature of the CNN and P2G exports; its outputs must equal what
the library computes in this process: the CNN model on the same pixels (and on
the files decoded by `keras_hw2.cnn.images`), and the `Speller` (greedy,
nucleus with the same seed, beam search) on the same strings, decomposed
Unicode included.
"""
import ast
import json
import re
import shlex
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from serving_standins import make_exports

from conftest import _python
from keras_hw2.cnn.images import load_images
from keras_hw2.p2g.decoding import MAX_LENGTH

# (an empty or blank string is refused by the export: tests/test_reliability.py)
WORDS = ["k é t", unicodedata.normalize("NFD", "k é t"), "t͡ʃ æ t", "zz k qq", " ".join(["k æ t"] * 100)]

RELOAD = """
import json, sys
import numpy as np
import tensorflow as tf
import tensorflow_text  # registers the text ops of the P2G graph

cnn_dir, p2g_dir, pixels_npy, files, words, out = sys.argv[1:7]
cnn = tf.saved_model.load(cnn_dir).signatures
p2g = tf.saved_model.load(p2g_dir).signatures
words, empty = tf.constant(json.loads(words)), tf.constant([], tf.string)
files = [open(f, "rb").read() for f in json.loads(files)]
results = {
    "pixels": cnn["serving_default"](images=tf.constant(np.load(pixels_npy))),
    "bytes": cnn["serve_image_bytes"](image_bytes=tf.constant(files)),
    "greedy": p2g["serving_default"](phonemes=words),
    "nucleus": p2g["nucleus"](phonemes=words, p=tf.constant(0.8), num_samples=tf.constant(3),
                              seed=tf.constant(7, tf.int64)),
    "beam": p2g["beam_search"](phonemes=words, num_beams=tf.constant(3), length_penalty=tf.constant(0.5)),
    "greedy_empty": p2g["serving_default"](phonemes=empty),
    "nucleus_empty": p2g["nucleus"](phonemes=empty, p=tf.constant(0.8), num_samples=tf.constant(3),
                                    seed=tf.constant(7, tf.int64)),
    "beam_empty": p2g["beam_search"](phonemes=empty, num_beams=tf.constant(3), length_penalty=tf.constant(0.5)),
}
np.savez(out, **{f"{k}/{name}": v.numpy() for k, outputs in results.items() for name, v in outputs.items()})
print(json.dumps({"keras_hw2_imported": [m for m in sys.modules if m.split(".")[0] == "keras_hw2"]}))
"""


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    return make_exports(tmp_path_factory)


@pytest.fixture(scope="module")
def reloaded(exports, tmp_path_factory):
    """Every signature's outputs, computed by a process that never imports keras_hw2."""
    tmp = tmp_path_factory.mktemp("reload")
    pixels = load_images([exports["big"], exports["small"]])
    np.save(tmp / "pixels.npy", pixels)
    files = [exports["big"], exports["small"]]
    done = _python("-c", RELOAD, str(exports["cnn"]), str(exports["p2g"]), str(tmp / "pixels.npy"),
                   json.dumps(files), json.dumps(WORDS), str(tmp / "out.npz"), timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"keras_hw2_imported": []}
    with np.load(tmp / "out.npz", allow_pickle=True) as data:
        return {key: data[key] for key in data.files}, pixels


def _strings(tensor):
    return np.vectorize(lambda b: b.decode("utf-8"), otypes=[object])(np.asarray(tensor)).tolist()


def test_cnn_export_agrees_with_the_model_on_pixels_and_on_files_decoded_by_the_library(exports, reloaded):
    outputs, pixels = reloaded
    probabilities = tf.exp(exports["cnn_model"](tf.cast(pixels, "float32"), training=False)).numpy()
    np.testing.assert_allclose(outputs["pixels/probabilities"], probabilities, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(outputs["bytes/probabilities"], probabilities, rtol=1e-5, atol=1e-6)
    assert outputs["bytes/predicted_class"].tolist() == outputs["pixels/predicted_class"].tolist()
    assert outputs["pixels/class_names"].shape == (2, 6)


def test_p2g_export_agrees_with_the_speller_on_greedy_nucleus_and_beam(exports, reloaded):
    outputs, _ = reloaded
    speller = exports["speller"]
    greedy = speller.greedy(WORDS)
    nucleus = speller.sample(WORDS, 0.8, 3, 7)
    beam = speller.beam_search(WORDS, num_beams=3, length_penalty=0.5)
    for name, expected in [("greedy", greedy), ("nucleus", nucleus), ("beam", beam)]:
        assert _strings(outputs[f"{name}/spellings"]) == _strings(expected["spellings"]), name
        np.testing.assert_allclose(outputs[f"{name}/log_probs"], expected["log_probs"], rtol=1e-5, atol=1e-5)
    assert outputs["nucleus/spellings"].shape == (len(WORDS), 3)


def test_decomposed_unicode_is_normalised_in_the_graph(exports, reloaded):
    outputs, _ = reloaded
    composed, decomposed = _strings(outputs["greedy/spellings"])[:2]
    assert composed == decomposed
    speller = exports["speller"]
    assert speller.encode(WORDS[:2]).numpy().tolist() == [[4, 8, 6], [4, 8, 6]]  # é is one known symbol


def test_empty_batches_unknown_and_long_inputs_are_spelled_within_the_maximum_length(reloaded):
    outputs, _ = reloaded
    for name in ("greedy", "beam"):
        spellings = _strings(outputs[f"{name}/spellings"])
        assert len(spellings) == len(WORDS) and all(len(s) <= MAX_LENGTH for s in spellings)
        assert np.isfinite(outputs[f"{name}/log_probs"]).all()
    assert outputs["greedy_empty/spellings"].shape == (0,) and outputs["beam_empty/log_probs"].shape == (0, 3)
    assert outputs["nucleus_empty/spellings"].shape == (0, 3)


SAVED_MODEL_CLI_DRIVER = """
import contextlib, io, json, sys, traceback
from absl import flags
from tensorflow.python.tools.saved_model_cli import main  # what the saved_model_cli console script calls

results = {}
for name, args in json.loads(sys.argv[1]).items():
    flags.FLAGS.unparse_flags()
    sys.argv = ["saved_model_cli", *args]
    out, err, code = io.StringIO(), io.StringIO(), 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main()
        except SystemExit as e:
            code = e.code or 0
        except Exception:
            code = 1
            traceback.print_exc()
    results[name] = (code, out.getvalue(), err.getvalue())
print("RESULTS " + json.dumps(results))
"""


README = Path(__file__).resolve().parents[1] / "README.md"
_WITHOUT_A_SERVER = README.read_text(encoding="utf-8").split("Inspect and run an export without a server", 1)[1]


def _readme_saved_model_cli_commands(paths: dict) -> dict:
    """The README's ``saved_model_cli`` commands, ``{"show cnn": [args], ...}``, on the paths in `paths`."""
    block = re.search(r"```\n(.*?)```", _WITHOUT_A_SERVER, flags=re.DOTALL).group(1)
    commands = {}
    for line in block.splitlines():
        args = [paths.get(arg, arg) for arg in shlex.split(line.split("  #")[0])]
        assert args[0] == "saved_model_cli", line
        commands[f"{args[1]} {'p2g' if paths['saved_models/p2g/1'] in args else 'cnn'}"] = args[1:]
    return commands


@pytest.fixture(scope="module")
def saved_model_cli(exports, tmp_path_factory):
    """The README's `saved_model_cli` commands (`show --all` on each export, `run` on the CNN's), and `run` on the
    P2G export, which the README says fails, through the console script's `main()`.

    One process runs the commands (one TensorFlow start-up instead of four);
    it never imports tensorflow_text, as a plain ``saved_model_cli`` would not.
    """
    npy = tmp_path_factory.mktemp("cli") / "batch.npy"
    np.save(npy, np.zeros((2, 48, 48, 3), np.uint8))
    commands = _readme_saved_model_cli_commands({"saved_models/cnn_baseline/1": str(exports["cnn"]),
                                                 "saved_models/p2g/1": str(exports["p2g"]),
                                                 "images=batch.npy": f"images={npy}"})
    assert sorted(commands) == ["run cnn", "show cnn", "show p2g"]
    commands["run p2g"] = ["run", "--dir", str(exports["p2g"]), "--tag_set", "serve", "--signature_def",
                           "serving_default", "--input_exprs", "phonemes=['k']"]
    # `show` first: once a `run` has parsed its flags, absl keeps their validators, which a later `show` fails
    ordered = {name: commands[name] for name in sorted(commands, key=lambda name: name.startswith("run"))}
    done = _python("-c", SAVED_MODEL_CLI_DRIVER, json.dumps(ordered), timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.split("RESULTS ", 1)[1])


def test_saved_model_cli_cannot_run_the_p2g_export_as_the_readme_says(saved_model_cli):
    code, out, err = saved_model_cli["run p2g"]
    assert code != 0 and "Op type not registered 'NormalizeUTF8'" in err, err[-2000:]
    assert "Op type not registered 'NormalizeUTF8'" in _WITHOUT_A_SERVER


def test_the_readmes_python_lines_run_the_p2g_export_like_the_speller(exports, tmp_path):
    code = re.search(r"```python\n(.*?)```", _WITHOUT_A_SERVER, flags=re.DOTALL).group(1)
    (tmp_path / "saved_models" / "p2g").mkdir(parents=True)
    (tmp_path / "saved_models" / "p2g" / "1").symlink_to(exports["p2g"])
    done = _python("-c", code, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    printed = ast.literal_eval(done.stdout.strip().splitlines()[-1])
    expected = exports["speller"].beam_search(["k æ t"], num_beams=5, length_penalty=1.0)
    assert printed["spellings"] == expected["spellings"].numpy().tolist()
    np.testing.assert_allclose(printed["log_probs"], expected["log_probs"].numpy(), rtol=1e-5)


def test_saved_model_cli_console_script_is_installed():
    script = f"{sys.prefix}/bin/saved_model_cli"
    assert "from tensorflow.python.tools.saved_model_cli import main" in open(script).read()


@pytest.mark.parametrize("model, expected", [
    ("cnn", ["signature_def['serve_image_bytes']", "signature_def['serving_default']", "inputs['images']",
             "dtype: DT_UINT8", "shape: (-1, 48, 48, 3)", "inputs['image_bytes']", "outputs['probabilities']"]),
    ("p2g", ["signature_def['beam_search']", "signature_def['nucleus']", "signature_def['serving_default']",
             "inputs['phonemes']", "dtype: DT_STRING", "inputs['num_beams']", "inputs['length_penalty']",
             "inputs['num_samples']", "inputs['p']", "inputs['seed']", "outputs['spellings']",
             "outputs['log_probs']", "outputs['scores']", "'NormalizeUTF8'",
             "'TFText>WhitespaceTokenizeWithOffsetsV2'"]),
])
def test_saved_model_cli_shows_each_export(saved_model_cli, model, expected):
    code, out, err = saved_model_cli[f"show {model}"]
    assert code == 0, err[-2000:]
    assert [text for text in expected if text not in out] == []


def test_saved_model_cli_runs_the_cnn_export(saved_model_cli):
    code, out, err = saved_model_cli["run cnn"]
    assert code == 0, err[-2000:]
    assert "Result for output key predicted_class:" in out and "Result for output key probabilities:" in out


def test_an_export_holds_the_graph_and_variables_and_no_assets(exports):
    files = sorted(str(p.relative_to(exports["p2g"])) for p in exports["p2g"].rglob("*") if p.is_file())
    assert files == ["fingerprint.pb", "saved_model.pb", "variables/variables.data-00000-of-00001",
                     "variables/variables.index"]
    assert sorted(p.name for p in exports["p2g"].parent.iterdir()) == ["1"]
