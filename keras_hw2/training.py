"""The one training engine: both tasks, every `tf.distribute` strategy, one loop.

A task describes itself as a `Task` (its model builder, per-element loss,
metrics, datasets, monitored metric, task callbacks, plots and final report);
`train(config, run, make_task)` does the rest:

1. returns the stored results of a finished run; otherwise seeds Python,
   NumPy, TensorFlow and Keras from ``config.seed`` and creates the strategy
   ``config.strategy`` (`keras_hw2.distribute`);
2. builds the compiled model and its optimizer inside ``strategy.scope()``
   and restores the state of the run's last finished epoch, if any (on every
   worker: the chief's state and history are broadcast to the others, so all
   take the same decisions);
3. trains epoch by epoch with one `tf.function` step run by ``strategy.run``:
   the loss of a step is the sum of the per-element losses of the whole
   global batch divided by its total weight (examples for the CNN, target
   tokens for P2G), whatever the number of replicas, so one device, several
   devices and several workers compute the same updates and the same epoch
   figures. ``config.jit_compile`` XLA-compiles the forward and backward pass;
4. drives Keras callbacks (`keras.callbacks.CallbackList`): the task's own,
   `runs.HistoryWriter` (history.json), per-epoch plots, TensorBoard and the
   progress bar (``verbose`` as in Keras' ``fit``), with the standard hooks,
   ``on_test_begin``/``on_test_end`` around validation included; validation
   and ``best.keras`` use the weights the task's ``evaluation_weights`` puts
   in the model (e.g. an average the optimizer keeps), training the trained ones;
5. after each epoch: a non-finite loss ends the run (results.json status
   "failed", never a best checkpoint; a `TrainingError`); otherwise the epoch's state is saved
   for resuming (`tf.train.CheckpointManager` in ``resume/``, written
   atomically by TensorFlow, kept once the run has finished so that a larger
   ``epochs`` continues it) and, when the monitored metric improves on the best in
   history.json, the whole model goes to ``best.keras`` (written to a
   temporary file, then renamed); with ``config.early_stopping`` = P, the run
   stops once P epochs have passed without the monitored metric improving on
   its best (decided from history.json, so a resumed run stops where an
   uninterrupted one does);
6. writes results.json (status "finished"; ``stop_reason`` when it stopped
   early) and logs the config and the final figures to TensorBoard's HParams
   dashboard.

Every epoch's logs hold ``learning_rate``: the optimizer's learning rate at
the end of the epoch (its schedule's value for the next step), as Keras'
TensorBoard callback reports it.

Why not Keras' ``Model.fit``: in Keras 3.15 it fails under
`tf.distribute.MultiWorkerMirroredStrategy` (keras-team/keras#20585), and
``model.train_step`` averages the loss per replica, which for P2G's variable
numbers of target tokens differs from the mean over the global batch. A run
resumed after a kill ends with the same weights, bit for bit, as one that was
never interrupted (on CPU): the epoch's shuffling is seeded by (seed, epoch),
and the dropout seed generators are part of the saved state.
"""
import contextlib
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import keras
import numpy as np
import tensorflow as tf

from keras_hw2 import distribute, hparams
from keras_hw2.errors import TrainingError, room_to_write
from keras_hw2.plots import plot_curves
from keras_hw2.runs import CHECKPOINT_FILE, HISTORY_FILE, RESUME_DIR, RESULTS_FILE, HistoryWriter, Run, write_json
from keras_hw2.seeding import set_seed


