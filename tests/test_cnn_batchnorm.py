"""keras_hw2.cnn.batchnorm: precise BatchNorm statistics, recomputed from the current weights."""
import doctest

import keras
import numpy as np
import pytest

from keras_hw2.cnn import batchnorm
from keras_hw2.cnn.batchnorm import PreciseBatchNorm, recompute_batch_norm_statistics
from keras_hw2.cnn.models import build_model, compile_model


def _images(num, size=48, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(num, size, size, 3)).astype("uint8")


def _statistics(model):
    return [(layer.moving_mean.numpy(), layer.moving_variance.numpy()) for layer in model.layers
            if isinstance(layer, keras.layers.BatchNormalization)]


def test_inference_then_normalises_like_training_on_the_whole_sample():
    model = build_model(batch_norm=True, dropout=0.0, input_shape=(8, 8, 3))
    images = _images(12, size=8)
    recompute_batch_norm_statistics(model, images, batch_size=5)  # chunks of 5, 5, 2 give the same sums
    dense1 = keras.Model(model.input, model.get_layer("dense1").output)(images, training=False).numpy()
    np.testing.assert_allclose(model.get_layer("dense1_bn").moving_mean.numpy(), dense1.mean(axis=0),
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(model.get_layer("dense1_bn").moving_variance.numpy(), dense1.var(axis=0),
                               rtol=1e-3, atol=1e-7)
    inference = model(images, training=False).numpy()
    training = model(images, training=True).numpy()  # every BatchNorm uses the statistics of these 12 images
    np.testing.assert_allclose(inference, training, rtol=1e-4, atol=1e-4)


def test_fit_validates_with_the_statistics_of_the_final_weights():
    images, labels = _images(16, size=8), np.arange(16) % 6
    model = compile_model(build_model(batch_norm=True, input_shape=(8, 8, 3)), lr=0.01)
    callback = PreciseBatchNorm(images, num_images=8)
    model.fit(images, labels, batch_size=8, epochs=1, validation_data=(images[:8], labels[:8]),
              callbacks=[callback], verbose=0)
    after_fit = _statistics(model)
    recompute_batch_norm_statistics(model, callback.images)
    for (mean, variance), (expected_mean, expected_variance) in zip(after_fit, _statistics(model)):
        np.testing.assert_allclose(mean, expected_mean, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(variance, expected_variance, rtol=1e-5, atol=1e-7)
    # without the callback the moving averages of training are not these statistics
    model.train_on_batch(images[:8], labels[:8])
    moving_average = _statistics(model)
    recompute_batch_norm_statistics(model, callback.images)
    assert not np.allclose(moving_average[-1][1], _statistics(model)[-1][1], rtol=1e-2)


def test_a_model_without_batch_norm_is_left_untouched():
    model = build_model(batch_norm=False)
    weights = [w.copy() for w in model.get_weights()]
    callback = PreciseBatchNorm(_images(4))
    callback.set_model(model)
    callback.on_test_begin()
    assert all(np.array_equal(a, b) for a, b in zip(weights, model.get_weights()))


def test_the_sample_is_seeded_and_at_most_num_images():
    images = np.arange(10).reshape(10, 1)
    first, again = PreciseBatchNorm(images, num_images=4, seed=1), PreciseBatchNorm(images, num_images=4, seed=1)
    assert first.images.shape == (4, 1) and np.array_equal(first.images, again.images)
    assert not np.array_equal(first.images, PreciseBatchNorm(images, num_images=4, seed=2).images)
    assert np.array_equal(PreciseBatchNorm(images, num_images=500).images, images)


@pytest.mark.parametrize("kwargs, message", [({"num_images": 0}, "Received: num_images=0"),
                                             ({"batch_size": 0}, "Received: batch_size=0"),
                                             ({"images": np.zeros((0, 48, 48, 3))}, "holds no images")])
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PreciseBatchNorm(**{"images": _images(2), **kwargs})


def test_docstring_examples_run():
    failed, attempted = doctest.testmod(batchnorm)
    assert attempted > 0 and failed == 0
