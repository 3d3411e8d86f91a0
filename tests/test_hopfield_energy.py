"""keras_hw2.hopfield.maths: the energy, its closed-form calculus and CCCP retrieval."""
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_hw2 import hopfield as hf

SHAPES = [(2, 2), (5, 3), (16, 8), (40, 24)]
BETAS = [0.01, 0.1, 1.0, 10.0, 100.0, 1e6]


def _instances(seed, per_shape, shared_stored=False):
    """Random float64 (state, stored, beta) batches, one per shape, each state with its beta from BETAS."""
    rng = np.random.default_rng(seed)
    for num_patterns, dim in SHAPES:
        shape = (num_patterns, dim) if shared_stored else (per_shape, num_patterns, dim)
        stored = rng.normal(size=shape) * rng.uniform(0.5, 3.0) / math.sqrt(dim)
        state = rng.normal(size=(per_shape, dim))
        yield tf.constant(state), tf.constant(stored), tf.constant(np.resize(BETAS, per_shape), tf.float64)


def test_energy_has_the_hand_computed_value():
    stored = tf.constant([[1.0, 0.0], [0.0, 1.0]], tf.float64)
    state = tf.constant([[1.0, 0.0]], tf.float64)
    beta = 2.0
    # E = -lse(2, [1, 0]) + 1/2 + log(2)/2 + 1/2
    expected = -math.log(math.exp(2.0) + 1.0) / 2.0 + 0.5 + math.log(2.0) / 2.0 + 0.5
    np.testing.assert_allclose(hf.energy(state, stored, beta), [expected], rtol=1e-14)
    np.testing.assert_allclose(hf.energy_convex(state, stored, beta), [1.0 + math.log(2.0) / 2.0], rtol=1e-14)


@pytest.mark.parametrize("shared_stored", [False, True])
def test_gradients_equal_the_closed_forms(shared_stored):
    for state, stored, beta in _instances(0, 6, shared_stored):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(state)
            convex = hf.energy_convex(state, stored, beta)
            neg_concave = -hf.energy_concave(state, stored, beta)
            total = hf.energy(state, stored, beta)
        np.testing.assert_allclose(tape.gradient(convex, state), hf.grad_energy_convex(state), atol=1e-8, rtol=0)
        closed = hf.grad_neg_energy_concave(state, stored, beta)
        np.testing.assert_allclose(tape.gradient(neg_concave, state), closed, atol=1e-8, rtol=0)
        np.testing.assert_allclose(tape.gradient(total, state), state - closed, atol=1e-8, rtol=0)


def test_hessians_equal_the_closed_forms_and_are_positive_semidefinite():
    for state, stored, beta in _instances(1, 6):
        with tf.GradientTape(persistent=True) as outer:
            outer.watch(state)
            with tf.GradientTape(persistent=True) as inner:
                inner.watch(state)
                convex = hf.energy_convex(state, stored, beta)
                neg_concave = -hf.energy_concave(state, stored, beta)
            grad_convex = inner.gradient(convex, state)
            grad_neg_concave = inner.gradient(neg_concave, state)
        # The instances are independent, so the full (B, D, B, D) Jacobian is block diagonal.
        hessian_convex = tf.einsum("bibj->bij", outer.jacobian(grad_convex, state))
        hessian_neg_concave = tf.einsum("bibj->bij", outer.jacobian(grad_neg_concave, state))
        closed_convex = hf.hessian_energy_convex(state)
        closed_concave = hf.hessian_neg_energy_concave(state, stored, beta)
        np.testing.assert_allclose(hessian_convex, closed_convex, atol=1e-8, rtol=0)
        np.testing.assert_allclose(hessian_neg_concave, closed_concave, atol=1e-8, rtol=0)
        assert np.min(np.linalg.eigvalsh(closed_convex)) >= 1.0 - 1e-12
        assert np.min(np.linalg.eigvalsh(closed_concave)) >= -1e-10


def test_concave_hessian_matches_the_textbook_formula():
    rng = np.random.default_rng(2)
    stored, state, beta = rng.normal(size=(6, 4)), rng.normal(size=(1, 4)), 0.7
    p = np.exp(beta * stored @ state[0])
    p /= p.sum()
    expected = beta * stored.T @ (np.diag(p) - np.outer(p, p)) @ stored
    np.testing.assert_allclose(hf.hessian_neg_energy_concave(state, stored, beta)[0], expected, atol=1e-12)


def test_cccp_never_increases_the_energy_and_ends_at_a_fixed_point():
    tol, count = 1e-9, 0
    for state, stored, beta in _instances(3, 30):
        result = hf.retrieve(state, stored, beta, max_steps=5000, tol=tol)
        count += state.shape[0]
        assert int(result.num_steps) < 5000
        energies = result.energies.numpy()
        assert energies.shape == (int(result.num_steps) + 1, state.shape[0])
        assert np.max(np.diff(energies, axis=0)) <= 1e-10
        residual = np.linalg.norm(hf.cccp_step(result.state, stored, beta) - result.state, axis=-1)
        assert np.max(residual) <= tol
    assert count >= 100


