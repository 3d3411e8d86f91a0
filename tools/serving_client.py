"""Send images or phoneme strings to a model served by TF Serving, over REST or gRPC.

    python tools/serving_client.py --model cnn_baseline --images a.jpg b.png --resize
    python tools/serving_client.py --model cnn_baseline --signature serve_image_bytes --images a.jpg
    python tools/serving_client.py --model p2g --strings "k æ t" --protocol grpc
    python tools/serving_client.py --model p2g --signature nucleus --strings "k æ t" \
        --param p=0.9 --param num_samples=3 --param seed=0 --dry-run

1. The signature (input names, dtypes, shapes) is read from the SavedModel itself,
   ``<models-dir>/<model>/<version>/saved_model.pb`` (the highest version when
   ``--version`` is not given: the one TF Serving serves by default).
2. The inputs are built for it: ``--images`` become the files' bytes for a string
   input meant for images (named ``*_bytes`` or ``*image*``), or decoded uint8
   pixels for a uint8 input (``--resize`` resizes them to the signature's height
   and width); ``--strings`` are sent NFC-normalised; ``--param NAME=VALUE`` sets
   a scalar input.
3. Names, dtypes and shapes are checked against the signature; a mismatch is an
   `InputError` (``error: ...``, exit status 2) before anything is sent.
4. The request goes to ``http://HOST:8501/v1/models/<model>[/versions/<v>]:predict``
   as JSON (row format ``instances``, or columnar ``inputs`` when a scalar input
   needs it; bytes as ``{"b64": ...}``) or, with ``--protocol grpc``, to
   ``HOST:8500`` as a ``tensorflow_serving.apis.PredictRequest``; each instance's
   outputs are printed, one line each. ``--dry-run`` prints the request instead.
"""
import argparse
import base64
import json
import sys
import unicodedata
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import tensorflow as tf
from google.protobuf import text_format
from tensorflow.core.protobuf import saved_model_pb2

from keras_hw2.cli import run_main
from keras_hw2.errors import InputError
from keras_hw2.export import existing_versions

DEFAULT_SIGNATURE = "serving_default"
DEFAULT_PORTS = {"rest": 8501, "grpc": 8500}


@dataclass(frozen=True)
class TensorSpec:
    """One signature input or output as TF Serving sees it.

    Attributes:
        name: the key used in requests (``instances``/``inputs``, `PredictRequest.inputs`).
        dtype: a `tf.DType`.
        shape: a tuple with None for unknown dimensions; None for an unknown rank.
    """
    name: str
    dtype: tf.DType
    shape: Optional[tuple]

    def describe(self) -> str:
        shape = "unknown rank" if self.shape is None else "(" + ", ".join(
            "batch_size" if i == 0 and d is None else str(d) for i, d in enumerate(self.shape)) + ")"
        return f"{self.name} {self.dtype.name} {shape}"


def model_version_dir(models_dir, model: str, version: Optional[int] = None) -> Path:
    """``models_dir/model/version``: the given version, or the highest one present."""
    versions = existing_versions(Path(models_dir) / model)
    if not versions:
        raise InputError(f"{Path(models_dir) / model}: no exported versions of model {model!r}")
    if version is None:
        version = versions[-1]
    elif version not in versions:
        raise InputError(f"{Path(models_dir) / model}: no version {version}; "
                         f"present: {', '.join(map(str, versions))}")
    return Path(models_dir) / model / str(version)


def read_signature(saved_model_dir, signature_name: str = DEFAULT_SIGNATURE) -> tuple:
    """The inputs and outputs ``({name: TensorSpec}, {name: TensorSpec})`` of one signature.

    Read from ``saved_model.pb`` (the serving meta-graph's `SignatureDef`), the
    same description TF Serving uses.

    Raises:
        InputError: no SavedModel in `saved_model_dir` or no such signature.
    """
    path = Path(saved_model_dir) / "saved_model.pb"
    if not path.is_file():
        raise InputError(f"{path}: no SavedModel here")
    saved_model = saved_model_pb2.SavedModel.FromString(path.read_bytes())
    graphs = [g for g in saved_model.meta_graphs if "serve" in g.meta_info_def.tags] or saved_model.meta_graphs[:1]
    signatures = graphs[0].signature_def if graphs else {}
    if signature_name not in signatures:
        available = ", ".join(sorted(k for k in signatures if not k.startswith("__"))) or "none"
        raise InputError(f"{saved_model_dir}: no signature {signature_name!r}; available: {available}")
    signature = signatures[signature_name]
    return _specs(signature.inputs), _specs(signature.outputs)


