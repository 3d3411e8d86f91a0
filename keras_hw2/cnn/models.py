"""The homework's two CNN scene classifiers, built by one functional builder.

Baseline (``batch_norm=False``), 5,340,742 trainable parameters on 48x48x3:
    Rescaling(1/255) → 3 x [Conv2D 3x3 'same' (32, 64, 128 filters) → ReLU →
    MaxPool 2x2 → Dropout] → Flatten → Dense 1024 → ReLU → Dropout →
    Dense 512 → ReLU → Dense 6 → log-softmax.
BatchNorm (``batch_norm=True``), 755,718 trainable parameters: BatchNormalization
after each convolution (before its ReLU), global average pooling instead of
Flatten, and BatchNormalization after Dense 1024 (before its ReLU and dropout).

The output is log-probabilities; the loss is their negative log-likelihood
(`nll_loss`) and the optimizer plain SGD (`compile_model`). Pixels are scaled
inside the model, so it takes raw 0..255 images.

What is validated, saved as ``best.keras`` and exported is, by default, the
optimizer's exponential moving average of the SGD weights over about one epoch
(`averaged_weights`, `epoch_average_momentum`; `AveragingSGD`, updated every 8 steps),
with the BatchNorm statistics recomputed for it (`keras_hw2.cnn.batchnorm`);
training itself is plain SGD on the trained weights. Why (issue 15): the
measurements are in docs/cnn-weight-averaging.md.
"""
import contextlib

import keras
import tensorflow as tf

from keras_hw2.cnn.data import CLASS_NAMES, IMAGE_SHAPE

MODELS = {"baseline": False, "batchnorm": True}  # --model name → batch_norm switch
FILTERS = (32, 64, 128)
# The homework's PyTorch BatchNorm defaults: running statistics updated with weight 0.1 per
# batch (Keras momentum 0.9, not Keras's 0.99, whose slow averages make validation accuracy
# swing at batch 8) and eps 1e-5.
BATCH_NORM = {"momentum": 0.9, "epsilon": 1e-5}


def build_model(batch_norm: bool = False, dropout: float = 0.1,
                num_classes: int = len(CLASS_NAMES), input_shape=IMAGE_SHAPE) -> keras.Model:
    """Build the baseline (``batch_norm=False``) or BatchNorm CNN.

    Args:
        batch_norm: the homework's switch between the two definitions.
        dropout: the rate of every Dropout layer (the homework's 0.1).
        num_classes: output classes.
        input_shape: ``(height, width, channels)`` of the raw images.

    Returns:
        A functional `keras.Model` mapping raw pixels ``(batch_size, 48, 48, 3)``
        (any numeric dtype, 0..255) to log-probabilities ``(batch_size, num_classes)``.

    Example:
    >>> build_model(batch_norm=True).count_params() - 2 * (32 + 64 + 128 + 1024)  # minus BN moving stats
    755718
    """
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1). Received: dropout={dropout}")
    inputs = keras.Input(input_shape, name="images")
    x = keras.layers.Rescaling(1 / 255, name="rescaling")(inputs)
    for block, filters in enumerate(FILTERS, start=1):
        x = keras.layers.Conv2D(filters, 3, strides=1, padding="same", name=f"block{block}_conv")(x)
        if batch_norm:
            x = keras.layers.BatchNormalization(**BATCH_NORM, name=f"block{block}_bn")(x)
        x = keras.layers.ReLU(name=f"block{block}_relu")(x)
        x = keras.layers.MaxPooling2D(2, strides=2, name=f"block{block}_pool")(x)
        x = keras.layers.Dropout(dropout, name=f"block{block}_dropout")(x)
    if batch_norm:
        x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
    else:
        x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(1024, name="dense1")(x)
    if batch_norm:
        x = keras.layers.BatchNormalization(**BATCH_NORM, name="dense1_bn")(x)
    x = keras.layers.ReLU(name="dense1_relu")(x)
    x = keras.layers.Dropout(dropout, name="dense1_dropout")(x)
    x = keras.layers.Dense(512, name="dense2")(x)
    x = keras.layers.ReLU(name="dense2_relu")(x)
    x = keras.layers.Dense(num_classes, name="logits")(x)
    outputs = keras.layers.Activation("log_softmax", name="log_probabilities")(x)
    return keras.Model(inputs, outputs, name="batchnorm_cnn" if batch_norm else "baseline_cnn")


