"""The Transformer speller: an encoder-decoder of `keras.layers.MultiHeadAttention` blocks.

`TransformerSpeller` stands wherever a `keras_hw2.p2g.models.Seq2Seq` does
(training, `Speller`, `Ensemble`, export): it carries its vocabularies, its
call is the teacher-forced pass ``(source_ids, decoder_inputs) -> logits``
(with ``return_attention_scores`` also the last decoder block's
cross-attention, averaged over heads) and its `step_function` is the
samplers' one-step hook (`keras_hw2.p2g.decoding.generate`).

Incremental decoding: the decoding states hold, per decoder block, the
self-attention keys and values of every position decoded so far, in a cache of
`MAX_LENGTH` positions (fixed, so the decoding loop keeps its shapes), and the
position counter. A step embeds one token, projects only its own query, key
and value (with the attention layer's own `query_dense`, `key_dense` and
`value_dense`), writes them into the cache and attends over the positions up to
it; the cross-attention keys and values of the source are projected once per
source. The result equals the full causal pass (a test checks it to 1e-5).
"""
import math

import keras
import tensorflow as tf

from keras_hw2.checks import Integer, Number
from keras_hw2.errors import InputError
from keras_hw2.p2g import decoding
from keras_hw2.p2g.decoding import MAX_LENGTH
from keras_hw2.p2g.vocab import Vocabulary

FEEDFORWARD_FACTOR = 4  # the feed-forward layer is FEEDFORWARD_FACTOR * units wide (Vaswani et al.)


def check_heads(units, heads, flags=("units", "heads")) -> None:
    """Raise `InputError` unless `units` splits evenly into `heads` heads (`flags` name them in the message)."""
    if units % heads:
        raise InputError(f"{flags[0]} must be divisible by {flags[1]} (each head takes {flags[0]}/{flags[1]} "
                         f"dimensions). Received: {flags[0]}={units}, {flags[1]}={heads}")


def positional_encoding(positions, units):
    """Sinusoidal positions (Vaswani et al., 2017): ``(...)`` int positions -> ``(..., units)`` float32.

    Dimension ``2i`` holds sin(pos / 10000^(2i/units)), ``2i+1`` the cosine.

    Example:
    >>> positional_encoding(tf.constant([0, 1]), 4).numpy().astype("float64").round(3).tolist()
    [[0.0, 1.0, 0.0, 1.0], [0.841, 0.54, 0.01, 1.0]]
    """
    frequencies = tf.pow(10000.0, -tf.range(0, units, 2, dtype=tf.float32) / float(units))  # (ceil(units/2),)
    angles = tf.cast(positions, tf.float32)[..., None] * frequencies
    pairs = tf.stack([tf.sin(angles), tf.cos(angles)], axis=-1)  # (..., units/2, 2): interleaved
    return tf.reshape(pairs, tf.concat([tf.shape(positions), [-1]], 0))[..., :units]


def _attend(attention, query, keys, values, mask):
    """One query position through `attention`'s own projections, over keys/values already projected.

    Args:
        attention: a built `keras.layers.MultiHeadAttention`.
        query: ``(batch_size, 1, units)`` the block's normalised input.
        keys, values: ``(batch_size, L, heads, key_dim)`` projected by its `key_dense` / `value_dense`.
        mask: ``(batch_size, L)`` bool, True where the position may be attended.

    Returns:
        ``(batch_size, 1, units)``, as ``attention(query, ...)`` with that mask.
    """
    query = attention.query_dense(query) / math.sqrt(float(attention.key_dim))  # (batch_size, 1, heads, key_dim)
    scores = tf.einsum("bqhd,bkhd->bhqk", query, keys)
    scores = tf.where(mask[:, None, None, :], scores, tf.cast(-1e9, scores.dtype))
    weights = tf.nn.softmax(scores, axis=-1)
    return attention.output_dense(tf.einsum("bhqk,bkhd->bqhd", weights, values))


def _write(cache, position, value):
    """`cache` ``(batch_size, L, heads, key_dim)`` with row b's slot ``position[b]`` set to ``value[b, 0]``."""
    slot = tf.one_hot(position, tf.shape(cache)[1], dtype=cache.dtype)[:, :, None, None]  # (batch_size, L, 1, 1)
    return cache * (1.0 - slot) + value * slot


