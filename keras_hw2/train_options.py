"""The opt-in training flags both ``train`` commands share (issue 23); building them imports no TensorFlow.

``--lr-schedule {constant,cosine,step}``, ``--warmup-epochs N``
(`keras_hw2.schedules`), ``--early-stopping PATIENCE`` (`keras_hw2.training`)
and, for the CNN, ``--augment`` (`keras_hw2.cnn.augmentation`). Left out, each
takes its config's default, the homework's recipe, and the run's config.json is
what it was before the flag existed (`keras_hw2.runs.opt_in`).
"""
import argparse

from keras_hw2.checks import received
from keras_hw2.errors import InputError

NAMES = ("lr_schedule", "warmup_epochs", "early_stopping")


def add_arguments(parser: argparse.ArgumentParser, monitor: str, augment: bool) -> None:
    """Add the flags to a ``train`` parser; `monitor` names the validation metric early stopping watches;
    `augment` offers ``--augment`` (the P2G parser takes it only to refuse it)."""
    parser.add_argument("--lr-schedule", metavar="{constant,cosine,step}", help="learning rate per batch: constant (the homework), cosine (to 0 at "
                                              "the last step) or step (x0.1 at 1/2 and 3/4 of --epochs) "
                                              "(default constant)")
    parser.add_argument("--warmup-epochs", type=int, metavar="N", help="epochs of linear warm-up from 0 to --learning-rate, "
                                                          "fewer than --epochs (default 0)")
    parser.add_argument("--early-stopping", type=int, metavar="PATIENCE",
                        help=f"stop once {monitor} has not improved for PATIENCE epochs (default: off)")
    parser.add_argument("--augment", action="store_true",
                        help="randomly flip, translate, zoom and change the contrast of the training images "
                             "(never validation, evaluation or export; default off)" if augment else argparse.SUPPRESS)


def options(args, augment: bool) -> dict:
    """The config fields the flags of `args` set (those given); ``--augment`` where `augment` is False is an
    `InputError`."""
    if args.augment and not augment:
        raise InputError(f"--augment is for the CNN's images; the P2G task has no augmentation. "
                         f"{received('--augment', True)}")
    chosen = {name: getattr(args, name) for name in NAMES if getattr(args, name) is not None}
    return {**chosen, "augment": True} if args.augment else chosen
