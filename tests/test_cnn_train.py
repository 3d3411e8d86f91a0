"""python -m keras_hw2.cnn: train → plots → export → reload in a clean process; resume; bad input."""
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_hw2.cli import run_main
from keras_hw2.cnn import __main__ as cli
from keras_hw2.cnn.batchnorm import PreciseBatchNorm, recompute_batch_norm_statistics
from keras_hw2.cnn.data import CLASS_NAMES, load_data, write_synthetic_npz
from keras_hw2.cnn.models import AveragingSGD, averaged_weights
from keras_hw2.cnn.train import DEMO_EPOCHS, resolve_lr

RELOAD = """
import sys, numpy as np, tensorflow as tf
model = tf.saved_model.load(sys.argv[1])
images = np.load(sys.argv[2])
files = [tf.io.read_file(p) for p in sys.argv[4:]]
by_pixels = model.signatures["serving_default"](images=tf.constant(images))
by_bytes = model.signatures["serve_image_bytes"](image_bytes=tf.stack(files))
np.savez(sys.argv[3], probabilities=by_pixels["probabilities"].numpy(),
         class_names=by_pixels["class_names"].numpy().astype("S"), predicted=by_pixels["predicted_class"].numpy().astype("S"),
         bytes_probabilities=by_bytes["probabilities"].numpy())
assert not [m for m in sys.modules if m.startswith("keras_hw2")], "the reloading process imported keras_hw2"
"""


@pytest.fixture(scope="module")
def tiny_npz(tmp_path_factory):
    return write_synthetic_npz(tmp_path_factory.mktemp("data") / "tiny.npz", num_per_class=4, with_test=True)


def _train(tiny_npz, run_root, name, *extra):
    return cli.main(["train", "--data", str(tiny_npz), "--epochs", "1", "--batch-size", "8",
                     "--runs-dir", str(run_root), "--run-name", name, *extra])


def test_train_plot_export_and_reload_in_a_clean_process(tiny_npz, run_root, tmp_path, python, capsys):
    assert _train(tiny_npz, run_root, "e2e") == 0
    run = run_root / "cnn" / "e2e"
    for name in ("config.json", "history.json", "loss.png", "accuracy.png",
                 "confusion_matrix.png", "results.json", "best.keras"):
        assert (run / name).is_file(), name
    assert list((run / "train").glob("events.out.tfevents.*")) and list((run / "validation").glob("events.*"))
    history = json.loads((run / "history.json").read_text())
    assert history["epoch"] == [0] and len(history["loss"]) == len(history["val_accuracy"]) == 1
    results = json.loads((run / "results.json").read_text())
    assert results["status"] == "finished" and (run / "resume").is_dir()  # kept: the run can be continued
    assert results["best_val_accuracy"] == history["val_accuracy"][0] and results["best_epoch"] == 1
    matrix = np.array(results["test"]["confusion_matrix"])
    assert matrix.shape == (6, 6) and matrix.sum() == 24 and matrix.sum(axis=1).tolist() == [4] * 6
    assert results["test"]["accuracy"] == pytest.approx(np.trace(matrix) / 24)
    assert list(results["test"]["per_class_accuracy"]) == list(CLASS_NAMES)
    assert "best validation accuracy" in capsys.readouterr().out

    assert cli.main(["export", "--run", str(run), "--models-dir", str(tmp_path / "saved")]) == 0
    export_dir = tmp_path / "saved" / "cnn_baseline" / "1"
    assert (export_dir / "saved_model.pb").is_file()

    images = np.load(tiny_npz)["test_images"][:5]
    expected = np.exp(keras.saving.load_model(run / "best.keras").predict(images, verbose=0))
    np.save(tmp_path / "images.npy", images)
    same_size = tmp_path / "same.png"
    same_size.write_bytes(tf.io.encode_png(images[0]).numpy())
    large = tmp_path / "large.jpg"
    large.write_bytes(tf.io.encode_jpeg(np.repeat(np.repeat(images[1], 3, axis=0), 2, axis=1)).numpy())
    result = python("-c", RELOAD, str(export_dir), str(tmp_path / "images.npy"), str(tmp_path / "out.npz"),
                    str(same_size), str(large))
    assert result.returncode == 0, result.stderr[-2000:]
    out = np.load(tmp_path / "out.npz")
    np.testing.assert_allclose(out["probabilities"], expected, rtol=1e-4, atol=1e-6)
    assert out["class_names"].shape == (5, 6) and [c.decode() for c in out["class_names"][0]] == list(CLASS_NAMES)
    assert [c.decode() for c in out["predicted"]] == [CLASS_NAMES[i] for i in expected.argmax(axis=1)]
    np.testing.assert_allclose(out["bytes_probabilities"][0], expected[0], rtol=1e-4, atol=1e-6)
    assert out["bytes_probabilities"].shape == (2, 6)
    np.testing.assert_allclose(out["bytes_probabilities"].sum(axis=1), 1.0, rtol=1e-5)


