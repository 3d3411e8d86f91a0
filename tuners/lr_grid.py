"""The CNN learning-rate grid search: keras-tuner's oracle, each trial an ordinary training run.

keras-tuner chooses the trials (`LearningRateGridOracle`: one per learning
rate of the grid), keeps their state in ``<directory>/<project-name>/`` and
runs them in its distributed mode (chief and workers) unchanged. Each trial
is trained by `RunTrialTuner.run_trial` exactly as ``python -m keras_hw2.cnn
train`` trains (`keras_hw2.cnn.train.train_and_evaluate`, the same
`keras_hw2.cnn.train.make_task`, seed and data) into the run directory
``<runs-dir>/tuner/<project-name>/trial-<n>/``, numbered from 1 as keras-tuner
prints ``Running Trial #<n>``: ``config.json``, ``history.json``, ``best.keras``,
``results.json`` and TensorBoard logs, which ``cnn evaluate/predict/export``
and ``tensorboard --logdir runs`` read like any run's. The objective is the
run's best validation accuracy. A trial killed mid-way resumes from its last
finished epoch when keras-tuner retries it; a finished search trains nothing.
`summarize` writes ``best_lr.json`` (read by ``train --learning-rate best``) and
``val_accuracy_by_lr.png`` into the keras-tuner project directory.
"""
import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import keras_tuner

from keras_hw2.checks import Choice, Each, Integer, Number, OptionalPath, OrNone, validate
from keras_hw2.cnn import train as cnn_train
from keras_hw2.cnn.data import ImageData
from keras_hw2.cnn.models import MODELS
from keras_hw2.errors import InputError, TrainingError
from keras_hw2.hparams import TRAINING_RULES
from keras_hw2.locks import DirectoryLock
from keras_hw2.plots import plot_curves
from keras_hw2.runs import HISTORY_FILE, open_run, read_json, write_json
from tuners.distributed import check_chief_reachable, is_worker

OBJECTIVE = "val_accuracy"
HYPERPARAMETER = "learning_rate"  # the trials' one hyperparameter
RUNS_TASK = "tuner"  # trial runs: <runs-dir>/tuner/<project-name>/trial-<n>/


@dataclass
class SweepConfig:
    """One learning-rate search; every trial trains `train_config(learning_rate)`."""
    model: str = "baseline"  # "baseline" or "batchnorm"
    data: Optional[str] = None  # npz file or Kaggle folder; None: the synthetic demo set
    learning_rates: tuple = (0.1, 0.01, 0.001)  # the grid
    epochs: int = 10  # per trial
    batch_size: int = 8  # the homework's 8
    dropout: float = 0.1
    seed: int = 0  # every trial starts from the same initial weights and shuffling
    directory: str = cnn_train.TUNER_DIRECTORY  # keras-tuner's state
    project_name: Optional[str] = None  # default cnn_lr_<model>
    max_trials: Optional[int] = None  # stop after this many trials in total (a re-run does the rest)
    runs_dir: str = "runs"  # the trials' run directories go under <runs_dir>/tuner/<project_name>/

    def __post_init__(self):
        validate(self, {"model": Choice(tuple(MODELS)), "data": OptionalPath(),
                        "learning_rates": Each(Number(low=0, low_open=True)), "epochs": TRAINING_RULES["epochs"],
                        "batch_size": TRAINING_RULES["batch_size"], "dropout": TRAINING_RULES["dropout"],
                        "seed": TRAINING_RULES["seed"], "directory": OptionalPath(), "project_name": OptionalPath(),
                        "max_trials": OrNone(Integer(minimum=1)), "runs_dir": OptionalPath()})
        self.project_name = self.project_name or f"cnn_lr_{self.model}"

    @property
    def project_dir(self) -> Path:
        """keras-tuner's project directory; also holds best_lr.json and the overlay plot."""
        return Path(self.directory) / self.project_name

    @property
    def runs_task(self) -> str:
        """The `keras_hw2.runs.open_run` task of the trials' runs, under `runs_dir`."""
        return f"{RUNS_TASK}/{self.project_name}"

    def train_config(self, learning_rate: float) -> cnn_train.TrainConfig:
        """The training run of one trial: what ``cnn train`` runs with these flags and ``--learning-rate``."""
        return cnn_train.TrainConfig(model=self.model, data=self.data, epochs=self.epochs,
                                     batch_size=self.batch_size, learning_rate=learning_rate, dropout=self.dropout,
                                     seed=self.seed)

    def trial_run_path(self, trial_id: str) -> Path:
        """The run directory of keras-tuner's trial `trial_id`."""
        return Path(self.runs_dir) / self.runs_task / trial_run_name(trial_id)