class _Block(keras.layers.Layer):
    """What both blocks share: the feed-forward sublayer and residual dropout (pre-layer-norm residuals)."""

    def __init__(self, units, heads, dropout, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.heads = heads
        self.dropout = dropout
        dtype = self.dtype_policy
        self.feedforward_norm = keras.layers.LayerNormalization(epsilon=1e-6, name="feedforward_norm", dtype=dtype)
        self.feedforward_inner = keras.layers.Dense(FEEDFORWARD_FACTOR * units, activation="relu",
                                                    name="feedforward_inner", dtype=dtype)
        self.feedforward_outer = keras.layers.Dense(units, name="feedforward_outer", dtype=dtype)
        self.residual_dropout = keras.layers.Dropout(dropout, dtype=dtype)

    def _attention_layer(self, name):
        return keras.layers.MultiHeadAttention(self.heads, self.units // self.heads, dropout=self.dropout,
                                               name=name, dtype=self.dtype_policy)

    def _build_feedforward(self):
        self.feedforward_norm.build((None, None, self.units))
        self.feedforward_inner.build((None, None, self.units))
        self.feedforward_outer.build((None, None, FEEDFORWARD_FACTOR * self.units))

    def _feedforward(self, x, training=None):
        inner = self.feedforward_inner(self.feedforward_norm(x))
        return x + self.residual_dropout(self.feedforward_outer(inner), training=training)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "heads": self.heads, "dropout": self.dropout}


@keras.saving.register_keras_serializable(package="keras_hw2")
class TransformerEncoderBlock(_Block):
    """x + SelfAttention(LN(x)) (padding masked), then x + FFN(LN(x)); ``(batch_size, S, units)`` in and out.

    Call arguments:
        x: ``(batch_size, S, units)``.
        mask: ``(batch_size, S)`` bool, False at padding (never attended).
    """

    def __init__(self, units, heads, dropout=0.0, **kwargs):
        super().__init__(units, heads, dropout, **kwargs)
        self.attention_norm = keras.layers.LayerNormalization(epsilon=1e-6, name="attention_norm",
                                                              dtype=self.dtype_policy)
        self.attention = self._attention_layer("attention")

    def build(self, input_shape):
        shape = (None, None, self.units)
        self.attention_norm.build(shape)
        self.attention.build(shape, shape)
        self._build_feedforward()

    def call(self, x, mask, training=None):
        normalised = self.attention_norm(x)
        attended = self.attention(normalised, normalised, attention_mask=mask[:, None, :] & mask[:, :, None],
                                  training=training)
        return self._feedforward(x + self.residual_dropout(attended, training=training), training)


@keras.saving.register_keras_serializable(package="keras_hw2")
class TransformerDecoderBlock(_Block):
    """x + CausalSelfAttention(LN(x)), x + CrossAttention(LN(x), memory), x + FFN(LN(x)).

    `call` is the teacher-forced pass over a whole target sequence; `step` the
    same block for one position with the self-attention keys/values cached.

    Call arguments:
        x: ``(batch_size, T, units)``.
        memory: ``(batch_size, S, units)`` the encoder's output.
        source_mask: ``(batch_size, S)`` bool, False at the source's padding.
        return_attention_scores: also return the cross-attention ``(batch_size, heads, T, S)``.
    """

    def __init__(self, units, heads, dropout=0.0, **kwargs):
        super().__init__(units, heads, dropout, **kwargs)
        dtype = self.dtype_policy
        self.self_attention_norm = keras.layers.LayerNormalization(epsilon=1e-6, name="self_attention_norm",
                                                                   dtype=dtype)
        self.self_attention = self._attention_layer("self_attention")
        self.cross_attention_norm = keras.layers.LayerNormalization(epsilon=1e-6, name="cross_attention_norm",
                                                                    dtype=dtype)
        self.cross_attention = self._attention_layer("cross_attention")

    def build(self, input_shape):
        shape = (None, None, self.units)
        for norm in (self.self_attention_norm, self.cross_attention_norm):
            norm.build(shape)
        self.self_attention.build(shape, shape)
        self.cross_attention.build(shape, shape)
        self._build_feedforward()

    def call(self, x, memory, source_mask, training=None, return_attention_scores=False):
        normalised = self.self_attention_norm(x)
        attended = self.self_attention(normalised, normalised, use_causal_mask=True, training=training)
        x = x + self.residual_dropout(attended, training=training)
        cross_mask = tf.broadcast_to(source_mask[:, None, :],
                                     tf.stack([tf.shape(x)[0], tf.shape(x)[1], tf.shape(memory)[1]]))
        attended, scores = self.cross_attention(self.cross_attention_norm(x), memory, attention_mask=cross_mask,
                                                return_attention_scores=True, training=training)
        x = self._feedforward(x + self.residual_dropout(attended, training=training), training)
        return (x, scores) if return_attention_scores else x

    def project_memory(self, memory):
        """The cross-attention keys and values of `memory`, each ``(batch_size, S, heads, units/heads)``."""
        return self.cross_attention.key_dense(memory), self.cross_attention.value_dense(memory)

    def step(self, x, position, keys, values, memory_keys, memory_values, source_mask):
        """One position at inference.

        Args:
            x: ``(batch_size, 1, units)`` the block's input at `position`.
            position: ``(batch_size,)`` int32, this token's position (0: SOS).
            keys, values: ``(batch_size, MAX_LENGTH, heads, units/heads)`` the self-attention cache.
            memory_keys, memory_values: `project_memory` of the encoder's output.
            source_mask: ``(batch_size, S)`` bool.

        Returns:
            ``(batch_size, 1, units)`` output and the cache with this position written.
        """
        normalised = self.self_attention_norm(x)
        keys = _write(keys, position, self.self_attention.key_dense(normalised))
        values = _write(values, position, self.self_attention.value_dense(normalised))
        seen = tf.range(tf.shape(keys)[1])[None, :] <= position[:, None]  # (batch_size, MAX_LENGTH)
        x = x + _attend(self.self_attention, normalised, keys, values, seen)
        x = x + _attend(self.cross_attention, self.cross_attention_norm(x), memory_keys, memory_values, source_mask)
        return self._feedforward(x), keys, values


