"""Device reporting: which devices TensorFlow sees and how it will compute."""
import keras
import tensorflow as tf


def device_report(jit_compile=None) -> str:
    """One line naming the visible devices and the precision / XLA settings.

    Args:
        jit_compile: the model's own `jit_compile` setting, when known; XLA is
            reported on when either it or TensorFlow's auto-clustering is on.

    Returns:
        e.g. ``"devices: CPU:0 (no GPU visible) | mixed precision: off (float32) | XLA: off"``.
    """
    cpus = tf.config.list_physical_devices("CPU")
    gpus = tf.config.list_physical_devices("GPU")
    names = [d.name.replace("/physical_device:", "") for d in cpus + gpus]
    devices = ", ".join(names) + ("" if gpus else " (no GPU visible)")
    policy = keras.mixed_precision.global_policy().name
    mixed = "on" if policy.startswith("mixed") else "off"
    xla = bool(jit_compile) or bool(tf.config.optimizer.get_jit())
    return f"devices: {devices} | mixed precision: {mixed} ({policy}) | XLA: {'on' if xla else 'off'}"
