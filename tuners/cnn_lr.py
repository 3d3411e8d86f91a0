"""Learning-rate grid search for the CNN scene classifiers with keras-tuner.

`python -m tuners.cnn_lr [--model baseline] [--data PATH] [--learning-rates 0.1,0.01,0.001] [--epochs 10]`

One trial per learning rate (`LearningRateGridOracle`: keras-tuner's own
`GridSearch` oracle keeps its position in memory only, so it cannot continue a
partial search in a new process; this oracle derives the next lr from the
trials on disk), each a fresh model from the
same builder as ``python -m keras_hw2.cnn train`` (same seed, so the trials differ
only in lr); objective: the best validation accuracy over the epochs. Results go to
``<directory>/<project-name>/`` (default ``tuner_results/cnn_lr_<model>/``):
keras-tuner's trial files, ``tensorboard/<trial>/`` (one TensorBoard run per trial),
``val_accuracy_by_lr.png`` (all trials overlaid) and ``best_lr.json``, which
``train --lr best`` reads. Re-running the same command continues a partial search
(``overwrite=False``); finished trials are not re-run. keras-tuner's distributed
mode (``KERASTUNER_TUNER_ID``, ``KERASTUNER_ORACLE_IP``, ``KERASTUNER_ORACLE_PORT``)
works unchanged. The project directory is locked while a search uses it (by the
chief only in distributed mode, whose workers share it): a second search on it
is refused with the holder's pid. ``--lrs`` is a deprecated spelling of
``--learning-rates``, kept so older commands still run.
"""
import argparse
import contextlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

if __name__ == "__main__":  # run as a command: TensorFlow's environment before its first import
    from keras_hw2 import cli

    cli.set_tensorflow_environment()
    cli.start_tensorflow()

import keras  # noqa: E402
import keras_tuner  # noqa: E402

from keras_hw2.cli import run_main
from keras_hw2.cnn.data import ImageData, load_data, make_dataset
from keras_hw2.cnn.models import MODELS, build_model, compile_model
from keras_hw2.cnn.train import BEST_LR_FILE, TUNER_DIRECTORY, TrainConfig
from keras_hw2.devices import device_report
from keras_hw2.errors import InputError
from keras_hw2.checks import Choice, Each, Integer, Number, OptionalPath, OrNone, validate
from keras_hw2.locks import DirectoryLock
from keras_hw2.plots import plot_curves
from keras_hw2.runs import read_json, write_json
from keras_hw2.seeding import set_seed
from tuners.distributed import check_chief_reachable, is_worker

OBJECTIVE = "val_accuracy"


@dataclass
class SweepConfig:
    """One learning-rate search."""
    model: str = "baseline"  # "baseline" or "batchnorm"
    data: Optional[str] = None  # npz file or Kaggle folder; None: the synthetic demo set
    learning_rates: tuple = (0.1, 0.01, 0.001)  # the grid
    epochs: int = 10  # per trial
    batch_size: int = 8  # the homework's 8
    dropout: float = 0.1
    seed: int = 0  # every trial starts from the same initial weights and shuffling
    directory: str = TUNER_DIRECTORY
    project_name: Optional[str] = None  # default cnn_lr_<model>
    max_trials: Optional[int] = None  # stop after this many trials in total (a re-run does the rest)

    def __post_init__(self):
        validate(self, {"model": Choice(tuple(MODELS)), "data": OptionalPath(),
                        "learning_rates": Each(Number(low=0, low_open=True)), "epochs": Integer(minimum=1),
                        "batch_size": Integer(minimum=1), "dropout": Number(low=0, high=1, high_open=True),
                        "seed": Integer(minimum=0), "directory": OptionalPath(), "project_name": OptionalPath(),
                        "max_trials": OrNone(Integer(minimum=1))})
        self.project_name = self.project_name or f"cnn_lr_{self.model}"

    @property
    def project_dir(self) -> Path:
        return Path(self.directory) / self.project_name