def _specs(tensor_infos) -> dict:
    specs = {}
    for name, info in sorted(tensor_infos.items()):
        shape = None if info.tensor_shape.unknown_rank else tuple(
            None if d.size < 0 else d.size for d in info.tensor_shape.dim)
        specs[name] = TensorSpec(name, tf.as_dtype(info.dtype), shape)
    return specs


def choose_input(inputs: dict, input_name: Optional[str] = None) -> TensorSpec:
    """The input the client fills with images or strings: `input_name`, or the only batched (non-scalar) one."""
    if input_name is not None:
        if input_name not in inputs:
            raise InputError(f"the signature has no input {input_name!r}; its inputs: "
                             + "; ".join(spec.describe() for spec in inputs.values()))
        return inputs[input_name]
    batched = [spec for spec in inputs.values() if spec.shape != ()]
    if len(batched) != 1:
        raise InputError(f"the signature has {len(batched)} batched inputs ("
                         + "; ".join(s.describe() for s in inputs.values())
                         + "); name the one to fill with --input-name")
    return batched[0]


def image_array(paths, spec: TensorSpec, resize: bool = False) -> np.ndarray:
    """Image files as the batch `spec` takes: encoded bytes (string) or uint8 pixels ``(batch_size, H, W, C)``.

    Raises:
        InputError: a missing or undecodable file, a signature that takes neither,
            or an image whose size differs from the signature's without `resize`.
    """
    for path in paths:
        if not Path(path).is_file():
            raise InputError(f"{path}: no such image file")
    if spec.dtype == tf.string:
        if not _takes_encoded_images(spec):
            raise InputError(f"signature input {spec.describe()} is a string input but not one for encoded "
                             "images (its name has neither 'image' nor a '_bytes' suffix); use --strings")
        return np.array([Path(p).read_bytes() for p in paths], dtype=object)
    if spec.dtype != tf.uint8:
        raise InputError(f"signature input {spec.describe()} takes neither encoded images (string) "
                         "nor uint8 pixels; --images cannot fill it")
    if spec.shape is not None and len(spec.shape) != 4:
        raise InputError(f"signature input {spec.describe()} is not a batch of images (batch_size, H, W, C)")
    height, width, channels = spec.shape[1:] if spec.shape is not None else (None, None, None)
    images = []
    for path in paths:
        try:
            image = tf.io.decode_image(Path(path).read_bytes(), channels=channels or 0, expand_animations=False)
        except tf.errors.InvalidArgumentError:
            raise InputError(f"{path}: not a decodable image (JPEG, PNG, GIF or BMP)") from None
        size = tuple(image.shape[:2])
        wanted = (height or size[0], width or size[1])
        if size != wanted:
            if not resize:
                raise InputError(f"{path}: image is {size[0]}x{size[1]} but signature input {spec.describe()} "
                                 f"takes {wanted[0]}x{wanted[1]}; pass --resize or use an encoded-bytes signature")
            image = tf.image.resize(image, wanted, method="bilinear", antialias=True)
            image = tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)
        images.append(image.numpy())
    if len({im.shape for im in images}) > 1:
        raise InputError("images of different sizes cannot form one batch: "
                         + ", ".join(f"{p} {im.shape}" for p, im in zip(paths, images)) + "; pass --resize")
    return np.stack(images)


def _takes_encoded_images(spec: TensorSpec) -> bool:
    """A string input for image files: TF Serving's ``*_bytes`` convention, or 'image' in its name."""
    return spec.dtype == tf.string and ("image" in spec.name or spec.name.endswith("_bytes"))


def string_array(strings, spec: TensorSpec) -> np.ndarray:
    """Strings (e.g. phonemes ``"t͡ʃ æ p l ə t"``), NFC-normalised, as the batch of a string input."""
    if spec.dtype != tf.string:
        raise InputError(f"signature input {spec.describe()} takes {spec.dtype.name}, not strings; "
                         "--strings fills string inputs only")
    if _takes_encoded_images(spec):
        raise InputError(f"signature input {spec.describe()} takes encoded image files; use --images")
    return np.array([unicodedata.normalize("NFC", s).encode("utf-8") for s in strings], dtype=object)