@dataclass
class Task:
    """What a task gives the engine.

    Attributes:
        build_model: returns the compiled model (its optimizer is the one
            trained); called inside the strategy's scope.
        loss: ``(y_true, y_pred) -> values``, the per-element losses, e.g.
            ``(batch_size,)`` per example or ``(batch_size, T)`` per token.
        train_data: ``seed -> tf.data.Dataset`` of ``(x, y)`` global batches,
            shuffled with `seed` (the engine passes one seed per epoch).
        monitor: the epoch log that chooses ``best.keras``, e.g. ``"val_accuracy"``.
        mode: ``"max"`` or ``"min"``: which way `monitor` improves.
        loss_weights: ``y_true -> weights`` shaped like the loss values (0 for
            padding); every element of ``y_true`` weighs 1 when None.
        metrics: ``{name: (y_true, y_pred) -> values}`` averaged with the loss
            weights, e.g. per-example accuracy.
        validation_data: the ``(x, y)`` validation batches, or None.
        callbacks: ``model -> [keras.callbacks.Callback]``, the task's own;
            they run first, so the logs they add are recorded.
        plots: ``{file name: (history keys, y label)}``: PNGs redrawn after every epoch, one curve per key
            (labelled "validation" for a ``val_`` key, else "training": the same quantity's two curves overlaid).
        title: the plots' title.
        report: ``(run, history, best_index) -> dict``: the task's final figures
            (called once training has ended, ``best.keras`` being written in
            the `keras_hw2.runs.Run` `run`).
        evaluation_weights: ``model -> context manager`` inside which the
            model holds the weights to validate and to save as ``best.keras``
            (entered around validation, its ``on_test_begin``/``on_test_end``
            included, and around each save); on exit the trained weights must
            be back, exactly. The default leaves the trained weights in place.
    """
    build_model: Callable[[], keras.Model]
    loss: Callable
    train_data: Callable[[int], tf.data.Dataset]
    monitor: str
    mode: str
    loss_weights: Optional[Callable] = None
    metrics: dict = field(default_factory=dict)
    validation_data: Optional[tf.data.Dataset] = None
    callbacks: Callable[[keras.Model], list] = lambda model: []
    plots: dict = field(default_factory=dict)
    title: str = ""
    report: Callable[[Run, dict, int], dict] = lambda run, history, best: {}
    evaluation_weights: Callable[[keras.Model], contextlib.AbstractContextManager] = \
        lambda model: contextlib.nullcontext()


def epoch_seed(seed: int, epoch: int) -> int:
    """The shuffling seed of one epoch: the same for a resumed run as for an uninterrupted one.

    Example:
    >>> epoch_seed(0, 1) == epoch_seed(0, 1) != epoch_seed(0, 2)
    True
    """
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1, dtype=np.uint32)[0])


def resolve_verbose(verbose) -> int:
    """Keras' ``verbose``: "auto" is 1 (progress bar) on a terminal and 2 (a line per epoch) otherwise."""
    if verbose == "auto":
        return 1 if sys.stdout.isatty() else 2
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 'auto', 0, 1 or 2. Received: verbose={verbose!r}")
    return verbose


def train(config, run: Run, make_task: Callable[[], Task], verbose="auto") -> dict:
    """Train the task `make_task()` describes into `run` (see the module docstring).

    Args:
        config: the task's training config (a dataclass with at least
            ``epochs``, ``seed``, ``deterministic``, ``strategy``, ``jit_compile``;
            ``early_stopping``, the patience in epochs, is read when present).
        run: the open run directory.
        make_task: builds the `Task`; called after seeding, unless the run is finished.
        verbose: "auto", 0 (silent), 1 (progress bar) or 2 (one line per epoch).

    Returns:
        The results (also in results.json): ``status`` "finished", ``epochs``,
        ``best_epoch`` (1-based), ``stop_reason`` when early stopping ended it, and the task's report.

    Raises:
        TrainingError: the loss became non-finite (the run is marked failed),
            or a multi-worker run lost a worker.
        KeyboardInterrupt: Ctrl-C, with the epoch and how to resume.
    """
    if run.finished:
        return run.results
    strategy = distribute.get_strategy(config.strategy)
    set_seed(config.seed, config.deterministic)
    task = make_task()
    verbose = resolve_verbose(verbose)
    trainer = _new_trainer(strategy, task, config.jit_compile)
    model = trainer.model
    epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(state=state_variables(epoch, model)),
                                         str(run.file(RESUME_DIR)), max_to_keep=1)
    initial_epoch = _restore(manager, epoch, model, strategy, run, config.strategy == "multiworker")
    if run.continued:
        run.file(RESULTS_FILE).unlink()  # no longer finished: a run killed from here on resumes
    if initial_epoch == 0:
        hparams.log_hparams(run.path, run.config, trial_id=run.name)
    elif _best_index(run.history, task, initial_epoch) == initial_epoch - 1:
        _save_best(model, run, task)  # the last finished epoch was the best: its save may have been cut short
    callbacks = keras.callbacks.CallbackList(
        [*task.callbacks(model), HistoryWriter(run.file(HISTORY_FILE)), _PlotWriter(run, task.plots, task.title),
         keras.callbacks.TensorBoard(log_dir=str(run.path), write_graph=False)],
        add_progbar=verbose != 0, model=model, verbose=verbose, epochs=config.epochs,
        steps=_cardinality(task.train_data(0)))
    model.stop_training = False
    callbacks.on_train_begin()
    logs, stop_reason = {}, None
    for current in range(initial_epoch, config.epochs):
        stop_reason = early_stop_reason(run.history, task, getattr(config, "early_stopping", None), current)
        if stop_reason:
            break
        try:
            logs = _run_epoch(trainer, task, callbacks, current, config.seed, verbose)
            _check_finite(run, logs, current)
            epoch.assign(current + 1)
            with room_to_write(run.file(RESUME_DIR), also=(tf.errors.OpError,)):
                manager.save()
            if _best_index(run.history, task, current + 1) == current:
                with room_to_write(run.file(CHECKPOINT_FILE)):
                    _save_best(model, run, task)
        except KeyboardInterrupt:
            raise KeyboardInterrupt(f"at epoch {current + 1} of {run.path}; re-run the same command to resume") from None
        except tf.errors.OpError as e:
            if config.strategy != "multiworker":
                raise
            raise TrainingError(f"{run.path}: lost contact with another worker at epoch {current + 1} "
                             f"({type(e).__name__}: {e.message.splitlines()[0]}); re-run the same command on every "
                             "worker to resume from the last finished epoch") from None
        if model.stop_training:
            break
    callbacks.on_train_end(logs)
    return _finish(run, task, stop_reason)


