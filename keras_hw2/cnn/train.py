"""Training one CNN: `TrainConfig` → run directory with history, plots, best weights and test metrics.

`train_and_evaluate(config, data, run)`:
1. builds the model and its SGD optimizer inside the `tf.distribute` strategy's scope;
2. fits it with `Run.callbacks()` (TensorBoard, history.json, BackupAndRestore, so a
   killed run continues when re-run with the same run name) and a checkpoint that
   keeps the weights of the epoch with the best validation accuracy;
3. reloads those best weights, saves them as ``best.keras`` (what ``export`` reads),
   plots the training loss and the validation accuracy per epoch and, when the
   data has a test split, writes test accuracy, per-class accuracy and a
   confusion-matrix PNG; everything also goes to ``results.json``.
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import keras
import numpy as np

from keras_hw2.cnn.data import CLASS_NAMES, ImageData, make_dataset
from keras_hw2.cnn.evaluation import classification_report, plot_confusion_matrix
from keras_hw2.cnn.models import MODELS, build_model, compile_model
from keras_hw2.distribute import STRATEGIES, get_strategy
from keras_hw2.errors import InputError
from keras_hw2.plots import plot_curves
from keras_hw2.runs import CHECKPOINT_FILE, Run, read_json, write_json
from keras_hw2.seeding import set_seed

TASK = "cnn"  # runs/cnn/<name>/
DEMO_EPOCHS = 10  # epochs on the synthetic demo data when --epochs is not given
TUNER_DIRECTORY = "tuner_results"  # default keras-tuner directory (git-ignored)
BEST_LR_FILE = "best_lr.json"
BEST_WEIGHTS_FILE = "best.weights.h5"
RESULTS_FILE = "results.json"


@dataclass
class TrainConfig:
    """Everything that defines a training run; written to the run's config.json."""
    model: str = "baseline"  # "baseline" or "batchnorm"
    data: Optional[str] = None  # npz file or Kaggle folder; None: the synthetic demo set
    epochs: int = 40  # the homework's 40
    batch_size: int = 8  # global batch size (split across replicas), the homework's 8
    lr: float = 0.01  # plain SGD learning rate
    dropout: float = 0.1  # the homework's 0.1
    seed: int = 0  # weights, dropout and shuffling
    deterministic: bool = False  # also make TensorFlow ops deterministic
    val_fraction: float = 0.1  # validation share of seg_train (folder data only)
    strategy: str = "default"  # tf.distribute strategy (keras_hw2.distribute)
    jit_compile: bool = False  # XLA: 4-8x slower to train on 2 CPU cores (tools/bench_cnn.py)
    steps_per_execution: int = 1  # batches per graph call; same results; 16 was not faster at batch 8 (tools/bench_cnn.py)

    def __post_init__(self):
        if self.model not in MODELS:
            raise InputError(f"unknown model {self.model!r}; choose one of {', '.join(MODELS)}")
        if self.strategy not in STRATEGIES:
            raise InputError(f"unknown strategy {self.strategy!r}; choose one of {', '.join(STRATEGIES)}")
        for name in ("epochs", "batch_size", "steps_per_execution"):
            if getattr(self, name) < 1:
                raise InputError(f"--{name.replace('_', '-')} must be at least 1. Received: {getattr(self, name)}")
        if not self.lr > 0:
            raise InputError(f"--lr must be positive. Received: {self.lr}")
        if not 0 <= self.dropout < 1:
            raise InputError(f"--dropout must be in [0, 1). Received: {self.dropout}")


def best_lr_path(model: str, directory=TUNER_DIRECTORY) -> Path:
    """Where `python -m tuners.cnn_lr --model <model>` writes its best lr by default."""
    return Path(directory) / f"cnn_lr_{model}" / BEST_LR_FILE


