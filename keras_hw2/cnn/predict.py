"""Classifying image files with a trained CNN run, from Python or ``python -m keras_hw2.cnn predict``.

Files of any size and format that `keras_hw2.cnn.images` decodes (JPEG, PNG, BMP,
GIF) are read with `load_images`, the pixels every other path gets too. All files
are decoded before the model runs, so a missing or undecodable file stops the
whole call with an `InputError` naming it, before anything is printed.
"""
import numpy as np

from keras_hw2 import checkpoints
from keras_hw2.cnn.data import CLASS_NAMES
from keras_hw2.cnn.images import load_images


def load_classifier(run):
    """The trained CNN of `run` (a run directory or its ``best.keras``), checked by `keras_hw2.checkpoints`."""
    return checkpoints.load_model(run, task="cnn")


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
