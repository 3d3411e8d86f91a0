"""keras_hw2.hopfield.association: sparsemax and 1.5-entmax, their entropies and convex conjugates."""
import itertools
import math

import numpy as np
import pytest
import tensorflow as tf

from keras_hw2.hopfield.association import (ASSOCIATIONS, associate, check_association, conjugate, entmax15,
                                            entropy, max_entropy, sparsemax)

SPARSE = {"sparsemax": sparsemax, "entmax15": entmax15}


def _numpy(x):
    return np.asarray(tf.convert_to_tensor(x))


@pytest.mark.parametrize("scores, expected", [
    ([0.5, 0.3, -1.0], [0.6, 0.4, 0.0]),     # tau = (0.5 + 0.3 - 1) / 2 = -0.1
    ([1.0, 0.5, 0.0], [0.75, 0.25, 0.0]),    # tau = (1.5 - 1) / 2 = 0.25
    ([2.0, 0.0, -3.0], [1.0, 0.0, 0.0]),     # a gap >= 1: one-hot
    ([0.1, 0.1, 0.1, 0.1], [0.25] * 4),      # equal scores: uniform
    ([0.2, 0.0, -0.1], [0.5, 0.3, 0.2]),     # tau = (0.1 - 1) / 3 = -0.3: full support
])
def test_sparsemax_has_the_hand_worked_values(scores, expected):
    np.testing.assert_allclose(_numpy(sparsemax(np.array(scores))), expected, atol=1e-15)


def test_entmax15_has_the_hand_worked_values():
    # [1, 0.5, 0] / 2 - max = [0, -0.25, -0.5]; full support: (u)^2 + (u - 1/4)^2 + (u - 1/2)^2 = 1 with u = -tau,
    # i.e. 3u^2 - 1.5u - 0.6875 = 0, u = (1.5 + sqrt(10.5)) / 6.
    u = (1.5 + math.sqrt(10.5)) / 6
    np.testing.assert_allclose(_numpy(entmax15(np.array([1.0, 0.5, 0.0]))), [u ** 2, (u - 0.25) ** 2, (u - 0.5) ** 2],
                               atol=1e-15)
    # [2, 0, -3] / 2 - max = [0, -1, -2.5]: tau = -1 leaves one pattern.
    np.testing.assert_array_equal(_numpy(entmax15(np.array([2.0, 0.0, -3.0]))), [1.0, 0.0, 0.0])
    # two equal scores 0.5 apart from the third: (u)^2 * 2 + (u - 0.25)^2 = 1 -> 3u^2 - 0.5u - 0.9375 = 0.
    u = (0.5 + math.sqrt(0.25 + 4 * 3 * 0.9375)) / 6
    np.testing.assert_allclose(_numpy(entmax15(np.array([0.5, 0.5, 0.0]))), [u ** 2, u ** 2, (u - 0.25) ** 2],
                               atol=1e-15)


def _brute_force_projection(z):
    """The Euclidean projection of z onto the simplex, by trying every support (small n only)."""
    best, best_distance = None, math.inf
    for size in range(1, len(z) + 1):
        for support in itertools.combinations(range(len(z)), size):
            p = np.zeros_like(z)
            chosen = z[list(support)]
            p[list(support)] = chosen - (chosen.sum() - 1) / size
            if np.all(p >= 0) and np.sum((p - z) ** 2) < best_distance:
                best, best_distance = p, np.sum((p - z) ** 2)
    return best


def test_sparsemax_is_the_euclidean_projection_onto_the_simplex():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(200, 6)) * rng.choice([0.1, 1.0, 5.0], size=(200, 1))
    weights = _numpy(sparsemax(scores))
    np.testing.assert_allclose(weights, np.stack([_brute_force_projection(z) for z in scores]), atol=1e-12)


@pytest.mark.parametrize("name", list(SPARSE))
def test_sparse_maps_give_weights_on_the_simplex_with_exact_zeros(name):
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(500, 9)) * 3
    weights = _numpy(SPARSE[name](scores))
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, atol=1e-12)
    assert np.all(weights >= 0) and np.mean(weights == 0.0) > 0.3
    # Order is kept and a shift changes nothing.
    np.testing.assert_array_equal(np.argmax(weights, axis=-1), np.argmax(scores, axis=-1))
    np.testing.assert_allclose(_numpy(SPARSE[name](scores + 7.0)), weights, atol=1e-12)


