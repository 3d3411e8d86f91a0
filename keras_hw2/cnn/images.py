"""The one way an encoded image file becomes the CNN's input pixels.

Every path that turns a JPEG/PNG into pixels uses `decode_image`: the Kaggle
folder loader, ``predict``, the ``serve_image_bytes`` export signature (inside
the SavedModel graph) and the serving client. A file therefore gets identical
uint8 ``(48, 48, 3)`` pixels whichever way it enters.

The resize is bilinear with antialiasing, the TensorFlow counterpart of the
Pillow ``Image.BILINEAR`` downscale that made the homework's npz data.
"""
from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_hw2.errors import InputError

IMAGE_SHAPE = (48, 48, 3)  # height, width, RGB channels of the models' input


def decode_image(encoded: tf.Tensor) -> tf.Tensor:
    """Encoded JPEG/PNG/BMP/GIF bytes, a scalar string → uint8 ``(48, 48, 3)`` RGB pixels.

    Graph-safe: the export's ``serve_image_bytes`` signature calls it in the graph.
    Grey and RGBA images become RGB; an animated GIF gives its first frame.

    Example:
    >>> png = tf.io.encode_png(tf.fill([96, 64, 3], tf.constant(200, tf.uint8)))
    >>> decoded = decode_image(png)
    >>> decoded.shape, decoded.dtype.name, int(decoded[0, 0, 0])
    (TensorShape([48, 48, 3]), 'uint8', 200)
    """
    image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
    image = tf.image.resize(image, IMAGE_SHAPE[:2], method="bilinear", antialias=True)
    image = tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)
    return tf.ensure_shape(image, IMAGE_SHAPE)


def decode_images(encoded: tf.Tensor) -> tf.Tensor:
    """A batch of encoded images, string ``(batch_size,)`` → uint8 ``(batch_size, 48, 48, 3)``."""
    return tf.map_fn(decode_image, encoded, fn_output_signature=tf.TensorSpec(IMAGE_SHAPE, tf.uint8))


def load_image(path) -> np.ndarray:
    """Read and decode one image file → uint8 ``(48, 48, 3)``.

    Raises:
        InputError: the path is missing, is not a file, or cannot be decoded
            as an image; the message names the file.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a file (an image file was expected)")
    try:
        return decode_image(tf.constant(path.read_bytes())).numpy()
    except (tf.errors.InvalidArgumentError, tf.errors.UnknownError):
        raise InputError(f"{path}: cannot be decoded as an image (JPEG, PNG, BMP or GIF)") from None


def load_images(paths) -> np.ndarray:
    """Decode several image files → uint8 ``(len(paths), 48, 48, 3)``; the first bad file raises `InputError`."""
    return np.stack([load_image(path) for path in paths]) if paths else np.zeros((0, *IMAGE_SHAPE), np.uint8)
