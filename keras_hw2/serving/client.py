"""Talking to TF Serving: model metadata and predictions over REST (port 8501) or gRPC (port 8500).

Both clients offer the same two calls:

- ``metadata(model, version=None)`` -> ``{signature name: SignatureDef}``, what
  the server says the model takes (REST ``GET /v1/models/<model>[/versions/<v>]/metadata``,
  gRPC ``PredictionService.GetModelMetadata``);
- ``predict(model, signature_name, signature, arrays, version=None)`` ->
  ``{output name: list}`` (a column per output, a row per instance), where
  `signature` is the `SignatureDef` that `metadata` returned and `arrays` the
  checked inputs (`keras_hw2.serving.inputs`);
- ``describe_request(...)`` (same arguments) -> what `predict` would send.

A request the server refuses as invalid (HTTP 400/404, gRPC INVALID_ARGUMENT,
NOT_FOUND, e.g. a ``num_beams`` out of range or an unknown model) raises
`InputError` with the server's message; an unreachable server or any other
failure raises `ServingError`. gRPC needs the ``serving`` extra
(``pip install -e .[serving]``, tensorflow-serving-api); REST needs nothing
beyond TensorFlow.
"""
import json
import urllib.error
import urllib.request

import tensorflow as tf

from keras_hw2.errors import InputError
from keras_hw2.serving import inputs as request_inputs
from keras_hw2.serving import signatures

DEFAULT_PORTS = {"rest": 8501, "grpc": 8500}


class ServingError(RuntimeError):
    """The server could not be reached or failed; the message is one line."""


def require_serving_api(what: str) -> None:
    """Raise `InputError` naming `what` when tensorflow-serving-api (the ``serving`` extra) is missing."""
    try:
        import tensorflow_serving  # noqa: F401
    except ImportError:
        raise InputError(f"{what} needs tensorflow-serving-api: pip install -e .[serving]") from None


def server_message(text: str) -> str:
    """The line of a TensorFlow error that says what went wrong (an assertion's message when there is one).

    Example:
    >>> server_message("Graph execution error:\\n\\nassertion failed: [p must be in (0, 1]] [0]\\n\\t [[{{node Assert}}]]")
    'assertion failed: [p must be in (0, 1]] [0]'
    """
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return next((line for line in lines if line.startswith("assertion failed")), lines[0] if lines else "")


class RestClient:
    """TF Serving's REST API at ``http://host:port``.

    Args:
        host, port: where ``tensorflow_model_server --rest_api_port`` listens.
        timeout: seconds to wait for an answer.
        row_format: request body in rows (``instances``, True), columns
            (``inputs``, False) or rows unless a scalar input needs columns (None).
    """

    def __init__(self, host="localhost", port=DEFAULT_PORTS["rest"], timeout=30.0, row_format=None):
        self.address = f"http://{host}:{port}"
        self.timeout = timeout
        self.row_format = row_format

    def model_url(self, model: str, version=None) -> str:
        """``http://host:port/v1/models/<model>[/versions/<v>]``."""
        return f"{self.address}/v1/models/{model}" + (f"/versions/{version}" if version is not None else "")

    def metadata(self, model: str, version=None) -> dict:
        url = self.model_url(model, version) + "/metadata"
        response = self._send(urllib.request.Request(url), url)
        try:
            return signatures.from_rest_metadata(response)
        except ValueError as e:
            raise ServingError(f"{url}: {e}") from None

    def predict_body(self, arrays: dict, signature_name: str) -> str:
        """The JSON text of a predict request (strict JSON, UTF-8 text as is)."""
        body = request_inputs.rest_body(arrays, signature_name, self.row_format)
        return json.dumps(body, allow_nan=False, ensure_ascii=False)

    def describe_request(self, model, signature_name, signature, arrays, version=None) -> str:
        """What `predict` would send: ``POST <url>`` and the JSON body."""
        return f"POST {self.model_url(model, version)}:predict\n{self.predict_body(arrays, signature_name)}"

    def predict(self, model, signature_name, signature, arrays, version=None) -> dict:
        url = self.model_url(model, version) + ":predict"
        body = self.predict_body(arrays, signature_name).encode("utf-8")
        request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
        return _columns(self._send(request, url), sorted(signature.outputs))

    def _send(self, request, url) -> dict:
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                text = response.read()
            return json.loads(text)
        except json.JSONDecodeError:
            raise ServingError(f"{url}: the answer is not JSON: {text[:200]!r}") from None
        except urllib.error.HTTPError as e:
            text = e.read().decode("utf-8", "replace")
            try:
                text = json.loads(text).get("error", text)
            except (ValueError, AttributeError):
                pass
            error = InputError if e.code in (400, 404) else ServingError
            raise error(f"{url}: HTTP {e.code}: {server_message(text)}") from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise ServingError(f"{url}: cannot connect ({reason}); is tensorflow_model_server running?") from None


