"""``--augment``: random changes of the CNN's training batches, in the tf.data pipeline, on CPU.

`augment_batches(dataset, seed)` maps `augmentation(seed)`, Keras
preprocessing layers with small factors, over uint8 image batches
``(batch_size, 48, 48, 3)``: a horizontal flip (half the images), a translation
and a zoom of up to `FACTOR` of the height and width each way, and a contrast
change of up to `FACTOR`; the result is rounded back to uint8, so the batches
keep their shapes and dtype. Only training batches are augmented: the model
itself holds no augmentation layer, so validation, evaluation, predict and the
exported model see the images as they are.

Each epoch's pipeline gets its own seed (`keras_hw2.training.epoch_seed`), so
an epoch's augmentation is the same in a resumed run as in an uninterrupted one.
"""
import keras
import tensorflow as tf

FACTOR = 0.1  # the largest translation and zoom (fraction of the size) and contrast change


def augmentation(seed: int) -> keras.Sequential:
    """The augmentation layers, each seeded from `seed`: uint8 or float ``(batch_size, H, W, 3)`` in [0, 255]
    → float32 of the same shape."""
    return keras.Sequential([
        keras.layers.RandomFlip("horizontal", seed=seed),
        keras.layers.RandomTranslation(FACTOR, FACTOR, fill_mode="reflect", seed=seed + 1),
        keras.layers.RandomZoom(FACTOR, FACTOR, fill_mode="reflect", seed=seed + 2),
        keras.layers.RandomContrast(FACTOR, seed=seed + 3),
    ], name="augmentation")


def augment_batches(dataset: tf.data.Dataset, seed: int) -> tf.data.Dataset:
    """`dataset` of ``(uint8 images (batch_size, H, W, 3), labels)`` with its images augmented (still uint8)."""
    layers = augmentation(seed)

    def augment(images, labels):
        augmented = layers(images, training=True)
        return tf.cast(tf.clip_by_value(tf.round(augmented), 0, 255), tf.uint8), labels

    return dataset.map(augment)  # sequential: the layers' seed generators advance in the same order every time
