"""``python -m keras_hw2.serving``: metadata and predict over REST and gRPC against stand-in servers; models.config.

The stand-ins (`serving_standins`) serve the real exports of both tasks and
answer metadata requests with the signature_def read from their SavedModels,
in TF Serving's format; the client learns the signatures from them and its
printed outputs must equal the library's.
"""
import base64
import json

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from serving_standins import PHONEMES, signature_def_map

from keras_hw2.cli import run_main
from keras_hw2.cnn.images import load_images
from keras_hw2.serving import config, inputs, signatures
from keras_hw2.serving.__main__ import main
from keras_hw2.serving.client import GrpcClient, RestClient



def _client_lines(capsys, servers, protocol, *argv):
    port, served = servers[protocol]
    served.requests.clear()
    served.wire.clear()
    code = run_main(main, [argv[0], "--protocol", protocol, "--host", "127.0.0.1", "--port", str(port), *argv[1:]])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out.splitlines(), served.requests


def _rows(lines, labels):
    assert [line.split(": ", 1)[0] for line in lines] == labels
    return [json.loads(line.split(": ", 1)[1]) for line in lines]


def _strings(tensor):
    return [s.decode("utf-8") for s in np.asarray(tensor).reshape(-1)]


# -- metadata: what the server says, in TF Serving's format ---------------------------------------------------------

@pytest.mark.parametrize("protocol", ["rest", "grpc"])
@pytest.mark.parametrize("model, export", [("cnn_baseline", "cnn"), ("p2g", "p2g")])
def test_the_client_learns_the_signatures_from_the_server(servers, exports, protocol, model, export):
    port, _ = servers[protocol]
    client = RestClient("127.0.0.1", port) if protocol == "rest" else GrpcClient("127.0.0.1", port)
    from_server = client.metadata(model, version=1)
    assert from_server == dict(signature_def_map(exports[export]).signature_def)
    assert from_server == signatures.read_export(exports[export])


