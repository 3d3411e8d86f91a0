"""keras_hw2.hopfield.layers: the Hopfield, HopfieldPooling and HopfieldLayer Keras layers."""
import math
import re

import keras
import numpy as np
import pytest
from keras import ops
from layer_contract import run_layer_test

from keras_hw2.hopfield import Hopfield, HopfieldLayer, HopfieldPooling, cccp_step, energy

NO_PROJECTIONS = {"use_query_projection": False, "use_key_projection": False, "use_value_projection": False}


def _inputs(seed=0, batch=2, num_queries=3, query_dim=4, num_patterns=5, stored_dim=6):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(batch, num_queries, query_dim)).astype("float32"),
            rng.normal(size=(batch, num_patterns, stored_dim)).astype("float32")]


QUERY_MASK = np.array([[True, True, False], [True, True, True]])
STORED_MASK = np.array([[True, False, True, True, False], [True, True, True, True, True]])
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
                   supports_masking=True, bad_init_kwargs=BAD_ARGUMENTS, input_mask=[QUERY_MASK, STORED_MASK])


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
                           bad_init_kwargs=[{"num_queries": 0}, {"num_queries": 2.0}, *BAD_ARGUMENTS],
                           input_mask=STORED_MASK)
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


# Multi-head, sparse association, the layer's energy and the HopfieldLayer lookup (issue 26).

HEAD_ARGUMENTS = [{"num_heads": 3}, {"num_heads": 0}, {"num_heads": 2.0}, {"association": "sparse"}]


@pytest.mark.parametrize("kwargs, call_kwargs, output_shape, num_weights", [
    ({"key_dim": 8, "num_heads": 2, "association": "sparsemax", "update_steps_max": 3}, {}, (2, 3, 8), 3),
    ({"key_dim": 8, "value_dim": 4, "num_heads": 4, "association": "entmax15", "trainable_beta": True},
     {"return_attention_scores": True}, ((2, 3, 4), (2, 4, 3, 5)), 4),
    ({"key_dim": 6, "num_heads": 2, "use_key_projection": False, "use_value_projection": False},
     {"return_attention_scores": True}, ((2, 3, 6), (2, 2, 3, 5)), 1),
], ids=["two_heads_sparsemax", "four_heads_entmax_with_scores", "two_heads_identity_keys_and_values"])
def test_multi_head_and_sparse_options_keep_the_layer_contract(kwargs, call_kwargs, output_shape, num_weights):
    run_layer_test(Hopfield, kwargs, _inputs(), call_kwargs=call_kwargs, expected_output_shape=output_shape,
                   expected_num_trainable_weights=num_weights, supports_masking=True,
                   bad_init_kwargs=HEAD_ARGUMENTS if kwargs.get("key_dim") == 8 else [{"association": "sparse"}],
                   input_mask=[QUERY_MASK, STORED_MASK])


def test_pooling_with_heads_and_sparse_association_keeps_the_layer_contract():
    run_layer_test(HopfieldPooling, {"num_queries": 2, "key_dim": 8, "num_heads": 2, "association": "entmax15"},
                   _inputs()[1], call_kwargs={"return_attention_scores": True},
                   expected_output_shape=((2, 16), (2, 2, 2, 5)), expected_num_trainable_weights=4,
                   bad_init_kwargs=HEAD_ARGUMENTS, input_mask=STORED_MASK)


@pytest.mark.parametrize("kwargs, input_data, output_shape, num_weights, non_trainable", [
    ({"num_patterns": 7, "key_dim": 8, "num_heads": 2}, _inputs()[0], (2, 3, 8), 4, 0),
    ({"num_patterns": 7, "pattern_dim": 5, "trainable_patterns": False, "association": "sparsemax",
      "update_steps_max": 2}, _inputs()[0][:, 0], (2, 5), 3, 1),
    ({"patterns": np.eye(4, dtype="float32"), "use_query_projection": False, "use_key_projection": False,
      "use_value_projection": False, "beta": 5.0, "association": "entmax15"}, _inputs()[0], (2, 3, 4), 1, 0),
], ids=["trainable_patterns_two_heads", "fixed_patterns_rank_2_queries", "from_an_array_without_projections"])
def test_hopfield_lookup_layer_contract(kwargs, input_data, output_shape, num_weights, non_trainable):
    layer = run_layer_test(HopfieldLayer, kwargs, input_data, expected_output_shape=output_shape,
                           expected_num_trainable_weights=num_weights,
                           expected_num_non_trainable_weights=non_trainable,
                           bad_init_kwargs=[{"num_patterns": 0}, {"association": "sparse"}],
                           input_mask=QUERY_MASK if input_data.ndim == 3 else None)
    assert layer.stored_patterns.shape == (layer.num_patterns, layer.pattern_dim or input_data.shape[-1])
    if "patterns" in kwargs:
        np.testing.assert_array_equal(layer.stored_patterns.numpy(), kwargs["patterns"])
        assert layer.get_config()["patterns"] is None  # the weights carry the values, not the config


