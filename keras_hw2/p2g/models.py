"""The seq2seq speller: BiLSTM encoder, LSTM decoder, optional Bahdanau attention."""
from typing import NamedTuple

import keras
import tensorflow as tf

from keras_hw2.checks import Integer, Number
from keras_hw2.p2g import decoding
from keras_hw2.p2g.attention import BahdanauAttention
from keras_hw2.p2g.vocab import Vocabulary


class EncodedSource(NamedTuple):
    """What the decoder needs from the encoder, for full-sequence and one-step decoding."""
    outputs: tf.Tensor  # (batch_size, S, units): BiLSTM outputs h_i
    keys: tf.Tensor  # (batch_size, S, units): W_h h_i after `Decoder.project_keys`, else `outputs`
    mask: tf.Tensor  # (batch_size, S) bool, False at padding
    states: list  # [h, c], each (batch_size, units): forward and backward final states concatenated

    def repeat(self, repeats):
        """Each row `repeats` times in a row (rows b*repeats .. b*repeats+repeats-1 are row b)."""
        rep = lambda t: tf.repeat(t, repeats, axis=0)  # noqa: E731
        return EncodedSource(rep(self.outputs), rep(self.keys), rep(self.mask), [rep(s) for s in self.states])


@keras.saving.register_keras_serializable(package="keras_hw2")
class Encoder(keras.layers.Layer):
    """Embedding(units) -> dropout -> BiLSTM(units/2 per direction) -> dropout, padding masked.

    Padding (id 0) is masked, so padded steps change neither the outputs used
    by attention nor the final states (the backward LSTM starts at each
    sequence's own last symbol).

    Args:
        vocabulary_size: number of source tokens.
        units: embedding size and BiLSTM output size (even).
        dropout: dropout rate after the embedding and on the outputs.

    Call arguments:
        inputs: ``(batch_size, S)`` int ids, 0 = PAD.

    Returns:
        `EncodedSource`: outputs ``(batch_size, S, units)``, keys (the same
        outputs), mask ``(batch_size, S)`` and states [h, c] each
        ``(batch_size, units)``.

    Example:
    >>> encoded = Encoder(5, units=4)(tf.constant([[4, 3, 0]]))
    >>> tuple(encoded.outputs.shape), encoded.mask.numpy().tolist(), tuple(encoded.states[0].shape)
    ((1, 3, 4), [[True, True, False]], (1, 4))
    """

    def __init__(self, vocabulary_size, units, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        _validate_sizes(vocabulary_size, units, dropout)
        if units % 2:
            raise ValueError(f"units must be an even integer >= 2 (half per direction). Received: units={units!r}")
        self.vocabulary_size = vocabulary_size
        self.units = units
        self.dropout = dropout
        dtype = self.dtype_policy  # sublayers compute in this layer's dtype
        self.embedding = keras.layers.Embedding(vocabulary_size, units, mask_zero=True, name="embedding", dtype=dtype)
        self.embedding_dropout = keras.layers.Dropout(dropout, dtype=dtype)
        self.bilstm = keras.layers.Bidirectional(
            keras.layers.LSTM(units // 2, return_sequences=True, return_state=True, dtype=dtype), name="bilstm",
            dtype=dtype)
        self.output_dropout = keras.layers.Dropout(dropout, dtype=dtype)

    def build(self, input_shape):
        self.embedding.build(input_shape)
        self.bilstm.build((*input_shape, self.units))

    def call(self, inputs, training=None):
        mask = inputs != 0
        x = self.embedding_dropout(self.embedding(inputs), training=training)
        outputs, forward_h, forward_c, backward_h, backward_c = self.bilstm(x, mask=mask, training=training)
        outputs = self.output_dropout(outputs, training=training)
        states = [tf.concat([forward_h, backward_h], -1), tf.concat([forward_c, backward_c], -1)]
        return EncodedSource(outputs, outputs, mask, states)

    def get_config(self):
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size, "units": self.units,
                "dropout": self.dropout}


@keras.saving.register_keras_serializable(package="keras_hw2")
class Decoder(keras.layers.Layer):
    """Embedding(units) -> dropout -> LSTM(units) [-> attention] -> dropout -> output projection.

    With attention, the attentional state s̃_t = tanh(W_out [c_t; s_t]) replaces
    s_t. The output projection is tied to the embedding (logits = x Eᵀ + b)
    unless `tie_embeddings=False`, which gives it its own Dense layer.
    `call` runs the LSTM over the whole target sequence in one call (teacher
    forcing) and projects the attention keys itself; `step` advances one token
    with the same weights (`lstm.cell`) and takes the keys already projected
    by `project_keys`, once per source.

    Args:
        vocabulary_size: number of target tokens.
        units: embedding and LSTM size.
        dropout: dropout rate after the embedding and before the projection.
        use_attention: add Bahdanau attention over the encoder outputs.
        tie_embeddings: share the embedding matrix with the output projection.

    Call arguments:
        inputs: ``(batch_size, T)`` decoder input ids (SOS first).
        encoded: the `EncodedSource` of `Encoder` (or the same four fields as a list).
        return_attention_scores: also return α ``(batch_size, T, S)``.

    Returns:
        Logits ``(batch_size, T, vocabulary_size)`` (and α when asked).

    Example:
    >>> encoder, decoder = Encoder(5, units=4), Decoder(6, units=4, use_attention=True)
    >>> encoded = encoder(tf.constant([[4, 3, 0]]))
    >>> tuple(decoder(tf.constant([[1, 5]]), encoded).shape)
    (1, 2, 6)
    """

    def __init__(self, vocabulary_size, units, dropout=0.0, use_attention=False, tie_embeddings=True, **kwargs):
        super().__init__(**kwargs)
        _validate_sizes(vocabulary_size, units, dropout)
        self.vocabulary_size = vocabulary_size
        self.units = units
        self.dropout = dropout
        self.use_attention = use_attention
        self.tie_embeddings = tie_embeddings
        dtype = self.dtype_policy  # sublayers compute in this layer's dtype
        self.embedding = keras.layers.Embedding(vocabulary_size, units, name="embedding", dtype=dtype)
        self.embedding_dropout = keras.layers.Dropout(dropout, dtype=dtype)
        self.lstm = keras.layers.LSTM(units, return_sequences=True, return_state=True, name="lstm", dtype=dtype)
        self.output_dropout = keras.layers.Dropout(dropout, dtype=dtype)
        if use_attention:
            self.attention = BahdanauAttention(units, name="attention", dtype=dtype)
            self.attention_dense = keras.layers.Dense(units, activation="tanh", use_bias=False,
                                                      name="attention_dense", dtype=dtype)  # W_out
        if not tie_embeddings:
            self.output_dense = keras.layers.Dense(vocabulary_size, name="output_dense", dtype=dtype)

    def build(self, input_shape):
        self.embedding.build(input_shape)
        self.lstm.build((*input_shape, self.units))
        if self.use_attention:
            self.attention.build((None, None, self.units), (None, None, self.units))
            self.attention_dense.build((None, None, 2 * self.units))
        if self.tie_embeddings:
            self.output_bias = self.add_weight(shape=(self.vocabulary_size,), initializer="zeros",
                                               name="output_bias")
        else:
            self.output_dense.build((None, None, self.units))

    def call(self, inputs, encoded, training=None, return_attention_scores=False):
        encoded = self.project_keys(EncodedSource(*encoded))  # a reloaded functional model passes a list
        x = self.embedding_dropout(self.embedding(inputs), training=training)
        states, _, _ = self.lstm(x, initial_state=encoded.states, training=training)
        return self._project(states, encoded, training, return_attention_scores)

    def project_keys(self, encoded):
        """`encoded` with the attention keys W_h h_i of its outputs (unchanged without attention).

        Args:
            encoded: an `EncodedSource`; its ``keys`` are ignored.

        Returns:
            The `EncodedSource` that `step` takes, keys ``(batch_size, S, units)``.
        """
        if not self.use_attention:
            return encoded
        return encoded._replace(keys=self.attention.project_keys(encoded.outputs))

    def step(self, token_ids, states, encoded):
        """One decoding step at inference: ``(batch_size,)`` ids, [h, c] -> logits ``(batch_size, V)``, [h, c].

        `encoded` must come from `project_keys` (as `Seq2Seq.encode` returns it).
        """
        x = self.embedding(token_ids)
        output, states = self.lstm.cell(x, states, training=False)
        logits = self._project(output[:, None, :], encoded, training=False)
        return logits[:, 0, :], states

    def _project(self, states, encoded, training, return_attention_scores=False):
        scores = None
        if self.use_attention:
            context, scores = self.attention(states, encoded.outputs, key=encoded.keys,
                                             value_mask=encoded.mask, return_attention_scores=True)
            states = self.attention_dense(tf.concat([context, states], -1))
        states = self.output_dropout(states, training=training)
        if self.tie_embeddings:
            logits = tf.matmul(states, self.embedding.embeddings, transpose_b=True) + self.output_bias
        else:
            logits = self.output_dense(states)
        return (logits, scores) if return_attention_scores else logits

    def get_config(self):
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size, "units": self.units,
                "dropout": self.dropout, "use_attention": self.use_attention,
                "tie_embeddings": self.tie_embeddings}