@keras.saving.register_keras_serializable(package="keras_hw2")
class TransformerSpeller(keras.Model):
    """Phoneme-to-grapheme Transformer; carries its vocabularies, so a checkpoint is self-contained.

    Source and target tokens are embedded (``units``, scaled by sqrt(units)),
    sinusoidal positions added, dropout applied; `layers` pre-layer-norm encoder
    blocks (padding masked) and `layers` decoder blocks (causal self-attention,
    cross-attention over the source, padding masked), each stack closed by a
    layer norm; the output projection is tied to the target embedding
    (logits = x Eᵀ + b) unless `tie_embeddings=False`.

    Args:
        source_tokens: the phoneme vocabulary (`Vocabulary.tokens`).
        target_tokens: the character vocabulary.
        units: model width, divisible by `heads`.
        layers: encoder blocks, and as many decoder blocks.
        heads: attention heads per attention layer.
        dropout: rate after the embeddings, on every residual branch and on the attention weights.
        tie_embeddings: tie the output projection to the target embedding.

    Call arguments:
        inputs: ``(source_ids (batch_size, S), decoder_inputs (batch_size, T))``, 0 = PAD.
        return_attention_scores: also return the last decoder block's
            cross-attention averaged over heads, ``(batch_size, T, S)``.

    Returns:
        Teacher-forced logits ``(batch_size, T, len(target_tokens))`` (and the attention when asked).

    Example:
    >>> tokens = ["<pad>", "<sos>", "<eos>", "<unk>", "k"]
    >>> model = TransformerSpeller(tokens, tokens, units=8, layers=1, heads=2)
    >>> tuple(model((tf.ones((2, 3), tf.int32), tf.ones((2, 4), tf.int32))).shape)
    (2, 4, 5)
    """

    def __init__(self, source_tokens, target_tokens, units=128, layers=3, heads=4, dropout=0.1,
                 tie_embeddings=True, **kwargs):
        super().__init__(**kwargs)
        Integer(minimum=2).check("units", units)
        Integer(minimum=1).check("layers", layers)
        Integer(minimum=1).check("heads", heads)
        Number(0, 1, high_open=True).check("dropout", dropout)
        check_heads(units, heads)
        self.source_vocabulary = Vocabulary(source_tokens)
        self.target_vocabulary = Vocabulary(target_tokens)
        self.units = units
        self.layers_count = layers
        self.heads = heads
        self.dropout = dropout
        self.tie_embeddings = tie_embeddings
        dtype = self.dtype_policy
        self.source_embedding = keras.layers.Embedding(len(source_tokens), units, name="source_embedding",
                                                       dtype=dtype)
        self.target_embedding = keras.layers.Embedding(len(target_tokens), units, name="target_embedding",
                                                       dtype=dtype)
        self.embedding_dropout = keras.layers.Dropout(dropout, dtype=dtype)
        self.encoder_blocks = [TransformerEncoderBlock(units, heads, dropout, name=f"encoder_{i}", dtype=dtype)
                               for i in range(layers)]
        self.decoder_blocks = [TransformerDecoderBlock(units, heads, dropout, name=f"decoder_{i}", dtype=dtype)
                               for i in range(layers)]
        self.encoder_norm = keras.layers.LayerNormalization(epsilon=1e-6, name="encoder_norm", dtype=dtype)
        self.decoder_norm = keras.layers.LayerNormalization(epsilon=1e-6, name="decoder_norm", dtype=dtype)
        if not tie_embeddings:
            self.output_dense = keras.layers.Dense(len(target_tokens), name="output_dense", dtype=dtype)

    @property
    def use_attention(self) -> bool:
        """True: a Transformer always attends (`predict --attention-png` draws its cross-attention)."""
        return True

    def build(self, input_shape):
        source_shape, target_shape = input_shape
        self.source_embedding.build(source_shape)
        self.target_embedding.build(target_shape)
        for block in (*self.encoder_blocks, *self.decoder_blocks):
            block.build((None, None, self.units))
        self.encoder_norm.build((None, None, self.units))
        self.decoder_norm.build((None, None, self.units))
        if self.tie_embeddings:
            self.output_bias = self.add_weight(shape=(len(self.target_vocabulary.tokens),), initializer="zeros",
                                               name="output_bias")
        else:
            self.output_dense.build((None, None, self.units))

    def _embed(self, embedding, token_ids, positions, training=None):
        """``(batch_size, T)`` ids at ``(batch_size, T)`` or ``(T,)`` positions -> ``(batch_size, T, units)``."""
        x = embedding(token_ids) * math.sqrt(float(self.units)) + positional_encoding(positions, self.units)
        return self.embedding_dropout(x, training=training)

    def encode(self, source_ids, training=None):
        """``(batch_size, S)`` ids -> the memory ``(batch_size, S, units)`` and the mask ``(batch_size, S)``."""
        mask = source_ids != 0
        x = self._embed(self.source_embedding, source_ids, tf.range(tf.shape(source_ids)[1]), training)
        for block in self.encoder_blocks:
            x = block(x, mask, training=training)
        return self.encoder_norm(x), mask

    def _logits(self, x):
        x = self.decoder_norm(x)
        if self.tie_embeddings:
            return tf.matmul(x, self.target_embedding.embeddings, transpose_b=True) + self.output_bias
        return self.output_dense(x)

    def call(self, inputs, training=None, return_attention_scores=False):
        source_ids, decoder_inputs = inputs
        memory, mask = self.encode(source_ids, training)
        x = self._embed(self.target_embedding, decoder_inputs, tf.range(tf.shape(decoder_inputs)[1]), training)
        scores = None
        for block in self.decoder_blocks:
            x, scores = block(x, memory, mask, training=training, return_attention_scores=True)
        logits = self._logits(x)
        return (logits, tf.reduce_mean(scores, axis=1)) if return_attention_scores else logits

    def step_function(self, source_ids, repeats=1):
        """The samplers' one-step function and its initial states (`keras_hw2.p2g.decoding.generate`).

        Returns:
            ``next_fn(token_ids (batch_size * repeats,), states) -> (logits
            (batch_size * repeats, V), states)`` and the initial states: the
            position ``(batch_size * repeats,)`` int32 (0), then per decoder
            block its self-attention keys and values, each
            ``(batch_size * repeats, MAX_LENGTH, heads, units/heads)`` (zeros);
            each word's rows repeated `repeats` times in a row.
        """
        memory, mask = self.encode(source_ids, training=False)
        memory, mask = tf.repeat(memory, repeats, axis=0), tf.repeat(mask, repeats, axis=0)
        projected = [block.project_memory(memory) for block in self.decoder_blocks]
        rows = tf.shape(memory)[0]
        empty = tf.zeros(tf.stack([rows, MAX_LENGTH, self.heads, self.units // self.heads]), memory.dtype)
        empty = tf.ensure_shape(empty, (None, MAX_LENGTH, self.heads, self.units // self.heads))

        def next_fn(token_ids, states):
            position, caches = states[0], states[1:]
            x = self._embed(self.target_embedding, token_ids[:, None], position[:, None])
            new_caches = []
            for i, block in enumerate(self.decoder_blocks):
                x, keys, values = block.step(x, position, caches[2 * i], caches[2 * i + 1], *projected[i], mask)
                new_caches += [keys, values]
            return self._logits(x)[:, 0, :], [position + 1, *new_caches]

        return next_fn, [tf.zeros([rows], tf.int32), *[empty] * (2 * self.layers_count)]

    def generate(self, source_ids, sampler, num_samples=1, seed=None):
        """Decode ``(batch_size, S)`` source ids with `sampler` (`keras_hw2.p2g.decoding.generate`)."""
        return decoding.generate(self, source_ids, sampler, num_samples=num_samples, seed=seed)

    def get_config(self):
        return {**super().get_config(), "source_tokens": self.source_vocabulary.tokens,
                "target_tokens": self.target_vocabulary.tokens, "units": self.units, "layers": self.layers_count,
                "heads": self.heads, "dropout": self.dropout, "tie_embeddings": self.tie_embeddings}
