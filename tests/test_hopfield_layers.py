"""keras_hw2.hopfield.layers: the Hopfield and HopfieldPooling Keras layers."""
import math

import keras
import numpy as np
import pytest
from layer_contract import run_layer_test

from keras_hw2.hopfield import Hopfield, HopfieldPooling, cccp_step

NO_PROJECTIONS = {"use_query_projection": False, "use_key_projection": False, "use_value_projection": False}


def _inputs(seed=0, batch=2, num_queries=3, query_dim=4, num_patterns=5, stored_dim=6):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(batch, num_queries, query_dim)).astype("float32"),
            rng.normal(size=(batch, num_patterns, stored_dim)).astype("float32")]


BAD_ARGUMENTS = [{"update_steps_max": 0}, {"update_steps_max": 1.5}, {"update_steps_eps": -1.0},
                 {"beta": 0.0}, {"beta": -2.0}, {"beta": math.inf}, {"beta": math.nan}, {"key_dim": 0},
                 {"value_dim": 3, "use_value_projection": False}]


@pytest.mark.parametrize("kwargs, output_dim, num_weights, num_params", [
    ({}, 6, 3, 4 * 6 + 6 * 6 + 6 * 6),                                 # key_dim = value_dim = stored dim
    ({"key_dim": 8, "value_dim": 2, "trainable_beta": True, "update_steps_max": 3, "update_steps_eps": 0.0,
      "beta": 2.0, "kernel_initializer": "he_normal"}, 2, 4, 4 * 8 + 6 * 8 + 6 * 2 + 1),
    ({"key_dim": 4, "use_query_projection": False}, 4, 2, 6 * 4 + 6 * 4),
    ({"key_dim": 8, "use_value_projection": False}, 6, 2, 4 * 8 + 6 * 8),
], ids=["defaults", "every_option", "no_query_projection", "no_value_projection"])
def test_hopfield_layer_contract(kwargs, output_dim, num_weights, num_params):
    run_layer_test(Hopfield, kwargs, _inputs(), expected_output_shape=(2, 3, output_dim),
                   expected_num_trainable_weights=num_weights, expected_num_params=num_params,
                   supports_masking=True, bad_init_kwargs=BAD_ARGUMENTS)


def test_hopfield_layer_contract_with_attention_scores():
    run_layer_test(Hopfield, {"key_dim": 8, "update_steps_max": 2}, _inputs(),
                   call_kwargs={"return_attention_scores": True}, expected_output_shape=((2, 3, 8), (2, 3, 5)),
                   expected_num_trainable_weights=3)


@pytest.mark.parametrize("kwargs, call_kwargs, output_shape, num_weights, num_params", [
    ({"num_queries": 2, "key_dim": 8, "value_dim": 3, "trainable_beta": True}, {}, (2, 6), 5,
     2 * 6 + 6 * 8 + 6 * 8 + 6 * 3 + 1),
    ({"key_dim": 4, "use_query_projection": False}, {"return_attention_scores": True}, ((2, 4), (2, 1, 5)), 3,
     1 * 4 + 6 * 4 + 6 * 4),
], ids=["two_queries", "queries_in_hopfield_space_with_scores"])
def test_hopfield_pooling_layer_contract(kwargs, call_kwargs, output_shape, num_weights, num_params):
    layer = run_layer_test(HopfieldPooling, kwargs, _inputs()[1], call_kwargs=call_kwargs,
                           expected_output_shape=output_shape, expected_num_trainable_weights=num_weights,
                           expected_num_params=num_params, supports_masking=True,
                           bad_init_kwargs=[{"num_queries": 0}, {"num_queries": 2.0}, *BAD_ARGUMENTS])
    query_dim = 6 if layer.use_query_projection else layer.key_dim  # learned queries: input or Hopfield space
    assert layer.pooling_query.shape == (layer.num_queries, query_dim)


def test_attention_scores_sum_to_one():
    _, scores = Hopfield(key_dim=8, update_steps_max=3)(_inputs(), return_attention_scores=True)
    np.testing.assert_allclose(np.sum(scores, axis=-1), 1.0, rtol=1e-6)


def test_masked_stored_patterns_get_zero_weight_and_padded_queries_zero_output():
    query, stored = _inputs()
    stored_mask = np.array([[True, True, False, True, False], [True, False, False, False, False]])
    query_mask = np.array([[True, True, False], [True, True, True]])
    layer = Hopfield(key_dim=8, beta=1e6, update_steps_max=4, update_steps_eps=0.0)
    output, scores = layer([query, stored], mask=[query_mask, stored_mask], return_attention_scores=True)
    assert np.all(scores.numpy()[~np.broadcast_to(stored_mask[:, None, :], scores.shape)] == 0.0)
    np.testing.assert_allclose(scores.numpy()[1, :, 0], 1.0)  # one pattern left: all the weight
    assert np.all(np.isfinite(output.numpy()))
    np.testing.assert_array_equal(output.numpy()[0, 2], 0.0)
    unmasked = layer([query, stored[:, [0, 1, 3]]])  # masking equals leaving the patterns out
    np.testing.assert_allclose(output.numpy()[0, :2], unmasked.numpy()[0, :2], atol=1e-6)


