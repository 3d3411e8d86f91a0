"""Tiny exports of both tasks and in-process stand-ins for TF Serving's REST and gRPC servers.

TF Serving cannot be installed here. The stand-ins answer what the client asks
the way ``tensorflow_model_server`` does, from the real exports:

- metadata: the ``signature_def`` map of the SavedModel's ``serve`` meta-graph,
  read from ``saved_model.pb`` (TF Serving's ``SavedModelGetSignatureDef``),
  sent over REST as TF Serving prints it (``{"model_spec": ..., "metadata":
  {"signature_def": ...}}``, proto field names, default values included;
  ``http_rest_api_util.cc``) and over gRPC as a `GetModelMetadataResponse`;
- predict: the SavedModel's signature run on the request's tensors; REST
  answers ``predictions`` (row requests) or ``outputs`` (columnar requests),
  an invalid argument becomes HTTP 400 / gRPC INVALID_ARGUMENT, an unknown
  model HTTP 404 / NOT_FOUND.
"""
import base64
import json
import re
import threading
from concurrent import futures
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import keras
import numpy as np
import tensorflow as tf
from google.protobuf import json_format
from tensorflow.core.protobuf import saved_model_pb2

PHONEMES = ["k æ t", "t͡ʃ æ t"]
SOURCE = ["<pad>", "<sos>", "<eos>", "<unk>", "k", "æ", "t", "t͡ʃ", "é"]
TARGET = ["<pad>", "<sos>", "<eos>", "<unk>", "c", "a", "t", "h", "é"]
_EXPORTS = {}
_LOADED = {}  # export directory -> tf.saved_model.load result, shared by every stand-in of the session


def make_exports(tmp_path_factory) -> dict:
    """An untrained CNN and a tiny P2G model, exported once per test session with the library's functions.

    Returns ``{"root", "cnn", "p2g" (version directories), "cnn_model", "p2g_model",
    "speller" (the `Speller` of p2g_model), "big" (a 60x80 PNG), "small" (a 48x48 JPEG)}``.
    """
    if not _EXPORTS:
        from keras_hw2.cnn.models import build_model
        from keras_hw2.cnn.serving import export_model
        from keras_hw2.p2g.models import Seq2Seq
        from keras_hw2.p2g.speller import Speller, export_speller

        tmp = tmp_path_factory.mktemp("serving")
        root = tmp / "saved_models"
        keras.utils.set_random_seed(0)
        cnn_model = build_model(batch_norm=True)  # the smaller of the two CNNs (3 MB of weights)
        p2g_model = Seq2Seq(SOURCE, TARGET, units=8, use_attention=True)
        p2g_model((keras.ops.ones((1, 3), "int32"), keras.ops.ones((1, 4), "int32")))
        pixels = np.random.default_rng(0).integers(0, 256, size=(60, 80, 3), dtype=np.uint8)
        tf.io.write_file(str(tmp / "big.png"), tf.io.encode_png(pixels))
        tf.io.write_file(str(tmp / "small.jpg"), tf.io.encode_jpeg(pixels[:48, :48]))
        _EXPORTS.update(root=root, cnn=export_model(cnn_model, "cnn_baseline", root=root),
                        p2g=export_speller(p2g_model, "p2g", root=root), cnn_model=cnn_model, p2g_model=p2g_model,
                        speller=Speller(p2g_model),
                        big=str(tmp / "big.png"), small=str(tmp / "small.jpg"))
    return _EXPORTS


def signature_def_map(export_dir):
    """What TF Serving's GetModelMetadata holds: every SignatureDef of the ``serve`` meta-graph."""
    from tensorflow_serving.apis import get_model_metadata_pb2

    saved_model = saved_model_pb2.SavedModel.FromString((export_dir / "saved_model.pb").read_bytes())
    graph = next(g for g in saved_model.meta_graphs if "serve" in g.meta_info_def.tags)
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    for name, signature in graph.signature_def.items():
        signature_map.signature_def[name].CopyFrom(signature)
    return signature_map


class Served:
    """The models a stand-in serves: ``{name: {version: export_dir}}``, each run with `tf.saved_model.load`."""

    def __init__(self, models: dict):
        self.models = models
        self.requests = []  # (method, model, version, signature_name) of every request
        # what came over the wire, for checks against TF Serving's documented forms: REST
        # ``(http method, path, content type, body bytes or None)``, gRPC ``(rpc name, request proto)``
        self.wire = []

    def find(self, name, version=None):
        """``(version, export_dir)``; the highest version when `version` is None; KeyError when not served."""
        versions = self.models[name]
        version = max(versions) if version is None else int(version)
        return version, versions[version]

    def run(self, name, version, signature_name, tensors: dict) -> dict:
        version, export_dir = self.find(name, version)
        if export_dir not in _LOADED:
            _LOADED[export_dir] = tf.saved_model.load(str(export_dir))
        signature = _LOADED[export_dir].signatures[signature_name or "serving_default"]
        return {k: v.numpy() for k, v in signature(**tensors).items()}

    def input_dtypes(self, name, version, signature_name) -> dict:
        """``{input: tf.DType}`` of a signature, as TF Serving reads a REST body with them."""
        signatures = signature_def_map(self.find(name, version)[1]).signature_def
        if signature_name not in signatures:
            return {}
        return {key: tf.as_dtype(info.dtype) for key, info in signatures[signature_name].inputs.items()}

    def metadata_response(self, name, version=None):
        from tensorflow_serving.apis import get_model_metadata_pb2

        version, export_dir = self.find(name, version)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = name
        response.model_spec.version.value = version
        response.metadata["signature_def"].Pack(signature_def_map(export_dir))
        return response