def trial_number(trial_id: str) -> int:
    """keras-tuner's ``Running Trial #<n>`` number of a trial: its id ("0", "00", ...) plus one.

    Example:
    >>> trial_number("0"), trial_number("09")
    (1, 10)
    """
    return int(trial_id) + 1


def trial_run_name(trial_id: str) -> str:
    """``trial-<n>``, the run name of a trial (`trial_number`)."""
    return f"trial-{trial_number(trial_id)}"


class LearningRateGridOracle(keras_tuner.Oracle):
    """Tries each learning rate of a grid once, in the given order.

    Its only state is the trials themselves (saved by keras-tuner, one file each),
    so a re-run, or another worker in keras-tuner's distributed mode, continues
    with the first learning rate that no trial has taken yet. (keras-tuner's own
    `GridSearch` keeps its position in memory only.)
    """

    def __init__(self, learning_rates, **kwargs):
        space = keras_tuner.HyperParameters()
        space.Choice(HYPERPARAMETER, list(learning_rates))
        super().__init__(hyperparameters=space, **kwargs)
        self.learning_rates = list(learning_rates)

    def populate_space(self, trial_id):
        taken = {trial.hyperparameters.values.get(HYPERPARAMETER) for trial in self.trials.values()}
        remaining = [lr for lr in self.learning_rates if lr not in taken]
        if remaining:
            return {"status": keras_tuner.engine.trial.TrialStatus.RUNNING, "values": {HYPERPARAMETER: remaining[0]}}
        if self.ongoing_trials:
            return {"status": keras_tuner.engine.trial.TrialStatus.IDLE, "values": None}
        return {"status": keras_tuner.engine.trial.TrialStatus.STOPPED, "values": None}


class TrialInputError(InputError, keras_tuner.errors.FatalError):
    """Bad input met inside a trial (e.g. a trial's run directory holding another configuration): keras-tuner
    stops the search instead of recording a failed trial, and the command exits with status 2."""


class RunTrialTuner(keras_tuner.Tuner):
    """keras-tuner's `Tuner` whose trials are training runs of the engine (`run_trial`)."""

    def __init__(self, oracle, sweep: SweepConfig, **kwargs):
        super().__init__(oracle, directory=sweep.directory, project_name=sweep.project_name, **kwargs)
        self.sweep = sweep

    def run_trial(self, trial, data: ImageData, verbose="auto"):
        """Train the trial's learning rate into its run directory; returns ``{"val_accuracy": best}``.

        A run that failed (a non-finite loss) is a failed trial (keras-tuner's `FailedTrialError`).
        """
        config = self.sweep.train_config(trial.hyperparameters.get(HYPERPARAMETER))
        try:
            with open_run(self.sweep.runs_task, config, name=trial_run_name(trial.trial_id),
                          root=self.sweep.runs_dir) as run:
                print(run.describe(), flush=True)
                results = cnn_train.train_and_evaluate(config, run, data, verbose=verbose)
        except TrainingError as e:
            raise keras_tuner.errors.FailedTrialError(str(e)) from None
        except InputError as e:
            raise TrialInputError(str(e)) from None
        return {OBJECTIVE: results["best_val_accuracy"]}


def search_learning_rate(config: SweepConfig, data: ImageData, verbose="auto") -> Optional[dict]:
    """Run (or continue) the grid search; returns the summary also written to best_lr.json.

    In keras-tuner's distributed mode only the chief (which serves the oracle and
    returns when every trial is done) writes the summary; a worker returns None.

    Args:
        config: the search.
        data: the images every trial trains on (``cnn_train.load_data`` of ``config.train_config(...)``).
        verbose: the trials' progress output, as in Keras ("auto", 0, 1, 2).

    Returns:
        ``{"learning_rate", "val_accuracy", "trial", "trial_id", "run", "model", "epochs", "trials": [...]}``
        (the best trial's), each trial being ``{"trial", "trial_id", "learning_rate", "status",
        "best_val_accuracy", "val_accuracy": [per epoch], "run"}``.

    Raises:
        InputError: the project directory is in use, or was made by an older version (trials without a
            ``learning_rate``), or a trial's run directory holds another configuration.
    """
    check_chief_reachable()
    with contextlib.nullcontext() if is_worker() else DirectoryLock(config.project_dir, what="tuner"):
        if not is_worker():
            drop_unstarted_trials(config.project_dir)
        oracle = LearningRateGridOracle(config.learning_rates, objective=keras_tuner.Objective(OBJECTIVE, "max"),
                                        max_trials=config.max_trials or len(config.learning_rates), seed=config.seed)
        tuner = RunTrialTuner(oracle, config, overwrite=False)
        if not is_worker():  # a worker's oracle is the chief's, over gRPC
            check_trials(tuner, config)
        tuner.search(data, verbose=verbose)
        return None if is_worker() else summarize(tuner, config)


