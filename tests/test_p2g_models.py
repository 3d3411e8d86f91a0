"""Layer contracts, encoder masking, teacher forcing vs one-step decoding, tying, parameter counts."""
import keras
import numpy as np
import pytest
import tensorflow as tf
from layer_contract import run_layer_test

from keras_hw2.p2g.models import Decoder, EncodedSource, Encoder, Seq2Seq
from keras_hw2.p2g.vocab import SPECIAL_TOKENS

SOURCE = [*SPECIAL_TOKENS, "a", "b", "c"]  # 7 tokens
TARGET = [*SPECIAL_TOKENS, "x", "y"]  # 6 tokens
SRC = np.array([[4, 5, 6, 0], [6, 4, 0, 0]], "int32")
DEC = np.array([[1, 4, 5, 4, 5], [1, 5, 0, 0, 0]], "int32")
BAD_SIZES = [{"vocabulary_size": 0}, {"units": 0}, {"units": 8.0}, {"dropout": 1.0}, {"dropout": -0.1}]


def _encoded(batch_size=2, source_length=4, units=8):
    """An `EncodedSource` of random encoder outputs and states, the second source two steps shorter."""
    rng = np.random.default_rng(0)
    outputs = rng.normal(size=(batch_size, source_length, units)).astype("float32")
    mask = np.arange(source_length)[None, :] < np.array([source_length, source_length - 2])[:, None]
    states = [rng.normal(size=(batch_size, units)).astype("float32") for _ in range(2)]
    return EncodedSource(outputs, outputs, mask, states)


def test_encoder_layer_contract():
    run_layer_test(Encoder, {"vocabulary_size": 7, "units": 8, "dropout": 0.1}, SRC,
                   expected_output_shape=EncodedSource((2, 4, 8), (2, 4, 8), (2, 4), [(2, 8), (2, 8)]),
                   expected_output_dtype=EncodedSource("float32", "float32", "bool", ["float32", "float32"]), expected_num_trainable_weights=1 + 2 * 3,
                   expected_num_params=7 * 8 + 2 * 4 * 4 * (8 + 4 + 1),
                   bad_init_kwargs=[{"units": 7}, *BAD_SIZES])


@pytest.mark.parametrize("kwargs, call_kwargs, output_shape, num_weights", [
    ({}, {}, (2, 5, 6), 1 + 3 + 1),  # embedding, LSTM, output bias
    ({"tie_embeddings": False, "dropout": 0.1}, {}, (2, 5, 6), 1 + 3 + 2),
    ({"use_attention": True}, {"return_attention_scores": True}, ((2, 5, 6), (2, 5, 4)),
     1 + 3 + 3 + 1 + 1),  # ... W_s, W_h, v, W_out
], ids=["tied", "untied", "attention_with_scores"])
def test_decoder_layer_contract(kwargs, call_kwargs, output_shape, num_weights):
    # The `.keras` reload hands the decoder its `EncodedSource` as a plain list.
    run_layer_test(Decoder, {"vocabulary_size": 6, "units": 8, **kwargs}, {"inputs": DEC, "encoded": _encoded()},
                   call_kwargs=call_kwargs, expected_output_shape=output_shape,
                   expected_num_trainable_weights=num_weights, bad_init_kwargs=BAD_SIZES)


def test_seq2seq_model_contract():
    run_layer_test(Seq2Seq, {"source_tokens": SOURCE, "target_tokens": TARGET, "units": 8, "dropout": 0.0,
                             "use_attention": True}, (SRC, DEC),
                   expected_output_shape=(2, 5, 6), expected_num_trainable_weights=7 + 9,
                   bad_init_kwargs=[{"units": 7}, {"dropout": 1.0}])


def test_decoder_projects_the_keys_itself_whatever_keys_it_is_given():
    decoder = Decoder(6, 8, use_attention=True)
    encoded = _encoded()
    other_keys = encoded._replace(keys=np.zeros_like(encoded.keys))
    np.testing.assert_allclose(decoder(DEC, other_keys), decoder(DEC, encoded), atol=1e-6)
    projected = decoder.project_keys(encoded)
    np.testing.assert_allclose(projected.keys, decoder.attention.key_dense(encoded.outputs), atol=1e-6)


def _model(**kwargs):
    keras.utils.set_random_seed(0)
    model = Seq2Seq(SOURCE, TARGET, units=8, dropout=0.3, **kwargs)
    model((SRC, DEC))
    return model


def test_padding_changes_neither_final_states_nor_valid_outputs():
    keras.utils.set_random_seed(0)
    encoder = Encoder(7, 8)
    short = encoder(np.array([[6, 4]], "int32"))
    padded = encoder(np.array([[6, 4, 0, 0, 0]], "int32"))
    for a, b in zip(short.states, padded.states):
        np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_allclose(short.outputs, padded.outputs[:, :2], atol=1e-6)
    np.testing.assert_array_equal(padded.mask, [[True, True, False, False, False]])


@pytest.mark.parametrize("use_attention", [False, True])
def test_step_by_step_teacher_forcing_reproduces_full_sequence_logits(use_attention):
    model = _model(use_attention=use_attention)
    full = model((SRC, DEC), training=False)
    encoded = model.encode(SRC, training=False)
    states, steps = encoded.states, []
    for t in range(DEC.shape[1]):
        logits, states = model.decoder.step(tf.constant(DEC[:, t]), states, encoded)
        steps.append(logits)
    np.testing.assert_allclose(tf.stack(steps, axis=1), full, atol=1e-5)


def test_exact_parameter_counts_tied_and_untied_with_attention():
    h, u, vs, vt = 8, 4, 7, 6
    encoder = vs * h + 2 * 4 * u * (h + u + 1)
    decoder_lstm = 4 * h * (h + h + 1)
    attention = h * h + h * h + h + 2 * h * h  # W_s, W_h, v, W_out
    assert _model().count_params() == encoder + vt * h + decoder_lstm + vt
    assert _model(use_attention=True).count_params() == encoder + vt * h + decoder_lstm + attention + vt
    assert _model(tie_embeddings=False).count_params() == encoder + vt * h + decoder_lstm + h * vt + vt


def test_tied_projection_uses_the_decoder_embedding():
    model = _model()
    model.decoder.embedding.embeddings.assign(tf.zeros((6, 8)))
    model.decoder.output_bias.assign(tf.range(6, dtype=tf.float32))
    np.testing.assert_allclose(model((SRC, DEC), training=False)[0, 0], np.arange(6), atol=1e-6)