def test_rerunning_a_finished_run_trains_nothing_and_says_so(tiny_npz, run_root, capsys):
    assert _train(tiny_npz, run_root, "again", "--model", "batchnorm") == 0
    results = (run_root / "cnn" / "again" / "results.json").read_text()
    capsys.readouterr()
    assert _train(tiny_npz, run_root, "again", "--model", "batchnorm") == 0
    out = capsys.readouterr().out
    assert f"run: {run_root / 'cnn' / 'again'} (finished: nothing to train; its results follow) | " in out
    assert "(resumed)" not in out and "Epoch 1/1" not in out
    assert (run_root / "cnn" / "again" / "results.json").read_text() == results


def _batch_norm_statistics(model):
    return [(layer.moving_mean.numpy(), layer.moving_variance.numpy()) for layer in model.layers
            if isinstance(layer, keras.layers.BatchNormalization)]


def test_best_model_holds_the_weight_average_with_batch_norm_statistics_recomputed_for_it(tiny_npz, run_root):
    assert _train(tiny_npz, run_root, "averaged", "--model", "batchnorm") == 0
    assert _train(tiny_npz, run_root, "trained", "--model", "batchnorm", "--no-weight-averaging") == 0
    assert json.loads((run_root / "cnn" / "trained" / "config.json").read_text())["weight_averaging"] is False
    averaged = keras.saving.load_model(run_root / "cnn" / "averaged" / "best.keras")
    trained = keras.saving.load_model(run_root / "cnn" / "trained" / "best.keras")
    assert isinstance(averaged.optimizer, AveragingSGD) and not isinstance(trained.optimizer, AveragingSGD)
    weights = [w.numpy() for w in averaged.trainable_weights]
    with averaged_weights(averaged):  # the optimizer's average is what best.keras holds
        for a, b in zip(averaged.trainable_weights, weights):
            np.testing.assert_array_equal(a.numpy(), b)
    assert not all(np.array_equal(a, b.numpy()) for a, b in zip(weights, trained.trainable_weights))
    statistics = _batch_norm_statistics(averaged)
    sample = PreciseBatchNorm(load_data(tiny_npz).splits["train"][0]).images  # all 24: fewer than 500
    recompute_batch_norm_statistics(averaged, sample)
    for (mean, variance), (expected_mean, expected_variance) in zip(statistics, _batch_norm_statistics(averaged)):
        np.testing.assert_allclose(mean, expected_mean, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(variance, expected_variance, rtol=1e-4, atol=1e-5)


def test_no_arguments_trains_on_the_synthetic_demo(monkeypatch, tmp_path, capsys):
    seen = {}

    def fake_train(config, run, data, verbose="auto"):
        seen.update(config=config, data=data, run=run)
        return {"best_val_accuracy": 0.5, "best_epoch": 1, "epochs": config.epochs,
                "validation": {"accuracy": 0.5, "per_class_accuracy": {}}}

    monkeypatch.setattr("keras_hw2.cnn.train.train_and_evaluate", fake_train)
    monkeypatch.chdir(tmp_path)
    assert cli.main([]) == 0
    config = seen["config"]
    assert (config.model, config.data, config.epochs, config.batch_size, config.dropout, config.weight_averaging) == (
        "baseline", None, DEMO_EPOCHS, 8, 0.1, True)
    assert (tmp_path / seen["run"].path).parent == tmp_path / "runs" / "cnn"
    assert "SYNTHETIC" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["--data", "{tmp}/missing.npz"], "{tmp}/missing.npz: no such file or directory"),
    (["--data", "{tmp}/bad.npz"], "{tmp}/bad.npz: missing key(s) val_images, val_labels"),
    (["--learning-rate", "best"], r"tuner_results/cnn_lr_baseline/best_lr.json: no best-lr file"),
    (["--epochs", "0"], "--epochs must be an integer >= 1. Received: --epochs=0"),
    (["--learning-rate", "-1"], "--learning-rate must be a finite number > 0. Received: --learning-rate=-1.0"),
])
def test_bad_input_exits_2_with_one_line_before_training(args, message, tmp_path, monkeypatch, capsys):
    np.savez(tmp_path / "bad.npz", train_images=np.zeros((6, 48, 48, 3), "uint8"), train_labels=np.arange(6))
    monkeypatch.chdir(tmp_path)
    args = [a.format(tmp=tmp_path) for a in args]
    assert run_main(cli.main, ["train", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    assert message.format(tmp=tmp_path) in err or pytest.fail(f"{message!r} not in {err!r}")
    assert not (tmp_path / "runs").exists()


def test_export_of_an_unfinished_run_is_refused(tmp_path, capsys):
    assert run_main(cli.main, ["export", "--run", str(tmp_path)]) == 2
    assert f"{tmp_path}/best.keras: no trained model here" in capsys.readouterr().err


def test_lr_from_a_number_or_a_best_lr_file(tmp_path):
    (tmp_path / "best.json").write_text(json.dumps({"lr": 0.03}))
    assert resolve_lr("0.5", "baseline") == 0.5
    assert resolve_lr(str(tmp_path / "best.json"), "baseline") == 0.03


def test_params_prints_both_counts(capsys):
    assert cli.main(["params"]) == 0
    assert capsys.readouterr().out.splitlines() == ["baseline: 5,340,742 trainable parameters",
                                                   "batchnorm: 755,718 trainable parameters"]


@pytest.mark.slow
def test_demo_main_job_runs_end_to_end(tmp_path, python):
    result = python("-m", "keras_hw2.cnn", "train", "--runs-dir", str(tmp_path), "--run-name", "demo", timeout=1800)
    assert result.returncode == 0, result.stderr[-2000:]
    results = json.loads((tmp_path / "cnn" / "demo" / "results.json").read_text())
    assert results["best_val_accuracy"] > 0.6 and results["test"]["accuracy"] > 0.6


@pytest.mark.slow
def test_one_epoch_on_the_real_data(shared_data, run_root):
    assert cli.main(["train", "--data", str(shared_data / "intel_landscapes_48.npz"), "--epochs", "1",
                     "--batch-size", "64", "--learning-rate", "0.05", "--runs-dir", str(run_root), "--run-name", "real"]) == 0
    results = json.loads((run_root / "cnn" / "real" / "results.json").read_text())
    assert results["best_val_accuracy"] > 1 / 6


def _state(run):
    """Every variable of the run's resume/ checkpoint (the last finished epoch's whole state)."""
    reader = tf.train.load_checkpoint(str(run / "resume"))
    return {name: reader.get_tensor(name) for name, _ in tf.train.list_variables(str(run / "resume"))
            if "_CHECKPOINTABLE_OBJECT_GRAPH" not in name}


def test_a_finished_run_trained_again_with_more_epochs_continues_bit_for_bit(tiny_npz, run_root, capsys):
    assert _train(tiny_npz, run_root, "three", "--epochs", "3") == 0
    assert _train(tiny_npz, run_root, "grown", "--epochs", "2") == 0
    default_config = json.loads((run_root / "cnn" / "grown" / "config.json").read_text())
    assert sorted(default_config) == ["batch_size", "data", "deterministic", "dropout", "epochs", "jit_compile",
                                      "learning_rate", "model", "seed", "strategy", "val_fraction",
                                      "weight_averaging"]  # the opt-in options leave it as it was
    capsys.readouterr()
    assert _train(tiny_npz, run_root, "grown", "--epochs", "3") == 0
    out = capsys.readouterr().out
    assert f"run: {run_root / 'cnn' / 'grown'} (continued: from its 2 finished epochs to 3) | " in out
    assert "Epoch 3/3" in out and "Epoch 2/3" not in out
    runs = [run_root / "cnn" / name for name in ("three", "grown")]
    histories = [json.loads((run / "history.json").read_text()) for run in runs]
    for history in histories:
        del history["epoch_seconds"]
    assert histories[0] == histories[1] and histories[0]["epoch"] == [0, 1, 2]
    states = [_state(run) for run in runs]
    assert sorted(states[0]) == sorted(states[1])
    for name in states[0]:
        np.testing.assert_array_equal(states[0][name], states[1][name], err_msg=name)
    for a, b in zip(*(keras.saving.load_model(run / "best.keras").get_weights() for run in runs)):
        np.testing.assert_array_equal(a, b)
    results = [json.loads((run / "results.json").read_text()) for run in runs]
    assert results[0] == results[1] and results[0]["epochs"] == 3
    logged = {}  # TensorBoard continues too: every epoch's loss and learning rate, once
    for path in (runs[1] / "train").glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                logged.setdefault(value.tag, []).append(event.step)
    assert sorted(logged["epoch_loss"]) == sorted(logged["epoch_learning_rate"]) == [0, 1, 2]


def test_fewer_epochs_than_a_run_has_is_one_line_exit_2_and_changes_nothing(tiny_npz, run_root, capsys):
    assert _train(tiny_npz, run_root, "two", "--epochs", "2") == 0
    run = run_root / "cnn" / "two"
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    capsys.readouterr()
    assert run_main(cli.main, ["train", "--data", str(tiny_npz), "--epochs", "1", "--batch-size", "8",
                               "--runs-dir", str(run_root), "--run-name", "two"]) == 2
    err = capsys.readouterr().err
    assert err == (f"error: {run}: the run already has 2 epochs; --epochs must be at least that to continue it. "
                   "Received: --epochs=1\n")
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before


def test_augmentation_changes_the_training_batches_and_nothing_else(tiny_npz):
    from keras_hw2.cnn.train import TrainConfig, load_data, make_task

    data = load_data(TrainConfig(data=str(tiny_npz)))
    plain, augmented = (make_task(TrainConfig(data=str(tiny_npz), augment=augment, epochs=2), data)
                        for augment in (False, True))
    for seed in (1, 2):
        plain_batches = [(x.numpy(), y.numpy()) for x, y in plain.train_data(seed)]
        augmented_batches = [(x.numpy(), y.numpy()) for x, y in augmented.train_data(seed)]
        again = [(x.numpy(), y.numpy()) for x, y in augmented.train_data(seed)]
        assert [x.dtype for x, _ in augmented_batches] == [np.uint8] * len(plain_batches)
        assert [x.shape for x, _ in augmented_batches] == [x.shape for x, _ in plain_batches]
        for (a, labels), (b, same_labels), (c, _) in zip(plain_batches, augmented_batches, again):
            np.testing.assert_array_equal(labels, same_labels)  # same images in the same order, changed
            np.testing.assert_array_equal(b, c)  # seeded: the same every time
            assert np.abs(a.astype(int) - b).mean() > 1
    assert plain.train_data.__code__ is augmented.train_data.__code__
    for (a, y), (b, z) in zip(plain.validation_data, augmented.validation_data):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        np.testing.assert_array_equal(y.numpy(), z.numpy())
    models = [task.build_model() for task in (plain, augmented)]
    assert models[0].get_config() == models[1].get_config()  # no augmentation in the model, so none in an export
    assert not [layer for layer in models[1].layers if "Random" in type(layer).__name__]


def test_an_augmented_runs_export_has_the_same_signatures_and_answers_deterministically(tiny_npz, run_root,
                                                                                         tmp_path):
    from keras_hw2.cnn.serving import export_model

    assert _train(tiny_npz, run_root, "augmented", "--augment") == 0
    assert json.loads((run_root / "cnn" / "augmented" / "config.json").read_text())["augment"] is True
    trained = keras.saving.load_model(run_root / "cnn" / "augmented" / "best.keras")
    untrained = keras.models.clone_model(trained)
    exports = [tf.saved_model.load(str(export_model(model, name, root=tmp_path)))
               for model, name in ((trained, "augmented"), (untrained, "plain"))]
    for name in ("serving_default", "serve_image_bytes"):
        signatures = [export.signatures[name] for export in exports]
        assert signatures[0].structured_input_signature == signatures[1].structured_input_signature
        assert signatures[0].structured_outputs.keys() == signatures[1].structured_outputs.keys()
    images = tf.constant(np.load(tiny_npz)["test_images"][:4])
    first, second = (exports[0].signatures["serving_default"](images=images)["probabilities"].numpy()
                     for _ in range(2))
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(first, np.exp(trained.predict(images, verbose=0)), rtol=1e-4, atol=1e-6)
