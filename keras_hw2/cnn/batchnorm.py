"""Precise BatchNorm: inference statistics recomputed from the current weights before each evaluation.

Why: the moving averages that `keras.layers.BatchNormalization` keeps during
training belong to the weights of the last batches, not to the weights
evaluated (the SGD weights' average, `keras_hw2.cnn.models.averaged_weights`);
the measurements (issue 15) are in docs/cnn-weight-averaging.md.

The algorithm ("precise BN", Wu & Johnson 2021, "Rethinking Batch in BatchNorm"):
1. take a fixed, seeded sample of training images;
2. for each `BatchNormalization` layer in model order, run the sample through the
   layers before it in inference mode (dropout off, the earlier BatchNorm layers
   already recomputed) and set its moving mean and variance to the mean and
   (biased) variance of its inputs over the sample.
Afterwards the model in inference mode normalises exactly as it would in training
mode with the whole sample as one batch (and dropout off). Training itself is
unchanged; only what inference uses is.
"""
import keras
import numpy as np

DEFAULT_NUM_IMAGES = 500  # a few hundred suffice (docs/cnn-weight-averaging.md)


def recompute_batch_norm_statistics(model: keras.Model, inputs, batch_size: int = 250) -> None:
    """Set every BatchNormalization layer's moving statistics to those of its inputs over `inputs`.

    Args:
        model: a functional or Sequential model whose `BatchNormalization` layers
            are among `model.layers` (not nested in a sub-model).
        inputs: the model's input, e.g. uint8 images ``(num_images, 48, 48, 3)``.
        batch_size: images per forward pass (memory only; the result does not depend on it).

    Example:
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.BatchNormalization()])
    >>> recompute_batch_norm_statistics(model, np.array([[0., 1.], [2., 5.]]))
    >>> model.layers[0].moving_mean.numpy().tolist(), model.layers[0].moving_variance.numpy().tolist()
    ([1.0, 3.0], [1.0, 4.0])
    """
    for layer, features_model in _feature_models(model):
        _set_statistics(layer, features_model, inputs, batch_size)


def _feature_models(model):
    """``[(layer, model from the inputs to that BatchNormalization layer's input)]`` in model order."""
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs  # a single input stays a tensor
    return [(layer, keras.Model(inputs, layer.input)) for layer in model.layers
            if isinstance(layer, keras.layers.BatchNormalization)]


def _set_statistics(layer, features_model, inputs, batch_size):
    """Accumulate per-channel sums of `layer`'s inputs in float64; assign mean and biased variance."""
    total, total_squares, count = 0.0, 0.0, 0
    for start in range(0, len(inputs), batch_size):
        features = np.asarray(features_model.predict_on_batch(inputs[start:start + batch_size]), "float64")
        axis = layer.axis % features.ndim
        reduce = tuple(i for i in range(features.ndim) if i != axis)
        total = total + features.sum(axis=reduce)
        total_squares = total_squares + np.square(features).sum(axis=reduce)
        count += features.size // features.shape[axis]
    mean = total / count
    layer.moving_mean.assign(mean.astype("float32"))
    layer.moving_variance.assign(np.maximum(total_squares / count - np.square(mean), 0.0).astype("float32"))


class PreciseBatchNorm(keras.callbacks.Callback):
    """Recompute the BatchNorm statistics (`recompute_batch_norm_statistics`) before every evaluation.

    A task callback of the training engine (`keras_hw2.training`), it runs at `on_test_begin`,
    so each epoch's validation, and every weights checkpoint saved after it,
    uses statistics of the current weights. A model without BatchNormalization
    layers is left untouched.

    Args:
        images: training inputs ``(N, 48, 48, 3)`` to sample from.
        num_images: size of the fixed sample (all images when ``N`` is smaller).
        seed: which sample.
        batch_size: images per forward pass.

    Raises:
        ValueError: `num_images` or `batch_size` below 1, or no images.
    """

    def __init__(self, images, num_images: int = DEFAULT_NUM_IMAGES, seed: int = 0, batch_size: int = 250):
        super().__init__()
        if num_images < 1:
            raise ValueError(f"num_images must be at least 1. Received: num_images={num_images}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1. Received: batch_size={batch_size}")
        if len(images) == 0:
            raise ValueError("images holds no images. Received: images with shape "
                             f"{getattr(images, 'shape', len(images))}")
        index = np.random.default_rng(seed).permutation(len(images))[:num_images]
        self.images = np.asarray(images)[np.sort(index)]
        self.batch_size = batch_size
        self._feature_models = None  # built once, at the first evaluation

    def on_test_begin(self, logs=None):
        if self._feature_models is None:
            self._feature_models = _feature_models(self.model)
        for layer, features_model in self._feature_models:
            _set_statistics(layer, features_model, self.images, self.batch_size)