def test_rest_metadata_is_tf_servings_json(servers):
    import urllib.request

    port, _ = servers["rest"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models/p2g/versions/1/metadata") as response:
        body = json.loads(response.read())
    assert body["model_spec"] == {"name": "p2g", "signature_name": "", "version": "1"}
    beam = body["metadata"]["signature_def"]["signature_def"]["beam_search"]
    assert beam["method_name"] == "tensorflow/serving/predict"
    assert beam["inputs"]["num_beams"]["dtype"] == "DT_INT32"
    assert beam["inputs"]["phonemes"]["tensor_shape"] == {"dim": [{"size": "-1", "name": ""}], "unknown_rank": False}


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_metadata_command_prints_each_signature(capsys, servers, protocol):
    lines, requests = _client_lines(capsys, servers, protocol, "metadata", "--name", "p2g")
    assert lines[1:] == [
        "  beam_search: length_penalty float32 (); num_beams int32 (); phonemes string (batch_size) -> "
        "log_probs float32 (batch_size, None); scores float32 (batch_size, None); spellings string (batch_size, None)",
        "  nucleus: num_samples int32 (); p float32 (); phonemes string (batch_size); seed int64 () -> "
        "log_probs float32 (batch_size, None); spellings string (batch_size, None)",
        "  serving_default: phonemes string (batch_size) -> log_probs float32 (batch_size); "
        "spellings string (batch_size)"]
    assert requests == [("metadata", "p2g", None, None)]


# -- predict: both tasks, both protocols, outputs equal to the library's ---------------------------------------------

@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_p2g_greedy_nucleus_and_beam_agree_with_the_speller(capsys, servers, exports, protocol):
    speller = exports["speller"]
    lines, requests = _client_lines(capsys, servers, protocol, "predict", "--name", "p2g", "--version", "1",
                                    "--strings", *PHONEMES)
    rows = _rows(lines, PHONEMES)
    assert [row["spellings"] for row in rows] == _strings(speller.greedy(PHONEMES)["spellings"])
    assert requests == [("metadata", "p2g", "1" if protocol == "rest" else 1, None),
                        ("predict", "p2g", "1" if protocol == "rest" else 1, "serving_default")]

    lines, _ = _client_lines(capsys, servers, protocol, "predict", "--name", "p2g", "--signature", "nucleus",
                             "--strings", *PHONEMES, "--param", "p=0.9", "--param", "num_samples=3",
                             "--param", "seed=7")
    expected = speller.sample(PHONEMES, 0.9, 3, 7)["spellings"].numpy()
    assert [row["spellings"] for row in _rows(lines, PHONEMES)] == [_strings(r) for r in expected]

    lines, _ = _client_lines(capsys, servers, protocol, "predict", "--name", "p2g", "--signature", "beam_search",
                             "--strings", *PHONEMES, "--param", "num_beams=4", "--param", "length_penalty=0.5")
    beam = speller.beam_search(PHONEMES, num_beams=4, length_penalty=0.5)
    rows = _rows(lines, PHONEMES)
    assert [row["spellings"] for row in rows] == [_strings(r) for r in beam["spellings"].numpy()]
    np.testing.assert_allclose([row["log_probs"] for row in rows], beam["log_probs"], rtol=1e-5)
    np.testing.assert_allclose([row["scores"] for row in rows], beam["scores"], rtol=1e-5)


@pytest.mark.parametrize("protocol, signature", [("rest", "serving_default"), ("grpc", "serve_image_bytes"),
                                                 ("rest", "serve_image_bytes"), ("grpc", "serving_default")])
def test_cnn_predictions_agree_with_the_model_on_the_shared_decoder(capsys, servers, exports, protocol, signature):
    files = [exports["big"], exports["small"]]
    lines, _ = _client_lines(capsys, servers, protocol, "predict", "--name", "cnn_baseline", "--signature",
                             signature, "--images", *files)
    rows = _rows(lines, files)
    probabilities = tf.exp(exports["cnn_model"](tf.cast(load_images(files), "float32"), training=False)).numpy()
    np.testing.assert_allclose([row["probabilities"] for row in rows], probabilities, rtol=1e-4, atol=1e-6)
    assert all(row["predicted_class"] == row["class_names"][np.argmax(row["probabilities"])] for row in rows)


def test_decomposed_input_is_sent_as_given_and_spelled_like_the_composed_one(capsys, servers):
    composed, decomposed = "k é t", "k e\u0301 t"
    lines, _ = _client_lines(capsys, servers, "rest", "predict", "--name", "p2g", "--strings", composed, decomposed)
    first, second = _rows(lines, [composed, decomposed])
    assert first == second


def test_export_dir_replaces_the_metadata_request(capsys, servers, exports):
    lines, requests = _client_lines(capsys, servers, "grpc", "predict", "--name", "p2g", "--export-dir",
                                    str(exports["p2g"]), "--strings", "k æ t")
    assert len(lines) == 1 and requests == [("predict", "p2g", None, "serving_default")]


def test_dry_run_prints_the_request_without_sending(capsys, servers):
    lines, requests = _client_lines(capsys, servers, "grpc", "predict", "--name", "p2g", "--signature", "nucleus",
                                    "--strings", "k æ t", "--param", "p=0.9", "--param", "num_samples=2",
                                    "--param", "seed=1", "--dry-run")
    assert lines[0].startswith("gRPC 127.0.0.1:") and lines[0].endswith(" PredictionService.Predict")
    from tensorflow_serving.apis import predict_pb2
    request = text_format.Parse("\n".join(lines[1:]), predict_pb2.PredictRequest())
    assert {k: tf.make_ndarray(v).tolist() for k, v in request.inputs.items()} == {
        "phonemes": ["k æ t".encode()], "p": pytest.approx(0.9), "num_samples": 2, "seed": 1}
    assert request.inputs["seed"].dtype == tf.int64.as_datatype_enum
    assert requests == [("metadata", "p2g", None, None)]

    lines, requests = _client_lines(capsys, servers, "rest", "predict", "--name", "p2g", "--signature", "nucleus",
                                    "--strings", "k æ t", "--param", "p=0.9", "--param", "num_samples=2",
                                    "--param", "seed=1", "--dry-run")
    assert lines[0].endswith("/v1/models/p2g:predict")
    assert json.loads(lines[1]) == {"signature_name": "nucleus",
                                    "inputs": {"p": 0.9, "num_samples": 2, "seed": 1, "phonemes": ["k æ t"]}}


# -- the request bytes: TF Serving's documented REST and gRPC forms, written out by hand here -------------------------
# REST (tensorflow.org/tfx/serving/api_rest): GET /v1/models/<name>[/versions/<v>]/metadata and
# POST /v1/models/<name>[/versions/<v>]:predict with a JSON body {"signature_name": ..., "instances": [one object
# per row]} or {"signature_name": ..., "inputs": {name: column}}, binary strings as {"b64": ...}.
# gRPC (tensorflow_serving/apis/predict.proto): PredictRequest {model_spec {name, version, signature_name},
# inputs: map<string, TensorProto>}; GetModelMetadataRequest {model_spec, metadata_field: "signature_def"}.

def _rest_wire(servers):
    return [(method, path, kind, json.loads(raw.decode("utf-8")) if raw else None)
            for method, path, kind, raw in servers["rest"][1].wire]


def test_rest_requests_are_tf_servings_documented_json(capsys, servers, exports):
    _client_lines(capsys, servers, "rest", "predict", "--name", "p2g", "--version", "1", "--strings", *PHONEMES)
    assert _rest_wire(servers) == [
        ("GET", "/v1/models/p2g/versions/1/metadata", None, None),
        ("POST", "/v1/models/p2g/versions/1:predict", "application/json",
         {"signature_name": "serving_default", "instances": [{"phonemes": "k æ t"}, {"phonemes": "t͡ʃ æ t"}]})]
    assert "t͡ʃ æ t".encode("utf-8") in servers["rest"][1].wire[1][3]  # UTF-8 text as is, not \u escapes

    _client_lines(capsys, servers, "rest", "predict", "--name", "p2g", "--signature", "nucleus", "--strings",
                  *PHONEMES, "--param", "p=0.9", "--param", "num_samples=3", "--param", "seed=7")
    assert _rest_wire(servers)[1] == ("POST", "/v1/models/p2g:predict", "application/json", {
        "signature_name": "nucleus", "inputs": {"phonemes": ["k æ t", "t͡ʃ æ t"], "p": 0.9, "num_samples": 3,
                                                "seed": 7}})

    files = [exports["big"], exports["small"]]
    _client_lines(capsys, servers, "rest", "predict", "--name", "cnn_baseline", "--signature", "serve_image_bytes",
                  "--images", *files)
    assert _rest_wire(servers)[1][3] == {"signature_name": "serve_image_bytes", "instances": [
        {"image_bytes": {"b64": base64.b64encode(open(f, "rb").read()).decode("ascii")}} for f in files]}
    _client_lines(capsys, servers, "rest", "predict", "--name", "cnn_baseline", "--images", *files)
    assert _rest_wire(servers)[1][3] == {"signature_name": "serving_default",
                                         "instances": [{"images": image.tolist()} for image in load_images(files)]}


def _grpc_wire(servers):
    return servers["grpc"][1].wire


def test_grpc_requests_are_tf_servings_documented_protos(capsys, servers, exports):
    _client_lines(capsys, servers, "grpc", "predict", "--name", "p2g", "--version", "1", "--strings", *PHONEMES)
    (rpc_metadata, metadata), (rpc_predict, request) = _grpc_wire(servers)
    assert (rpc_metadata, rpc_predict) == ("GetModelMetadata", "Predict")
    assert (metadata.model_spec.name, metadata.model_spec.version.value, list(metadata.metadata_field)) == (
        "p2g", 1, ["signature_def"])
    assert (request.model_spec.name, request.model_spec.version.value, request.model_spec.signature_name) == (
        "p2g", 1, "serving_default")
    phonemes = request.inputs["phonemes"]
    assert list(request.inputs) == ["phonemes"] and phonemes.dtype == tf.string.as_datatype_enum
    assert [d.size for d in phonemes.tensor_shape.dim] == [2]
    assert list(phonemes.string_val) == [p.encode("utf-8") for p in PHONEMES]

    _client_lines(capsys, servers, "grpc", "predict", "--name", "p2g", "--signature", "nucleus", "--strings",
                  *PHONEMES, "--param", "p=0.9", "--param", "num_samples=3", "--param", "seed=7")
    request = _grpc_wire(servers)[1][1]
    assert not request.model_spec.HasField("version") and request.model_spec.signature_name == "nucleus"
    scalars = {name: (tensor.dtype, [d.size for d in tensor.tensor_shape.dim], tf.make_ndarray(tensor).item())
               for name, tensor in request.inputs.items() if name != "phonemes"}
    assert scalars == {"p": (tf.float32.as_datatype_enum, [], pytest.approx(0.9)),
                       "num_samples": (tf.int32.as_datatype_enum, [], 3), "seed": (tf.int64.as_datatype_enum, [], 7)}

    files = [exports["big"], exports["small"]]
    _client_lines(capsys, servers, "grpc", "predict", "--name", "cnn_baseline", "--images", *files)
    images = _grpc_wire(servers)[1][1].inputs["images"]
    assert images.dtype == tf.uint8.as_datatype_enum and [d.size for d in images.tensor_shape.dim] == [2, 48, 48, 3]
    np.testing.assert_array_equal(tf.make_ndarray(images), load_images(files))
    _client_lines(capsys, servers, "grpc", "predict", "--name", "cnn_baseline", "--signature", "serve_image_bytes",
                  "--images", *files)
    encoded = _grpc_wire(servers)[1][1].inputs["image_bytes"]
    assert list(encoded.string_val) == [open(f, "rb").read() for f in files]


def test_rest_bodies_use_rows_unless_a_scalar_needs_columns():
    arrays = {"image_bytes": np.array([b"\xff\xd8", b"ok"], dtype=object)}
    assert inputs.rest_body(arrays, "serve_image_bytes") == {
        "signature_name": "serve_image_bytes", "instances": [{"image_bytes": {"b64": "/9g="}}, {"image_bytes": "ok"}]}
    columns = inputs.rest_body({"phonemes": np.array([b"k"], dtype=object), "p": np.array(0.9, np.float32)})
    assert columns == {"signature_name": "serving_default", "inputs": {"phonemes": ["k"], "p": 0.9}}


def test_an_unreachable_server_is_one_line_and_exit_status_1(capsys):
    code = run_main(main, ["predict", "--name", "p2g", "--host", "127.0.0.1", "--port", "9", "--timeout", "5",
                           "--strings", "k"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: http://127.0.0.1:9/v1/models/p2g/metadata: cannot connect")
    assert len(err.strip().splitlines()) == 1


# -- models.config ------------------------------------------------------------------------------------------------

@pytest.fixture
def models_dir(tmp_path):
    """An export root: two finished models, a model without versions, an unfinished export."""
    root = tmp_path / "saved_models"
    for version_dir in ("cnn_baseline/1", "p2g/1", "p2g/2"):
        (root / version_dir).mkdir(parents=True)
        (root / version_dir / "saved_model.pb").write_bytes(b"")
    (root / "empty_model").mkdir()
    (root / "p2g" / ".tmp-3-abc").mkdir()
    return root


def test_models_config_serves_every_exported_model(models_dir, tmp_path):
    from tensorflow_serving.config import model_server_config_pb2

    output = config.write_config(models_dir, tmp_path / "models.config")
    parsed = text_format.Parse(output.read_text(), model_server_config_pb2.ModelServerConfig())
    entries = [(c.name, c.base_path, c.model_platform) for c in parsed.model_config_list.config]
    assert entries == [("cnn_baseline", str(models_dir.resolve() / "cnn_baseline"), "tensorflow"),
                       ("p2g", str(models_dir.resolve() / "p2g"), "tensorflow")]
    assert not parsed.model_config_list.config[0].HasField("model_version_policy")

    container = config.model_server_config(models_dir, base_path="/models/", all_versions=True)
    assert [c.base_path for c in container.model_config_list.config] == ["/models/cnn_baseline", "/models/p2g"]
    assert all(c.model_version_policy.HasField("all") for c in container.model_config_list.config)


def test_config_command_writes_into_the_models_dir(models_dir, capsys):
    assert run_main(main, ["config", "--models-dir", str(models_dir)]) == 0
    text = (models_dir / "models.config").read_text()
    assert 'name: "cnn_baseline"' in text and 'model_platform: "tensorflow"' in text
    assert capsys.readouterr().out.endswith(f"wrote {models_dir / 'models.config'}\n")