def param_arrays(params, inputs: dict) -> dict:
    """``--param NAME=VALUE`` settings as scalar arrays of their signature input's dtype.

    Raises:
        InputError: a malformed setting, an unknown or non-scalar input, or a value
            that is not of the input's dtype.
    """
    arrays = {}
    for param in params:
        name, sep, text = param.partition("=")
        if not sep:
            raise InputError(f"--param must be NAME=VALUE. Received: {param!r}")
        if name not in inputs:
            raise InputError(f"--param {name}: the signature has no input {name!r}; its inputs: "
                             + "; ".join(spec.describe() for spec in inputs.values()))
        spec = inputs[name]
        if spec.shape != ():
            raise InputError(f"--param {name}: sets scalars only, but the signature takes {spec.describe()}")
        if spec.dtype == tf.string:
            arrays[name] = np.array(text.encode("utf-8"), dtype=object)
            continue
        try:
            value = float(text) if spec.dtype.is_floating else int(text, 10)
        except ValueError:
            raise InputError(f"--param {name}={text}: not a {spec.dtype.name} value for {spec.describe()}") from None
        arrays[name] = np.array(value, dtype=spec.dtype.as_numpy_dtype)
    return arrays


def check_inputs(inputs: dict, arrays: dict) -> None:
    """Check that `arrays` fill the signature `inputs` exactly: names, dtypes and shapes.

    Raises:
        InputError: naming the first input at fault and what the signature wants.
    """
    missing, unknown = sorted(set(inputs) - set(arrays)), sorted(set(arrays) - set(inputs))
    if missing or unknown:
        raise InputError(f"inputs do not match the signature: missing {missing or 'none'}, unknown "
                         f"{unknown or 'none'} (scalars are set with --param NAME=VALUE); the signature takes "
                         + "; ".join(spec.describe() for spec in inputs.values()))
    for name, array in arrays.items():
        spec = inputs[name]
        dtype = tf.string if array.dtype == object else tf.as_dtype(array.dtype)
        if dtype != spec.dtype:
            raise InputError(f"input {name!r} is {dtype.name} but the signature takes {spec.describe()}")
        if spec.shape is not None and (len(spec.shape) != array.ndim or any(
                want is not None and want != got for want, got in zip(spec.shape, array.shape))):
            raise InputError(f"input {name!r} has shape {array.shape} but the signature takes {spec.describe()}")


def _json_value(value):
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return {"b64": base64.b64encode(value).decode("ascii")}
    return value


def _json_tensor(array: np.ndarray):
    if array.dtype == object:
        return np.vectorize(_json_value, otypes=[object])(array).tolist() if array.size else array.tolist()
    if array.dtype in (np.float16, np.float32):  # the shortest decimal that reads back as the same float
        shortest = [float(str(v)) for v in array.reshape(-1)]  # iterating keeps np.float32 scalars
        return np.array(shortest, dtype=object).reshape(array.shape).tolist()
    return array.tolist()


def rest_body(arrays: dict, signature_name: str = DEFAULT_SIGNATURE, row_format: Optional[bool] = None) -> dict:
    """The JSON body of a REST predict request: ``instances`` (one object per row) or ``inputs`` (columns).

    Bytes that are not UTF-8 text (encoded images) are sent as ``{"b64": ...}``.
    `row_format` None picks rows unless an input is a scalar, which only the
    columnar form can carry.

    Raises:
        InputError: `row_format` with a scalar input or inputs of different batch sizes.
    """
    scalars = sorted(name for name, array in arrays.items() if array.ndim == 0)
    if row_format is None:
        row_format = not scalars
    columns = {name: _json_tensor(array) for name, array in arrays.items()}
    if not row_format:
        return {"signature_name": signature_name, "inputs": columns}
    if scalars or len({len(array) for array in arrays.values()}) > 1:
        raise InputError("the row format (--format instances) needs inputs of one batch size, but "
                         + ", ".join(f"{name} has shape {array.shape}" for name, array in arrays.items())
                         + "; use --format inputs")
    num_rows = len(next(iter(arrays.values())))
    return {"signature_name": signature_name,
            "instances": [{name: column[i] for name, column in columns.items()} for i in range(num_rows)]}


def rest_url(host: str, port: int, model: str, version: Optional[int] = None) -> str:
    """TF Serving's REST predict URL for `model` (its served version when `version` is None)."""
    version_part = f"/versions/{version}" if version is not None else ""
    return f"http://{host}:{port}/v1/models/{model}{version_part}:predict"


def predict_request(arrays: dict, inputs: dict, model: str, signature_name: str = DEFAULT_SIGNATURE,
                    version: Optional[int] = None):
    """A `tensorflow_serving.apis.predict_pb2.PredictRequest` holding `arrays` with the signature's dtypes."""
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature_name
    if version is not None:
        request.model_spec.version.value = version
    for name, array in arrays.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(array, dtype=inputs[name].dtype))
    return request