class LearningRateGridOracle(keras_tuner.Oracle):
    """Tries each learning rate of a grid once, in the given order.

    Its only state is the trials themselves (saved by keras-tuner, one file each),
    so a re-run, or another worker in keras-tuner's distributed mode, continues
    with the first lr that no trial has taken yet.
    """

    def __init__(self, learning_rates, **kwargs):
        super().__init__(**kwargs)
        self.learning_rates = list(learning_rates)

    def populate_space(self, trial_id):
        taken = {trial.hyperparameters.values.get("lr") for trial in self.trials.values()}
        remaining = [lr for lr in self.learning_rates if lr not in taken]
        if remaining:
            return {"status": keras_tuner.engine.trial.TrialStatus.RUNNING, "values": {"lr": remaining[0]}}
        if self.ongoing_trials:
            return {"status": keras_tuner.engine.trial.TrialStatus.IDLE, "values": None}
        return {"status": keras_tuner.engine.trial.TrialStatus.STOPPED, "values": None}


class LearningRateHyperModel(keras_tuner.HyperModel):
    """`build_model` + `compile_model` with the learning rate drawn from a grid."""

    def __init__(self, config: SweepConfig):
        super().__init__(name=config.project_name)
        self.config = config

    def build(self, hp):
        lr = hp.Choice("lr", list(self.config.learning_rates))
        set_seed(self.config.seed)
        model = build_model(batch_norm=MODELS[self.config.model], dropout=self.config.dropout)
        return compile_model(model, lr, jit_compile=TrainConfig().jit_compile)


class LearningRateTuner(keras_tuner.Tuner):
    """keras-tuner's `Tuner`, also keeping each trial's per-epoch history (``trial_<id>/history.json``).

    keras-tuner records only the best epoch of a trial; the overlay plot needs them all.
    """

    def run_trial(self, trial, *args, **kwargs):
        histories = super().run_trial(trial, *args, **kwargs)
        write_json(Path(self.get_trial_dir(trial.trial_id)) / "history.json", histories[-1].history)
        return histories


def search_learning_rate(config: SweepConfig, data: ImageData) -> Optional[dict]:
    """Run (or continue) the grid search; returns the summary also written to best_lr.json.

    In keras-tuner's distributed mode only the chief (which serves the oracle and
    returns when every trial is done) writes the summary; a worker returns None.

    Returns:
        ``{"lr", "val_accuracy", "trial_id", "model", "epochs", "trials": [...]}`` where
        each trial is ``{"trial_id", "lr", "status", "best_val_accuracy", "val_accuracy": [per epoch]}``.
    """
    check_chief_reachable()
    with contextlib.nullcontext() if is_worker() else DirectoryLock(config.project_dir, what="tuner"):
        oracle = LearningRateGridOracle(config.learning_rates, objective=keras_tuner.Objective(OBJECTIVE, "max"),
                                        max_trials=config.max_trials or len(config.learning_rates), seed=config.seed)
        tuner = LearningRateTuner(oracle, LearningRateHyperModel(config), directory=config.directory,
                                  project_name=config.project_name, overwrite=False)
        (train_images, train_labels), (val_images, val_labels) = data.splits["train"], data.splits["val"]
        tuner.search(make_dataset(train_images, train_labels, config.batch_size, shuffle=True, seed=config.seed),
                     validation_data=make_dataset(val_images, val_labels, config.batch_size),
                     epochs=config.epochs, shuffle=False, verbose=2,
                     callbacks=[keras.callbacks.TensorBoard(log_dir=str(config.project_dir / "tensorboard"))])
        return None if is_worker() else summarize(tuner, config)


