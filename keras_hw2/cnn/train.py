"""Training one CNN: `TrainConfig` → run directory with history, plots, best model and its confusion matrix.

`make_task(config, data)` hands the engine (`keras_hw2.training`) what is
particular to the scene classifiers, and `train_and_evaluate(config, run, data=None)`
trains it: the model (`build_model` +
`compile_model`, plain SGD), the NLL loss and per-example accuracy, the image
datasets, the monitored ``val_accuracy``, and the plots of training against
validation loss (loss.png) and accuracy (accuracy.png; training figures are
those of the trained weights with dropout on, validation ones of the weights
validated). Once trained, ``best.keras`` (the epoch with the
best validation accuracy) is evaluated on the test split when the data has
one, else on the validation split: accuracy, per-class accuracy and a
confusion-matrix PNG, all in ``results.json``.

With ``weight_averaging`` (the default) training is still plain SGD, but what
is validated every epoch, saved as ``best.keras`` and reported is the
exponential moving average of the SGD weights that the optimizer keeps
(`keras_hw2.cnn.models.averaged_weights`) over about the last epoch
(`keras_hw2.cnn.models.epoch_average_momentum`), with
its BatchNorm statistics recomputed for it over a fixed sample of 500
training images (`keras_hw2.cnn.batchnorm.PreciseBatchNorm`). Why: issue 15,
the measurements are in docs/cnn-weight-averaging.md.
"""
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import keras
import tensorflow as tf

from keras_hw2 import training
from keras_hw2.cnn import data as image_data
from keras_hw2.cnn.batchnorm import PreciseBatchNorm
from keras_hw2.cnn.data import CLASS_NAMES, ImageData, make_dataset
from keras_hw2.cnn.evaluation import classification_report, plot_confusion_matrix
from keras_hw2.cnn.models import (MODELS, averaged_weights, build_model, compile_model, epoch_average_momentum,
                                  nll_loss)
from keras_hw2.errors import InputError
from keras_hw2.checks import Choice, Flag, Number, OptionalPath, validate
from keras_hw2.hparams import TRAINING_RULES
from keras_hw2.presets import finetune
from keras_hw2.runs import CHECKPOINT_FILE, Run, opt_in, read_json
from keras_hw2.schedules import check_schedule, learning_rate

TASK = "cnn"  # runs/cnn/<name>/
DEMO_EPOCHS = 10  # epochs on the synthetic demo data when --epochs is not given
TUNER_DIRECTORY = "tuner_results"  # default keras-tuner directory (git-ignored)
BEST_LR_FILE = "best_lr.json"


@dataclass
class TrainConfig:
    """Everything that defines a training run; written to the run's config.json."""
    model: str = "baseline"  # "baseline" or "batchnorm"
    data: Optional[str] = None  # npz file or Kaggle folder; None: the synthetic demo set
    epochs: int = 40  # the homework's 40
    batch_size: int = 8  # global batch size (split across replicas), the homework's 8
    learning_rate: float = 0.01  # plain SGD learning rate
    dropout: float = 0.1  # the homework's 0.1
    seed: int = 0  # weights, dropout and shuffling
    deterministic: bool = False  # also make TensorFlow ops deterministic
    val_fraction: float = 0.1  # validation share of seg_train (folder data only)
    strategy: str = "default"  # tf.distribute strategy (keras_hw2.distribute)
    jit_compile: bool = False  # XLA: about 6x slower to train on 2 CPU cores (docs/performance.md)
    weight_averaging: bool = True  # validate and keep the SGD weights' moving average (issue 15); False: as trained
    # Opt-in options (issues 21, 23), left out of config.json at their defaults:
    augment: bool = opt_in(False)  # random flip, translation, zoom and contrast of the training batches
    lr_schedule: str = opt_in("constant")  # keras_hw2.schedules: constant, cosine or step
    warmup_epochs: int = opt_in(0)  # linear learning-rate warm-up
    early_stopping: Optional[int] = opt_in(None)  # patience in epochs on val_accuracy; None: train every epoch
    init_from: Optional[str] = opt_in(None)  # a preset or run whose weights start it (`keras_hw2.presets.finetune`)

    def __post_init__(self):
        validate(self, {**TRAINING_RULES, "model": Choice(tuple(MODELS)), "data": OptionalPath(),
                        "val_fraction": Number(low=0, high=1, low_open=True, high_open=True),
                        "weight_averaging": Flag(), "augment": Flag(), "init_from": OptionalPath()})
        check_schedule(self)


def best_lr_path(model: str, directory=TUNER_DIRECTORY) -> Path:
    """Where `python -m tuners.cnn_lr --model <model>` writes its best lr by default."""
    return Path(directory) / f"cnn_lr_{model}" / BEST_LR_FILE


