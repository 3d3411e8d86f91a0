"""Seeding: one call makes a run reproducible."""
import keras
import tensorflow as tf

from keras_hw2.checks import Integer


def set_seed(seed: int, deterministic: bool = False) -> None:
    """Seed Python's `random`, NumPy, TensorFlow and Keras from one integer.

    Args:
        seed: a non-negative integer.
        deterministic: also make TensorFlow ops deterministic
            (`tf.config.experimental.enable_op_determinism`), which some GPU
            kernels pay for in speed.
    """
    Integer(minimum=0).check("seed", seed)
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
