"""The training engine (`keras_hw2.training`) on a tiny task: resume, best model, failure, hooks, HParams."""
import contextlib
import json
import math
from dataclasses import dataclass

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.plugins.hparams import plugin_data_pb2

from keras_hw2 import runs, training
from keras_hw2.cnn.models import AveragingSGD, averaged_weights
from keras_hw2.errors import TrainingError


@dataclass
class Config:
    learning_rate: float = 0.1
    epochs: int = 4
    seed: int = 0
    deterministic: bool = False
    strategy: str = "default"
    jit_compile: bool = False


class Recorder(keras.callbacks.Callback):
    """Records the hooks called; sets `val_score` from `scores`; copies the weights after each epoch."""

    def __init__(self, scores=None, stop_after=None):
        super().__init__()
        self.scores, self.stop_after = scores, stop_after
        self.hooks, self.weights = [], {}

    def on_train_begin(self, logs=None):
        self.hooks.append("train_begin")

    def on_test_begin(self, logs=None):
        self.hooks.append("test_begin")

    def on_test_end(self, logs=None):
        self.hooks.append(f"test_end:{sorted(logs)}")

    def on_epoch_end(self, epoch, logs=None):
        self.hooks.append(f"epoch_end:{epoch}")
        if self.scores is not None:
            logs["val_score"] = self.scores[epoch]
        self.weights[epoch] = [w.copy() for w in self.model.get_weights()]
        if epoch == self.stop_after:
            raise KeyboardInterrupt