def test_retrieve_returns_the_trajectory_from_query_to_final_state():
    stored = tf.constant([[1.0, 0.0], [0.0, 1.0]], tf.float64)
    query = tf.constant([[0.9, 0.2], [0.1, 0.7]], tf.float64)
    result = hf.retrieve(query, stored, 100.0, max_steps=50, tol=1e-12)
    steps = int(result.num_steps)
    assert result.trajectory.shape == (steps + 1, 2, 2)
    np.testing.assert_array_equal(result.trajectory[0], query)
    np.testing.assert_array_equal(result.trajectory[-1], result.state)
    np.testing.assert_allclose(result.state, stored, atol=1e-12)
    np.testing.assert_allclose(result.energies[-1], hf.energy(result.state, stored, 100.0))


def test_max_steps_caps_the_number_of_updates():
    rng = np.random.default_rng(4)
    result = hf.retrieve(rng.normal(size=(3, 4)), rng.normal(size=(5, 4)), 1.0, max_steps=1, tol=0.0)
    assert int(result.num_steps) == 1 and result.trajectory.shape == (2, 3, 4)


@pytest.mark.parametrize("beta", [0.01, 1.0, 1e6])
def test_lse_lies_between_max_and_max_plus_log_n_over_beta(beta):
    z = tf.constant(np.random.default_rng(5).normal(size=(50, 7)) * 10)
    value, vecmax = hf.lse(beta, z).numpy(), tf.reduce_max(z, axis=-1).numpy()
    assert np.all(vecmax <= value + 1e-12)
    assert np.all(value <= vecmax + math.log(7) / beta + 1e-12)


def test_lse_has_the_hand_computed_value():
    z = tf.constant([[0.0, math.log(3.0)]], tf.float64)
    np.testing.assert_allclose(hf.lse(1.0, z), [math.log(4.0)], rtol=1e-15)
    np.testing.assert_allclose(hf.lse(0.5, z), [2 * math.log(1 + math.sqrt(3.0))], rtol=1e-15)


def test_huge_beta_gives_no_inf_or_nan():
    rng = np.random.default_rng(6)
    stored = tf.constant(rng.normal(size=(30, 8)) * 10, tf.float32)
    state = tf.constant(rng.normal(size=(4, 8)) * 10, tf.float32)
    values = [hf.lse(1e6, hf.similarities(state, stored)), hf.energy(state, stored, 1e6),
              hf.grad_neg_energy_concave(state, stored, 1e6), hf.hessian_neg_energy_concave(state, stored, 1e6),
              hf.retrieve(state, stored, 1e6).energies]
    for value in values:
        assert np.all(np.isfinite(value.numpy()))


def test_one_update_at_inverse_sqrt_dim_equals_keras_attention():
    rng = np.random.default_rng(7)
    batch, num_queries, num_patterns, dim = 3, 4, 9, 16
    query, stored = rng.normal(size=(batch, num_queries, dim)), rng.normal(size=(batch, num_patterns, dim))
    hopfield = np.stack([hf.cccp_step(query[:, i], stored, 1 / math.sqrt(dim)) for i in range(num_queries)], 1)

    mha = keras.layers.MultiHeadAttention(num_heads=1, key_dim=dim, use_bias=False, dtype="float64")
    mha.build(query.shape, stored.shape)
    for dense in (mha.query_dense, mha.key_dense, mha.value_dense):
        dense.kernel.assign(np.eye(dim)[:, None, :])
    mha.output_dense.kernel.assign(np.eye(dim)[None])
    np.testing.assert_allclose(hopfield, mha(query, stored), atol=1e-6, rtol=0)

    attention = keras.layers.Attention(use_scale=True, dtype="float64")
    attention.build([query.shape, stored.shape])
    attention.scale.assign(1 / math.sqrt(dim))
    np.testing.assert_allclose(hopfield, attention([query, stored]), atol=1e-6, rtol=0)


def test_noisy_copy_of_a_separated_pattern_is_retrieved_in_one_step():
    rng = np.random.default_rng(8)
    stored = rng.choice([-1.0, 1.0], size=(20, 64))  # random signs: nearly orthogonal, norm 8
    noisy = stored + rng.normal(scale=0.5, size=stored.shape)
    np.testing.assert_allclose(hf.cccp_step(noisy, stored, 10.0), stored, atol=1e-10)
    result = hf.retrieve(noisy, stored, 10.0, max_steps=10, tol=1e-8)
    assert int(result.num_steps) == 2  # the second update no longer moves
    np.testing.assert_allclose(result.trajectory[1], stored, atol=1e-10)


