"""The GPU checks of issue 12 (``tools/gpu_check.py``, ``make bench-gpu``; the command: `keras_hw2.benchmarks.gpu_command`).

On a machine where TensorFlow sees a GPU, prints the device line and runs, on
that GPU, with the harness's repeats:

1. a CNN training epoch at batch 8 in ``float32`` and in ``mixed_float16``;
2. a P2G training epoch with and without attention, after checking that the
   encoder's masks are right-padded (what cuDNN accepts) and that the
   encoder's LSTM runs with ``use_cudnn=True`` on such a batch;
3. the `Hopfield` layer's forward and backward pass under `tf.GradientTape`,
   compared with the CPU's to 1e-5 (TensorFloat-32 off, which would round
   matrix products to 10-bit mantissas);
4. greedy decoding throughput of a batch;
5. the P2G export reloaded and run on the GPU, its spellings compared with
   `Speller` on the CPU.

Where no GPU is visible it says so and exits 0. `run_checks` takes the device,
so the same code runs on the CPU in the test suite.
"""
import sys
import tempfile

import keras
import numpy as np
import tensorflow as tf

from keras_hw2.benchmarks import cnn, p2g

TOLERANCE = 1e-5  # largest difference allowed between the GPU's and the CPU's Hopfield results


def gpu_name():
    """The first visible GPU's name (``"GPU:0"``), or None."""
    gpus = tf.config.list_physical_devices("GPU")
    return gpus[0].name.replace("/physical_device:", "") if gpus else None


def cnn_epoch_rows(images, labels, repeats: int, policy: str) -> list:
    """CNN training rows under the Keras dtype `policy` (the global policy is restored after)."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        rows = cnn.training_rows(images, labels, repeats)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    for row in rows:
        row.name, row.description = f"{row.name}_{policy}", f"{row.description}, {policy}"
    return rows


def right_padded(mask) -> bool:
    """Whether every row of a ``(batch_size, S)`` boolean mask is True then False (cuDNN's condition).

    Example:
    >>> right_padded([[True, True, False], [True, False, False]]), right_padded([[False, True, True]])
    (True, False)
    """
    mask = np.asarray(mask, bool)
    return bool(np.all(mask == (np.arange(mask.shape[1]) < mask.sum(axis=1, keepdims=True))))


def cudnn_lstm_runs(model, source_ids) -> bool:
    """Whether an LSTM of the encoder's size runs with ``use_cudnn=True`` on `source_ids`' embedding and mask."""
    lstm = keras.layers.LSTM(model.encoder.units // 2, return_sequences=True, use_cudnn=True)
    try:
        lstm(model.encoder.embedding(source_ids), mask=source_ids != 0).numpy()
    except (ValueError, tf.errors.OpError) as error:  # Keras refuses a mask cuDNN cannot take
        print(f"cuDNN LSTM: {error}", file=sys.stderr)
        return False
    return True


def hopfield_difference(device: str, reference_device: str = "/CPU:0", seed: int = 0) -> float:
    """Largest absolute difference of the `Hopfield` layer's outputs and gradients on two devices.

    The gradients are those of the outputs' sum with respect to the inputs
    and every trainable weight, under `tf.GradientTape`.
    """
    from keras_hw2.hopfield.layers import Hopfield
    rng = np.random.default_rng(seed)
    queries, stored = (tf.constant(rng.normal(size=s), tf.float32) for s in ((4, 5, 8), (4, 7, 6)))
    layer = Hopfield(key_dim=16, update_steps_max=3)
    layer([queries, stored])  # builds the weights once, shared by both devices

    def forward_backward(where):
        with tf.device(where), tf.GradientTape() as tape:
            tape.watch([queries, stored])
            outputs = layer([queries, stored])
            gradients = tape.gradient(tf.reduce_sum(outputs), [queries, stored, *layer.trainable_variables])
        return [outputs, *gradients]

    tensor_float_32 = tf.config.experimental.tensor_float_32_execution_enabled()
    tf.config.experimental.enable_tensor_float_32_execution(False)
    try:
        pairs = zip(forward_backward(device), forward_backward(reference_device))
        return max(float(tf.reduce_max(tf.abs(tf.convert_to_tensor(a) - tf.convert_to_tensor(b)))) for a, b in pairs)
    finally:
        tf.config.experimental.enable_tensor_float_32_execution(tensor_float_32)


def export_matches(model, phonemes: list, device: str) -> bool:
    """Whether the reloaded export's greedy spellings on `device` equal `Speller`'s on the CPU."""
    from keras_hw2.p2g.speller import Speller, export_speller
    batch = tf.constant(phonemes)
    speller = Speller(model)  # held: its tf.functions keep only a weak reference to it
    with tf.device("/CPU:0"):
        expected = speller.greedy(batch)["spellings"].numpy().tolist()
    with tempfile.TemporaryDirectory() as root:
        serve = tf.saved_model.load(str(export_speller(model, "p2g", root=root))).signatures["serving_default"]
        with tf.device(device):
            return serve(phonemes=batch)["spellings"].numpy().tolist() == expected


def run_checks(device: str, repeats: int, corpus: dict, images, labels, decode_words: int) -> tuple:
    """Run checks 1-5 on `device`; returns ``(rows, checks)``, ``checks`` being ``{name: bool, number or None}``.

    A check that cannot run on `device` (cuDNN on a CPU) is None.
    """
    from keras_hw2.p2g.data import build_vocabularies, make_dataset
    from keras_hw2.p2g.speller import Speller
    checks = {}
    with tf.device(device):
        rows = cnn_epoch_rows(images, labels, repeats, "float32")
        try:
            rows += cnn_epoch_rows(images, labels, repeats, "mixed_float16")
            checks["mixed_float16_trains"] = True
        except TypeError as error:  # the engine's float32 loss weight meets float16 losses
            print(f"mixed_float16: {error}", file=sys.stderr)
            checks["mixed_float16_trains"] = False
        epoch_rows, model = p2g.epoch_rows(corpus, repeats)
        rows += epoch_rows
        source, target = build_vocabularies(corpus["train"])
        (source_ids, _), _ = next(iter(make_dataset(corpus["train"], source, target, 64, shuffle=True)))
        checks["masks_right_padded"] = right_padded(source_ids != 0)
        checks["cudnn_lstm_runs"] = cudnn_lstm_runs(model, source_ids) if "GPU" in device.upper() else None
        checks["hopfield_max_difference"] = hopfield_difference(device)
        phonemes = [pair.phonemes for pair in corpus["valid"]]
        phonemes = (phonemes * (decode_words // len(phonemes) + 1))[:decode_words]
        rows += p2g.decode_rows(Speller(model), phonemes, repeats)[:1]
    checks["hopfield_within_tolerance"] = checks["hopfield_max_difference"] <= TOLERANCE
    checks["export_matches_cpu"] = export_matches(model, phonemes[:32], device)
    return rows, checks
