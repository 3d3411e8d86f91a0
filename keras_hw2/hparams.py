"""Hyperparameters: one validation for every training config, and their TensorBoard HParams record.

A task's config is a dataclass whose ``__post_init__`` calls
``validate(self, rules)``: every field has a rule (`Integer`, `Number`,
`Choice`, `Flag`, `OptionalPath`, `OrNone`, `Each`), and a value that breaks it raises
`InputError` with a Keras-style message naming the command-line flag and the
value received, e.g. ``--learning-rate must be a finite number > 0. Received:
--learning-rate=nan``. NaN and infinity are refused wherever a number is
expected, so they never reach training. `TRAINING_RULES` holds the rules of
the fields both tasks share.

`log_hparams` writes a run's config to TensorBoard's HParams plugin
(`tensorboard.plugins.hparams.api`), `log_metrics` its final metrics next to
it, so ``tensorboard --logdir runs`` compares runs in the HParams dashboard.
"""
import math
import numbers
from dataclasses import dataclass, fields

import tensorflow as tf
from tensorboard.plugins.hparams import api as hp

from keras_hw2.distribute import STRATEGIES
from keras_hw2.errors import InputError

METRICS_PREFIX = "results/"  # tag prefix of the final metrics written by `log_metrics`


def _received(flag: str, value) -> str:
    return f"Received: {flag}={value!r}" if isinstance(value, str) else f"Received: {flag}={value}"


@dataclass(frozen=True)
class Integer:
    """An int (not a bool, not a float) >= `minimum`; with `even`, also even."""
    minimum: int = 0
    even: bool = False

    def check(self, flag: str, value) -> None:
        is_int = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        if not is_int or value < self.minimum or (self.even and value % 2):
            kind = "an even integer" if self.even else "an integer"
            raise InputError(f"{flag} must be {kind} >= {self.minimum}. {_received(flag, value)}")


@dataclass(frozen=True)
class Number:
    """A finite real number in the interval from `low` to `high` (open ends where asked)."""
    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False

    def describe(self) -> str:
        if self.high == math.inf:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"

    def check(self, flag: str, value) -> None:
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
        if ok:
            ok = (value > self.low if self.low_open else value >= self.low) and (
                value < self.high if self.high_open else value <= self.high)
        if not ok:
            raise InputError(f"{flag} must be a finite number {self.describe()}. {_received(flag, value)}")


@dataclass(frozen=True)
class Choice:
    """One of `options`."""
    options: tuple

    def check(self, flag: str, value) -> None:
        if value not in self.options:
            raise InputError(f"{flag} must be one of {', '.join(map(str, self.options))}. {_received(flag, value)}")


@dataclass(frozen=True)
class Flag:
    """A bool."""

    def check(self, flag: str, value) -> None:
        if not isinstance(value, bool):
            raise InputError(f"{flag} must be true or false. {_received(flag, value)}")


@dataclass(frozen=True)
class OptionalPath:
    """None or a non-empty string (whether the file exists is the data loader's check)."""

    def check(self, flag: str, value) -> None:
        if value is not None and (not isinstance(value, str) or not value):
            raise InputError(f"{flag} must be a path. {_received(flag, value)}")


@dataclass(frozen=True)
class OrNone:
    """None, or a value `rule` accepts."""
    rule: object

    def check(self, flag: str, value) -> None:
        if value is not None:
            self.rule.check(flag, value)


@dataclass(frozen=True)
class Each:
    """A non-empty tuple or list whose every element `rule` accepts."""
    rule: object

    def check(self, flag: str, value) -> None:
        if not isinstance(value, (tuple, list)) or not value:
            raise InputError(f"{flag} must be one or more values. {_received(flag, value)}")
        for element in value:
            self.rule.check(flag, element)


# The fields every task's training config has, with their rules.
TRAINING_RULES = {
    "epochs": Integer(minimum=1),
    "batch_size": Integer(minimum=1),
    "learning_rate": Number(low=0, low_open=True),
    "dropout": Number(low=0, high=1, high_open=True),
    "seed": Integer(minimum=0),
    "deterministic": Flag(),
    "jit_compile": Flag(),
    "strategy": Choice(STRATEGIES),
}


def validate(config, rules: dict, flags: dict = None) -> None:
    """Check every field of the dataclass `config` against its rule.

    Args:
        config: a dataclass instance.
        rules: ``{field name: rule}``; every field must have one.
        flags: ``{field name: flag}`` where the flag is not ``--`` + the name with dashes.

    Raises:
        InputError: a value breaks its rule (the message names the flag and the value).
        TypeError: a field has no rule (a programming error, not bad input).

    Example:
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Config:
    ...     batch_size: int = 8
    ...     def __post_init__(self):
    ...         validate(self, {"batch_size": Integer(minimum=1)})
    >>> Config(batch_size=0)
    Traceback (most recent call last):
    ...
    keras_hw2.errors.InputError: --batch-size must be an integer >= 1. Received: --batch-size=0
    """
    flags = flags or {}
    for field in fields(config):
        if field.name not in rules:
            raise TypeError(f"{type(config).__name__}.{field.name} has no validation rule")
        flag = flags.get(field.name, "--" + field.name.replace("_", "-"))
        rules[field.name].check(flag, getattr(config, field.name))


def _hparam_value(value):
    """A value the HParams plugin accepts: bool, int, float or str."""
    return value if isinstance(value, (bool, int, float, str)) else str(value)


def log_hparams(logdir, config: dict, trial_id: str) -> None:
    """Record `config` (``{name: value}``) as the HParams of the run whose TensorBoard logs are in `logdir`."""
    with tf.summary.create_file_writer(str(logdir)).as_default():
        hp.hparams({name: _hparam_value(value) for name, value in config.items()}, trial_id=trial_id)


def log_metrics(logdir, metrics: dict, step: int) -> None:
    """Write the finite numbers of `metrics` as scalars ``results/<name>`` (the HParams dashboard's metrics)."""
    with tf.summary.create_file_writer(str(logdir)).as_default():
        for name, value in metrics.items():
            if isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value):
                tf.summary.scalar(METRICS_PREFIX + name, value, step=step)
