"""Hyperparameters: the rules of the fields every training config shares, and their TensorBoard HParams record.

A task's config is a dataclass whose ``__post_init__`` calls
`keras_hw2.checks.validate` with `TRAINING_RULES` plus its own fields' rules,
so NaN, infinity and out-of-range values never reach training.

`log_hparams` writes a run's config to TensorBoard's HParams plugin
(`tensorboard.plugins.hparams.api`), `log_metrics` its final metrics next to
it, so ``tensorboard --logdir runs`` compares runs in the HParams dashboard.
"""
import math
import numbers

import tensorflow as tf
from tensorboard.plugins.hparams import api as hp

from keras_hw2.checks import Choice, Flag, Integer, Number, OrNone
from keras_hw2.distribute import STRATEGIES
from keras_hw2.schedules import SCHEDULES

METRICS_PREFIX = "results/"  # tag prefix of the final metrics written by `log_metrics`


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
    "lr_schedule": Choice(SCHEDULES),
    "warmup_epochs": Integer(minimum=0),
    "early_stopping": OrNone(Integer(minimum=1)),
}


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