def _validate_sizes(vocabulary_size, units, dropout):
    """The constructor checks `Encoder` and `Decoder` share; raises ValueError naming the argument."""
    Integer(minimum=1).check("vocabulary_size", vocabulary_size)
    Integer(minimum=1).check("units", units)
    Number(0, 1, high_open=True).check("dropout", dropout)


@keras.saving.register_keras_serializable(package="keras_hw2")
class Seq2Seq(keras.Model):
    """Phoneme-to-grapheme model; carries its vocabularies, so a checkpoint is self-contained.

    Args:
        source_tokens: the phoneme vocabulary (`Vocabulary.tokens`).
        target_tokens: the character vocabulary.
        units: hidden size (homework: 128).
        dropout: dropout rate (homework: 0.3).
        use_attention: Bahdanau attention in the decoder.
        tie_embeddings: tie the output projection to the decoder embedding.

    Call arguments:
        inputs: ``(source_ids (batch_size, S), decoder_inputs (batch_size, T))``.

    Returns:
        Teacher-forced logits ``(batch_size, T, len(target_tokens))``.

    Example:
    >>> model = Seq2Seq(["<pad>", "<sos>", "<eos>", "<unk>", "K"], ["<pad>", "<sos>", "<eos>", "<unk>", "c"], units=4)
    >>> tuple(model((keras.ops.ones((2, 3), "int32"), keras.ops.ones((2, 5), "int32"))).shape)
    (2, 5, 5)
    """

    def __init__(self, source_tokens, target_tokens, units=128, dropout=0.3, use_attention=False,
                 tie_embeddings=True, **kwargs):
        super().__init__(**kwargs)
        self.source_vocabulary = Vocabulary(source_tokens)
        self.target_vocabulary = Vocabulary(target_tokens)
        self.units = units
        self.dropout = dropout
        self.use_attention = use_attention
        self.tie_embeddings = tie_embeddings
        self.encoder = Encoder(len(source_tokens), units, dropout, name="encoder", dtype=self.dtype_policy)
        self.decoder = Decoder(len(target_tokens), units, dropout, use_attention, tie_embeddings, name="decoder",
                               dtype=self.dtype_policy)

    def build(self, input_shape):
        source_shape, target_shape = input_shape
        self.encoder.build(source_shape)
        self.decoder.build(target_shape)

    def encode(self, source_ids, training=None) -> EncodedSource:
        """Encoder pass for `Decoder.step`; with attention, the keys W_h h_i are computed here once."""
        return self.decoder.project_keys(self.encoder(source_ids, training=training))

    def call(self, inputs, training=None, return_attention_scores=False):
        source_ids, decoder_inputs = inputs
        encoded = self.encoder(source_ids, training=training)
        return self.decoder(decoder_inputs, encoded, training=training,
                            return_attention_scores=return_attention_scores)

    def step_function(self, source_ids, repeats=1):
        """The one-step function of the samplers and its initial states, for `keras_hw2.p2g.decoding.generate`.

        Returns:
            ``next_fn(token_ids (batch_size * repeats,), states) -> (logits
            (batch_size * repeats, V), states)`` and the initial states [h, c],
            each word's row repeated `repeats` times in a row.
        """
        encoded = self.encode(source_ids, training=False).repeat(repeats)

        def next_fn(token_ids, states):
            return self.decoder.step(token_ids, states, encoded)

        return next_fn, encoded.states

    def generate(self, source_ids, sampler, num_samples=1, seed=None):
        """Decode ``(batch_size, S)`` source ids with `sampler` (`keras_hw2.p2g.decoding.generate`)."""
        return decoding.generate(self, source_ids, sampler, num_samples=num_samples, seed=seed)

    def get_config(self):
        return {**super().get_config(), "source_tokens": self.source_vocabulary.tokens,
                "target_tokens": self.target_vocabulary.tokens, "units": self.units, "dropout": self.dropout,
                "use_attention": self.use_attention, "tie_embeddings": self.tie_embeddings}
