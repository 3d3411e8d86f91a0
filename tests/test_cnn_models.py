"""keras_hw2.cnn.models: exact architectures, NLL loss, SGD, pixels scaled inside the model."""
import doctest

import keras
import numpy as np
import pytest

from keras_hw2.cnn import evaluation, models, synthetic
from keras_hw2.cnn.models import build_model, compile_model, count_trainable_params, nll_loss


def _block(i, batch_norm):
    names = [f"block{i}_conv", f"block{i}_bn", f"block{i}_relu", f"block{i}_pool", f"block{i}_dropout"]
    return names if batch_norm else [n for n in names if not n.endswith("_bn")]


@pytest.mark.parametrize("batch_norm, expected", [(False, 5_340_742), (True, 755_718)])
def test_trainable_parameter_counts_match_the_homework(batch_norm, expected):
    assert count_trainable_params(build_model(batch_norm=batch_norm)) == expected


def test_baseline_layer_order():
    model = build_model(batch_norm=False)
    assert [layer.name for layer in model.layers] == [
        "images", "rescaling", *_block(1, False), *_block(2, False), *_block(3, False), "flatten",
        "dense1", "dense1_relu", "dense1_dropout", "dense2", "dense2_relu", "logits", "log_probabilities"]
    assert [model.get_layer(f"block{i}_conv").filters for i in (1, 2, 3)] == [32, 64, 128]
    conv = model.get_layer("block1_conv")
    assert (conv.kernel_size, conv.strides, conv.padding) == ((3, 3), (1, 1), "same")
    pool = model.get_layer("block1_pool")
    assert (pool.pool_size, pool.strides) == ((2, 2), (2, 2))
    assert [model.get_layer(n).units for n in ("dense1", "dense2", "logits")] == [1024, 512, 6]
    assert all(model.get_layer(n).rate == 0.1 for n in ("block1_dropout", "block3_dropout", "dense1_dropout"))


def test_batchnorm_layer_order():
    model = build_model(batch_norm=True)
    assert [layer.name for layer in model.layers] == [
        "images", "rescaling", *_block(1, True), *_block(2, True), *_block(3, True), "global_pool",
        "dense1", "dense1_bn", "dense1_relu", "dense1_dropout", "dense2", "dense2_relu", "logits", "log_probabilities"]
    assert isinstance(model.get_layer("global_pool"), keras.layers.GlobalAveragePooling2D)
    assert isinstance(model.get_layer("dense1_bn"), keras.layers.BatchNormalization)


def test_batchnorm_uses_the_homework_pytorch_statistics_update():
    model = build_model(batch_norm=True)
    for name in ("block1_bn", "block2_bn", "block3_bn", "dense1_bn"):
        layer = model.get_layer(name)
        assert (layer.momentum, layer.epsilon) == (0.9, 1e-5)  # PyTorch momentum=0.1, eps=1e-5


def test_output_is_log_probabilities_of_raw_pixels():
    model = build_model(batch_norm=True)
    images = np.random.default_rng(0).integers(0, 256, size=(4, 48, 48, 3)).astype("uint8")
    log_probabilities = model(images, training=False).numpy()
    assert log_probabilities.shape == (4, 6)
    np.testing.assert_allclose(np.exp(log_probabilities).sum(axis=1), 1.0, rtol=1e-5)
    # the model rescales: uint8 and float copies of the same pixels give the same output
    np.testing.assert_allclose(model(images.astype("float32"), training=False).numpy(), log_probabilities, rtol=1e-5)
    assert model.get_layer("rescaling").scale == pytest.approx(1 / 255)


def test_nll_loss_picks_the_true_class_log_probability():
    log_probabilities = np.log(np.array([[0.5, 0.25, 0.25], [0.1, 0.1, 0.8]], dtype="float32"))
    loss = nll_loss(np.array([1, 2]), log_probabilities).numpy()
    np.testing.assert_allclose(loss, [np.log(4), -np.log(0.8)], rtol=1e-6)
    np.testing.assert_allclose(nll_loss(np.array([[0], [0]]), log_probabilities).numpy(), [np.log(2), np.log(10)],
                               rtol=1e-6)


def test_compile_uses_plain_sgd():
    model = compile_model(build_model(), lr=0.05)
    assert isinstance(model.optimizer, keras.optimizers.SGD)
    assert model.optimizer.momentum == 0 and not model.optimizer.nesterov
    assert float(model.optimizer.learning_rate) == pytest.approx(0.05)


def test_bad_dropout_and_lr_are_refused():
    with pytest.raises(ValueError, match="Received: dropout=1.5"):
        build_model(dropout=1.5)
    with pytest.raises(ValueError, match="Received: lr=0"):
        compile_model(build_model(), lr=0)


@pytest.mark.parametrize("module", [models, synthetic, evaluation])
def test_docstring_examples_run(module):
    failed, attempted = doctest.testmod(module)
    assert attempted > 0 and failed == 0


def test_averaging_sgd_every_step_is_keras_ema_and_every_k_steps_updates_only_then():
    """average_every=1 is Keras' SGD(use_ema=True); with 3 the average starts as the step-1 weights and moves
    only at steps 3 and 6, with decay 0.9 ** 3."""
    def train(optimizer, steps):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2), keras.layers.Dense(1)])
        model.compile(optimizer=optimizer, loss="mse")
        x = np.random.default_rng(0).normal(size=(4 * steps, 3)).astype("float32")
        snapshots = []
        for step in range(steps):
            model.train_on_batch(x[4 * step:4 * step + 4], x[4 * step:4 * step + 4].sum(axis=1, keepdims=True))
            snapshots.append(([w.numpy().copy() for w in model.trainable_variables],
                              [a.numpy().copy() for a in getattr(model.optimizer, "averages", [])]))
        return model, snapshots

    keras_ema, _ = train(keras.optimizers.SGD(0.05, use_ema=True, ema_momentum=0.9), 12)
    ours, _ = train(models.AveragingSGD(0.05, average_momentum=0.9, average_every=1), 12)
    keras_ema.optimizer.finalize_variable_values(keras_ema.trainable_variables)
    ours.optimizer.finalize_variable_values(ours.trainable_variables)
    for a, b in zip(keras_ema.trainable_variables, ours.trainable_variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    _, snapshots = train(models.AveragingSGD(0.05, average_momentum=0.9, average_every=3), 7)
    weights, expected = snapshots[0]  # step 1: the average starts as the weights
    for w, a in zip(weights, expected):
        np.testing.assert_array_equal(w, a)
    for step, (weights, averages) in enumerate(snapshots[1:], start=2):
        if step % 3 == 0:  # steps 3 and 6: decay 0.9 ** 3
            expected = [0.9 ** 3 * e + (1 - 0.9 ** 3) * w for e, w in zip(expected, weights)]
        for e, a in zip(expected, averages):
            np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-7)