def state_variables(epoch: tf.Variable, model: keras.Model) -> list:
    """Everything a resumed run needs: the epoch counter, the model's variables
    (weights, BatchNorm statistics, dropout seed generators) and the optimizer's."""
    return [epoch, *model.variables, *model.optimizer.variables]


def _restore(manager, epoch: tf.Variable, model: keras.Model, strategy, run: Run, multiworker: bool) -> int:
    """Restore the last finished epoch's state, if any; returns the epoch to start from.

    On several workers only the chief has the state: it is broadcast, with the
    chief's history, so that every worker continues alike.
    """
    if manager.latest_checkpoint:
        manager.checkpoint.restore(manager.latest_checkpoint).assert_consumed()
    if multiworker:
        distribute.broadcast_from_first_replica(strategy, state_variables(epoch, model))
        history = json.loads(distribute.broadcast_text(strategy, json.dumps(run.history)))
        if not run.is_chief and history:
            write_json(run.file(HISTORY_FILE), history)
    return int(epoch.numpy())


def _cardinality(dataset: tf.data.Dataset):
    steps = int(dataset.cardinality())
    return steps if steps >= 0 else None


def build_trainer(config, task: Task) -> "Trainer":
    """The engine's `Trainer` of `task` under `config` (``strategy``, ``seed``, ``deterministic``,
    ``jit_compile``), its model built and its optimizer's variables created: what `train` steps, without a run
    directory, callbacks or validation. Benchmarks time ``build_trainer(config, task).train_epoch(seed)``."""
    strategy = distribute.get_strategy(config.strategy)
    set_seed(config.seed, config.deterministic)
    return _new_trainer(strategy, task, config.jit_compile)


def _new_trainer(strategy, task: Task, jit_compile: bool) -> "Trainer":
    with strategy.scope():
        model = task.build_model()
        model.optimizer.build(model.trainable_variables)
    return Trainer(strategy, model, task, jit_compile)


def _run_epoch(trainer, task: Task, callbacks, epoch: int, seed: int, verbose: int) -> dict:
    """One epoch of training and validation; returns its logs."""
    callbacks.on_epoch_begin(epoch)
    start = time.perf_counter()
    logs = {**trainer.train_epoch(epoch_seed(seed, epoch), callbacks, verbose),
            "epoch_seconds": time.perf_counter() - start,
            "learning_rate": float(keras.ops.convert_to_numpy(trainer.model.optimizer.learning_rate))}
    if task.validation_data is not None:
        with task.evaluation_weights(trainer.model):
            callbacks.on_test_begin()
            trainer.test_sums.reset()
            dataset = trainer.distribute(task.validation_data)
            test_step = trainer.test_function(dataset.element_spec)
            for step, batch in enumerate(dataset):
                callbacks.on_test_batch_begin(step)
                test_step(batch)
                callbacks.on_test_batch_end(step)
            val_logs = trainer.test_sums.means()
            callbacks.on_test_end(val_logs)
        logs.update({f"val_{name}": value for name, value in val_logs.items()})
    callbacks.on_epoch_end(epoch, logs)
    return logs