def summarize(tuner: keras_tuner.Tuner, config: SweepConfig) -> dict:
    """Summary of every trial so far, the overlay plot and best_lr.json."""
    trials = []
    for trial in sorted(tuner.oracle.trials.values(), key=lambda t: int(t.trial_id)):
        history_file = Path(tuner.get_trial_dir(trial.trial_id)) / "history.json"
        history = read_json(history_file).get(OBJECTIVE, []) if history_file.exists() else []
        best = trial.metrics.get_best_value(OBJECTIVE) if trial.metrics.exists(OBJECTIVE) else None
        trials.append({"trial_id": trial.trial_id, "lr": trial.hyperparameters.get("lr"), "status": trial.status,
                       "best_val_accuracy": None if best is None else float(best), "val_accuracy": history})
    finished = [t for t in trials if t["best_val_accuracy"] is not None]
    if not finished:
        raise RuntimeError(f"no finished trial in {config.project_dir}")
    best = max(finished, key=lambda t: t["best_val_accuracy"])
    plot_curves({f"lr={t['lr']:g}": t["val_accuracy"] for t in finished}, config.project_dir / "val_accuracy_by_lr.png",
                ylabel="validation accuracy", title=f"{config.model}: learning-rate search")
    summary = {"lr": best["lr"], "val_accuracy": best["best_val_accuracy"], "trial_id": best["trial_id"],
               "model": config.model, "epochs": config.epochs, "trials": trials}
    write_json(config.project_dir / BEST_LR_FILE, summary)
    return summary


def format_table(summary: dict) -> str:
    """The trials as a text table, best first."""
    rows = sorted(summary["trials"], key=lambda t: -(t["best_val_accuracy"] or -1))
    lines = [f"{'trial':<6} {'lr':>8} {'best val acc':>12} {'epochs':>6}  status"]
    for t in rows:
        accuracy = f"{t['best_val_accuracy']:.4f}" if t["best_val_accuracy"] is not None else "-"
        lines.append(f"{t['trial_id']:<6} {t['lr']:>8g} {accuracy:>12} {len(t['val_accuracy']):>6}  {t['status']}")
    return "\n".join(lines)


def _parse_learning_rates(text: str) -> tuple:
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise InputError("--learning-rates must be comma-separated numbers, e.g. 0.1,0.01,0.001. "
                         f"Received: --learning-rates={text!r}") from None


def main(argv=None) -> int:
    defaults = SweepConfig()
    parser = argparse.ArgumentParser(prog="python -m tuners.cnn_lr", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=MODELS, default=defaults.model)
    parser.add_argument("--data", default=None, help="homework .npz or Kaggle folder (default: synthetic demo images)")
    parser.add_argument("--learning-rates", default=",".join(f"{lr:g}" for lr in defaults.learning_rates),
                        help="the grid (default 0.1,0.01,0.001)")
    parser.add_argument("--lrs", dest="learning_rates", help=argparse.SUPPRESS)  # deprecated spelling
    parser.add_argument("--epochs", type=int, default=defaults.epochs, help="epochs per trial (default 10)")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--dropout", type=float, default=defaults.dropout)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--directory", default=defaults.directory, help="keras-tuner directory (default tuner_results/)")
    parser.add_argument("--project-name", default=None, help="default cnn_lr_<model>")
    parser.add_argument("--max-trials", type=int, default=None,
                        help="stop after this many trials in total; re-running without it does the rest")
    args = parser.parse_args(argv)
    config = SweepConfig(model=args.model, data=args.data, learning_rates=_parse_learning_rates(args.learning_rates),
                         epochs=args.epochs, batch_size=args.batch_size, dropout=args.dropout, seed=args.seed,
                         directory=args.directory, project_name=args.project_name, max_trials=args.max_trials)
    data = load_data(config.data, seed=config.seed)
    print(device_report(jit_compile=TrainConfig().jit_compile))
    print(data.describe())
    summary = search_learning_rate(config, data)
    if summary is None:
        print(f"worker {os.environ.get('KERASTUNER_TUNER_ID')}: no trials left; the chief writes the summary")
        return 0
    print(format_table(summary))
    print(f"best lr {summary['lr']:g} (val accuracy {summary['val_accuracy']:.4f}); written to "
          f"{config.project_dir / BEST_LR_FILE}; overlay plot {config.project_dir / 'val_accuracy_by_lr.png'}; "
          f"tensorboard --logdir {config.project_dir / 'tensorboard'}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
