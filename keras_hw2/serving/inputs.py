"""Request inputs for a served signature: built from files, strings and ``NAME=VALUE`` settings, checked, encoded.

1. `image_array`, `string_array` and `param_arrays` turn what a user gives into
   NumPy arrays of the dtype a signature input (`tf.TensorSpec`) takes: image
   files become encoded bytes (string inputs) or uint8 pixels decoded by
   `keras_hw2.cnn.images.load_images`, the one decoder of the project; a
   ``--param`` value is parsed as the input's dtype and must fit it (finite,
   in range).
2. `check_inputs` compares the arrays with the signature (names, dtypes,
   shapes) and raises `InputError` naming the first field at fault, so nothing
   that the server would refuse is sent.
3. `rest_body` and `predict_request` encode them as TF Serving's REST JSON
   (strict JSON: no NaN) or as a gRPC `PredictRequest`.
"""
import base64
import math
from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_hw2.cnn.images import load_image, load_images
from keras_hw2.errors import InputError
from keras_hw2.serving.signatures import DEFAULT_SIGNATURE, describe


def choose_input(specs: dict, input_name=None) -> tf.TensorSpec:
    """The input that images or strings fill: `input_name`, or the only batched (non-scalar) one."""
    if input_name is not None:
        if input_name not in specs:
            raise InputError(f"--input-name={input_name}: the signature has no such input; its inputs: {_list(specs)}")
        return specs[input_name]
    batched = [spec for spec in specs.values() if spec.shape.rank != 0]
    if len(batched) != 1:
        raise InputError(f"the signature has {len(batched)} batched inputs ({_list(specs)}); "
                         "name the one to fill with --input-name")
    return batched[0]


def takes_encoded_images(spec: tf.TensorSpec) -> bool:
    """A string input for image files: TF Serving's ``*_bytes`` convention, or 'image' in its name."""
    return spec.dtype == tf.string and ("image" in spec.name or spec.name.endswith("_bytes"))


def image_array(paths, spec: tf.TensorSpec) -> np.ndarray:
    """Image files as the batch `spec` takes: their bytes (string) or uint8 pixels ``(batch_size, 48, 48, 3)``.

    Every file is decoded first (`load_image`), so an unreadable one is refused before sending.

    Raises:
        InputError: a missing or undecodable file, or an input that takes
            neither encoded images nor the decoder's uint8 pixels.
    """
    if spec.dtype == tf.string:
        if not takes_encoded_images(spec):
            raise InputError(f"signature input {describe(spec)} is a string input but not one for encoded images "
                             "(its name has neither 'image' nor a '_bytes' suffix); use --strings")
        for path in paths:
            load_image(path)
        return np.array([Path(p).read_bytes() for p in paths], dtype=object)
    if spec.dtype != tf.uint8:
        raise InputError(f"signature input {describe(spec)} takes neither encoded images (string) nor uint8 pixels; "
                         "--images cannot fill it")
    return load_images(paths)


def string_array(strings, spec: tf.TensorSpec) -> np.ndarray:
    """UTF-8 strings (e.g. phonemes ``"t͡ʃ æ p l ə t"``) as the batch of a string input, sent as given.

    An empty or whitespace-only string is refused before sending (no signature decodes one).
    """
    blank = next((i for i, s in enumerate(strings) if not s.strip()), None)
    if blank is not None:
        raise InputError(f"--strings: string {blank + 1} is empty or whitespace only; every string needs "
                         f"content. Received: --strings={strings[blank]!r}")
    if spec.dtype != tf.string:
        raise InputError(f"signature input {describe(spec)} takes {spec.dtype.name}, not strings; "
                         "--strings fills string inputs only")
    if takes_encoded_images(spec):
        raise InputError(f"signature input {describe(spec)} takes encoded image files; use --images")
    return np.array([s.encode("utf-8") for s in strings], dtype=object)


def param_arrays(params, specs: dict) -> dict:
    """``NAME=VALUE`` settings as scalar arrays of their signature input's dtype.

    Raises:
        InputError: a malformed setting, an unknown or non-scalar input, or a
            value that is not of the input's dtype, not finite or out of its range.
    """
    arrays = {}
    for param in params:
        name, sep, text = param.partition("=")
        if not sep:
            raise InputError(f"--param must be NAME=VALUE. Received: --param {param}")
        if name not in specs:
            raise InputError(f"--param {name}: the signature has no input {name!r}; its inputs: {_list(specs)}. "
                             f"Received: --param {param}")
        spec = specs[name]
        if spec.shape.rank != 0:
            raise InputError(f"--param {name}: sets scalars only, but the signature takes {describe(spec)}")
        arrays[name] = _parse_scalar(text, spec)
    return arrays