class _Sums:
    """Weighted sums of the loss and metrics over an epoch (float64 variables; `means` divides by the weight)."""

    def __init__(self, names):
        self.variables = {name: tf.Variable(0.0, dtype=tf.float64, trainable=False) for name in ["weight", *names]}

    def reset(self):
        for variable in self.variables.values():
            variable.assign(0.0)

    def add(self, strategy, per_replica: dict):
        for name, value in per_replica.items():
            self.variables[name].assign_add(tf.cast(strategy.reduce("SUM", value, axis=None), tf.float64))

    def means(self) -> dict:
        weight = float(self.variables["weight"].numpy())
        return {name: float(v.numpy()) / weight if weight else math.nan
                for name, v in self.variables.items() if name != "weight"}


class Trainer:
    """The train and test steps: the only place that computes losses and gradients.

    The train step runs, on every replica, the forward and backward pass
    of its share of the global batch, scales the loss by the global batch's
    total weight (all-reduced), and lets the optimizer sum the replicas'
    gradients and apply them; the weighted loss and metric sums go into
    `train_sums`. The test step does the forward pass into `test_sums`.
    """

    def __init__(self, strategy, model, task: Task, jit_compile: bool):
        self.strategy = strategy
        self.model = model
        self.task = task
        names = ["loss", *task.metrics]
        self.train_sums, self.test_sums = _Sums(names), _Sums(names)
        self._gradients = tf.function(self._compute_gradients, jit_compile=True, autograph=False) if jit_compile \
            else self._compute_gradients
        self._train_function = self._test_function = None

    def distribute(self, dataset):
        return self.strategy.experimental_distribute_dataset(dataset)

    def train_epoch(self, seed: int, callbacks=None, verbose=0) -> dict:
        """One pass of train steps over ``task.train_data(seed)``; the epoch's mean loss and metrics.

        `callbacks` (a `keras.callbacks.CallbackList`, optional) get the batch hooks; with ``verbose == 1``
        ``on_train_batch_end`` also gets the running means (for the progress bar).
        """
        self.train_sums.reset()
        dataset = self.distribute(self.task.train_data(seed))
        train_step = self.train_function(dataset.element_spec)
        for step, batch in enumerate(dataset):
            if callbacks is not None:
                callbacks.on_train_batch_begin(step)
            train_step(batch)
            if callbacks is not None:
                callbacks.on_train_batch_end(step, self.train_sums.means() if verbose == 1 else None)
        return self.train_sums.means()

    def _weights(self, y_true):
        """The loss weights of a batch, float32: the task's, or 1 for every element of `y_true`."""
        if self.task.loss_weights is None:
            return tf.ones_like(y_true, tf.float32)
        return tf.cast(self.task.loss_weights(y_true), tf.float32)

    def _weighted_sums(self, y_true, y_pred) -> dict:
        """Sums over the batch in float32, whatever the model computes in (``mixed_float16`` included)."""
        values = tf.cast(self.task.loss(y_true, y_pred), "float32")
        weights = tf.cast(self._weights(y_true), "float32")
        sums = {"weight": tf.reduce_sum(weights), "loss": tf.reduce_sum(values * weights)}
        for name, metric in self.task.metrics.items():
            sums[name] = tf.reduce_sum(tf.cast(metric(y_true, y_pred), "float32") * weights)
        return sums

    def _compute_gradients(self, x, y, global_weight):
        with tf.GradientTape() as tape:
            sums = self._weighted_sums(y, self.model(x, training=True))
            # under mixed_float16, `compile` wraps the optimizer in a LossScaleOptimizer: scale the loss here,
            # its apply_gradients unscales (Optimizer.scale_loss is the identity otherwise)
            loss = self.model.optimizer.scale_loss(sums["loss"] / global_weight)
        return tape.gradient(loss, self.model.trainable_variables), sums

    def _train_replica(self, x, y):
        global_weight = tf.distribute.get_replica_context().all_reduce("SUM", tf.reduce_sum(self._weights(y)))
        gradients, sums = self._gradients(x, y, tf.maximum(global_weight, 1.0))
        self.model.optimizer.apply_gradients(zip(gradients, self.model.trainable_variables))
        return sums

    def _test_replica(self, x, y):
        return self._weighted_sums(y, self.model(x, training=False))

    def train_function(self, element_spec):
        """The train step for batches of `element_spec` (traced once: shapes are generalised)."""
        if self._train_function is None:
            self._train_function = self._make_function(self._train_replica, self.train_sums, element_spec)
        return self._train_function

    def test_function(self, element_spec):
        """The test step for batches of `element_spec`."""
        if self._test_function is None:
            self._test_function = self._make_function(self._test_replica, self.test_sums, element_spec)
        return self._test_function

    def _make_function(self, replica_fn, sums: _Sums, element_spec):
        def step(batch):
            sums.add(self.strategy, self.strategy.run(replica_fn, args=batch))
        return tf.function(step, input_signature=[element_spec], autograph=False)