def drop_unstarted_trials(project_dir: Path) -> list:
    """Remove the trial directories of `project_dir` that keras-tuner wrote but never recorded as started.

    keras-tuner starts a trial by writing ``trial_<id>/trial.json``, then ``oracle.json``, whose
    ``start_order`` lists it. A search killed between the two writes (or while trial.json is written) leaves
    a trial that reloading would keep "running" for ever and never run; it has not begun (its run directory
    is made later), so removing its directory makes the search start it again, as an uninterrupted search
    does. Returns the ids removed.

    Raises:
        InputError: ``oracle.json`` cannot be read (the message names it).
    """
    project_dir = Path(project_dir)
    oracle = project_dir / "oracle.json"
    started = set(read_json(oracle).get("start_order", [])) if oracle.is_file() else set()
    dropped = [path for path in sorted(project_dir.glob("trial_*")) if path.name[len("trial_"):] not in started]
    for path in dropped:
        shutil.rmtree(path)
    return [path.name[len("trial_"):] for path in dropped]


def check_trials(tuner: keras_tuner.Tuner, config: SweepConfig) -> None:
    """Refuse a project whose trials have no ``learning_rate`` (an older search, whose trials were not runs)."""
    old = [trial.trial_id for trial in tuner.oracle.trials.values()
           if HYPERPARAMETER not in trial.hyperparameters.values]
    if old:
        raise InputError(f"{config.project_dir}: holds trials of an older learning-rate search (no "
                         f"'{HYPERPARAMETER}' in trial {old[0]}); choose another --project-name or remove it")


def summarize(tuner: keras_tuner.Tuner, config: SweepConfig) -> dict:
    """Summary of every trial so far (its run's history), the overlay plot and best_lr.json."""
    trials = []
    for trial in sorted(tuner.oracle.trials.values(), key=lambda t: int(t.trial_id)):
        path = config.trial_run_path(trial.trial_id)
        history = read_json(path / HISTORY_FILE) if (path / HISTORY_FILE).is_file() else {}
        best = trial.metrics.get_best_value(OBJECTIVE) if trial.metrics.exists(OBJECTIVE) else None
        trials.append({"trial": trial_number(trial.trial_id), "trial_id": trial.trial_id,
                       "learning_rate": trial.hyperparameters.get(HYPERPARAMETER), "status": trial.status,
                       "best_val_accuracy": None if best is None else float(best),
                       "val_accuracy": history.get(OBJECTIVE, []), "run": str(path)})
    finished = [t for t in trials if t["best_val_accuracy"] is not None]
    if not finished:
        raise TrainingError(f"{config.project_dir}: no trial finished; see the trials' runs in "
                            f"{Path(config.runs_dir) / config.runs_task}")
    best = max(finished, key=lambda t: t["best_val_accuracy"])
    plot_curves({f"lr={t['learning_rate']:g}": t["val_accuracy"] for t in finished},
                config.project_dir / "val_accuracy_by_lr.png", ylabel="validation accuracy",
                title=f"{config.model}: learning-rate search")
    summary = {"learning_rate": best["learning_rate"], "val_accuracy": best["best_val_accuracy"],
               "trial": best["trial"], "trial_id": best["trial_id"], "run": best["run"], "model": config.model,
               "epochs": config.epochs, "trials": trials}
    write_json(config.project_dir / cnn_train.BEST_LR_FILE, summary)
    return summary


def format_table(summary: dict) -> str:
    """The trials as a text table, best first (numbered as keras-tuner's ``Running Trial #<n>``)."""
    rows = sorted(summary["trials"], key=lambda t: -(t["best_val_accuracy"] or -1))
    lines = [f"{'trial':<6} {'learning rate':>13} {'best val acc':>12} {'epochs':>6}  {'status':<9}  run"]
    for t in rows:
        accuracy = f"{t['best_val_accuracy']:.4f}" if t["best_val_accuracy"] is not None else "-"
        lines.append(f"{t['trial']:<6} {t['learning_rate']:>13g} {accuracy:>12} {len(t['val_accuracy']):>6}  "
                     f"{t['status']:<9}  {t['run']}")
    return "\n".join(lines)


def worker_line() -> str:
    """What a distributed-mode worker prints when no trial is left."""
    return f"worker {os.environ.get('KERASTUNER_TUNER_ID')}: no trials left; the chief writes the summary"
