"""Seeding: one call makes a run reproducible."""
import keras
import tensorflow as tf


def set_seed(seed: int, deterministic: bool = False) -> None:
    """Seed Python's `random`, NumPy, TensorFlow and Keras from one integer.

    Args:
        seed: a non-negative integer.
        deterministic: also make TensorFlow ops deterministic
            (`tf.config.experimental.enable_op_determinism`), which some GPU
            kernels pay for in speed.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer. Received: seed={seed!r}")
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
