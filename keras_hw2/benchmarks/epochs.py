"""Whole-epoch benchmark rows: what one epoch of ``train`` costs, validation and saving included.

`whole_epoch_timing` trains a task through the engine's own `keras_hw2.training.train`
into a temporary run directory for ``repeats + 1`` epochs and times each epoch
from its ``on_epoch_begin`` to the next one's (the last to ``on_train_end``):
the training steps, the validation pass (with the task's evaluation weights and
``on_test_begin`` work, e.g. the CNN's precise BatchNorm statistics), the
resume checkpoint, ``best.keras`` when the epoch improved, history, plots and
TensorBoard. The first epoch (tracing) is left out.
"""
import dataclasses
import tempfile
import time

import keras

from keras_hw2 import runs, training
from keras_hw2.benchmarks.harness import Timing


class _EpochClock(keras.callbacks.Callback):
    """Wall and CPU clock readings at each epoch's start and at the end of training."""

    def __init__(self):
        super().__init__()
        self.wall, self.cpu = [], []

    def _tick(self):
        self.wall.append(time.perf_counter())
        self.cpu.append(time.process_time())

    def on_epoch_begin(self, epoch, logs=None):
        self._tick()

    def on_train_end(self, logs=None):
        self._tick()


def whole_epoch_timing(task_name: str, config, make_task, repeats: int) -> Timing:
    """Seconds of `repeats` whole epochs of ``train`` (after one untimed epoch).

    Args:
        task_name: the runs sub-directory, e.g. ``"cnn"``.
        config: the task's `TrainConfig` (its ``epochs`` is replaced by ``repeats + 1``).
        make_task: ``config -> keras_hw2.training.Task``, e.g. ``lambda c: make_task(c, data)``.
        repeats: timed epochs, at least 1.

    Returns:
        The `Timing` of epochs 2 .. ``repeats + 1``.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be a positive integer. Received: repeats={repeats!r}")
    config = dataclasses.replace(config, epochs=repeats + 1)
    clock = _EpochClock()

    def timed_task():
        task = make_task(config)
        return dataclasses.replace(task, callbacks=lambda model: [*task.callbacks(model), clock])

    with tempfile.TemporaryDirectory(prefix="keras_hw2-bench-") as root:
        with runs.open_run(task_name, config, name="whole-epoch", root=root) as run:
            training.train(config, run, timed_task, verbose=0)
    wall = [b - a for a, b in zip(clock.wall[1:], clock.wall[2:])]
    cpu = [b - a for a, b in zip(clock.cpu[1:], clock.cpu[2:])]
    return Timing(wall, cpu)
