"""TF Serving tools: models.config (tools/serving_config.py) and the client (tools/serving_client.py).

TF Serving cannot be installed here, so everything is checked up to the wire:
the REST bodies and gRPC `PredictRequest`s the client builds for a CNN and a
P2G export carry the signatures' input names, dtypes and shapes (read from the
SavedModels) and are accepted by those very signatures; mismatches are refused
before anything is sent; small stand-in servers (REST and gRPC, running the
SavedModel) show the results printed; `saved_model_cli show --all` and
`saved_model_cli run` work on each export.
"""
import base64
import functools
import json
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format

from conftest import REPO, _python
from keras_hw2.cli import run_main
from keras_hw2.errors import InputError

sys.path.insert(0, str(REPO / "tools"))
import serving_client  # noqa: E402
import serving_config  # noqa: E402

SAVED_MODEL_CLI = str(REPO / ".venv" / "bin" / "saved_model_cli")
PHONEMES = ["k æ t", "t͡ʃ æ t"]
SOURCE = ["<pad>", "<sos>", "<eos>", "<unk>", "k", "æ", "t", "t͡ʃ"]
TARGET = ["<pad>", "<sos>", "<eos>", "<unk>", "c", "a", "t", "h"]


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """An untrained CNN and a tiny P2G model exported with their modules' own export functions."""
    import keras

    from keras_hw2.cnn.models import build_model
    from keras_hw2.cnn.serving import export_model
    from keras_hw2.p2g.models import Seq2Seq
    from keras_hw2.p2g.serving import export_speller

    tmp = tmp_path_factory.mktemp("serving")
    root = tmp / "saved_models"
    cnn = export_model(build_model(), "cnn_baseline", root=root)
    speller = Seq2Seq(SOURCE, TARGET, units=4, use_attention=True)
    speller((keras.ops.ones((1, 3), "int32"), keras.ops.ones((1, 4), "int32")))
    p2g = export_speller(speller, "p2g", root=root)
    pixels = np.random.default_rng(0).integers(0, 256, size=(60, 80, 3), dtype=np.uint8)
    tf.io.write_file(str(tmp / "big.png"), tf.io.encode_png(pixels))
    tf.io.write_file(str(tmp / "small.jpg"), tf.io.encode_jpeg(pixels[:48, :48]))
    return {"root": root, "cnn": cnn, "p2g": p2g, "big": str(tmp / "big.png"), "small": str(tmp / "small.jpg")}


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


@pytest.fixture(scope="module")
def saved_model_cli(exports, tmp_path_factory):
    """`saved_model_cli show --all` and `saved_model_cli run` on each export.

    One process runs the four commands through the console script's own `main()`
    (one TensorFlow start-up instead of four).
    """
    npy = tmp_path_factory.mktemp("cli") / "images.npy"
    np.save(npy, np.zeros((2, 48, 48, 3), np.uint8))
    commands = {
        "show cnn": ["show", "--all", "--dir", str(exports["cnn"])],
        "show p2g": ["show", "--all", "--dir", str(exports["p2g"])],
        "run cnn": ["run", "--dir", str(exports["cnn"]), "--tag_set", "serve", "--signature_def", "serving_default",
                    "--inputs", f"images={npy}"],
        "run p2g": ["run", "--dir", str(exports["p2g"]), "--tag_set", "serve", "--signature_def", "serving_default",
                    "--input_exprs", f"phonemes={PHONEMES!r}"],
    }
    done = _python("-c", SAVED_MODEL_CLI_DRIVER, json.dumps(commands), timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.split("RESULTS ", 1)[1])


def test_saved_model_cli_console_script_is_installed():
    assert Path(SAVED_MODEL_CLI).is_file()
    assert "from tensorflow.python.tools.saved_model_cli import main" in Path(SAVED_MODEL_CLI).read_text()


@functools.lru_cache(maxsize=None)
def _load_signature(path, name):
    return tf.saved_model.load(str(path)).signatures[name]


