"""Learning-rate schedules of ``--lr-schedule {constant,cosine,step}`` with ``--warmup-epochs N``, both tasks.

`learning_rate(base, schedule, warmup_epochs, epochs, steps_per_epoch)` is what
a task hands its optimizer: the plain number `base` for the homework's
constant rate without warm-up (the default, unchanged), else a Keras
`keras.optimizers.schedules.LearningRateSchedule` of the optimizer's step
count, so the rate changes every batch and a resumed run (whose optimizer
``iterations`` are restored) continues it exactly. With W = warmup_epochs ×
steps_per_epoch warm-up steps and S = epochs × steps_per_epoch steps in all,
the rate of step t (0-based) is:

- warm-up, t < W: ``base * t / W`` (Keras' ``CosineDecay`` warm-up: 0 at the first step);
- ``constant``: ``base``;
- ``cosine``: ``base * (1 + cos(pi * (t - W) / (S - W))) / 2`` (`keras.optimizers.schedules.CosineDecay`),
  reaching 0 at the end of the last epoch;
- ``step``: ``base``, times 0.1 from the epoch at half of ``epochs``, times 0.01 from the epoch at three
  quarters (`keras.optimizers.schedules.PiecewiseConstantDecay`; boundaries rounded down to whole epochs).

Keras has no warm-up for a constant or piecewise-constant rate: `Warmup` adds it (registered serialisable,
so a saved model's optimizer reloads).
"""
import keras

from keras_hw2.checks import Integer, received
from keras_hw2.errors import InputError

SCHEDULES = ("constant", "cosine", "step")
STEP_FACTOR = 0.1  # the step schedule's decay at each boundary
STEP_BOUNDARIES = (0.5, 0.75)  # the step schedule's boundaries, as fractions of the epochs


@keras.saving.register_keras_serializable(package="keras_hw2")
class Warmup(keras.optimizers.schedules.LearningRateSchedule):
    """A linear warm-up from 0 to `target` over `warmup_steps` steps, then `after` (or `target`, constant).

    Args:
        target: the rate the warm-up reaches.
        warmup_steps: steps of warm-up, > 0; step t < warmup_steps has rate ``target * t / warmup_steps``.
        after: the schedule from step `warmup_steps` on (called with the global step); None: `target`.
    """

    def __init__(self, target: float, warmup_steps: int, after=None):
        if not warmup_steps > 0:
            raise ValueError(f"warmup_steps must be positive. Received: warmup_steps={warmup_steps}")
        self.target = float(target)
        self.warmup_steps = int(warmup_steps)
        self.after = after

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        later = self.after(step) if self.after is not None else self.target
        return keras.ops.where(step < self.warmup_steps, self.target * step / self.warmup_steps,
                               keras.ops.cast(later, "float32"))

    def get_config(self):
        after = None if self.after is None else keras.optimizers.schedules.serialize(self.after)
        return {"target": self.target, "warmup_steps": self.warmup_steps, "after": after}

    @classmethod
    def from_config(cls, config):
        after = config["after"]
        return cls(config["target"], config["warmup_steps"],
                   None if after is None else keras.optimizers.schedules.deserialize(after))


def check_schedule(config) -> None:
    """Refuse a warm-up as long as the run (``config.warmup_epochs >= config.epochs``); the fields' own rules
    (`keras_hw2.hparams.TRAINING_RULES`) are checked before."""
    if config.warmup_epochs >= config.epochs:
        raise InputError(f"--warmup-epochs must be fewer than --epochs ({config.epochs}). "
                         f"{received('--warmup-epochs', config.warmup_epochs)}")


def learning_rate(base: float, schedule: str, warmup_epochs: int, epochs: int, steps_per_epoch: int):
    """The optimizer's ``learning_rate``: `base`, or the schedule of the module docstring.

    Args:
        base: the rate after warm-up (the ``--learning-rate``).
        schedule: one of `SCHEDULES`.
        warmup_epochs: epochs of linear warm-up, 0 to ``epochs - 1``.
        epochs: the run's epochs.
        steps_per_epoch: train steps (batches) per epoch.

    Returns:
        A float for ``constant`` without warm-up, else a `keras.optimizers.schedules.LearningRateSchedule`.
    """
    Integer(minimum=1).check("steps_per_epoch", steps_per_epoch)
    warmup = warmup_epochs * steps_per_epoch
    if schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            0.0 if warmup else base, decay_steps=(epochs - warmup_epochs) * steps_per_epoch,
            warmup_target=base if warmup else None, warmup_steps=warmup)
    if schedule == "step":
        # PiecewiseConstantDecay keeps a value up to its boundary, included: the new one starts the step after.
        boundaries = [int(fraction * epochs) * steps_per_epoch - 1 for fraction in STEP_BOUNDARIES]
        after = keras.optimizers.schedules.PiecewiseConstantDecay(
            boundaries, [base * STEP_FACTOR ** i for i in range(len(boundaries) + 1)])
        return Warmup(base, warmup, after) if warmup else after
    if schedule != "constant":
        raise ValueError(f"schedule must be one of {SCHEDULES}. Received: schedule={schedule!r}")
    return Warmup(base, warmup) if warmup else base