def send_rest(url: str, body: dict, timeout: float) -> dict:
    """POST `body`; returns the decoded JSON response (``predictions`` or ``outputs``)."""
    request = urllib.request.Request(url, data=json.dumps(body).encode("utf-8"),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as e:
        raise RuntimeError(f"{url}: HTTP {e.code}: {e.read().decode('utf-8', 'replace')}") from None
    except urllib.error.URLError as e:
        raise RuntimeError(f"{url}: cannot connect ({e.reason}); is tensorflow_model_server running?") from None


def send_grpc(host: str, port: int, request, timeout: float) -> dict:
    """Call `PredictionService.Predict`; returns ``{output_name: np.ndarray}``."""
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    with grpc.insecure_channel(f"{host}:{port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        try:
            response = stub.Predict(request, timeout=timeout)
        except grpc.RpcError as e:
            raise RuntimeError(f"{host}:{port}: gRPC {e.code().name}: {e.details()}") from None
    return {name: tf.make_ndarray(proto) for name, proto in response.outputs.items()}


def format_rows(labels, outputs) -> str:
    """One line per instance: ``label: {"output": value, ...}``.

    Args:
        labels: one label per instance (file name or input string).
        outputs: a REST response's ``predictions`` list, or ``{name: column}`` (REST
            ``outputs``, gRPC arrays).
    """
    if isinstance(outputs, dict):
        columns = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in outputs.items()}
        rows = [{k: column[i] for k, column in columns.items()} for i in range(len(labels))]
    else:
        rows = outputs
    return "\n".join(f"{label}: {json.dumps(row, default=_printable)}" for label, row in zip(labels, rows))


def _printable(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tools/serving_client.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="served model name, e.g. cnn_baseline")
    parser.add_argument("--version", type=int, default=None, help="model version (default: the served one)")
    parser.add_argument("--signature", default=DEFAULT_SIGNATURE, help="signature name (default serving_default)")
    parser.add_argument("--models-dir", default="saved_models",
                        help="where the SavedModel whose signature is checked lives (default saved_models/)")
    parser.add_argument("--input-name", default=None,
                        help="the input --images/--strings fill (default: the only non-scalar one)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="a scalar input, e.g. --param p=0.9 (repeatable)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--images", nargs="+", metavar="FILE", help="image files (JPEG, PNG, GIF, BMP)")
    source.add_argument("--strings", nargs="+", metavar="TEXT", help='strings, e.g. phonemes "HH AH0 L OW1"')
    parser.add_argument("--resize", action="store_true", help="resize images to a uint8 signature's size")
    parser.add_argument("--protocol", choices=("rest", "grpc"), default="rest")
    parser.add_argument("--host", default="localhost")
    parser.add_argument("--port", type=int, default=None, help="default 8501 (REST) or 8500 (gRPC)")
    parser.add_argument("--format", choices=("auto", "instances", "inputs"), default="auto",
                        help="REST body: row format (instances), columnar (inputs), or rows unless "
                             "a scalar input needs columns (auto, the default)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the server")
    parser.add_argument("--dry-run", action="store_true", help="print the request instead of sending it")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    saved_model_dir = model_version_dir(args.models_dir, args.model, args.version)
    inputs, _ = read_signature(saved_model_dir, args.signature)
    arrays = param_arrays(args.param, inputs)
    spec = choose_input({k: v for k, v in inputs.items() if k not in arrays}, args.input_name)
    if args.images:
        labels, array = args.images, image_array(args.images, spec, resize=args.resize)
    else:
        labels, array = args.strings, string_array(args.strings, spec)
    arrays[spec.name] = array
    check_inputs(inputs, arrays)
    port = args.port or DEFAULT_PORTS[args.protocol]
    if args.protocol == "rest":
        row_format = {"auto": None, "instances": True, "inputs": False}[args.format]
        url, body = rest_url(args.host, port, args.model, args.version), rest_body(arrays, args.signature, row_format)
        request_text, send = f"POST {url}\n{json.dumps(body)}", lambda: send_rest(url, body, args.timeout)
    else:
        request = predict_request(arrays, inputs, args.model, args.signature, args.version)
        request_text = f"gRPC {args.host}:{port} PredictionService.Predict\n{text_format.MessageToString(request)}"
        send = lambda: send_grpc(args.host, port, request, args.timeout)  # noqa: E731
    print(f"{args.model} ({saved_model_dir}) signature {args.signature}: "
          + "; ".join(s.describe() for s in inputs.values()), file=sys.stderr)
    if args.dry_run:
        print(request_text)
        return 0
    try:
        response = send()
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if args.protocol == "rest":
        response = response.get("predictions", response.get("outputs"))
    print(format_rows(labels, response))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
