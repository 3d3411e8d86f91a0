"""`keras_hw2.schedules`: each --lr-schedule's rate at every step against its closed form; warm-up; reloading."""
import math

import keras
import numpy as np
import pytest

from keras_hw2.schedules import Warmup, learning_rate

BASE, EPOCHS, STEPS = 0.1, 8, 5  # 40 steps


def _rates(schedule):
    return np.array([float(schedule(step)) for step in range(EPOCHS * STEPS)])


def _closed_form(name, warmup_epochs):
    warmup, total = warmup_epochs * STEPS, EPOCHS * STEPS
    rates = []
    for t in range(total):
        if t < warmup:
            rates.append(BASE * t / warmup)
        elif name == "constant":
            rates.append(BASE)
        elif name == "cosine":
            rates.append(BASE * (1 + math.cos(math.pi * (t - warmup) / (total - warmup))) / 2)
        else:  # step: x0.1 from epoch 4 (half of 8), x0.01 from epoch 6 (three quarters), 0-based
            rates.append(BASE * (1 if t < 4 * STEPS else 0.1 if t < 6 * STEPS else 0.01))
    return np.array(rates)


@pytest.mark.parametrize("name", ["constant", "cosine", "step"])
@pytest.mark.parametrize("warmup_epochs", [0, 2])
def test_every_steps_rate_is_the_closed_form(name, warmup_epochs):
    schedule = learning_rate(BASE, name, warmup_epochs, EPOCHS, STEPS)
    if name == "constant" and not warmup_epochs:
        assert schedule == BASE  # the homework's optimizer, a plain number
        return
    np.testing.assert_allclose(_rates(schedule), _closed_form(name, warmup_epochs), rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("name", ["constant", "step"])
def test_the_warmup_schedule_reloads_from_its_config(name):
    schedule = learning_rate(BASE, name, 2, EPOCHS, STEPS)
    assert isinstance(schedule, Warmup)
    again = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
    np.testing.assert_array_equal(_rates(again), _rates(schedule))
    optimizer = keras.optimizers.SGD.from_config(keras.optimizers.SGD(schedule).get_config())
    assert float(optimizer.learning_rate) == 0.0


def test_bad_arguments():
    with pytest.raises(ValueError, match="schedule must be one of"):
        learning_rate(BASE, "linear", 0, EPOCHS, STEPS)
    with pytest.raises(ValueError, match="warmup_steps must be positive. Received: warmup_steps=0"):
        Warmup(BASE, 0)