def _columns(response: dict, names: list) -> dict:
    """A REST predict response (``predictions`` rows or ``outputs`` columns) as ``{output: column}``."""
    if "predictions" in response:
        rows = response["predictions"]
        if len(names) == 1 and not (rows and isinstance(rows[0], dict)):  # one output: rows are its values
            return {names[0]: rows}
        return {name: [row[name] for row in rows] for name in names}
    outputs = response.get("outputs")
    if outputs is None:
        raise ServingError(f"the server's answer has neither 'predictions' nor 'outputs': {str(response)[:200]}")
    return outputs if isinstance(outputs, dict) else {names[0]: outputs}


class GrpcClient:
    """TF Serving's gRPC `PredictionService` at ``host:port`` (needs tensorflow-serving-api).

    Args:
        host, port: where ``tensorflow_model_server --port`` listens.
        timeout: seconds to wait for an answer.
    """

    def __init__(self, host="localhost", port=DEFAULT_PORTS["grpc"], timeout=30.0):
        self.address = f"{host}:{port}"
        self.timeout = timeout

    def metadata(self, model: str, version=None) -> dict:
        require_serving_api("--protocol=grpc")
        from tensorflow_serving.apis import get_model_metadata_pb2

        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        request.model_spec.name = model
        if version is not None:
            request.model_spec.version.value = version
        response = self._call("GetModelMetadata", request)
        try:
            return signatures.from_grpc_metadata(response)
        except ValueError as e:
            raise ServingError(f"{self.address}: {e}") from None

    def describe_request(self, model, signature_name, signature, arrays, version=None) -> str:
        """What `predict` would send: the `PredictRequest` as a text proto."""
        from google.protobuf import text_format

        request = self._predict_request(model, signature_name, signature, arrays, version)
        return f"gRPC {self.address} PredictionService.Predict\n{text_format.MessageToString(request)}"

    def predict(self, model, signature_name, signature, arrays, version=None) -> dict:
        response = self._call("Predict", self._predict_request(model, signature_name, signature, arrays, version))
        return {name: tf.make_ndarray(proto).tolist() for name, proto in response.outputs.items()}

    @staticmethod
    def _predict_request(model, signature_name, signature, arrays, version):
        require_serving_api("--protocol=grpc")
        specs = signatures.tensor_specs(signature.inputs)
        return request_inputs.predict_request(arrays, specs, model, signature_name, version)

    def _call(self, method: str, request):
        import grpc
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        with grpc.insecure_channel(self.address) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            try:
                return getattr(stub, method)(request, timeout=self.timeout)
            except grpc.RpcError as e:
                code = e.code()
                error = InputError if code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND) \
                    else ServingError
                if code == grpc.StatusCode.UNAVAILABLE:
                    raise ServingError(f"{self.address}: cannot connect ({server_message(e.details())}); "
                                       "is tensorflow_model_server running?") from None
                raise error(f"{self.address}: gRPC {code.name}: {server_message(e.details())}") from None
