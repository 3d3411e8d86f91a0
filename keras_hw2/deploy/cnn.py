"""The CNN's LiteRT and ONNX exports: uint8 images ``(batch_size, 48, 48, 3)`` in, six probabilities out.

`deployable_model` wraps a trained CNN in a functional model taking uint8
pixels, as the SavedModel's ``serving_default`` does, and returning
``{"probabilities": float32 (batch_size, 6)}`` in `CLASS_NAMES` order: the
trained layers up to ``logits`` (`keras_hw2.cnn.models.build_model` names the
last Dense so), then softmax, which equals the exponential of the model's
log-softmax output. Softmax rather than exp(log-softmax) for the int8 file's
sake: TFLite's int8 log-softmax has a fixed output step of 1/16 in log space,
which made near-tied classes of a barely trained CNN tie (2 of 64 top-1 classes
changed, against none through int8 softmax, whose output step is 1/256).
Keras' ``model.export`` converts that model, so the files hold exactly the
trained layers, nothing rewritten by hand.
"""
from pathlib import Path

import keras
import tensorflow as tf

from keras_hw2.cnn.data import CLASS_NAMES, ImageData
from keras_hw2.cnn.images import IMAGE_SHAPE
from keras_hw2.deploy import formats

LOGITS_LAYER = "logits"  # the last Dense of both CNNs, before their log-softmax
INPUT_SIGNATURE = [tf.TensorSpec((None, *IMAGE_SHAPE), tf.uint8, name="images")]


def deployable_model(model: keras.Model) -> keras.Model:
    """`model`'s layers up to ``logits`` behind uint8 pixels, then softmax: ``{"probabilities": (batch_size, 6)}``."""
    logits = keras.Model(model.inputs, model.get_layer(LOGITS_LAYER).output)
    images = keras.Input(IMAGE_SHAPE, dtype="uint8", name="images")
    probabilities = keras.ops.softmax(logits(keras.ops.cast(images, "float32"), training=False))
    return keras.Model(images, {"probabilities": probabilities}, name=f"{model.name}_uint8")


def export_cnn(model: keras.Model, fmt: str, model_name: str, root="saved_models", version=None,
               quantize=None, data: ImageData = None, source=None) -> Path:
    """Export a trained CNN as ``root/model_name/version/model.{tflite,onnx}`` plus ``metadata.json``.

    Args:
        model: a trained CNN (raw pixels -> log-probabilities).
        fmt: ``"litert"`` or ``"onnx"``.
        model_name, root, version: the TF Serving layout (`keras_hw2.export`).
        quantize: None, or ``"int8"`` (LiteRT only): full-integer quantization
            (`keras_hw2.deploy.quantize`), with the float and int8 file sizes
            and validation accuracies in the metadata.
        data: the run's training data (``train`` for the representative set,
            ``val`` for the accuracies); required with `quantize`.
        source: where the model came from (its checkpoint), for the metadata.

    Returns:
        The directory of the new version.

    Raises:
        InputError: a conversion failure naming the op (nothing is written).
    """
    formats.check_format(fmt, quantize)
    deployable = deployable_model(model)
    metadata = {"task": "cnn", "source": None if source is None else str(source),
                "inputs": {"images": f"uint8 (batch_size, {', '.join(map(str, IMAGE_SHAPE))}), RGB pixels 0..255"},
                "outputs": {"probabilities": f"float32 (batch_size, {len(CLASS_NAMES)}), in class_names order"},
                "class_names": list(CLASS_NAMES), "keras": keras.__version__, "tensorflow": tf.__version__}
    if quantize is None:
        def write(path):
            return formats.convert(deployable, fmt, path, INPUT_SIGNATURE)
    else:
        from keras_hw2.deploy.quantize import write_int8
        if data is None:
            raise ValueError("quantize needs the run's training data. Received: data=None")

        def write(path):
            return {"quantization": write_int8(deployable, path, INPUT_SIGNATURE, data)}
    return formats.export_file(write, fmt, model_name, root=root, version=version, metadata=metadata)
