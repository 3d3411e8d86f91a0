"""Classifying image files with a trained CNN run, from Python or ``python -m keras_hw2.cnn predict``.

Files of any size and format that `keras_hw2.cnn.images` decodes (JPEG, PNG, BMP,
GIF) are read with `load_images`, the pixels every other path gets too. All files
are decoded before the model runs, so a missing or undecodable file stops the
whole call with an `InputError` naming it, before anything is printed.
"""
import numpy as np

from keras_hw2 import checkpoints
from keras_hw2.cnn.data import CLASS_NAMES
from keras_hw2.cnn.images import IMAGE_SHAPE, load_images
from keras_hw2.errors import InputError


def _check_shape(path, model) -> None:
    """Refuse a Keras model that does not map one ``(48, 48, 3)`` image input to the six classes."""
    if len(model.inputs) != 1 or tuple(model.input_shape[1:]) != IMAGE_SHAPE \
            or tuple(model.output_shape[1:]) != (len(CLASS_NAMES),):
        raise InputError(f"{path}: holds a model mapping {model.input_shape} to {model.output_shape}, not a "
                         f"CNN scene classifier (48x48x3 images to {len(CLASS_NAMES)} classes)")


# What a CNN checkpoint holds: a Functional model (`keras_hw2.cnn.models.build_model`) or any
# Sequential one of the same shape.
CHECK = checkpoints.ModelCheck(task="cnn", expected="a CNN", class_names=("Functional", "Sequential"),
                               check_model=_check_shape)


def load_classifier(run):
    """The trained CNN of `run`, a run directory or its ``best.keras``: every CNN command's loader.

    Returns:
        A `keras.Model` mapping uint8 ``(batch_size, 48, 48, 3)`` to log-probabilities ``(batch_size, 6)``.

    Raises:
        InputError: a missing, truncated, foreign, misshapen or unsafe file (`keras_hw2.checkpoints.load_model`).
    """
    return checkpoints.load_model(run, CHECK)


def classify(model, images, top_k: int = 3) -> list:
    """The `top_k` most probable classes of each image, most probable first.

    Args:
        model: a trained CNN (`load_classifier`).
        images: uint8 ``(N, 48, 48, 3)``.
        top_k: classes per image, 1 to ``len(CLASS_NAMES)``.

    Returns:
        ``N`` lists of `top_k` ``(class name, probability)`` pairs.
    """
    if not 1 <= top_k <= len(CLASS_NAMES):
        raise ValueError(f"top_k must be between 1 and {len(CLASS_NAMES)}. Received: top_k={top_k}")
    probabilities = np.exp(model.predict(np.asarray(images), verbose=0))
    order = np.argsort(-probabilities, axis=1, kind="stable")[:, :top_k]
    return [[(CLASS_NAMES[i], float(row[i])) for i in best] for row, best in zip(probabilities, order)]


def classify_files(model, paths, top_k: int = 3) -> list:
    """`classify` image files: ``[{"file": path, "classes": [(name, probability), ...]}, ...]``.

    Raises:
        InputError: a missing or undecodable file (the first one, named), before the model runs.
    """
    paths = [str(path) for path in paths]
    return [{"file": path, "classes": classes}
            for path, classes in zip(paths, classify(model, load_images(paths), top_k))]