def test_per_state_beta_equals_separate_calls():
    rng = np.random.default_rng(9)
    state, stored = rng.normal(size=(2, 3)), rng.normal(size=(4, 3))
    batched = hf.energy(state, stored, tf.constant([0.5, 4.0], tf.float64))
    separate = [hf.energy(state[i:i + 1], stored, beta)[0] for i, beta in enumerate([0.5, 4.0])]
    np.testing.assert_allclose(batched, separate, rtol=1e-14)


@pytest.mark.parametrize("state_shape, stored_shape, message", [
    ((2, 3), (5, 4), r"same dim. Received: state.shape=\(2, 3\), stored.shape=\(5, 4\)"),
    ((3,), (5, 3), r"state must have rank 2.*Received: state.shape=\(3,\)"),
    ((2, 3), (1, 2, 5, 3), r"stored must have rank 2.*Received: stored.shape=\(1, 2, 5, 3\)"),
    ((2, 3), (4, 5, 3), r"same batch_size. Received: state.shape=\(2, 3\), stored.shape=\(4, 5, 3\)"),
])
def test_bad_shapes_are_refused(state_shape, stored_shape, message):
    with pytest.raises(ValueError, match=message):
        hf.energy(np.zeros(state_shape), np.zeros(stored_shape), 1.0)


@pytest.mark.parametrize("beta, shown", [(0.0, "0.0"), (-1.0, "-1.0"), (math.inf, "inf"), (math.nan, "nan")])
def test_beta_must_be_positive_and_finite(beta, shown):
    with pytest.raises(ValueError, match=f"Received: beta={shown}"):
        hf.retrieve(np.zeros((1, 2)), np.eye(2), beta)


@pytest.mark.parametrize("kwargs, message", [
    ({"max_steps": 0}, "Received: max_steps=0"), ({"max_steps": 2.5}, "Received: max_steps=2.5"),
    ({"tol": -1.0}, "Received: tol=-1.0")])
def test_retrieve_refuses_bad_step_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        hf.retrieve(np.zeros((1, 2)), np.eye(2), 1.0, **kwargs)


# The sparse models' energies (Hu et al. 2023): the map's convex conjugate in place of lse.

def test_sparse_energies_have_the_hand_computed_values():
    stored = tf.constant([[1.0, 0.0], [0.0, 1.0]], tf.float64)
    state = tf.constant([[1.0, 0.0]], tf.float64)
    # beta X q = [2, 0]: both maps put all the weight on the first pattern (entropy 0), so the conjugate is
    # max = 1; E = -1 + 1/2 + H_max(2) / beta + 1/2 with H_max(2) = 1/4 (Gini), 4/3 (1 - 1/sqrt 2) (Tsallis 1.5).
    np.testing.assert_allclose(hf.energy(state, stored, 2.0, "sparsemax"), [0.25 / 2], rtol=1e-14)
    np.testing.assert_allclose(hf.energy(state, stored, 2.0, "entmax15"), [4 / 3 * (1 - 2 ** -0.5) / 2], rtol=1e-14)
    # beta X q = [0.5, 0]: sparsemax weights [0.75, 0.25] (tau = -0.25), Gini entropy (1 - 0.625) / 2 = 0.1875,
    # conjugate p . X q + H(p) / beta = 0.75 + 0.1875 / 0.5 = 1.125.
    expected = -(0.75 + 0.1875 / 0.5) + 0.5 + 0.25 / 0.5 + 0.5
    np.testing.assert_allclose(hf.energy(state, stored, 0.5, "sparsemax"), [expected], rtol=1e-14)


@pytest.mark.parametrize("association", ["sparsemax", "entmax15"])
def test_sparse_energy_gradients_are_the_cccp_closed_forms(association):
    for state, stored, beta in _instances(5, 6):
        with tf.GradientTape() as tape:
            tape.watch(state)
            total = hf.energy(state, stored, beta, association)
        closed = state - hf.grad_neg_energy_concave(state, stored, beta, association)
        np.testing.assert_allclose(tape.gradient(total, state), closed, atol=1e-8, rtol=0)


@pytest.mark.parametrize("association", ["sparsemax", "entmax15"])
def test_sparse_cccp_never_raises_its_energy_and_stops_on_one_pattern(association):
    for state, stored, beta in _instances(6, 8):
        energies = hf.retrieve(state, stored, beta, max_steps=2000, tol=1e-10, association=association).energies
        assert float(tf.reduce_max(energies[1:] - energies[:-1])) <= 1e-10
    stored = tf.constant([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], tf.float64)
    result = hf.retrieve(tf.constant([[0.9, 0.3, 0.5]], tf.float64), stored, 10.0, association=association)
    np.testing.assert_array_equal(result.state, [[1.0, 0.0, 0.0]])  # exactly the pattern: no other weight
    assert int(result.num_steps) == 2