def test_hopfield_layer_masks_padded_queries():
    layer = HopfieldLayer(num_patterns=4)
    query = _inputs()[0]
    output = layer(query, mask=np.array([[True, False, True], [True, True, True]]))
    np.testing.assert_array_equal(output.numpy()[0, 1], 0.0)
    np.testing.assert_allclose(output.numpy()[1], layer(query).numpy()[1], atol=1e-6)


def _old_single_head(layer, query, stored):
    """The single-head layer before heads existed: rank-3 matmuls of the projected patterns, one update."""
    state, key, value = (ops.matmul(x, k) for x, k in ((query, layer.query_kernel), (stored, layer.key_kernel),
                                                         (stored, layer.value_kernel)))
    weights = ops.softmax(layer._fixed_beta * ops.matmul(state, ops.transpose(key, (0, 2, 1))), axis=-1)
    return ops.matmul(weights, value), weights


def test_one_head_is_exactly_the_single_head_layer():
    query, stored = _inputs()
    layer = Hopfield(key_dim=8, num_heads=1)
    output, scores = layer([query, stored], return_attention_scores=True)
    expected_output, expected_scores = _old_single_head(layer, query, stored)
    np.testing.assert_array_equal(output, expected_output)
    np.testing.assert_array_equal(scores, expected_scores)
    assert [w.shape for w in layer.weights] == [(4, 8), (6, 8), (6, 8)]  # old .keras files load as they were


@pytest.mark.parametrize("association", ["softmax", "sparsemax", "entmax15"])
@pytest.mark.parametrize("beta", [None, 0.7])
def test_heads_equal_single_head_layers_on_split_projections(association, beta):
    query, stored = _inputs(num_patterns=9)
    heads, key_dim, value_dim = 3, 6, 9
    layer = Hopfield(key_dim=key_dim, value_dim=value_dim, num_heads=heads, beta=beta, association=association,
                     update_steps_max=4, update_steps_eps=0.0, dtype="float64")
    output, scores = layer([query, stored], return_attention_scores=True)
    assert scores.shape == (2, heads, 3, 9)
    outputs = []
    for h in range(heads):
        single = Hopfield(key_dim=key_dim // heads, value_dim=value_dim // heads, beta=beta, association=association,
                          update_steps_max=4, update_steps_eps=0.0, dtype="float64")
        single.build([query.shape, stored.shape])
        single.query_kernel.assign(layer.query_kernel.numpy()[:, 2 * h:2 * h + 2])
        single.key_kernel.assign(layer.key_kernel.numpy()[:, 2 * h:2 * h + 2])
        single.value_kernel.assign(layer.value_kernel.numpy()[:, 3 * h:3 * h + 3])
        head_output, head_scores = single([query, stored], return_attention_scores=True)
        np.testing.assert_allclose(scores[:, h], head_scores, atol=1e-12)
        outputs.append(head_output)
    np.testing.assert_allclose(output, np.concatenate(outputs, axis=-1), atol=1e-12)


@pytest.mark.parametrize("association", ["softmax", "sparsemax", "entmax15"])
def test_sparse_association_masks_and_sums_to_one(association):
    query, stored = _inputs()
    stored_mask = np.array([[True, True, False, True, False], [True, True, True, True, True]])
    layer = Hopfield(key_dim=8, num_heads=2, association=association, beta=3.0)
    _, scores = layer([query, stored], mask=[None, stored_mask], return_attention_scores=True)
    np.testing.assert_allclose(np.sum(scores, axis=-1), 1.0, rtol=1e-6)
    assert np.all(scores.numpy()[0][..., ~stored_mask[0]] == 0.0)


def test_sparsemax_gives_exact_zeros_where_softmax_does_not():
    query, stored = _inputs()
    dense = Hopfield(beta=1.0, **NO_PROJECTIONS)([stored, stored], return_attention_scores=True)
    sparse = Hopfield(beta=1.0, association="sparsemax", **NO_PROJECTIONS)([stored, stored],
                                                                          return_attention_scores=True)
    assert np.all(dense[1].numpy() > 0) and np.mean(sparse[1].numpy() == 0) > 0.3


@pytest.mark.parametrize("association", ["softmax", "sparsemax", "entmax15"])
def test_energy_without_projections_equals_the_maths_module(association):
    query, stored = (x.astype("float64") for x in _inputs(query_dim=6))
    beta = 2.5
    layer = Hopfield(beta=beta, association=association, dtype="float64", **NO_PROJECTIONS)
    energies = layer.energy(query, stored)
    assert energies.shape == (2, 3)
    expected = np.stack([energy(query[:, t], stored, beta, association) for t in range(3)], axis=1)
    np.testing.assert_allclose(energies, expected, rtol=1e-12)
    # Per head, the maths module's energy on the head's block of coordinates.
    heads = Hopfield(beta=beta, association=association, num_heads=2, dtype="float64", **NO_PROJECTIONS)
    per_head = heads.energy(query, stored)
    assert per_head.shape == (2, 2, 3)
    for h, block in enumerate((slice(0, 3), slice(3, 6))):
        expected = np.stack([energy(query[:, t, block], stored[..., block], beta, association) for t in range(3)], 1)
        np.testing.assert_allclose(per_head[:, h], expected, rtol=1e-12)