@keras.saving.register_keras_serializable(package="keras_hw2")
def nll_loss(y_true, log_probabilities):
    """Negative log-likelihood of integer labels under log-probabilities.

    Args:
        y_true: int ``(batch_size,)`` (or ``(batch_size, 1)``) class indices.
        log_probabilities: ``(batch_size, num_classes)``, e.g. a log-softmax output.

    Returns:
        ``(batch_size,)``: ``-log_probabilities[i, y_true[i]]``.
    """
    y_true = tf.reshape(tf.cast(y_true, "int32"), [-1])
    return -tf.gather(log_probabilities, y_true, axis=1, batch_dims=1)


AVERAGE_EVERY = 8  # steps between updates of the weights' average (docs/performance.md: "Cheap weight average")


@keras.saving.register_keras_serializable(package="keras_hw2")
class AveragingSGD(keras.optimizers.SGD):
    """Plain SGD that also keeps an exponential moving average of the weights, updated every `average_every` steps.

    After the SGD update of step ``n`` (1-based), when ``n`` is 1 or a
    multiple of `average_every`, each average becomes
    ``average - (1 - m) * (average - weight)`` with ``m = average_momentum ** average_every``
    (``m = 0`` at step 1: the average starts as the weights). Over the same
    number of steps it forgets as much as Keras' ``SGD(use_ema=True,
    ema_momentum=average_momentum)`` updated every step (which it equals for
    ``average_every=1``), at ``1 / average_every`` of the cost: the update reads
    and writes every weight, which at batch 8 costs as much as the
    baseline CNN's whole backward pass. The SGD updates are those of
    `keras.optimizers.SGD`; the averages are optimizer variables (saved,
    restored and resumed with it); `averaged_weights` evaluates them.

    Args:
        learning_rate: as for `keras.optimizers.SGD`.
        average_momentum: the per-step decay ``m`` in ``[0, 1)``, e.g. `epoch_average_momentum`.
        average_every: steps between updates, at least 1.
        **kwargs: the other `keras.optimizers.SGD` arguments (no ``use_ema``: this is its replacement).

    Example:
    >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False)])
    >>> model.compile(optimizer=AveragingSGD(0.5, average_momentum=0.5, average_every=2), loss="mse")
    >>> for target in (2.0, 4.0, 6.0, 8.0):  # a step of lr 0.5 on (w - target)^2 sets w to target
    ...     _ = model.train_on_batch(keras.ops.ones((1, 1)), keras.ops.full((1, 1), target))
    >>> # steps 1, 2, 4 update it (keep m ** 2 = 0.25): 2, then 0.25 * 2 + 0.75 * 4 = 3.5, then 0.25 * 3.5 + 0.75 * 8
    >>> [float(average[0, 0]) for average in model.optimizer.averages]
    [6.875]
    """

    def __init__(self, learning_rate=0.01, average_momentum=0.99, average_every=1, **kwargs):
        if kwargs.pop("use_ema", False):
            raise ValueError("AveragingSGD keeps its own average: use_ema must be False. Received: use_ema=True")
        if not 0 <= average_momentum < 1:
            raise ValueError(f"average_momentum must be in [0, 1). Received: average_momentum={average_momentum}")
        if isinstance(average_every, bool) or not isinstance(average_every, int) or average_every < 1:
            raise ValueError(f"average_every must be an integer of at least 1. Received: average_every={average_every!r}")
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.average_momentum = float(average_momentum)
        self.average_every = average_every
        self.averages = []

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self.averages = [self.add_variable_from_reference(variable, "average") for variable in variables]

    def apply(self, grads, trainable_variables=None):
        """The SGD update of `trainable_variables` (those `build` was given, in its order), then the averages'."""
        if trainable_variables is None:
            raise ValueError("AveragingSGD.apply averages the variables it is given: pass trainable_variables "
                             "(as apply_gradients does). Received: trainable_variables=None")
        variables = list(trainable_variables)
        super().apply(grads, variables)  # the SGD update; `iterations` counts it
        steps = self.iterations
        first = keras.ops.equal(steps, 1)
        due = keras.ops.logical_or(first, keras.ops.equal(keras.ops.mod(steps, self.average_every), 0))
        keras.ops.cond(due, lambda: self._update_averages(variables, first), lambda: None)

    def _update_averages(self, variables, first):
        keep = keras.ops.where(first, 0.0, self.average_momentum ** self.average_every)
        for average, variable in zip(self.averages, variables):
            self.assign_sub(average, keras.ops.cast(1.0 - keep, average.dtype) * (average - variable))

    def finalize_variable_values(self, var_list):
        """Replace the weights `var_list` (those the optimizer was built with) by their averages."""
        for variable, average in zip(var_list, self.averages):
            variable.assign(average)

    def get_config(self):
        return {**super().get_config(), "average_momentum": self.average_momentum,
                "average_every": self.average_every}