def _error_text(error: tf.errors.OpError) -> str:
    """TF Serving sends the op's status message: from its 'assertion failed' line on, when there is one."""
    text = error.message
    return text[text.index("assertion failed"):] if "assertion failed" in text else text


class _RestHandler(BaseHTTPRequestHandler):
    served = None  # set on a subclass per server
    path_pattern = re.compile(r"^/v1/models/([^/:]+)(?:/versions/(\d+))?(/metadata|:predict)$")

    def do_GET(self):
        self._answer("GET")

    def do_POST(self):
        self._answer("POST")

    def _answer(self, method):
        raw = self.rfile.read(int(self.headers["Content-Length"])) if method == "POST" else None
        self.served.wire.append((method, self.path, self.headers.get("Content-Type"), raw))
        match = self.path_pattern.match(self.path)
        if not match or (method == "GET") != (match.group(3) == "/metadata"):
            return self._reply(404, {"error": f"Malformed request: {method} {self.path}"})
        name, version, action = match.groups()
        try:
            self.served.find(name, version)
        except KeyError:
            return self._reply(404, {"error": f"Servable not found for request: Latest({name})"})
        if action == "/metadata":
            self.served.requests.append(("metadata", name, version, None))
            return self._reply_text(200, _rest_metadata_json(self.served.metadata_response(name, version)))
        body = json.loads(raw)
        signature_name = body.get("signature_name", "serving_default")
        self.served.requests.append(("predict", name, version, signature_name))
        dtypes = self.served.input_dtypes(name, version, signature_name)
        if not dtypes:
            return self._reply(400, {"error": f'Serving signature name: "{signature_name}" not found in signature def'})
        try:
            outputs = self.served.run(name, version, signature_name, _rest_tensors(body, dtypes))
        except tf.errors.InvalidArgumentError as e:
            return self._reply(400, {"error": _error_text(e)})
        columns = {k: _json_values(v) for k, v in outputs.items()}
        if "instances" in body:
            rows = [{k: column[i] for k, column in columns.items()} for i in range(len(body["instances"]))]
            return self._reply(200, {"predictions": rows})
        return self._reply(200, {"outputs": columns})

    def _reply(self, code, payload):
        self._reply_text(code, json.dumps(payload))

    def _reply_text(self, code, text):
        data = text.encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def _rest_metadata_json(response) -> str:
    """TF Serving's REST metadata text: model_spec and the unpacked SignatureDefMap, printed separately."""
    from tensorflow_serving.apis import get_model_metadata_pb2

    options = {"preserving_proto_field_name": True, "always_print_fields_with_no_presence": True}
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signature_map)
    return ('{\n"model_spec":' + json_format.MessageToJson(response.model_spec, **options) + ',\n'
            '"metadata": {"signature_def": ' + json_format.MessageToJson(signature_map, **options) + '}\n}\n')


def _rest_tensors(body, dtypes: dict) -> dict:
    """What TF Serving makes of a REST body: one tensor per input (``{"b64": ...}`` decoded)."""
    def decode(value):
        if isinstance(value, dict):
            return base64.b64decode(value["b64"])
        if isinstance(value, list):
            return [decode(v) for v in value]
        return value.encode("utf-8") if isinstance(value, str) else value

    if "instances" in body:
        names = body["instances"][0].keys() if body["instances"] else []
        columns = {name: [decode(row[name]) for row in body["instances"]] for name in names}
    else:
        columns = {name: decode(value) for name, value in body["inputs"].items()}
    return {name: tf.constant(value, dtype=dtypes[name]) for name, value in columns.items()}


def _json_values(array: np.ndarray):
    if array.dtype == object:
        return np.vectorize(lambda b: b.decode("utf-8"), otypes=[object])(array).tolist() if array.size else []
    return array.tolist()


@contextmanager
def rest_server(models: dict):
    """A stand-in REST server on 127.0.0.1 serving `models`; yields ``(port, Served)``."""
    served = Served(models)
    handler = type("Handler", (_RestHandler,), {"served": served})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port, served
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def grpc_server(models: dict):
    """A stand-in gRPC `PredictionService` on 127.0.0.1 serving `models`; yields ``(port, Served)``."""
    import grpc
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    served = Served(models)

    class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
        def GetModelMetadata(self, request, context):
            spec = request.model_spec
            served.wire.append(("GetModelMetadata", request))
            served.requests.append(("metadata", spec.name, spec.version.value or None, None))
            try:
                return served.metadata_response(spec.name, spec.version.value or None)
            except KeyError:
                context.abort(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: Latest({spec.name})")

        def Predict(self, request, context):
            spec = request.model_spec
            served.wire.append(("Predict", request))
            served.requests.append(("predict", spec.name, spec.version.value or None, spec.signature_name))
            tensors = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
            try:
                outputs = served.run(spec.name, spec.version.value or None, spec.signature_name, tensors)
            except KeyError:
                context.abort(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: Latest({spec.name})")
            except tf.errors.InvalidArgumentError as e:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, _error_text(e))
            response = predict_pb2.PredictResponse()
            for name, array in outputs.items():
                response.outputs[name].CopyFrom(tf.make_tensor_proto(array))
            return response

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionService(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield port, served
    finally:
        server.stop(0)
