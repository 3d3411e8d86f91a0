"""SavedModel export of a trained CNN for TF Serving.

Two signatures, both returning ``probabilities`` float32 ``(batch_size, 6)``,
``class_names`` string ``(batch_size, 6)`` (the name of each probability's
class) and ``predicted_class`` string ``(batch_size,)``:

- ``serving_default``: ``images`` uint8 ``(batch_size, 48, 48, 3)``, raw RGB pixels.
- ``serve_image_bytes``: ``image_bytes`` string ``(batch_size,)``, encoded
  JPEG/PNG/BMP/GIF files of any size, decoded in the graph by
  `keras_hw2.cnn.images.decode_images`, the one decoder every path uses.

The SavedModel holds core TensorFlow ops only and needs nothing from
keras_hw2 to load: ``tf.saved_model.load(path).signatures["serving_default"](images=...)``.
"""
from pathlib import Path

import keras
import tensorflow as tf

from keras_hw2.cnn.data import CLASS_NAMES
from keras_hw2.cnn.images import IMAGE_SHAPE, decode_images
from keras_hw2.export import export_endpoints

BYTES_SIGNATURE = "serve_image_bytes"


def serving_endpoints(model: keras.Model) -> dict:
    """The two signatures' functions, ``{signature name: tf.function}`` (see the module docstring)."""
    names = tf.constant(CLASS_NAMES)

    @tf.function(input_signature=[tf.TensorSpec((None, *IMAGE_SHAPE), tf.uint8, name="images")])
    def classify_pixels(images):
        probabilities = tf.exp(model(tf.cast(images, "float32"), training=False))
        batch_size = tf.shape(probabilities)[0]
        return {"probabilities": probabilities,
                "class_names": tf.tile(names[None, :], [batch_size, 1]),
                "predicted_class": tf.gather(names, tf.argmax(probabilities, axis=1))}

    @tf.function(input_signature=[tf.TensorSpec((None,), tf.string, name="image_bytes")])
    def classify_image_bytes(image_bytes):
        return classify_pixels(decode_images(image_bytes))

    return {"serving_default": classify_pixels, BYTES_SIGNATURE: classify_image_bytes}


def export_model(model: keras.Model, model_name: str, root="saved_models", version=None) -> Path:
    """Export `model` as ``root/model_name/version`` (TF Serving layout, atomic, locked); returns that directory."""
    return export_endpoints(serving_endpoints(model), model_name, root=root, version=version, track=[model])