def make_task(config, recorder, monitor="val_accuracy", mode="max", ema_momentum=None, callbacks=(),
              evaluation_weights=lambda model: contextlib.nullcontext(), learning_rate=None):
    """A dropout MLP on 48 random points in 4 dimensions, 2 classes, batches of 16; SGD at `learning_rate`
    (a schedule, say), else ``config.learning_rate``."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 4)).astype("float32")
    y = (x.sum(axis=1) > 0).astype("int64")

    def build_model():
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                                  keras.layers.Dropout(0.5), keras.layers.Dense(2)])
        lr = learning_rate or config.learning_rate
        model.compile(optimizer=keras.optimizers.SGD(lr) if ema_momentum is None else
                      AveragingSGD(lr, average_momentum=ema_momentum))  # averaged every step
        return model

    def accuracy(labels, logits):
        return tf.cast(tf.equal(tf.argmax(logits, -1), labels), tf.float32)

    return lambda: training.Task(
        build_model=build_model,
        loss=lambda labels, logits: keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True),
        metrics={"accuracy": accuracy}, monitor=monitor, mode=mode,
        train_data=lambda seed: tf.data.Dataset.from_tensor_slices((x, y)).shuffle(48, seed=seed).batch(16),
        validation_data=tf.data.Dataset.from_tensor_slices((x[:16], y[:16])).batch(8),
        callbacks=lambda model: [recorder, *callbacks], plots={"loss.png": (["loss", "val_loss"], "loss")},
        report=lambda run, history, best: {"best_val_accuracy": history["val_accuracy"][best]},
        evaluation_weights=evaluation_weights)


def _train(config, root, name, recorder, **task):
    with runs.open_run("demo", config, name=name, root=root) as run:
        return training.train(config, run, make_task(config, recorder, **task), verbose=0)


def test_a_run_writes_history_plots_best_model_results_and_calls_the_keras_hooks(run_root):
    recorder = Recorder()
    results = _train(Config(epochs=2), run_root, "a", recorder)
    run = run_root / "demo" / "a"
    history = json.loads((run / "history.json").read_text())
    assert history["epoch"] == [0, 1]
    assert set(history) == {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "epoch_seconds", "learning_rate"}
    assert history["learning_rate"] == [pytest.approx(0.1)] * 2
    assert results["status"] == "finished" and results["epochs"] == 2
    best = int(np.argmax(history["val_accuracy"]))
    assert results["best_epoch"] == best + 1 and results["best_val_accuracy"] == history["val_accuracy"][best]
    assert json.loads((run / "results.json").read_text()) == results
    assert (run / "loss.png").is_file() and (run / "resume").is_dir()  # kept: the run can be continued
    assert list((run / "train").glob("events.*")) and list((run / "validation").glob("events.*"))
    assert recorder.hooks == ["train_begin", "test_begin", "test_end:['accuracy', 'loss']", "epoch_end:0",
                              "test_begin", "test_end:['accuracy', 'loss']", "epoch_end:1"]
    for a, b in zip(keras.saving.load_model(run / "best.keras").get_weights(), recorder.weights[best]):
        np.testing.assert_array_equal(a, b)


def test_the_epoch_loss_is_the_mean_over_every_example():
    """Batches of 16, 16 and 1 examples: the mean over the 33 examples, not the mean of the 3 batch means."""
    task = make_task(Config(), Recorder())()
    x, y = next(iter(task.train_data(0).unbatch().batch(33)))
    task.validation_data = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    strategy = tf.distribute.get_strategy()
    with strategy.scope():
        model = task.build_model()
    trainer = training.Trainer(strategy, model, task, jit_compile=False)
    trainer.test_sums.reset()
    batch_means = []
    for batch in task.validation_data:
        trainer.test_function(task.validation_data.element_spec)(batch)
        batch_means.append(float(tf.reduce_mean(task.loss(batch[1], model(batch[0], training=False)))))
    expected = float(tf.reduce_mean(task.loss(y, model(x, training=False))))
    assert len(batch_means) == 3 and abs(np.mean(batch_means) - expected) > 1e-3  # the two means differ here
    assert trainer.test_sums.means()["loss"] == pytest.approx(expected, rel=1e-6)


def test_a_resumed_run_ends_bit_for_bit_like_an_uninterrupted_one(run_root):
    """Dropout 0.5 and a reshuffle every epoch: the seed generators and epoch seeds are part of the state."""
    whole = Recorder()
    _train(Config(), run_root, "whole", whole)
    with pytest.raises(KeyboardInterrupt, match=r"^at epoch 2 of .*demo/cut; re-run the same command to resume$"):
        _train(Config(), run_root, "cut", Recorder(stop_after=1))
    assert json.loads((run_root / "demo" / "cut" / "history.json").read_text())["epoch"] == [0]
    resumed = Recorder()
    _train(Config(), run_root, "cut", resumed)
    assert resumed.hooks[:2] == ["train_begin", "test_begin"] and sorted(resumed.weights) == [1, 2, 3]
    for a, b in zip(resumed.weights[3], whole.weights[3]):
        np.testing.assert_array_equal(a, b)
    histories = [json.loads((run_root / "demo" / name / "history.json").read_text()) for name in ("whole", "cut")]
    for history in histories:
        del history["epoch_seconds"]
    assert histories[0] == histories[1]


def test_best_model_is_chosen_from_the_whole_history_across_a_resume_and_never_a_nan_epoch(run_root):
    scores = [0.5, 0.9, float("nan"), 0.7, 0.95]
    with pytest.raises(KeyboardInterrupt):
        _train(Config(epochs=5), run_root, "best", Recorder(scores, stop_after=3), monitor="val_score")
    recorder = Recorder(scores)
    results = _train(Config(epochs=5), run_root, "best", recorder, monitor="val_score")
    assert results["best_epoch"] == 5
    cut = Recorder(scores, stop_after=2)
    with pytest.raises(KeyboardInterrupt):
        _train(Config(epochs=4), run_root, "worse", cut, monitor="val_score")
    resumed = Recorder(scores)
    results = _train(Config(epochs=4), run_root, "worse", resumed, monitor="val_score")
    assert results["best_epoch"] == 2 and sorted(resumed.weights) == [2, 3]
    for a, b in zip(keras.saving.load_model(run_root / "demo" / "worse" / "best.keras").get_weights(), cut.weights[1]):
        np.testing.assert_array_equal(a, b)
    assert json.loads((run_root / "demo" / "worse" / "history.json").read_text())["val_score"] == [0.5, 0.9, None, 0.7]


def test_a_non_finite_loss_fails_the_run_naming_the_epoch_and_keeps_the_earlier_best(run_root):
    class Explode(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                self.model.optimizer.learning_rate.assign(1e30)

    def task():
        base = make_task(Config(), Recorder())()
        base.callbacks = lambda model: [Explode()]
        return base

    config = Config(epochs=3)
    with runs.open_run("demo", config, name="nan", root=run_root) as run:
        with pytest.raises(TrainingError, match=r"the (training|validation) loss became (nan|inf) at epoch [23]; the run stopped"):
            training.train(config, run, task, verbose=0)
        before = run.file("best.keras").read_bytes()
    run = run_root / "demo" / "nan"
    results = json.loads((run / "results.json").read_text())
    assert results["status"] == "failed" and results["failed_epoch"] in (2, 3)
    history = json.loads((run / "history.json").read_text())
    assert history["loss"][results["failed_epoch"] - 1] is None and "NaN" not in (run / "history.json").read_text()
    assert (run / "best.keras").read_bytes() == before


def _hparams_and_scalars(directory):
    hparams, scalars = {}, set()
    for path in directory.glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "hparams":
                    data = plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)
                    hparams.update({k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind"))
                                    for k, v in data.session_start_info.hparams.items()})
                else:
                    scalars.add(value.tag)
    return hparams, scalars


def test_every_run_logs_its_config_and_final_metrics_for_the_hparams_dashboard(run_root):
    _train(Config(epochs=1, learning_rate=0.25), run_root, "hp", Recorder())
    hparams, scalars = _hparams_and_scalars(run_root / "demo" / "hp")
    assert hparams == {"learning_rate": 0.25, "epochs": 1.0, "seed": 0.0, "deterministic": False,
                       "strategy": "default", "jit_compile": False}
    assert {"results/best_val_accuracy", "results/epochs", "results/best_epoch"} <= scalars


def test_a_finished_run_is_not_trained_again(run_root):
    first = _train(Config(epochs=1), run_root, "done", Recorder())
    again = Recorder()
    assert _train(Config(epochs=1), run_root, "done", again) == first and again.hooks == []


@contextlib.contextmanager
def _zeroed(model):
    trained = [v.numpy() for v in model.trainable_variables]
    for variable in model.trainable_variables:
        variable.assign(tf.zeros_like(variable))
    try:
        yield
    finally:
        for variable, value in zip(model.trainable_variables, trained):
            variable.assign(value)


def test_validation_and_best_model_use_the_evaluation_weights_and_training_goes_on_from_the_trained_ones(run_root):
    plain, zeroed = Recorder(), Recorder()
    _train(Config(epochs=2), run_root, "plain", plain)
    _train(Config(epochs=2), run_root, "zeroed", zeroed, evaluation_weights=_zeroed)
    history = json.loads((run_root / "demo" / "zeroed" / "history.json").read_text())
    assert history["val_loss"] == pytest.approx([math.log(2)] * 2)  # zero logits for 2 classes
    assert history["loss"] == json.loads((run_root / "demo" / "plain" / "history.json").read_text())["loss"]
    for a, b in zip(zeroed.weights[1], plain.weights[1]):
        np.testing.assert_array_equal(a, b)
    assert not any(w.any() for w in keras.saving.load_model(run_root / "demo" / "zeroed" / "best.keras").get_weights())


class _Averager(keras.callbacks.Callback):
    """Averages the trained weights by hand (first step: the weights, then m * average + (1 - m) * weights)
    and records, at each validation, the weights validated and the average."""

    def __init__(self, momentum):
        super().__init__()
        self.momentum, self.average, self.validated = momentum, None, []

    def on_train_batch_end(self, batch, logs=None):
        weights = [v.numpy().astype("float64") for v in self.model.trainable_variables]
        self.average = weights if self.average is None else [
            self.momentum * a + (1 - self.momentum) * w for a, w in zip(self.average, weights)]

    def on_test_begin(self, logs=None):
        self.validated.append(([v.numpy() for v in self.model.trainable_variables], self.average))


def test_the_optimizers_weight_average_is_validated_checkpointed_and_kept_across_a_resume(run_root):
    averager = _Averager(0.5)
    kwargs = {"ema_momentum": 0.5, "evaluation_weights": averaged_weights}
    whole = Recorder()
    _train(Config(), run_root, "whole", whole, callbacks=[averager], **kwargs)
    for validated, average in averager.validated:
        for a, b in zip(validated, average):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    history = json.loads((run_root / "demo" / "whole" / "history.json").read_text())
    best = int(np.argmax(history["val_accuracy"]))
    for a, b in zip(keras.saving.load_model(run_root / "demo" / "whole" / "best.keras").trainable_weights,
                    averager.validated[best][0]):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(KeyboardInterrupt):
        _train(Config(), run_root, "cut", Recorder(stop_after=1), **kwargs)
    resumed = Recorder()
    _train(Config(), run_root, "cut", resumed, **kwargs)
    for a, b in zip(resumed.weights[3], whole.weights[3]):
        np.testing.assert_array_equal(a, b)
    histories = [json.loads((run_root / "demo" / name / "history.json").read_text()) for name in ("whole", "cut")]
    for h in histories:
        del h["epoch_seconds"]
    assert histories[0] == histories[1]  # the validation figures after the resume come from the same average


def test_mixed_float16_trains_with_a_scaled_loss_and_float32_sums(run_root):
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        run = runs.open_run("tiny", Config(epochs=2), name="mixed", root=run_root)
        with run:
            training.train(Config(epochs=2), run, make_task(Config(epochs=2), Recorder()), verbose=0)
        model = keras.saving.load_model(run.file(runs.CHECKPOINT_FILE), compile=True)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)  # compile wrapped it
    assert model.layers[0].compute_dtype == "float16"
    history = run.history
    assert len(history["loss"]) == 2 and all(math.isfinite(value) for value in history["loss"] + history["val_loss"])
    assert history["loss"][1] < history["loss"][0]


def test_a_training_error_is_one_line_and_exit_status_3_and_bad_input_stays_2(capsys):
    from keras_hw2.cli import run_main
    from keras_hw2.errors import InputError

    def diverged(argv):
        raise TrainingError("runs/demo/x: the training loss became nan at epoch 2; the run stopped")

    def bad(argv):
        raise InputError("--epochs must be an integer >= 1. Received: --epochs=0")

    assert run_main(diverged, []) == 3
    assert capsys.readouterr().err == "error: runs/demo/x: the training loss became nan at epoch 2; the run stopped\n"
    assert run_main(bad, []) == 2
    assert not issubclass(TrainingError, InputError)  # not "bad input": the run had started


def _history(root, name):
    history = json.loads((root / "demo" / name / "history.json").read_text())
    del history["epoch_seconds"]
    return history


def test_a_finished_run_continued_to_more_epochs_ends_bit_for_bit_like_one_trained_for_them(run_root):
    whole = Recorder()
    _train(Config(epochs=3), run_root, "whole", whole)
    _train(Config(epochs=2), run_root, "grown", Recorder())
    continued = Recorder()
    with runs.open_run("demo", Config(epochs=3), name="grown", root=run_root) as run:
        assert run.continued == 2 and not run.finished and run.resumed
        assert run.describe() == f"run: {run.path} (continued: from its 2 finished epochs to 3)"
        results = training.train(Config(epochs=3), run, make_task(Config(epochs=3), continued), verbose=0)
    assert results["epochs"] == 3 and sorted(continued.weights) == [2]
    for a, b in zip(continued.weights[2], whole.weights[2]):
        np.testing.assert_array_equal(a, b)
    assert _history(run_root, "grown") == _history(run_root, "whole")
    for a, b in zip(*(keras.saving.load_model(run_root / "demo" / name / "best.keras").get_weights()
                      for name in ("grown", "whole"))):
        np.testing.assert_array_equal(a, b)
    assert json.loads((run_root / "demo" / "grown" / "config.json").read_text())["epochs"] == 3


def test_continuing_is_refused_for_fewer_epochs_an_epoch_spanning_schedule_or_a_lost_state(run_root):
    _train(Config(epochs=2), run_root, "two", Recorder())
    config_file = run_root / "demo" / "two" / "config.json"
    stored = config_file.read_text()
    with pytest.raises(runs.InputError, match=r"two: the run already has 2 epochs; --epochs must be at least that "
                                              r"to continue it. Received: --epochs=1$"):
        runs.open_run("demo", Config(epochs=1), name="two", root=run_root)
    with pytest.raises(runs.InputError, match=r"differs in: epochs, learning_rate\)"):
        runs.open_run("demo", Config(epochs=3, learning_rate=0.5), name="two", root=run_root)
    (run_root / "demo" / "two" / "resume").rename(run_root / "demo" / "two" / "kept")
    with pytest.raises(runs.InputError, match=r"two: holds no resume/ state of its last epoch .* Received: --epochs=3$"):
        runs.open_run("demo", Config(epochs=3), name="two", root=run_root)
    assert config_file.read_text() == stored
    runs.open_run("demo", {"epochs": 4, "lr_schedule": "cosine"}, name="cosine", root=run_root).close()
    with pytest.raises(runs.InputError, match=r"its --lr-schedule cosine spans its 4 epochs, so it cannot be "
                                              r"continued to another count; .* Received: --epochs=5$"):
        runs.open_run("demo", {"epochs": 5, "lr_schedule": "cosine"}, name="cosine", root=run_root)


@dataclass
class StoppingConfig(Config):
    early_stopping: int = 2


def test_early_stopping_ends_the_run_patience_epochs_after_the_best_also_across_a_resume(run_root):
    scores = [0.5, 0.9, 0.7, 0.8, 0.95, 0.99]  # best at epoch 2, then two epochs without improving
    recorder = Recorder(scores)
    results = _train(StoppingConfig(epochs=6), run_root, "stop", recorder, monitor="val_score")
    assert sorted(recorder.weights) == [0, 1, 2, 3]
    assert (results["status"], results["epochs"], results["best_epoch"]) == ("finished", 4, 2)
    assert results["stop_reason"] == ("early stopping: val_score did not improve for 2 epochs (best 0.9 at epoch 2; "
                                      "patience 2)")
    assert json.loads((run_root / "demo" / "stop" / "results.json").read_text()) == results
    with pytest.raises(KeyboardInterrupt):
        _train(StoppingConfig(epochs=6), run_root, "cut", Recorder(scores, stop_after=3), monitor="val_score")
    resumed = Recorder(scores)
    assert _train(StoppingConfig(epochs=6), run_root, "cut", resumed, monitor="val_score") == results
    assert sorted(resumed.weights) == [3]
    assert training.early_stop_reason({"val_score": [0.5, 0.9, 0.7]}, make_task(Config(), Recorder(),
                                      monitor="val_score")(), 2, 3) is None
    assert "stop_reason" not in _train(StoppingConfig(epochs=3, early_stopping=5), run_root, "never",
                                       Recorder(scores), monitor="val_score")


def test_a_scheduled_learning_rate_is_logged_per_epoch_and_resumed_exactly(run_root):
    schedule = keras.optimizers.schedules.CosineDecay(0.0, decay_steps=9, warmup_target=0.2, warmup_steps=3)
    whole = Recorder()
    _train(Config(), run_root, "whole", whole, learning_rate=schedule)
    history = _history(run_root, "whole")
    assert history["learning_rate"] == [pytest.approx(float(schedule(3 * (e + 1)))) for e in range(4)]
    with pytest.raises(KeyboardInterrupt):
        _train(Config(), run_root, "cut", Recorder(stop_after=1), learning_rate=schedule)
    resumed = Recorder()
    _train(Config(), run_root, "cut", resumed, learning_rate=schedule)
    for a, b in zip(resumed.weights[3], whole.weights[3]):
        np.testing.assert_array_equal(a, b)
    assert _history(run_root, "cut") == history


def test_the_plots_overlay_training_and_validation_with_whole_epoch_ticks(run_root):
    from matplotlib import pyplot as plt

    from keras_hw2.plots import draw_curves

    _train(Config(epochs=3), run_root, "curves", Recorder())
    assert (run_root / "demo" / "curves" / "loss.png").stat().st_size > 1000
    history = json.loads((run_root / "demo" / "curves" / "history.json").read_text())
    fig, ax = plt.subplots()
    draw_curves(ax, {training.curve_label(key): history[key] for key in ("loss", "val_loss")})
    assert [line.get_label() for line in ax.get_lines()] == ["training", "validation"]
    assert [line.get_ydata().tolist() for line in ax.get_lines()] == [history["loss"], history["val_loss"]]
    fig.canvas.draw()
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks == [1.0, 2.0, 3.0]
    plt.close(fig)