def _parse_scalar(text: str, spec: tf.TensorSpec) -> np.ndarray:
    """`text` as a scalar of `spec`'s dtype: finite and within the dtype's range."""
    dtype, received = spec.dtype, f"Received: --param {spec.name}={text}"
    if dtype == tf.string:
        return np.array(text.encode("utf-8"), dtype=object)
    if dtype.is_floating:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or abs(value) > float(dtype.max):
            raise InputError(f"--param {spec.name} must be a finite {dtype.name} number. {received}")
        return np.array(value, dtype.as_numpy_dtype)
    if dtype.is_integer:
        try:
            value = int(text, 10)
        except ValueError:
            raise InputError(f"--param {spec.name} must be an integer ({dtype.name}). {received}") from None
        if not dtype.min <= value <= dtype.max:
            raise InputError(f"--param {spec.name} must be an integer from {dtype.min} to {dtype.max} "
                             f"({dtype.name}). {received}")
        return np.array(value, dtype.as_numpy_dtype)
    if dtype == tf.bool and text.lower() in ("true", "false"):
        return np.array(text.lower() == "true")
    raise InputError(f"--param {spec.name}: the client cannot set {describe(spec)} from text. {received}")


def check_inputs(specs: dict, arrays: dict) -> None:
    """Check that `arrays` fill the signature inputs `specs` exactly: names, dtypes and shapes.

    Raises:
        InputError: naming the first input at fault and what the signature takes.

    Example:
    >>> specs = {"images": tf.TensorSpec((None, 48, 48, 3), tf.uint8, name="images")}
    >>> check_inputs(specs, {"images": np.zeros((2, 48, 48, 3), np.uint8)})
    >>> check_inputs(specs, {"images": np.zeros((2, 32, 32, 3), np.uint8)})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    keras_hw2.errors.InputError: input 'images' has shape (2, 32, 32, 3) but the signature takes images uint8 (...)
    """
    missing, unknown = sorted(set(specs) - set(arrays)), sorted(set(arrays) - set(specs))
    if missing or unknown:
        raise InputError(f"inputs do not match the signature: missing {missing or 'none'}, unknown "
                         f"{unknown or 'none'} (scalars are set with --param NAME=VALUE); "
                         f"the signature takes {_list(specs)}")
    for name, array in arrays.items():
        spec = specs[name]
        dtype = tf.string if array.dtype == object else tf.as_dtype(array.dtype)
        if dtype != spec.dtype:
            raise InputError(f"input {name!r} is {dtype.name} but the signature takes {describe(spec)}")
        if not spec.shape.is_compatible_with(array.shape):
            raise InputError(f"input {name!r} has shape {array.shape} but the signature takes {describe(spec)}")


def rest_body(arrays: dict, signature_name: str = DEFAULT_SIGNATURE, row_format=None) -> dict:
    """The JSON body of a REST predict request: ``instances`` (one object per row) or ``inputs`` (columns).

    Bytes that are not UTF-8 text (encoded images) are sent as ``{"b64": ...}``.
    `row_format` None picks rows unless an input is a scalar, which only the
    columnar form can carry.

    Raises:
        InputError: `row_format` with a scalar input or inputs of different batch sizes.
    """
    scalars = [name for name, array in arrays.items() if array.ndim == 0]
    if row_format is None:
        row_format = not scalars
    columns = {name: _json_tensor(array) for name, array in arrays.items()}
    if not row_format:
        return {"signature_name": signature_name, "inputs": columns}
    if scalars or len({len(array) for array in arrays.values()}) > 1:
        raise InputError("--format=instances needs inputs of one batch size, but "
                         + ", ".join(f"{name} has shape {array.shape}" for name, array in arrays.items())
                         + "; use --format=inputs")
    num_rows = len(next(iter(arrays.values())))
    return {"signature_name": signature_name,
            "instances": [{name: column[i] for name, column in columns.items()} for i in range(num_rows)]}


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
        shortest = [float(str(v)) for v in array.reshape(-1)]
        return np.array(shortest, dtype=object).reshape(array.shape).tolist()
    return array.tolist()


def predict_request(arrays: dict, specs: dict, model: str, signature_name: str = DEFAULT_SIGNATURE, version=None):
    """A `tensorflow_serving.apis.predict_pb2.PredictRequest` holding `arrays` with the signature's dtypes."""
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature_name
    if version is not None:
        request.model_spec.version.value = version
    for name, array in arrays.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(array, dtype=specs[name].dtype))
    return request


def _list(specs: dict) -> str:
    return "; ".join(describe(spec) for spec in specs.values())
