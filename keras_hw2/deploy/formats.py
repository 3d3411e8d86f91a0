"""The export formats, the file each writes, and the conversion through Keras' own ``model.export``.

A LiteRT or ONNX export is a version directory in TF Serving's layout
(``<models-dir>/<name>/<version>/``, written atomically and under the model's
lock by `keras_hw2.export.export_saved_model`) holding the model file
(`MODEL_FILES`) and `METADATA_FILE`, a JSON description of its inputs,
outputs, size and provenance.

The LiteRT conversion allows TFLite's builtin ops only (no Select TF ops, which
need the Flex delegate that the LiteRT runtime does not ship), so an op
without a builtin kernel fails the export, named, instead of producing a
file that no phone can run.

Importing this module imports no TensorFlow (the CLI checks its flags with it).
"""
import json
import re
import warnings
from pathlib import Path

from keras_hw2.checks import Choice, received
from keras_hw2.errors import InputError

FORMATS = ("savedmodel", "litert", "onnx")
QUANTIZATIONS = ("int8",)  # --quantize: the CNN's LiteRT export only
MODEL_FILES = {"litert": "model.tflite", "onnx": "model.onnx"}
METADATA_FILE = "metadata.json"
ONNX_OPSET = 17
_FAILED_OP = re.compile(r"'(tf\.[\w>]+)' op|No Op registered for (\w+)")


def check_format(fmt: str, quantize=None, quantizable=("litert",)) -> None:
    """Refuse an unknown `fmt`, or `quantize` where `fmt` is not in `quantizable`.

    Raises:
        InputError: naming the flag and the value received.
    """
    Choice(FORMATS).check("--format", fmt)
    if quantize is None:
        return
    Choice(QUANTIZATIONS).check("--quantize", quantize)
    if fmt not in quantizable:
        where = f"--format {' or '.join(quantizable)}" if quantizable else "no export of this task"
        raise InputError(f"--quantize applies to {where} only. {received('--quantize', quantize)} "
                         f"with --format={fmt}")


def convert(model, fmt: str, path, input_signature, representative_dataset=None) -> None:
    """Write `model` (its ``call``) to `path` as LiteRT or ONNX with Keras' ``model.export``.

    Args:
        model: a Keras model; its ``call`` is what is converted.
        fmt: ``"litert"`` or ``"onnx"``.
        path: the file to write.
        input_signature: ``[tf.TensorSpec, ...]``, one per call argument; the
            specs' names become the file's input names.
        representative_dataset: LiteRT only: a callable yielding lists of
            input arrays; given, the model is fully integer-quantized (int8
            weights and activations; the inputs and outputs keep their dtypes).

    Raises:
        InputError: the conversion failed, or (ONNX) its file fails
            `onnx.checker` (tf2onnx leaves an op it cannot map in place); the
            line names the op (or the converter's first message).
    """
    import tensorflow as tf

    if fmt == "litert":
        ops = tf.lite.OpsSet.TFLITE_BUILTINS_INT8 if representative_dataset else tf.lite.OpsSet.TFLITE_BUILTINS
        options = {"target_spec": {"supported_ops": [ops]}}
        if representative_dataset is not None:
            options.update(optimizations=[tf.lite.Optimize.DEFAULT], representative_dataset=representative_dataset)
    elif fmt == "onnx":
        options = {"opset_version": ONNX_OPSET}
    else:
        raise ValueError(f"fmt must be one of {tuple(MODEL_FILES)}. Received: fmt={fmt!r}")
    try:
        with warnings.catch_warnings():  # Keras' tf2onnx shim probes np.object: a FutureWarning, nothing wrong
            warnings.simplefilter("ignore", FutureWarning)
            model.export(str(path), format=fmt, input_signature=input_signature, verbose=False, **options)
        if fmt == "onnx":  # tf2onnx passes an op it cannot map through unchanged: a file no runtime loads
            import onnx
            onnx.checker.check_model(str(path), full_check=True)
    except Exception as e:  # the converters raise many types; all mean "this graph does not convert"
        raise InputError(f"{model.name}: the {fmt} conversion failed: {conversion_failure(e)}") from None


def conversion_failure(error: Exception) -> str:
    """The op(s) a converter's exception names, else its first line.

    Example:
    >>> conversion_failure(RuntimeError("<unknown>:0: error: 'tf.TensorListReserve' op requires element_shape"))
    'op tf.TensorListReserve did not convert (RuntimeError)'
    >>> conversion_failure(ValueError("No Op registered for Lgamma with domain_version of 17"))
    'op Lgamma did not convert (ValueError)'
    >>> conversion_failure(ValueError("Unsupported ops: Counter({'Foo': 1})\\nmore"))
    "Unsupported ops: Counter({'Foo': 1}) (ValueError)"
    """
    ops = list(dict.fromkeys(tf_op or onnx_op for tf_op, onnx_op in _FAILED_OP.findall(str(error))))
    if ops:
        return f"op {', '.join(ops)} did not convert ({type(error).__name__})"
    return f"{(str(error).strip().splitlines() or [''])[0]} ({type(error).__name__})"


def export_file(write_model, fmt: str, model_name: str, root="saved_models", version=None, metadata=None) -> Path:
    """Write one model file and its metadata as ``root/model_name/version`` (atomic, locked).

    Args:
        write_model: a callable taking the model file's path and writing it
            (e.g. ``lambda path: convert(model, "onnx", path, signature)``);
            it may return a dict, merged into the metadata.
        fmt: ``"litert"`` or ``"onnx"``: names the file (`MODEL_FILES`).
        model_name, root, version: as in `keras_hw2.export.export_saved_model`.
        metadata: JSON-ready facts about the model, written to `METADATA_FILE`
            with the format, the file's name and its size in bytes.

    Returns:
        The directory of the new version.
    """
    from keras_hw2.export import export_saved_model
    if fmt not in MODEL_FILES:
        raise ValueError(f"fmt must be one of {tuple(MODEL_FILES)} (a SavedModel has its own export). "
                         f"Received: fmt={fmt!r}")
    model_file = MODEL_FILES[fmt]

    def write(directory):
        directory = Path(directory)
        directory.mkdir()
        extra = write_model(directory / model_file) or {}
        facts = {"format": fmt, "file": model_file, "bytes": (directory / model_file).stat().st_size,
                 **(metadata or {}), **extra}
        (directory / METADATA_FILE).write_text(json.dumps(facts, indent=2) + "\n")

    return export_saved_model(write, model_name, root=root, version=version, expect=model_file)


def read_metadata(version_dir) -> dict:
    """The `METADATA_FILE` of an exported version directory."""
    return json.loads((Path(version_dir) / METADATA_FILE).read_text())