class _PlotWriter(keras.callbacks.Callback):
    """Redraws the task's PNG plots from history.json after every epoch."""

    def __init__(self, run: Run, plots: dict, title: str):
        super().__init__()
        self.run, self.plots, self.title = run, plots, title

    def on_epoch_end(self, epoch, logs=None):
        history = self.run.history
        for file_name, (keys, ylabel) in self.plots.items():
            curves = {curve_label(key): [math.nan if v is None else v for v in history[key]]
                      for key in keys if key in history}
            plot_curves(curves, self.run.file(file_name), ylabel=ylabel, title=self.title)


def curve_label(key: str) -> str:
    """A plot's label of the history key `key`: "validation" for ``val_...``, else "training"."""
    return "validation" if key.startswith("val_") else "training"


def _best_index(history: dict, task: Task, num_epochs: int):
    """Index of the best finite `task.monitor` value among the first `num_epochs` epochs (None if none)."""
    values = [(v, i) for i, v in enumerate(history.get(task.monitor, [])[:num_epochs])
              if v is not None and math.isfinite(v)]
    if not values:
        return None
    best = max(values, key=lambda vi: (vi[0], -vi[1])) if task.mode == "max" else min(values)
    return best[1]


def early_stop_reason(history: dict, task: Task, patience: Optional[int], num_epochs: int) -> Optional[str]:
    """Why a run with early-stopping `patience` stops after its first `num_epochs` epochs, or None to go on.

    It stops once `patience` epochs have passed since the best ``task.monitor`` value (or, with no finite
    value yet, since the start), as Keras' ``EarlyStopping(patience=...)`` does.
    """
    if patience is None:
        return None
    best = _best_index(history, task, num_epochs)
    waited = num_epochs - (0 if best is None else best + 1)
    if waited < patience:
        return None
    since = "no finite value yet" if best is None else f"best {history[task.monitor][best]:.6g} at epoch {best + 1}"
    return f"early stopping: {task.monitor} did not improve for {waited} epochs ({since}; patience {patience})"


def _save_best(model: keras.Model, run: Run, task: Task) -> None:
    """Save the whole model, with the task's evaluation weights, as best.keras atomically: a temporary file,
    then a rename."""
    tmp = run.file(f".tmp-{CHECKPOINT_FILE}")
    with task.evaluation_weights(model):
        model.save(tmp)
    os.replace(tmp, run.file(CHECKPOINT_FILE))


def _check_finite(run: Run, logs: dict, epoch: int) -> None:
    """A non-finite training or validation loss marks the run failed and stops it."""
    bad = {k: logs[k] for k in ("loss", "val_loss") if k in logs and not math.isfinite(logs[k])}
    if bad:
        name, value = next(iter(bad.items()))
        message = (f"{run.path}: the {'training' if name == 'loss' else 'validation'} loss became {value} at "
                   f"epoch {epoch + 1}; the run stopped (status 'failed' in {RESULTS_FILE}; best.keras keeps the "
                   "best earlier epoch); try a smaller --learning-rate")
        write_json(run.file(RESULTS_FILE), {"status": "failed", "failed_epoch": epoch + 1, "error": message})
        raise TrainingError(message)


def _finish(run: Run, task: Task, stop_reason: Optional[str] = None) -> dict:
    """Write results.json (status finished) and the HParams metrics; return the results."""
    history = run.history
    best = _best_index(history, task, len(history["epoch"]))
    results = {"status": "finished", "epochs": len(history["epoch"]),
               "best_epoch": None if best is None else best + 1, **task.report(run, history, best)}
    if stop_reason:
        results["stop_reason"] = stop_reason
    write_json(run.file(RESULTS_FILE), results)
    hparams.log_metrics(run.path, results, step=results["epochs"])
    return results
