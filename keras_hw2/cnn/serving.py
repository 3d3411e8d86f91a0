"""SavedModel export of a trained CNN for TF Serving.

Two signatures, both returning ``probabilities`` float32 ``(batch_size, 6)``,
``class_names`` string ``(batch_size, 6)`` (the name of each probability's
class) and ``predicted_class`` string ``(batch_size,)``:

- ``serving_default``: ``images`` uint8 ``(batch_size, 48, 48, 3)``, raw RGB pixels.
- ``serve_image_bytes``: ``image_bytes`` string ``(batch_size,)``, encoded JPEG/PNG
  files of any size, decoded to RGB and resized to 48x48 in the graph
  (bilinear with antialiasing, like the Pillow resize that made the npz data).

The SavedModel needs nothing from keras_hw2 to load:
``tf.saved_model.load(path).signatures["serving_default"](images=...)``.
"""
import keras
import tensorflow as tf

from keras_hw2.cnn.data import CLASS_NAMES, IMAGE_SHAPE
from keras_hw2.export import export_saved_model

BYTES_SIGNATURE = "serve_image_bytes"


def decode_and_resize(image_bytes: tf.Tensor) -> tf.Tensor:
    """Encoded images string ``(batch_size,)`` → uint8 ``(batch_size, 48, 48, 3)``."""
    def decode(encoded):
        image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
        image = tf.image.resize(image, IMAGE_SHAPE[:2], method="bilinear", antialias=True)
        return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)
    return tf.map_fn(decode, image_bytes, fn_output_signature=tf.TensorSpec(IMAGE_SHAPE, tf.uint8))


def write_saved_model(model: keras.Model, path) -> None:
    """Write `model` with the two serving signatures (see the module docstring) to `path`."""
    names = tf.constant(CLASS_NAMES)

    def predict(images):
        probabilities = tf.exp(model(tf.cast(images, "float32"), training=False))
        batch = tf.shape(probabilities)[0]
        return {"probabilities": probabilities,
                "class_names": tf.tile(names[None, :], [batch, 1]),
                "predicted_class": tf.gather(names, tf.argmax(probabilities, axis=1))}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", predict,
                         input_signature=[tf.TensorSpec((None, *IMAGE_SHAPE), tf.uint8, name="images")])
    archive.add_endpoint(BYTES_SIGNATURE, lambda image_bytes: predict(decode_and_resize(image_bytes)),
                         input_signature=[tf.TensorSpec((None,), tf.string, name="image_bytes")])
    archive.write_out(str(path), verbose=False)


def export_model(model: keras.Model, model_name: str, root="saved_models", version=None):
    """Export `model` as ``root/model_name/version`` (TF Serving layout, atomic); returns that directory."""
    return export_saved_model(lambda path: write_saved_model(model, path), model_name, root=root, version=version)