@pytest.mark.parametrize("association", ["softmax", "sparsemax", "entmax15"])
def test_energy_with_projections_is_that_of_the_projected_patterns_and_never_rises(association):
    query, stored = (x.astype("float64") for x in _inputs())
    layer = Hopfield(key_dim=4, beta=1.5, association=association, use_value_projection=False, dtype="float64")
    layer([query, stored])
    state, key = query @ layer.query_kernel.numpy(), stored @ layer.key_kernel.numpy()
    expected = np.stack([energy(state[:, t], key, 1.5, association) for t in range(3)], axis=1)
    np.testing.assert_allclose(layer.energy(query, stored), expected, rtol=1e-12)
    previous = expected
    for _ in range(5):  # CCCP updates in the Hopfield space, the layer's update rule
        state = np.stack([cccp_step(state[:, t], key, 1.5, association) for t in range(3)], axis=1)
        current = np.stack([energy(state[:, t], key, 1.5, association) for t in range(3)], axis=1)
        assert np.all(current <= previous + 1e-12)
        previous = current


def test_pooling_and_lookup_layers_have_an_energy():
    stored = _inputs()[1]
    assert HopfieldPooling(num_queries=2, key_dim=4).energy(stored).shape == (2, 2)
    assert HopfieldPooling(num_queries=2, key_dim=4, num_heads=2).energy(stored).shape == (2, 2, 2)
    memory = HopfieldLayer(num_patterns=5)
    assert memory.energy(_inputs()[0]).shape == (2, 3) and memory.energy(_inputs()[0][:, 0]).shape == (2,)


@pytest.mark.parametrize("association", ["softmax", "sparsemax", "entmax15"])
def test_associative_memory_retrieves_every_pattern_from_20_percent_corruption_exactly(association):
    rng = np.random.default_rng(0)
    patterns = rng.choice([-1.0, 1.0], size=(64, 100)).astype("float32")
    corrupted = np.where(rng.random(patterns.shape) < 0.2, -patterns, patterns)
    memory = HopfieldLayer.associative_memory(patterns, beta=10.0, association=association)
    np.testing.assert_array_equal(memory(corrupted), patterns)
    assert memory.trainable_weights == [] and memory.stored_patterns.shape == (64, 100)
    retrieved, scores = memory(corrupted[:3], return_attention_scores=True)
    np.testing.assert_array_equal(scores, np.eye(64, dtype="float32")[:3])  # exactly one pattern each


def test_hopfield_layer_learns_its_patterns():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    targets = rng.normal(size=(3, 4)).astype("float32")
    queries = np.repeat(targets, 20, axis=0) + 0.1 * rng.normal(size=(60, 4)).astype("float32")
    model = keras.Sequential([keras.Input((4,)), HopfieldLayer(num_patterns=3, beta=4.0, **NO_PROJECTIONS)])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    before = model.evaluate(queries, np.repeat(targets, 20, axis=0), verbose=0)
    model.fit(queries, np.repeat(targets, 20, axis=0), epochs=30, batch_size=20, verbose=0)
    assert model.evaluate(queries, np.repeat(targets, 20, axis=0), verbose=0) < 0.2 * before


@pytest.mark.parametrize("kwargs, message", [
    ({"num_heads": 3, "key_dim": 8}, "num_heads must divide key_dim=8. Received: num_heads=3"),
    ({"num_heads": 2, "value_dim": 5}, "num_heads must divide value_dim=5. Received: num_heads=2"),
    ({"association": "softmax2"}, "Received: association='softmax2'"),
])
def test_bad_head_and_association_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        Hopfield(**kwargs)


def test_heads_not_dividing_the_stored_dim_are_refused_at_build():
    with pytest.raises(ValueError, match=r"num_heads=4 must divide the key_dim 6 .*Received: stored.shape=\(2, 5, 6\)"):
        Hopfield(num_heads=4)(_inputs())


@pytest.mark.parametrize("kwargs, message", [
    ({"patterns": np.zeros((3,))}, "Received: patterns.shape=(3,)"),
    ({"patterns": np.zeros((3, 4)), "num_patterns": 5}, "patterns must have num_patterns=5 rows. "
                                                        "Received: patterns.shape=(3, 4)"),
    ({"patterns": np.zeros((3, 4)), "pattern_dim": 2}, "patterns must have pattern_dim=2 columns"),
    ({"patterns": np.array([[np.nan, 1.0]])}, "patterns must be a finite numeric array"),
    ({}, "num_patterns must be a positive integer (or come from patterns). Received: num_patterns=None"),
])
def test_hopfield_layer_refuses_patterns_of_the_wrong_shape(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        HopfieldLayer(**kwargs)


def test_associative_memory_refuses_queries_of_another_dim():
    memory = HopfieldLayer.associative_memory(np.ones((3, 4)), beta=1.0)
    with pytest.raises(ValueError, match=r"query dim must equal key_dim=4 when use_query_projection=False"):
        memory(np.ones((2, 5)))
