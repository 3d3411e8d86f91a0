"""The shared run conventions: seeding, run directories, export, device report, CLI."""
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_hw2 import devices, export, runs, seeding
from keras_hw2.errors import InputError


def _train_tiny_model(seed):
    seeding.set_seed(seed)
    x = np.random.normal(size=(32, 4)).astype("float32")
    y = (x.sum(axis=1) > 0).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dropout(0.5), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, batch_size=8, epochs=2, shuffle=True, verbose=0)
    return [w.numpy() for w in model.weights]


def test_same_seed_gives_identical_weights():
    first, second = _train_tiny_model(3), _train_tiny_model(3)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_other_seed_gives_other_weights():
    first, second = _train_tiny_model(3), _train_tiny_model(4)
    assert any(not np.array_equal(a, b) for a, b in zip(first, second))


def test_seed_must_be_non_negative_integer():
    with pytest.raises(ValueError, match="Received: seed=-1"):
        seeding.set_seed(-1)


def test_run_directory_holds_config_history_and_tensorboard_logs(run_root):
    run = runs.open_run("demo", {"lr": 0.1, "epochs": 2}, name="a", root=run_root)
    assert run.path == run_root / "demo" / "a" and not run.resumed
    assert json.loads(run.file("config.json").read_text()) == {"lr": 0.1, "epochs": 2}
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=2, verbose=0, callbacks=run.callbacks())
    history = run.history
    assert history["epoch"] == [0, 1] and len(history["loss"]) == 2
    assert list(run.path.glob("train/events.out.tfevents.*"))
    assert not run.backup_dir.exists()  # BackupAndRestore deletes its state after a finished fit


def test_reopening_a_run_with_the_same_config_resumes_it(run_root):
    runs.open_run("demo", {"lr": 0.1}, name="a", root=run_root)
    assert runs.open_run("demo", {"lr": 0.1}, name="a", root=run_root).resumed


def test_reopening_a_run_with_another_config_is_refused(run_root):
    runs.open_run("demo", {"lr": 0.1, "epochs": 2}, name="a", root=run_root)
    with pytest.raises(InputError, match=r"another configuration \(differs in: lr\)"):
        runs.open_run("demo", {"lr": 0.2, "epochs": 2}, name="a", root=run_root)


def test_default_run_names_never_collide(run_root):
    first = runs.open_run("demo", {}, root=run_root)
    second = runs.open_run("demo", {}, root=run_root)
    assert first.path != second.path


def test_history_writer_replaces_epochs_after_a_resume_point(tmp_path):
    writer = runs.HistoryWriter(tmp_path / "history.json")
    for epoch, loss in [(0, 3.0), (1, 2.0), (2, 1.0), (1, 1.5)]:  # crash after epoch 2, resume at 1
        writer.on_epoch_end(epoch, {"loss": loss})
    assert runs.read_json(tmp_path / "history.json") == {"epoch": [0, 1], "loss": [3.0, 1.5]}


def _tiny_saved_model_writer(path):
    module = tf.Module()
    module.f = tf.function(lambda x: 2 * x, input_signature=[tf.TensorSpec([None], tf.float32)])
    tf.saved_model.save(module, path, signatures=module.f)


def test_export_uses_tf_serving_layout_with_next_free_version(tmp_path):
    first = export.export_saved_model(_tiny_saved_model_writer, "m", root=tmp_path)
    second = export.export_saved_model(_tiny_saved_model_writer, "m", root=tmp_path)
    assert (first, second) == (tmp_path / "m" / "1", tmp_path / "m" / "2")
    assert (second / "saved_model.pb").exists()
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["1", "2"]  # no temporaries left
    loaded = tf.saved_model.load(str(second))
    np.testing.assert_allclose(loaded.signatures["serving_default"](tf.constant([1.5]))["output_0"], [3.0])


def test_export_never_touches_an_existing_version(tmp_path):
    target = tmp_path / "m" / "1"
    target.mkdir(parents=True)
    (target / "keep.txt").write_text("old")
    with pytest.raises(InputError, match="already exists"):
        export.export_saved_model(_tiny_saved_model_writer, "m", root=tmp_path, version=1)
    assert [p.name for p in target.iterdir()] == ["keep.txt"]
    assert [p.name for p in (tmp_path / "m").iterdir()] == ["1"]


def test_failed_export_leaves_no_directory_behind(tmp_path):
    def failing_writer(path):
        _tiny_saved_model_writer(path)
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        export.export_saved_model(failing_writer, "m", root=tmp_path)
    assert list((tmp_path / "m").iterdir()) == []


@pytest.mark.parametrize("name, version, message", [
    ("bad/name", None, "model name"), ("m", 0, "positive integer"), ("m", "2", "positive integer")])
def test_export_rejects_bad_names_and_versions(tmp_path, name, version, message):
    with pytest.raises(InputError, match=message):
        export.export_saved_model(_tiny_saved_model_writer, name, root=tmp_path, version=version)
    assert not any(tmp_path.rglob("*.pb"))


def test_device_report_names_devices_precision_and_xla():
    line = devices.device_report(jit_compile=True)
    assert line.startswith("devices: CPU:0") and "mixed precision: off (float32)" in line
    assert line.endswith("XLA: on") and "\n" not in line


def test_package_lists_its_subcommands(python):
    result = python("-m", "keras_hw2")
    assert result.returncode == 0
    for command in ("cnn", "p2g", "hopfield"):
        assert f"  {command} " in result.stdout


def test_unknown_subcommand_is_a_one_line_error(python):
    result = python("-m", "keras_hw2", "gan")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["error: unknown command 'gan'; choose one of cnn, p2g, hopfield"]


class _InterruptAfterEpoch(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("interrupted")


def test_an_interrupted_fit_resumes_from_its_backup_with_one_continuous_history(run_root):
    run = runs.open_run("demo", {"lr": 0.1}, name="a", root=run_root)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.ones((4, 2)), np.ones((4, 1))
    with pytest.raises(RuntimeError, match="interrupted"):
        model.fit(x, y, epochs=4, verbose=0, callbacks=run.callbacks() + [_InterruptAfterEpoch(1)])
    assert sorted(p.name for p in run.backup_dir.iterdir()) == ["latest.weights.h5", "training_metadata.json"]
    assert json.loads((run.backup_dir / "training_metadata.json").read_text())["epoch"] == 2

    resumed = runs.open_run("demo", {"lr": 0.1}, name="a", root=run_root)
    history = model.fit(x, y, epochs=4, verbose=0, callbacks=resumed.callbacks())
    assert resumed.resumed and history.epoch == [2, 3]
    assert resumed.history["epoch"] == [0, 1, 2, 3]


def test_multiworker_strategy_is_refused_with_the_reason():
    from keras_hw2.distribute import get_strategy

    with pytest.raises(InputError, match="keras-team/keras#20585"):
        get_strategy("multiworker")