def compile_model(model: keras.Model, lr, jit_compile=False, ema_momentum=None,
                  average_every: int = AVERAGE_EVERY) -> keras.Model:
    """Compile with plain SGD (no momentum), `nll_loss` and an ``accuracy`` metric; returns `model`.

    `lr` is a positive number or a `keras.optimizers.schedules.LearningRateSchedule` (`keras_hw2.schedules`).

    With `ema_momentum` (the per-step decay) the optimizer also keeps an exponential
    moving average of the weights, updated every `average_every` steps
    (`AveragingSGD`; `averaged_weights` evaluates it). The updates are plain SGD's either way.
    """
    if isinstance(lr, (int, float)) and not lr > 0:
        raise ValueError(f"lr must be positive. Received: lr={lr}")
    if ema_momentum is not None and not 0 <= ema_momentum < 1:
        raise ValueError(f"ema_momentum must be in [0, 1). Received: ema_momentum={ema_momentum}")
    optimizer = keras.optimizers.SGD(learning_rate=lr) if ema_momentum is None else \
        AveragingSGD(learning_rate=lr, average_momentum=ema_momentum, average_every=average_every)
    model.compile(optimizer=optimizer, loss=nll_loss,
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
                  jit_compile=jit_compile)
    return model


def count_trainable_params(model: keras.Model) -> int:
    """The number of trainable scalars (the homework's `get_number_trainable_params`)."""
    return sum(int(tf.size(w)) for w in model.trainable_weights)


@contextlib.contextmanager
def averaged_weights(model: keras.Model):
    """Context manager: inside, `model` holds the average of its weights that its optimizer keeps.

    The trained weights are copied, replaced by the optimizer's exponential
    moving average (`AveragingSGD`, ``finalize_variable_values``)
    and put back, exactly, on exit. A model whose optimizer keeps no average
    (not an `AveragingSGD`) is left as it is. Non-trainable variables (BatchNorm
    statistics) are not averaged: `keras_hw2.cnn.batchnorm.PreciseBatchNorm`
    recomputes them for the averaged weights.

    Args:
        model: a compiled model whose optimizer is built.

    Example:
    >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False)])
    >>> model.compile(optimizer=AveragingSGD(0.5, average_momentum=0.5), loss="mse")
    >>> for target in (2.0, 4.0):  # a step of lr 0.5 on (w - target)^2 sets w to target
    ...     _ = model.train_on_batch(keras.ops.ones((1, 1)), keras.ops.full((1, 1), target))
    >>> kernel = model.layers[0].kernel
    >>> with averaged_weights(model):  # first step: the weights; then 0.5 * average + 0.5 * weights
    ...     float(kernel[0, 0])
    3.0
    >>> float(kernel[0, 0])
    4.0
    """
    optimizer = model.optimizer
    if not isinstance(optimizer, AveragingSGD):
        yield model
        return
    trained = [keras.ops.convert_to_numpy(variable) for variable in model.trainable_variables]
    optimizer.finalize_variable_values(model.trainable_variables)
    try:
        yield model
    finally:
        for variable, value in zip(model.trainable_variables, trained):
            variable.assign(value)


def epoch_average_momentum(steps_per_epoch: int) -> float:
    """The `ema_momentum` whose exponential average spans about one epoch: ``1 - 1 / steps_per_epoch``.

    The mean age of the averaged weights is then one epoch of SGD steps,
    whatever the batch size (0.99898 for the homework's 984 steps of 8 images).

    Example:
    >>> round(epoch_average_momentum(984), 5), epoch_average_momentum(1)
    (0.99898, 0.0)
    """
    return 1.0 - 1.0 / steps_per_epoch