def _tensors_from_rest_body(body, inputs):
    """What TF Serving makes of a REST body: one tensor per input, with the signature's dtype."""
    def decode(value):
        if isinstance(value, dict):
            return base64.b64decode(value["b64"])
        if isinstance(value, list):
            return [decode(v) for v in value]
        return value.encode("utf-8") if isinstance(value, str) else value

    if "instances" in body:
        columns = {name: [decode(row[name]) for row in body["instances"]] for name in inputs}
    else:
        columns = {name: decode(value) for name, value in body["inputs"].items()}
    return {name: tf.constant(value, dtype=inputs[name].dtype) for name, value in columns.items()}


def _cnn_images(exports, signature):
    inputs, _ = serving_client.read_signature(exports["cnn"], signature)
    spec = serving_client.choose_input(inputs)
    return inputs, {spec.name: serving_client.image_array([exports["big"], exports["small"]], spec, resize=True)}


def _p2g_nucleus_inputs(exports):
    inputs, _ = serving_client.read_signature(exports["p2g"], "nucleus")
    arrays = serving_client.param_arrays(["p=0.9", "num_samples=3", "seed=7"], inputs)
    arrays["phonemes"] = serving_client.string_array(PHONEMES, inputs["phonemes"])
    return inputs, arrays


# -- signatures, read from the SavedModels -------------------------------------------------------------------

@pytest.mark.parametrize("model, signature, expected", [
    ("cnn", "serving_default", {"images": (tf.uint8, (None, 48, 48, 3))}),
    ("cnn", "serve_image_bytes", {"image_bytes": (tf.string, (None,))}),
    ("p2g", "serving_default", {"phonemes": (tf.string, (None,))}),
    ("p2g", "nucleus", {"phonemes": (tf.string, (None,)), "p": (tf.float32, ()), "num_samples": (tf.int32, ()),
                        "seed": (tf.int64, ())}),
])
def test_signatures_are_read_from_the_saved_model(exports, model, signature, expected):
    inputs, outputs = serving_client.read_signature(exports[model], signature)
    assert {name: (spec.dtype, spec.shape) for name, spec in inputs.items()} == expected
    _, keywords = _load_signature(exports[model], signature).structured_input_signature
    assert {name: (spec.dtype, tuple(spec.shape)) for name, spec in keywords.items()} == expected
    assert outputs


def test_the_highest_version_is_the_default_and_a_missing_one_is_refused(exports):
    assert serving_client.model_version_dir(exports["root"], "p2g") == exports["p2g"]
    with pytest.raises(InputError, match=r"p2g: no version 7; present: 1"):
        serving_client.model_version_dir(exports["root"], "p2g", 7)


# -- request bodies and protos match the signatures and are accepted by them --------------------------------

@pytest.mark.parametrize("signature", ["serving_default", "serve_image_bytes"])
def test_rest_bodies_for_images_match_the_cnn_signatures(exports, signature):
    inputs, arrays = _cnn_images(exports, signature)
    body = json.loads(json.dumps(serving_client.rest_body(arrays, signature)))
    assert body["signature_name"] == signature and len(body["instances"]) == 2
    assert all(set(row) == set(inputs) for row in body["instances"])
    if signature == "serve_image_bytes":
        with open(exports["small"], "rb") as f:
            assert base64.b64decode(body["instances"][1]["image_bytes"]["b64"]) == f.read()
    else:
        assert np.array(body["instances"][0]["images"]).shape == (48, 48, 3)
    outputs = _load_signature(exports["cnn"], signature)(**_tensors_from_rest_body(body, inputs))
    assert outputs["probabilities"].shape == (2, 6) and outputs["predicted_class"].shape == (2,)


def test_rest_bodies_for_phonemes_match_the_p2g_signatures(exports):
    inputs, _ = serving_client.read_signature(exports["p2g"], "serving_default")
    arrays = {"phonemes": serving_client.string_array(PHONEMES, inputs["phonemes"])}
    body = json.loads(json.dumps(serving_client.rest_body(arrays)))
    assert body == {"signature_name": "serving_default", "instances": [{"phonemes": p} for p in PHONEMES]}
    outputs = _load_signature(exports["p2g"], "serving_default")(**_tensors_from_rest_body(body, inputs))
    assert outputs["spellings"].shape == (2,) and outputs["spellings"].dtype == tf.string

    inputs, arrays = _p2g_nucleus_inputs(exports)
    body = json.loads(json.dumps(serving_client.rest_body(arrays, "nucleus")))  # scalars: columnar form
    assert body == {"signature_name": "nucleus",
                    "inputs": {"phonemes": PHONEMES, "p": 0.9, "num_samples": 3, "seed": 7}}
    outputs = _load_signature(exports["p2g"], "nucleus")(**_tensors_from_rest_body(body, inputs))
    assert outputs["spellings"].shape == (2, 3)