def resolve_lr(value: str, model: str) -> float:
    """Turn ``--lr`` into a number: a float, ``best`` (the tuner's default file) or a best-lr JSON path."""
    try:
        return float(value)
    except ValueError:
        pass
    path = best_lr_path(model) if value == "best" else Path(value)
    if not path.is_file():
        hint = f"; run `python -m tuners.cnn_lr --model {model}` first" if value == "best" else ""
        raise InputError(f"{path}: no best-lr file (--lr {value}){hint}")
    lr = read_json(path).get("lr")
    if not isinstance(lr, (int, float)) or not lr > 0:
        raise InputError(f"{path}: holds no positive 'lr' entry")
    return float(lr)


def train_and_evaluate(config: TrainConfig, data: ImageData, run: Run) -> dict:
    """Train `config.model` on `data` into `run` (see the module docstring); returns the results dict.

    A run whose results.json already exists is finished: its results are returned unchanged.
    """
    if run.resumed and run.file(RESULTS_FILE).exists():
        return read_json(run.file(RESULTS_FILE))
    set_seed(config.seed, config.deterministic)
    (train_images, train_labels), (val_images, val_labels) = data.splits["train"], data.splits["val"]
    train_ds = make_dataset(train_images, train_labels, config.batch_size, shuffle=True, seed=config.seed)
    val_ds = make_dataset(val_images, val_labels, config.batch_size)
    strategy = get_strategy(config.strategy)
    # Keras 3 fails with steps_per_execution > 1 over several replicas (keras-team/keras#19246);
    # one step per call gives the same results.
    steps_per_execution = config.steps_per_execution if strategy.num_replicas_in_sync == 1 else 1
    with strategy.scope():
        model = build_model(batch_norm=MODELS[config.model], dropout=config.dropout)
        compile_model(model, config.lr, jit_compile=config.jit_compile, steps_per_execution=steps_per_execution)
    model.fit(train_ds, validation_data=val_ds, epochs=config.epochs, shuffle=False, verbose=2,  # ds shuffles
              callbacks=[_best_weights_checkpoint(run), *run.callbacks()])
    model.load_weights(run.file(BEST_WEIGHTS_FILE))
    model.save(run.file(CHECKPOINT_FILE))
    return _report(model, config, data, run)


def _best_weights_checkpoint(run: Run) -> keras.callbacks.ModelCheckpoint:
    """Keeps the best-validation-accuracy weights; a resumed run starts from its best so far."""
    path = run.file(BEST_WEIGHTS_FILE)
    seen = [v for v in run.history.get("val_accuracy", []) if v is not None]
    return keras.callbacks.ModelCheckpoint(
        str(path), monitor="val_accuracy", mode="max", save_best_only=True, save_weights_only=True,
        initial_value_threshold=max(seen) if seen and path.exists() else None)


def _report(model: keras.Model, config: TrainConfig, data: ImageData, run: Run) -> dict:
    """Plots, best-epoch figures and test metrics; writes results.json."""
    history = run.history
    plot_curves({"training loss": history["loss"]}, run.file("training_loss.png"),
                ylabel="NLL loss", title=f"{config.model}: training loss")
    plot_curves({"validation accuracy": history["val_accuracy"]}, run.file("validation_accuracy.png"),
                ylabel="accuracy", title=f"{config.model}: validation accuracy")
    best = int(np.argmax(history["val_accuracy"]))
    results = {"model": config.model, "epochs": len(history["epoch"]), "best_epoch": best + 1,
               "best_val_accuracy": history["val_accuracy"][best]}
    if "test" in data.splits:
        images, labels = data.splits["test"]
        log_probabilities = model.predict(make_dataset(images, labels, config.batch_size), verbose=0)
        results["test"] = classification_report(labels, log_probabilities.argmax(axis=1), CLASS_NAMES)
        plot_confusion_matrix(results["test"]["confusion_matrix"], CLASS_NAMES, run.file("confusion_matrix.png"),
                              title=f"{config.model}: test confusion matrix")
    write_json(run.file(RESULTS_FILE), results)
    return results


def load_trained_model(run_dir) -> keras.Model:
    """The best-weights model that `train_and_evaluate` saved in `run_dir`."""
    path = Path(run_dir) / CHECKPOINT_FILE
    if not path.is_file():
        raise InputError(f"{path}: no trained model here; pass a finished run directory (runs/{TASK}/<name>)")
    return keras.saving.load_model(path)
