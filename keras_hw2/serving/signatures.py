"""What a served model takes and returns: its `SignatureDef`s, as the server or an export describes them.

TF Serving answers ``GET /v1/models/<name>[/versions/<v>]/metadata`` (REST) and
``PredictionService.GetModelMetadata`` (gRPC) with the ``signature_def`` map of
the SavedModel's ``serve`` meta-graph; `read_export` reads the same map from a
local ``saved_model.pb``. Either way the result is ``{name: SignatureDef}``
(TensorFlow's own proto), and `tensor_specs` turns a signature's inputs or
outputs into `tf.TensorSpec`s named by their request keys.
"""
from pathlib import Path

import tensorflow as tf
from google.protobuf import json_format
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2

from keras_hw2.errors import InputError

DEFAULT_SIGNATURE = "serving_default"
INIT_OP_SIGNATURE = "__saved_model_init_op"  # a SavedModel's initialiser, listed among the signatures


def read_export(export_dir) -> dict:
    """The ``{name: SignatureDef}`` map of the ``serve`` meta-graph in ``export_dir/saved_model.pb``.

    Raises:
        InputError: no readable SavedModel in `export_dir`.
    """
    path = Path(export_dir) / "saved_model.pb"
    if not path.is_file():
        raise InputError(f"{path}: no SavedModel here "
                         "(--export-dir takes a version directory, e.g. saved_models/p2g/1)")
    try:
        saved_model = saved_model_pb2.SavedModel.FromString(path.read_bytes())
    except Exception:  # protobuf's DecodeError
        raise InputError(f"{path}: not a SavedModel (cannot be parsed)") from None
    graphs = [g for g in saved_model.meta_graphs if "serve" in g.meta_info_def.tags]
    if not graphs:
        raise InputError(f"{path}: has no meta-graph tagged 'serve'")
    return dict(graphs[0].signature_def)


def from_rest_metadata(body: dict) -> dict:
    """``{name: SignatureDef}`` from the JSON of TF Serving's REST metadata response.

    The response is ``{"model_spec": {...}, "metadata": {"signature_def":
    {"signature_def": {name: SignatureDef as JSON}}}}``.
    """
    try:
        signatures = body["metadata"]["signature_def"]["signature_def"]
        return {name: json_format.ParseDict(value, meta_graph_pb2.SignatureDef(), ignore_unknown_fields=True)
                for name, value in signatures.items()}
    except (KeyError, TypeError, json_format.ParseError) as e:
        raise ValueError(f"not a TF Serving metadata response ({type(e).__name__}: {e})") from None


def from_grpc_metadata(response) -> dict:
    """``{name: SignatureDef}`` from a `GetModelMetadataResponse` (its ``signature_def`` `Any`)."""
    from tensorflow_serving.apis import get_model_metadata_pb2

    signature_map = get_model_metadata_pb2.SignatureDefMap()
    if "signature_def" not in response.metadata or not response.metadata["signature_def"].Unpack(signature_map):
        raise ValueError("the GetModelMetadata response holds no signature_def map")
    return dict(signature_map.signature_def)


def choose(signatures: dict, name: str, source: str):
    """The `SignatureDef` called `name`.

    Raises:
        InputError: there is none; the message names `source` and the signatures it has.
    """
    if name not in signatures:
        raise InputError(f"{source}: no signature {name!r}; available: {', '.join(served_names(signatures)) or 'none'}")
    return signatures[name]


def served_names(signatures: dict) -> list:
    """The signature names a client can call (the initialiser left out), sorted."""
    return sorted(name for name in signatures if name != INIT_OP_SIGNATURE)


def tensor_specs(tensor_infos) -> dict:
    """``{key: tf.TensorSpec(shape, dtype, name=key)}`` for a signature's ``inputs`` or ``outputs`` map."""
    return {key: tf.TensorSpec(tf.TensorShape(info.tensor_shape), tf.as_dtype(info.dtype), name=key)
            for key, info in sorted(tensor_infos.items())}


def describe(spec: tf.TensorSpec) -> str:
    """A spec as the client's messages show it.

    Example:
    >>> describe(tf.TensorSpec((None, 48, 48, 3), tf.uint8, name="images"))
    'images uint8 (batch_size, 48, 48, 3)'
    >>> describe(tf.TensorSpec((), tf.float32, name="p"))
    'p float32 ()'
    """
    if spec.shape.rank is None:
        return f"{spec.name} {spec.dtype.name} (any shape)"
    dims = ["batch_size" if i == 0 and d is None else str(d) for i, d in enumerate(spec.shape.as_list())]
    return f"{spec.name} {spec.dtype.name} ({', '.join(dims)})"


def describe_signature(signature) -> str:
    """``"phonemes string (batch_size) -> log_probs float32 (batch_size); spellings string (batch_size)"``."""
    inputs = "; ".join(describe(s) for s in tensor_specs(signature.inputs).values())
    outputs = "; ".join(describe(s) for s in tensor_specs(signature.outputs).values())
    return f"{inputs} -> {outputs}"