def test_entmax15_satisfies_its_optimality_conditions():
    """p = argmax <p, z> + 4/3 (1 - sum p^1.5): z_i / 2 - sqrt(p_i) is one tau on the support, z_i / 2 <= tau off it."""
    rng = np.random.default_rng(2)
    scores = rng.normal(size=(300, 7)) * 2
    weights = _numpy(entmax15(scores))
    for z, p in zip(scores, weights):
        support = p > 0
        tau = z[support] / 2 - np.sqrt(p[support])
        np.testing.assert_allclose(tau, tau[0], atol=1e-12)
        assert np.all(z[~support] / 2 <= tau[0] + 1e-12)


@pytest.mark.parametrize("name", list(SPARSE))
def test_gradients_equal_finite_differences(name):
    rng = np.random.default_rng(3)
    scores = tf.Variable(rng.normal(size=(5, 6)) * 0.5)
    direction = tf.constant(rng.normal(size=(5, 6)))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(SPARSE[name](scores) * direction)
    gradient = tape.gradient(loss, scores).numpy()
    numeric = np.zeros_like(gradient)
    eps = 1e-6
    for index in np.ndindex(*gradient.shape):
        step = np.zeros(gradient.shape)
        step[index] = eps
        up = np.sum(_numpy(SPARSE[name](scores.numpy() + step)) * direction.numpy())
        down = np.sum(_numpy(SPARSE[name](scores.numpy() - step)) * direction.numpy())
        numeric[index] = (up - down) / (2 * eps)
    np.testing.assert_allclose(gradient, numeric, atol=1e-7)
    assert np.any(gradient != 0) and np.any(gradient == 0)  # off the support the gradient is exactly 0


@pytest.mark.parametrize("name", list(SPARSE))
def test_masked_scores_get_zero_weight_without_overflow(name):
    lowest = float(np.finfo("float32").min)
    scores = tf.Variable(np.array([[1.0, lowest, 0.5], [lowest, lowest, 2.0]], "float32"))
    with tf.GradientTape() as tape:
        weights = SPARSE[name](scores)
        loss = tf.reduce_sum(weights * tf.constant([[1.0, 2.0, 3.0]]))
    assert weights.numpy()[0, 1] == 0.0 and weights.numpy()[1].tolist() == [0.0, 0.0, 1.0]
    assert np.all(np.isfinite(tape.gradient(loss, scores).numpy()))


@pytest.mark.parametrize("name", list(SPARSE))
def test_half_precision_scores_keep_their_dtype(name):
    weights = SPARSE[name](tf.constant([[2.0, 1.5, -4.0]], tf.float16))
    assert weights.dtype == tf.float16 and float(tf.reduce_sum(weights)) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("name", ASSOCIATIONS)
def test_conjugate_is_a_smoothed_maximum_with_gradient_the_map(name):
    rng = np.random.default_rng(4)
    scores = tf.constant(rng.normal(size=(50, 8)) * 3)
    for beta in (0.01, 1.0, 100.0):
        with tf.GradientTape() as tape:
            tape.watch(scores)
            value = conjugate(scores, beta, name)
        top = np.max(scores.numpy(), axis=-1)
        assert np.all(value.numpy() >= top - 1e-12)
        assert np.all(value.numpy() <= top + max_entropy(8, name) / beta + 1e-12)
        np.testing.assert_allclose(tape.gradient(value, scores), associate(beta * scores, name), atol=1e-10)


def test_the_entropies_peak_at_the_uniform_weights():
    uniform = np.full((1, 5), 0.2)
    for name in ASSOCIATIONS:
        assert float(entropy(uniform, name)[0]) == pytest.approx(max_entropy(5, name), abs=1e-14)
        assert float(entropy(np.eye(5)[:1], name)[0]) == 0.0
    assert max_entropy(5, "softmax") == math.log(5)
    assert max_entropy(5, "sparsemax") == pytest.approx(0.4) and max_entropy(4, "entmax15") == pytest.approx(2 / 3)


def test_softmax_conjugate_is_log_sum_exp():
    scores = np.array([[1.0, 2.0, 0.5]])
    np.testing.assert_allclose(conjugate(scores, 2.0, "softmax"), [np.log(np.exp(2 * scores).sum()) / 2], rtol=1e-14)


def test_an_unknown_association_is_refused():
    with pytest.raises(ValueError, match=r"association must be one of softmax, sparsemax, entmax15. "
                                         r"Received: association='sparse'"):
        check_association("sparse")
