"""Encoder masking, teacher forcing vs one-step decoding, tying, parameter counts, save/load."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_hw2.p2g.models import Encoder, Seq2Seq
from keras_hw2.p2g.vocab import SPECIAL_TOKENS

SOURCE = [*SPECIAL_TOKENS, "a", "b", "c"]  # 7 tokens
TARGET = [*SPECIAL_TOKENS, "x", "y"]  # 6 tokens
SRC = np.array([[4, 5, 6, 0], [6, 4, 0, 0]], "int32")
DEC = np.array([[1, 4, 5, 4, 5], [1, 5, 0, 0, 0]], "int32")


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


def test_every_trainable_weight_gets_a_finite_gradient():
    model = _model(use_attention=True)
    with tf.GradientTape() as tape:
        logits = model((SRC, DEC), training=True)
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0)(DEC, logits)
    grads = tape.gradient(loss, model.trainable_variables)
    assert all(g is not None and np.all(np.isfinite(tf.convert_to_tensor(g))) for g in grads)


def test_keras_file_round_trip_keeps_vocabularies_and_outputs(tmp_path):
    model = _model(use_attention=True)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert loaded.source_vocabulary.tokens == SOURCE and loaded.target_vocabulary.tokens == TARGET
    np.testing.assert_allclose(loaded((SRC, DEC), training=False), model((SRC, DEC), training=False), atol=1e-6)


def test_odd_units_are_refused():
    with pytest.raises(ValueError, match="Received: units=7"):
        Encoder(5, 7)
