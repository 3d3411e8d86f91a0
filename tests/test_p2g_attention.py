"""Bahdanau attention: the layer contract and a NumPy hand computation."""
import keras
import numpy as np
import pytest
from layer_contract import run_layer_test

from keras_hw2.p2g.attention import BahdanauAttention

RNG = np.random.default_rng(0)
QUERY, VALUE = RNG.normal(size=(2, 3, 4)).astype("float32"), RNG.normal(size=(2, 5, 6)).astype("float32")


@pytest.mark.parametrize("call_kwargs, output_shape", [
    ({}, (2, 3, 6)),
    ({"return_attention_scores": True}, ((2, 3, 6), (2, 3, 5))),  # symbolic calls returned no scores
], ids=["context", "context_and_scores"])
def test_layer_contract(call_kwargs, output_shape):
    run_layer_test(BahdanauAttention, {"units": 7}, {"query": QUERY, "value": VALUE}, call_kwargs=call_kwargs,
                   expected_output_shape=output_shape, expected_num_trainable_weights=3,
                   expected_num_params=4 * 7 + 6 * 7 + 7,  # W_s, W_h and v only
                   bad_init_kwargs=[{"units": 0}, {"units": 2.0}, {"units": True}])


def _hand_attention(layer, s, h, mask):
    w_s = layer.query_dense.kernel.numpy()
    w_h = layer.key_dense.kernel.numpy()
    v = layer.additive_attention.scale.numpy()
    e = np.tanh((s @ w_s)[:, :, None, :] + (h @ w_h)[:, None, :, :]) @ v  # (B, T, S)
    e = np.where(mask[:, None, :], e, -np.inf)
    alpha = np.exp(e - e.max(-1, keepdims=True))
    alpha /= alpha.sum(-1, keepdims=True)
    return alpha @ h, alpha


def test_matches_hand_computation_and_ignores_masked_positions():
    rng = np.random.default_rng(0)
    s = rng.normal(size=(2, 3, 4)).astype("float32")
    h = rng.normal(size=(2, 5, 6)).astype("float32")
    mask = np.array([[True] * 5, [True, True, False, False, False]])
    layer = BahdanauAttention(7)
    context, alpha = layer(s, h, value_mask=mask, return_attention_scores=True)
    expected_context, expected_alpha = _hand_attention(layer, s, h, mask)
    np.testing.assert_allclose(alpha, expected_alpha, atol=1e-6)
    np.testing.assert_allclose(context, expected_context, atol=1e-5)
    assert np.all(alpha.numpy()[1, :, 2:] == 0.0)


def test_precomputed_keys_give_the_same_result():
    rng = np.random.default_rng(1)
    s, h = rng.normal(size=(2, 1, 4)).astype("float32"), rng.normal(size=(2, 5, 6)).astype("float32")
    layer = BahdanauAttention(3)
    np.testing.assert_allclose(layer(s, h), layer(s, h, key=layer.project_keys(h)), atol=1e-6)


def test_registered_name():
    assert keras.saving.get_registered_name(BahdanauAttention) == "keras_hw2>BahdanauAttention"
