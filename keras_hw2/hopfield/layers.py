"""Keras layers for modern Hopfield association: `Hopfield` and `HopfieldPooling`.

Paper terms and Keras names: state patterns = ``query``, stored patterns =
keys (and, through their own projection, values), beta = inverse temperature
(``scaling`` in hopfield-layers).
"""
import math

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="keras_hw2")
class Hopfield(keras.layers.Layer):
    """Modern Hopfield association of state patterns with stored patterns.

    Steps (as in hopfield-layers, written for Keras 3):
    1. Project: ``xi = query W_Q``, ``K = stored W_K``, ``V = stored W_V``
       (each projection is the identity when switched off).
    2. Update: ``A = softmax(beta xi K^T)`` with masked stored patterns left
       out, and the new state ``A K``. Repeat while fewer than
       ``update_steps_max`` updates were made and some sequence's state moved
       more than ``update_steps_eps`` (Frobenius norm over ``(Tq, key_dim)``,
       largest over the batch).
    3. Output ``A V`` from the last update, with padded query rows set to 0.

    With ``update_steps_max=1``, all projections off and ``beta=1/sqrt(dim)``
    this is exactly single-head dot-product cross-attention.

    Args:
        key_dim: size of the Hopfield (association) space. None: the stored
            patterns' dim.
        value_dim: size of the value projection. None: ``key_dim`` when
            ``use_value_projection``, else the stored patterns' dim.
        beta: inverse temperature, a positive finite float. None:
            ``1 / sqrt(key_dim)``.
        trainable_beta: learn beta (as ``log_beta``, so it stays positive).
        use_query_projection: learn ``W_Q`` (``(query_dim, key_dim)``, no bias);
            off: the query dim must equal ``key_dim``.
        use_key_projection: learn ``W_K`` (``(stored_dim, key_dim)``); off: the
            stored dim must equal ``key_dim``.
        use_value_projection: learn ``W_V`` (``(stored_dim, value_dim)``).
        update_steps_max: the most updates, an integer >= 1.
        update_steps_eps: stop once no state moved more than this, >= 0.
        kernel_initializer: initializer of the projection kernels.
        **kwargs: base `keras.layers.Layer` arguments (``name``, ``dtype``, ...).

    Call arguments:
        inputs: ``[query, stored]``: state patterns ``(batch_size, Tq, query_dim)``
            and stored patterns ``(batch_size, N, stored_dim)``.
        mask: optional ``[query_mask, stored_mask]``, booleans
            ``(batch_size, Tq)`` and ``(batch_size, N)``; False marks padding.
            Masked stored patterns get zero weight.
        return_attention_scores: also return the association weights ``A``.

    Returns:
        ``(batch_size, Tq, value_dim)`` (``value_dim`` = stored dim when the
        value projection is off) and, with ``return_attention_scores``, the
        weights ``(batch_size, Tq, N)``.

    Raises:
        ValueError: an argument out of range, or inputs of the wrong rank or dim.

    Example:
        >>> layer = Hopfield(key_dim=8, update_steps_max=3)
        >>> tuple(layer([np.ones((2, 5, 4)), np.ones((2, 7, 6))]).shape)
        (2, 5, 8)
    """

    def __init__(self, key_dim=None, value_dim=None, beta=None, trainable_beta=False,
                 use_query_projection=True, use_key_projection=True, use_value_projection=True,
                 update_steps_max=1, update_steps_eps=1e-4, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        for name, value in (("key_dim", key_dim), ("value_dim", value_dim)):
            if value is not None and not _is_positive_int(value):
                raise ValueError(f"{name} must be None or a positive integer. Received: {name}={value!r}")
        if beta is not None and not (_is_number(beta) and math.isfinite(beta) and beta > 0):
            raise ValueError(f"beta must be None or a positive finite number. Received: beta={beta!r}")
        if not _is_positive_int(update_steps_max):
            raise ValueError("update_steps_max must be an integer >= 1. "
                             f"Received: update_steps_max={update_steps_max!r}")
        if not (_is_number(update_steps_eps) and math.isfinite(update_steps_eps) and update_steps_eps >= 0):
            raise ValueError("update_steps_eps must be a finite number >= 0. "
                             f"Received: update_steps_eps={update_steps_eps!r}")
        if value_dim is not None and not use_value_projection:
            raise ValueError("value_dim needs use_value_projection=True (without it the values are the stored "
                             f"patterns). Received: value_dim={value_dim!r}")
        self.key_dim = key_dim
        self.value_dim = value_dim
        self.beta = None if beta is None else float(beta)
        self.trainable_beta = bool(trainable_beta)
        self.use_query_projection = bool(use_query_projection)
        self.use_key_projection = bool(use_key_projection)
        self.use_value_projection = bool(use_value_projection)
        self.update_steps_max = int(update_steps_max)
        self.update_steps_eps = float(update_steps_eps)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.supports_masking = True

    def build(self, input_shape):
        query_shape, stored_shape = self._validate_inputs(input_shape)
        key_dim = self.key_dim or stored_shape[-1]
        self._check_dim("query", query_shape, key_dim, self.use_query_projection, "use_query_projection")
        self._check_dim("stored", stored_shape, key_dim, self.use_key_projection, "use_key_projection")
        self.query_kernel = self.key_kernel = self.value_kernel = self.log_beta = None
        if self.use_query_projection:
            self.query_kernel = self._add_kernel("query_kernel", (query_shape[-1], key_dim))
        if self.use_key_projection:
            self.key_kernel = self._add_kernel("key_kernel", (stored_shape[-1], key_dim))
        if self.use_value_projection:
            self.value_kernel = self._add_kernel("value_kernel", (stored_shape[-1], self.value_dim or key_dim))
        beta = self.beta if self.beta is not None else 1.0 / math.sqrt(key_dim)
        if self.trainable_beta:
            self.log_beta = self.add_weight(name="log_beta", shape=(), initializer=keras.initializers.Constant(
                math.log(beta)), dtype=self.dtype, trainable=True)
        else:
            self._fixed_beta = beta

    def _calculate_scores(self, state, key, scores_mask=None):
        """Association weights of the states over the stored patterns.

        Args:
            state: ``(batch_size, Tq, key_dim)``.
            key: ``(batch_size, N, key_dim)``.
            scores_mask: optional boolean ``(batch_size, 1, N)``; False entries get weight 0.

        Returns:
            ``softmax(beta state key^T)``, shape ``(batch_size, Tq, N)``.
        """
        beta = ops.exp(self.log_beta) if self.log_beta is not None else self._fixed_beta
        scores = beta * ops.matmul(state, ops.transpose(key, (0, 2, 1)))
        if scores_mask is not None:
            lowest = float(np.finfo(keras.backend.standardize_dtype(scores.dtype)).min)
            scores = ops.where(scores_mask, scores, lowest)
        return ops.softmax(scores, axis=-1)

    def _update(self, state, key, scores_mask=None):
        """Iterate ``state <- softmax(beta state key^T) key`` (at most update_steps_max times).

        Args:
            state: initial states ``(batch_size, Tq, key_dim)``.
            key: ``(batch_size, N, key_dim)``.
            scores_mask: optional boolean ``(batch_size, 1, N)``.

        Returns:
            The weights of the last update, ``(batch_size, Tq, N)``.
        """
        weights = self._calculate_scores(state, key, scores_mask)
        if self.update_steps_max == 1:
            return weights
        new_state = ops.matmul(weights, key)

        def moving(step, state, new_state, weights):
            moved = ops.max(ops.sqrt(ops.sum(ops.square(new_state - state), axis=(1, 2))))
            return ops.logical_and(step < self.update_steps_max, moved > self.update_steps_eps)

        def update(step, state, new_state, weights):
            weights = self._calculate_scores(new_state, key, scores_mask)
            return step + 1, new_state, ops.matmul(weights, key), weights

        _, _, _, weights = ops.while_loop(moving, update, (1, state, new_state, weights),
                                          maximum_iterations=self.update_steps_max - 1)
        return weights

    def call(self, inputs, mask=None, return_attention_scores=False):
        self._validate_inputs(inputs, mask)
        query, stored = inputs
        query_mask, stored_mask = mask if mask is not None else (None, None)
        state = self._project(query, self.query_kernel)
        key = self._project(stored, self.key_kernel)
        value = self._project(stored, self.value_kernel)
        scores_mask = None if stored_mask is None else ops.expand_dims(ops.cast(stored_mask, "bool"), axis=-2)
        weights = self._update(state, key, scores_mask)
        output = ops.matmul(weights, value)
        if query_mask is not None:
            output = ops.where(ops.expand_dims(ops.cast(query_mask, "bool"), axis=-1), output, 0)
        if return_attention_scores:
            return output, weights
        return output

    def compute_mask(self, inputs, mask=None):
        if mask is None or mask[0] is None:
            return None
        return ops.convert_to_tensor(mask[0])

    def compute_output_shape(self, input_shape):
        query_shape, stored_shape = input_shape
        if self.use_value_projection:
            return (*query_shape[:-1], self.value_dim or self.key_dim or stored_shape[-1])
        return (*query_shape[:-1], stored_shape[-1])

    def compute_output_spec(self, inputs, mask=None, return_attention_scores=False):
        query, stored = self._validate_inputs(inputs, mask)
        output = keras.KerasTensor(self.compute_output_shape([query.shape, stored.shape]), dtype=self.compute_dtype)
        if return_attention_scores:
            return output, keras.KerasTensor((*query.shape[:-1], stored.shape[-2]), dtype=self.compute_dtype)
        return output

    def _validate_inputs(self, inputs, mask=None):
        """Check for ``[query, stored]`` of rank 3 (tensors or shapes); returns the pair."""
        name = self.__class__.__name__
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError(f"{name} layer must be called on a list [query, stored]. Received: inputs={inputs!r}")
        for label, item in zip(("query", "stored"), inputs):
            shape = tuple(item.shape) if hasattr(item, "shape") else tuple(item)
            if len(shape) != 3:
                raise ValueError(f"{name} layer expects {label} of rank 3, (batch_size, "
                                 f"{'Tq' if label == 'query' else 'N'}, dim). Received: {label}.shape={shape}")
        if mask is not None and (not isinstance(mask, (list, tuple)) or len(mask) != 2):
            raise ValueError(f"{name} layer mask must be a list [query_mask, stored_mask]. Received: mask={mask!r}")
        return inputs

    def get_config(self):
        base_config = super().get_config()
        config = {
            "key_dim": self.key_dim,
            "value_dim": self.value_dim,
            "beta": self.beta,
            "trainable_beta": self.trainable_beta,
            "use_query_projection": self.use_query_projection,
            "use_key_projection": self.use_key_projection,
            "use_value_projection": self.use_value_projection,
            "update_steps_max": self.update_steps_max,
            "update_steps_eps": self.update_steps_eps,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }
        return {**base_config, **config}

    def _add_kernel(self, name, shape):
        return self.add_weight(name=name, shape=shape, initializer=self.kernel_initializer,
                               dtype=self.dtype, trainable=True)

    def _check_dim(self, label, shape, key_dim, projected, switch):
        if not projected and shape[-1] is not None and shape[-1] != key_dim:
            raise ValueError(f"{label} dim must equal key_dim={key_dim} when {switch}=False. "
                             f"Received: {label}.shape={tuple(shape)}")

    @staticmethod
    def _project(patterns, kernel):
        return patterns if kernel is None else ops.matmul(patterns, kernel)


@keras.saving.register_keras_serializable(package="keras_hw2")
class HopfieldPooling(Hopfield):
    """Hopfield pooling: learned state patterns retrieve from the input sequence.

    Like hopfield-layers' ``HopfieldPooling``: a trainable query
    ``pooling_query`` of shape ``(num_queries, stored_dim)``, projected by
    ``W_Q`` like any query (``(num_queries, key_dim)`` and used as is when
    ``use_query_projection=False``), associates with the stored patterns; the
    ``num_queries`` retrieved vectors are concatenated. A learned, content-based
    replacement for average or max pooling over a set or sequence.

    Args:
        num_queries: number of learned state patterns, a positive integer.
        **kwargs: every `Hopfield` argument.

    Call arguments:
        inputs: stored patterns ``(batch_size, N, stored_dim)``.
        mask: optional boolean ``(batch_size, N)``; False marks padding.
        return_attention_scores: also return the weights ``(batch_size, num_queries, N)``.

    Returns:
        ``(batch_size, num_queries * value_dim)``.

    Example:
        >>> tuple(HopfieldPooling(num_queries=2, key_dim=8)(np.ones((3, 5, 4))).shape)
        (3, 16)
    """

    def __init__(self, num_queries=1, **kwargs):
        super().__init__(**kwargs)
        if not _is_positive_int(num_queries):
            raise ValueError(f"num_queries must be a positive integer. Received: num_queries={num_queries!r}")
        self.num_queries = int(num_queries)

    def build(self, input_shape):
        stored_shape = self._validate_stored(input_shape)
        query_dim = self._query_dim(stored_shape)
        self.pooling_query = self._add_kernel("pooling_query", (self.num_queries, query_dim))
        super().build([(stored_shape[0], self.num_queries, query_dim), stored_shape])

    def call(self, inputs, mask=None, return_attention_scores=False):
        self._validate_stored(inputs)
        query = ops.broadcast_to(ops.expand_dims(ops.cast(self.pooling_query, inputs.dtype), 0),
                                 (ops.shape(inputs)[0], *self.pooling_query.shape))
        outputs = super().call([query, inputs], mask=None if mask is None else [None, mask],
                               return_attention_scores=return_attention_scores)
        output, weights = outputs if return_attention_scores else (outputs, None)
        output = ops.reshape(output, (ops.shape(output)[0], -1))
        return (output, weights) if return_attention_scores else output

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        query_shape = (input_shape[0], self.num_queries, self._query_dim(input_shape))
        shape = super().compute_output_shape([query_shape, input_shape])
        return (shape[0], self.num_queries * shape[-1])

    def compute_output_spec(self, inputs, mask=None, return_attention_scores=False):
        self._validate_stored(inputs)
        output = keras.KerasTensor(self.compute_output_shape(inputs.shape), dtype=self.compute_dtype)
        if return_attention_scores:
            return output, keras.KerasTensor((inputs.shape[0], self.num_queries, inputs.shape[1]),
                                             dtype=self.compute_dtype)
        return output

    def _query_dim(self, stored_shape):
        """The learned queries live in the input space, or in the Hopfield space without W_Q."""
        return stored_shape[-1] if self.use_query_projection else (self.key_dim or stored_shape[-1])

    def _validate_stored(self, inputs):
        """Check that the input is one tensor (or shape) of rank 3; returns its shape."""
        shape = tuple(inputs.shape) if hasattr(inputs, "shape") else inputs
        if not isinstance(shape, (list, tuple)) or len(shape) != 3 or isinstance(shape[0], (list, tuple)):
            raise ValueError("HopfieldPooling layer expects stored patterns of rank 3, (batch_size, N, dim). "
                             f"Received: inputs.shape={shape!r}")
        return tuple(shape)

    def get_config(self):
        return {**super().get_config(), "num_queries": self.num_queries}


def _is_number(value):
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _is_positive_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1