def resolve_lr(value: str, model: str) -> float:
    """Turn ``--learning-rate`` into a number: a float, ``best`` (the tuner's default file) or a best-lr JSON path.

    A best-lr file holds ``"learning_rate"``; files written before it was so named hold ``"lr"``.
    """
    try:
        return float(value)
    except ValueError:
        pass
    path = best_lr_path(model) if value == "best" else Path(value)
    if not path.is_file():
        hint = f"; run `python -m tuners.cnn_lr --model {model}` first" if value == "best" else ""
        raise InputError(f"{path}: no best-lr file (--learning-rate {value}){hint}")
    stored = read_json(path)
    lr = stored.get("learning_rate", stored.get("lr")) if isinstance(stored, dict) else None
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
        raise InputError(f"{path}: holds no positive 'learning_rate' entry. Received: {lr!r}")
    return float(lr)


def load_data(config: TrainConfig, follow_links: bool = False) -> ImageData:
    """The images `config.data` names, validated (`keras_hw2.cnn.data.load_data`, with `follow_links`)."""
    return image_data.load_data(config.data, seed=config.seed, val_fraction=config.val_fraction,
                                follow_links=follow_links)


def accuracy(labels, log_probabilities):
    """Per-example accuracy ``(batch_size,)``: 1.0 where the most probable class is the label."""
    return tf.cast(tf.equal(tf.argmax(log_probabilities, axis=-1), tf.cast(labels, tf.int64)), tf.float32)


def make_task(config: TrainConfig, data: ImageData) -> training.Task:
    """What the engine trains for `config` on `data`: the task ``train``, the tuner's trials and the benchmarks run.

    Args:
        config: the run's configuration.
        data: the images: its "train" split is trained on, "val" validates each
            epoch, and ``best.keras`` is scored on "test" (else "val") once trained.

    Returns:
        The `keras_hw2.training.Task`: the model (`build_model` + `compile_model`,
        plain SGD keeping the weights' moving average with ``weight_averaging``),
        the NLL loss and per-example accuracy, the batches of ``config.batch_size``
        images, ``val_accuracy`` monitored, the plots and the final report.
    """
    (train_images, train_labels), (val_images, val_labels) = data.splits["train"], data.splits["val"]
    split = "test" if "test" in data.splits else "val"

    def report(run, history, best):
        eval_images, eval_labels = data.splits[split]
        model = keras.saving.load_model(run.file(CHECKPOINT_FILE))
        predictions = model.predict(make_dataset(eval_images, eval_labels, config.batch_size), verbose=0)
        name = "test" if split == "test" else "validation"
        evaluation = classification_report(eval_labels, predictions.argmax(axis=1), CLASS_NAMES)
        plot_confusion_matrix(evaluation["confusion_matrix"], CLASS_NAMES, run.file("confusion_matrix.png"),
                              title=f"{config.model}: {name} confusion matrix (best epoch {best + 1})")
        return {"model": config.model, "best_val_accuracy": history["val_accuracy"][best], name: evaluation}

    batch_norm = MODELS[config.model]
    steps_per_epoch = math.ceil(len(train_labels) / config.batch_size)
    ema_momentum = epoch_average_momentum(steps_per_epoch) if config.weight_averaging else None
    lr = learning_rate(config.learning_rate, config.lr_schedule, config.warmup_epochs, config.epochs, steps_per_epoch)
    return training.Task(
        build_model=lambda: compile_model(
            finetune.initialize(build_model(batch_norm=batch_norm, dropout=config.dropout), config.init_from, TASK),
            lr, ema_momentum=ema_momentum),
        loss=nll_loss, metrics={"accuracy": accuracy},
        train_data=lambda seed: make_dataset(train_images, train_labels, config.batch_size, shuffle=True, seed=seed,
                                             augment=config.augment),
        validation_data=make_dataset(val_images, val_labels, config.batch_size),
        monitor="val_accuracy", mode="max", title=config.model, report=report,
        evaluation_weights=averaged_weights,
        callbacks=lambda model: [PreciseBatchNorm(train_images, seed=config.seed)]
        if config.weight_averaging and batch_norm else [],
        plots={"loss.png": (["loss", "val_loss"], "NLL loss"),
               "accuracy.png": (["accuracy", "val_accuracy"], "accuracy")})


def train_and_evaluate(config: TrainConfig, run: Run, data: Optional[ImageData] = None, verbose="auto") -> dict:
    """Train `config.model` into `run` (`make_task` through `keras_hw2.training.train`); returns the results dict.

    Args:
        config: the run's configuration.
        run: the open run directory (`keras_hw2.runs.open_run`).
        data: the loaded images; None loads `config.data` (not for a finished run).
        verbose: "auto", 0, 1 or 2, as in Keras.

    Returns:
        ``{"status", "epochs", "best_epoch", "best_val_accuracy", "model"}``
        and ``"test"`` (or ``"validation"`` without a test split): accuracy,
        per-class accuracy and confusion matrix of ``best.keras``.
    """
    return training.train(config, run, lambda: make_task(config, load_data(config) if data is None else data), verbose)