def test_keras_masks_propagate_from_an_embedding():
    tokens = keras.Input((None,), dtype="int32")
    embedded = keras.layers.Embedding(10, 4, mask_zero=True)(tokens)
    pooled = HopfieldPooling(key_dim=4, beta=1.0)(embedded)
    attended = Hopfield(key_dim=4)([embedded, embedded])
    model = keras.Model(tokens, [pooled, attended])
    padded, short = model(np.array([[3, 5, 0, 0]])), model(np.array([[3, 5]]))
    np.testing.assert_allclose(padded[0], short[0], atol=1e-6)
    np.testing.assert_allclose(padded[1][:, :2], short[1], atol=1e-6)
    np.testing.assert_array_equal(padded[1][:, 2:], 0.0)


@pytest.mark.parametrize("steps", [1, 2, 5])
def test_update_steps_max_iterates_the_cccp_update(steps):
    query, stored = _inputs(stored_dim=4)
    beta = 0.8
    layer = Hopfield(beta=beta, update_steps_max=steps, update_steps_eps=0.0, dtype="float64", **NO_PROJECTIONS)
    expected = []
    for i in range(query.shape[1]):
        state = query[:, i].astype("float64")
        for _ in range(steps):
            state = cccp_step(state, stored.astype("float64"), beta)
        expected.append(state)
    np.testing.assert_allclose(layer([query, stored]), np.stack(expected, axis=1), atol=1e-12)


def test_update_steps_eps_stops_once_the_states_barely_move():
    query, stored = _inputs(stored_dim=4)
    one = Hopfield(beta=2.0, **NO_PROJECTIONS)([query, stored])
    stopped = Hopfield(beta=2.0, update_steps_max=50, update_steps_eps=1e9, **NO_PROJECTIONS)([query, stored])
    converged = Hopfield(beta=2.0, update_steps_max=100, update_steps_eps=1e-6, **NO_PROJECTIONS)([query, stored])
    np.testing.assert_array_equal(stopped, one)
    assert np.max(np.abs(converged - one)) > 1e-3  # more than one update was made, up to a fixed point:
    np.testing.assert_allclose(Hopfield(beta=2.0, **NO_PROJECTIONS)([converged, stored]), converged, atol=1e-5)


def test_one_update_without_projections_equals_multi_head_attention():
    dim = 6
    query, stored = _inputs(query_dim=dim, stored_dim=dim)
    mha = keras.layers.MultiHeadAttention(num_heads=1, key_dim=dim, use_bias=False)
    mha.build(query.shape, stored.shape)
    for dense in (mha.query_dense, mha.key_dense, mha.value_dense):
        dense.kernel.assign(np.eye(dim)[:, None, :])
    mha.output_dense.kernel.assign(np.eye(dim)[None])
    hopfield = Hopfield(**NO_PROJECTIONS)  # beta defaults to 1/sqrt(key_dim)
    np.testing.assert_allclose(hopfield([query, stored]), mha(query, stored), atol=1e-6)


def test_a_tiny_model_with_hopfield_pooling_trains():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    sets = rng.normal(size=(128, 6, 4)).astype("float32")
    labels = (sets[:, :, 0].max(axis=1) > 1.0).astype("float32")  # does any element have a large first feature?
    inputs = keras.Input((6, 4))
    pooled = HopfieldPooling(key_dim=8, trainable_beta=True)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(pooled))
    model.compile(optimizer=keras.optimizers.Adam(0.03), loss="binary_crossentropy")
    before = model.evaluate(sets, labels, verbose=0)
    model.fit(sets, labels, epochs=15, batch_size=32, verbose=0)
    assert model.evaluate(sets, labels, verbose=0) < 0.8 * before


class _SetClassifier(keras.Model):
    """A subclassed model: Hopfield self-association over a set, then Hopfield pooling."""

    def __init__(self):
        super().__init__()
        self.associate = Hopfield(key_dim=4, update_steps_max=2)
        self.pool = HopfieldPooling(key_dim=4)
        self.classify = keras.layers.Dense(3)

    def call(self, inputs):
        return self.classify(self.pool(self.associate([inputs, inputs])))


def test_layers_work_inside_a_subclassed_model():
    model = _SetClassifier()
    assert model(np.ones((2, 5, 4), "float32")).shape == (2, 3)
    assert len(model.trainable_weights) == 3 + 4 + 2


@pytest.mark.parametrize("inputs, kwargs, message", [
    ([np.zeros((2, 4)), np.zeros((2, 5, 4))], {}, r"query of rank 3.*Received: query.shape=\(2, 4\)"),
    ([np.zeros((2, 3, 4)), np.zeros((5, 4))], {}, r"stored of rank 3.*Received: stored.shape=\(5, 4\)"),
    ([np.zeros((2, 3, 4)), np.zeros((2, 5, 6))], NO_PROJECTIONS,
     r"query dim must equal key_dim=6 when use_query_projection=False. Received: query.shape=\(2, 3, 4\)"),
    ([np.zeros((2, 3, 4)), np.zeros((2, 5, 6))], {"key_dim": 4, "use_key_projection": False},
     r"stored dim must equal key_dim=4 when use_key_projection=False. Received: stored.shape=\(2, 5, 6\)"),
    (np.zeros((2, 3, 4)), {}, r"must be called on a list \[query, stored\]"),
])
def test_bad_inputs_are_refused(inputs, kwargs, message):
    with pytest.raises(ValueError, match=message):
        Hopfield(**kwargs)(inputs)


def test_pooling_refuses_inputs_of_the_wrong_rank():
    with pytest.raises(ValueError, match=r"Received: inputs.shape=\(2, 4\)"):
        HopfieldPooling()(np.zeros((2, 4)))