@pytest.mark.parametrize("model, signature", [("cnn", "serving_default"), ("cnn", "serve_image_bytes"),
                                              ("p2g", "serving_default"), ("p2g", "nucleus")])
def test_predict_requests_match_the_signatures(exports, model, signature):
    if model == "cnn":
        inputs, arrays = _cnn_images(exports, signature)
    elif signature == "nucleus":
        inputs, arrays = _p2g_nucleus_inputs(exports)
    else:
        inputs, _ = serving_client.read_signature(exports["p2g"], signature)
        arrays = {"phonemes": serving_client.string_array(PHONEMES, inputs["phonemes"])}
    serving_client.check_inputs(inputs, arrays)
    request = serving_client.predict_request(arrays, inputs, f"{model}_served", signature, version=1)
    assert (request.model_spec.name, request.model_spec.signature_name) == (f"{model}_served", signature)
    assert request.model_spec.version.value == 1
    assert set(request.inputs) == set(inputs)
    for name, proto in request.inputs.items():
        spec = inputs[name]
        assert proto.dtype == spec.dtype.as_datatype_enum
        dims = [d.size for d in proto.tensor_shape.dim]
        assert len(dims) == len(spec.shape) and all(w is None or w == d for w, d in zip(spec.shape, dims))
    tensors = {name: tf.constant(tf.make_ndarray(proto)) for name, proto in request.inputs.items()}
    outputs = _load_signature(exports[model], signature)(**tensors)
    assert all(output.shape[0] == 2 for output in outputs.values())


# -- mismatches are refused before anything is sent ----------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["--model", "cnn_baseline", "--signature", "predict", "--strings", "x"],
     r"cnn_baseline/1: no signature 'predict'; available: serve_image_bytes, serving_default$"),
    (["--model", "cnn_baseline", "--strings", "k æ t"],
     r"signature input images uint8 \(batch_size, 48, 48, 3\) takes uint8, not strings"),
    (["--model", "cnn_baseline", "--images", "{big}"],
     r"big.png: image is 60x80 but signature input images uint8 \(batch_size, 48, 48, 3\) takes 48x48; "
     r"pass --resize"),
    (["--model", "cnn_baseline", "--signature", "serve_image_bytes", "--strings", "x"],
     r"image_bytes string \(batch_size\) takes encoded image files; use --images"),
    (["--model", "cnn_baseline", "--input-name", "pixels", "--images", "{small}"],
     r"the signature has no input 'pixels'; its inputs: images uint8 \(batch_size, 48, 48, 3\)"),
    (["--model", "p2g", "--images", "{small}"],
     r"phonemes string \(batch_size\) is a string input but not one for encoded images"),
    (["--model", "p2g", "--signature", "nucleus", "--strings", "k æ t", "--param", "p=0.9"],
     r"missing \['num_samples', 'seed'\], unknown none \(scalars are set with --param NAME=VALUE\)"),
    (["--model", "p2g", "--signature", "nucleus", "--strings", "k", "--param", "p=0.9", "--param", "num_samples=1.5",
      "--param", "seed=1"], r"--param num_samples=1.5: not a int32 value for num_samples int32 \(\)"),
    (["--model", "p2g", "--signature", "nucleus", "--strings", "k", "--param", "p=0.9", "--param", "num_samples=2",
      "--param", "seed=1", "--format", "instances"],
     r"the row format \(--format instances\) needs inputs of one batch size, .*; use --format inputs"),
    (["--model", "p2g", "--version", "3", "--strings", "k"], r"p2g: no version 3; present: 1"),
    (["--model", "rnn", "--strings", "k"], r"saved_models/rnn: no exported versions of model 'rnn'"),
])
def test_mismatches_are_refused_before_anything_is_sent(exports, capsys, args, message):
    args = [a.format(**exports) for a in args]
    # Port 9 (discard) on a host that cannot exist: reaching the network would fail differently.
    code = run_main(serving_client.main, ["--models-dir", str(exports["root"]), "--host", "no-such-host.invalid",
                                          "--port", "9", *args])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: "), err
    assert len(err.strip().splitlines()) == 1
    assert re.search(message, err.strip()), err


