"""Post-training full-integer (int8) quantization of the CNN's LiteRT file, measured before and after.

The converter calibrates every activation's int8 range on a representative
set: `REPRESENTATIVE_IMAGES` images drawn (seeded) from the run's own
training split. Weights and activations are int8; the file still takes
uint8 pixels and returns float32 probabilities (a quantize op after the
input, a dequantize op before the output). Both files, float and int8, are
scored in the LiteRT runtime on the run's validation split, and their sizes
and accuracies go into the export's metadata.
"""
import tempfile
from pathlib import Path

import numpy as np

from keras_hw2.cnn.data import ImageData
from keras_hw2.deploy import formats
from keras_hw2.deploy.runtimes import load

REPRESENTATIVE_IMAGES = 256  # calibration images from the training split
EVALUATION_BATCH = 64


def representative_images(images: np.ndarray, count: int = REPRESENTATIVE_IMAGES, seed: int = 0) -> np.ndarray:
    """`count` images of `images` (all of them when fewer), drawn without replacement with `seed`.

    Example:
    >>> representative_images(np.zeros((10, 2, 2, 3), np.uint8), count=4).shape
    (4, 2, 2, 3)
    """
    order = np.random.default_rng(seed).permutation(len(images))[:count]
    return images[np.sort(order)]


def representative_dataset(images: np.ndarray):
    """The converter's ``representative_dataset``: a callable yielding ``[image (1, 48, 48, 3)]`` per image."""
    def generate():
        for image in images:
            yield [image[None]]
    return generate


def litert_accuracy(path, images: np.ndarray, labels: np.ndarray, batch_size: int = EVALUATION_BATCH) -> float:
    """Top-1 accuracy of the LiteRT CNN file `path` on `images`, run in the LiteRT interpreter."""
    model = load(path)
    predicted = np.concatenate([model(images=images[i:i + batch_size])["probabilities"].argmax(axis=1)
                                for i in range(0, len(images), batch_size)])
    return float(np.mean(predicted == labels))


def write_int8(model, path, input_signature, data: ImageData, seed: int = 0) -> dict:
    """Write the int8 LiteRT file of `model` to `path`; return the figures before and after.

    Args:
        model: the deployable CNN (`keras_hw2.deploy.cnn.deployable_model`).
        path: the ``.tflite`` file to write.
        input_signature: its input specs.
        data: the run's data: the representative set comes from ``train``,
            the accuracies from ``val``.
        seed: draws the representative images.

    Returns:
        ``{"representative_images", "validation_images", "float_bytes",
        "int8_bytes", "size_ratio", "float_val_accuracy", "int8_val_accuracy",
        "accuracy_change"}``.
    """
    train_images, _ = data.splits["train"]
    val_images, val_labels = data.splits["val"]
    calibration = representative_images(train_images, seed=seed)
    with tempfile.TemporaryDirectory() as scratch:
        float_path = Path(scratch) / formats.MODEL_FILES["litert"]
        formats.convert(model, "litert", float_path, input_signature)
        float_bytes, float_accuracy = float_path.stat().st_size, litert_accuracy(float_path, val_images, val_labels)
    formats.convert(model, "litert", path, input_signature, representative_dataset=representative_dataset(calibration))
    int8_bytes, int8_accuracy = Path(path).stat().st_size, litert_accuracy(path, val_images, val_labels)
    return {"representative_images": len(calibration), "representative_source": f"{data.source}, train split",
            "validation_images": len(val_labels), "float_bytes": float_bytes, "int8_bytes": int8_bytes,
            "size_ratio": round(float_bytes / int8_bytes, 3), "float_val_accuracy": float_accuracy,
            "int8_val_accuracy": int8_accuracy, "accuracy_change": round(int8_accuracy - float_accuracy, 6)}
