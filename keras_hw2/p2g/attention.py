"""Bahdanau (additive) attention: e_ti = vᵀ tanh(W_s s_t + W_h h_i)."""
import keras

from keras_hw2.checks import Integer


@keras.saving.register_keras_serializable(package="keras_hw2")
class BahdanauAttention(keras.layers.Layer):
    """Additive attention of decoder states over encoder outputs (Bahdanau et al., 2015).

    1. Project the query (decoder states s_t) with W_s and the keys (encoder
       outputs h_i) with W_h, both without bias, to `units` dimensions.
    2. `keras.layers.AdditiveAttention` (with its learned scale vector = v)
       computes e_ti = vᵀ tanh(W_s s_t + W_h h_i), a softmax over the unmasked
       source positions only, and the context c_t = Σ_i α_ti h_i over the
       unprojected encoder outputs (the values).

    `AdditiveAttention` alone adds query and key without projecting them, so
    the two projections live here; the key projection can be computed once per
    source sentence and passed as `key` at every decoding step.

    Args:
        units: size of the projected space (of W_s, W_h and v).

    Call arguments:
        query: decoder states ``(batch_size, T, query_dim)``.
        value: encoder outputs ``(batch_size, S, value_dim)``.
        key: optional projected keys ``(batch_size, S, units)``, from `project_keys`.
        value_mask: optional boolean ``(batch_size, S)``, False at padding.
        return_attention_scores: also return α.

    Returns:
        Contexts ``(batch_size, T, value_dim)`` and, if asked, attention weights
        ``(batch_size, T, S)``.

    Example:
    >>> layer = BahdanauAttention(8)
    >>> tuple(layer(keras.ops.ones((2, 3, 4)), keras.ops.ones((2, 5, 6))).shape)
    (2, 3, 6)
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        Integer(minimum=1).check("units", units)
        self.units = units
        sublayer_kwargs = {"dtype": self.dtype_policy}  # sublayers compute in this layer's dtype
        self.query_dense = keras.layers.Dense(units, use_bias=False, name="query_dense", **sublayer_kwargs)  # W_s
        self.key_dense = keras.layers.Dense(units, use_bias=False, name="key_dense", **sublayer_kwargs)  # W_h
        self.additive_attention = keras.layers.AdditiveAttention(  # v
            use_scale=True, name="additive_attention", **sublayer_kwargs)

    def build(self, query_shape, value_shape):
        self.query_dense.build(query_shape)
        self.key_dense.build(value_shape)
        projected = (None, None, self.units)
        self.additive_attention.build([projected, tuple(value_shape), projected])

    def project_keys(self, value):
        """W_h h_i: ``(batch_size, S, value_dim)`` -> ``(batch_size, S, units)``."""
        return self.key_dense(value)

    def call(self, query, value, key=None, value_mask=None, return_attention_scores=False):
        if key is None:
            key = self.project_keys(value)
        return self.additive_attention([self.query_dense(query), value, key], mask=[None, value_mask],
                                       return_attention_scores=return_attention_scores)

    def compute_output_shape(self, query_shape, value_shape):
        return (*query_shape[:-1], value_shape[-1])

    def compute_output_spec(self, query, value, key=None, value_mask=None, return_attention_scores=False):
        context = keras.KerasTensor(self.compute_output_shape(query.shape, value.shape), dtype=self.compute_dtype)
        if return_attention_scores:
            return context, keras.KerasTensor((*query.shape[:-1], value.shape[-2]), dtype=self.compute_dtype)
        return context

    def get_config(self):
        return {**super().get_config(), "units": self.units}