def test_arrays_of_another_dtype_or_shape_are_refused(exports):
    inputs, _ = serving_client.read_signature(exports["cnn"], "serving_default")
    with pytest.raises(InputError, match=r"input 'images' is float32 but the signature takes images uint8"):
        serving_client.check_inputs(inputs, {"images": np.zeros((1, 48, 48, 3), np.float32)})
    with pytest.raises(InputError, match=r"input 'images' has shape \(1, 32, 32, 3\) but the signature takes "
                                         r"images uint8 \(batch_size, 48, 48, 3\)"):
        serving_client.check_inputs(inputs, {"images": np.zeros((1, 32, 32, 3), np.uint8)})
    with pytest.raises(InputError, match=r"missing \['images'\], unknown \['pixels'\]"):
        serving_client.check_inputs(inputs, {"pixels": np.zeros((1, 48, 48, 3), np.uint8)})


# -- sending: stand-in REST and gRPC servers that run the SavedModel ------------------------------------------

class _FakeRestServing(BaseHTTPRequestHandler):
    """Answers ``POST /v1/models/<name>:predict`` like TF Serving, by running the SavedModel."""
    saved_model_dir = None
    paths = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).paths.append(self.path)
        inputs, _ = serving_client.read_signature(self.saved_model_dir, body["signature_name"])
        outputs = _load_signature(self.saved_model_dir, body["signature_name"])(
            **_tensors_from_rest_body(body, inputs))
        columns = {k: [v.decode() if isinstance(v, bytes) else v for v in np.asarray(t).tolist()]
                   for k, t in outputs.items()}
        rows = [{k: column[i] for k, column in columns.items()} for i in range(len(next(iter(columns.values()))))]
        payload = json.dumps({"predictions": rows}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


def test_rest_client_sends_the_body_and_prints_each_instance(exports, capsys):
    _FakeRestServing.saved_model_dir = exports["p2g"]
    server = HTTPServer(("127.0.0.1", 0), _FakeRestServing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        code = run_main(serving_client.main, ["--models-dir", str(exports["root"]), "--model", "p2g",
                                              "--version", "1", "--port", str(server.server_port),
                                              "--host", "127.0.0.1", "--strings", *PHONEMES])
    finally:
        server.shutdown()
    out = capsys.readouterr().out.splitlines()
    assert code == 0 and _FakeRestServing.paths == ["/v1/models/p2g/versions/1:predict"]
    assert [line.split(": ", 1)[0] for line in out] == PHONEMES
    assert all(set(json.loads(line.split(": ", 1)[1])) == {"spellings", "log_probs"} for line in out)


def test_grpc_client_sends_a_predict_request_and_prints_each_instance(exports, capsys):
    from concurrent import futures

    import grpc
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    received = []

    class FakePredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request, context):
            received.append(request)
            tensors = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
            outputs = _load_signature(exports["cnn"], request.model_spec.signature_name)(**tensors)
            response = predict_pb2.PredictResponse()
            for name, tensor in outputs.items():
                response.outputs[name].CopyFrom(tf.make_tensor_proto(tensor.numpy()))
            return response

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(FakePredictionService(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        code = run_main(serving_client.main, ["--models-dir", str(exports["root"]), "--model", "cnn_baseline",
                                              "--signature", "serve_image_bytes", "--protocol", "grpc",
                                              "--host", "127.0.0.1", "--port", str(port),
                                              "--images", exports["big"], exports["small"]])
    finally:
        server.stop(0)
    out = capsys.readouterr().out.splitlines()
    assert code == 0 and received[0].model_spec.signature_name == "serve_image_bytes"
    assert [line.split(": ", 1)[0] for line in out] == [exports["big"], exports["small"]]
    row = json.loads(out[0].split(": ", 1)[1])
    assert len(row["probabilities"]) == 6 and row["predicted_class"] in row["class_names"]


def test_an_unreachable_server_is_reported(exports, capsys):
    code = run_main(serving_client.main, ["--models-dir", str(exports["root"]), "--model", "p2g", "--host",
                                          "127.0.0.1", "--port", "9", "--timeout", "5", "--strings", "k"])
    assert code == 1
    assert "cannot connect" in capsys.readouterr().err


def test_dry_run_prints_the_request_without_sending(exports, capsys):
    code = run_main(serving_client.main, ["--models-dir", str(exports["root"]), "--model", "p2g", "--protocol",
                                          "grpc", "--port", "9", "--strings", "k æ t", "--dry-run"])
    out = capsys.readouterr().out
    assert code == 0 and out.startswith("gRPC localhost:9 PredictionService.Predict\n")
    from tensorflow_serving.apis import predict_pb2
    request = text_format.Parse(out.split("\n", 1)[1], predict_pb2.PredictRequest())
    assert tf.make_ndarray(request.inputs["phonemes"]).tolist() == ["k æ t".encode()]


# -- models.config ---------------------------------------------------------------------------------------------

def test_models_config_serves_every_exported_model(exports, tmp_path):
    from tensorflow_serving.config import model_server_config_pb2

    (exports["root"] / "empty_model").mkdir(exist_ok=True)  # no version: not served
    (exports["root"] / "p2g" / ".tmp-2-abc").mkdir(exist_ok=True)  # an unfinished export: ignored
    output = serving_config.write_config(exports["root"], tmp_path / "models.config")
    config = text_format.Parse(output.read_text(), model_server_config_pb2.ModelServerConfig())
    entries = [(c.name, c.base_path, c.model_platform) for c in config.model_config_list.config]
    assert entries == [("cnn_baseline", str(exports["root"].resolve() / "cnn_baseline"), "tensorflow"),
                       ("p2g", str(exports["root"].resolve() / "p2g"), "tensorflow")]
    assert not config.model_config_list.config[0].HasField("model_version_policy")

    container = serving_config.model_server_config(exports["root"], base_path="/models/", all_versions=True)
    assert [c.base_path for c in container.model_config_list.config] == ["/models/cnn_baseline", "/models/p2g"]
    assert all(c.model_version_policy.HasField("all") for c in container.model_config_list.config)


def test_models_config_command_writes_into_the_models_dir(exports, capsys):
    assert run_main(serving_config.main, ["--models-dir", str(exports["root"])]) == 0
    text = (exports["root"] / "models.config").read_text()
    assert 'name: "cnn_baseline"' in text and 'model_platform: "tensorflow"' in text
    assert capsys.readouterr().out.endswith(f"wrote {exports['root'] / 'models.config'}\n")


def test_models_config_without_models_is_refused(tmp_path, capsys):
    assert run_main(serving_config.main, ["--models-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path}: holds no exported model (<name>/<version>/saved_model.pb)\n"
    assert run_main(serving_config.main, ["--models-dir", str(tmp_path / "none")]) == 2
    assert "no such directory" in capsys.readouterr().err


# -- saved_model_cli -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("model, expected", [
    ("cnn", ["signature_def['serve_image_bytes']", "signature_def['serving_default']", "inputs['images']",
             "dtype: DT_UINT8", "shape: (-1, 48, 48, 3)", "outputs['probabilities']"]),
    ("p2g", ["signature_def['nucleus']", "signature_def['serving_default']", "inputs['phonemes']",
             "dtype: DT_STRING", "inputs['num_samples']", "outputs['spellings']"]),
])
def test_saved_model_cli_shows_each_export(saved_model_cli, model, expected):
    code, out, err = saved_model_cli[f"show {model}"]
    assert code == 0, err[-2000:]
    assert all(text in out for text in expected)


def test_saved_model_cli_runs_the_cnn_export(saved_model_cli):
    code, out, err = saved_model_cli["run cnn"]
    assert code == 0, err[-2000:]
    assert "Result for output key predicted_class:" in out and "Result for output key probabilities:" in out


def test_saved_model_cli_runs_the_p2g_export(saved_model_cli):
    code, out, err = saved_model_cli["run p2g"]
    assert code == 0, err[-2000:]
    assert "Result for output key spellings:" in out and "Result for output key log_probs:" in out
