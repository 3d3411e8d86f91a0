"""Keras layers for modern Hopfield association: `Hopfield`, `HopfieldPooling` and `HopfieldLayer`.

Paper terms and Keras names: state patterns = ``query``, stored patterns =
keys (and, through their own projection, values), beta = inverse temperature
(``scaling`` in hopfield-layers).
"""
import math

import keras
import numpy as np
from keras import ops

from keras_hw2.hopfield.association import associate, check_association, conjugate, max_entropy


@keras.saving.register_keras_serializable(package="keras_hw2")
class Hopfield(keras.layers.Layer):
    """Modern Hopfield association of state patterns with stored patterns.

    Steps (as in hopfield-layers, written for Keras 3):
    1. Project: ``xi = query W_Q``, ``K = stored W_K``, ``V = stored W_V``
       (each projection is the identity when switched off), and split the
       last axis into ``num_heads`` equal blocks, one per head.
    2. Update, in every head: ``A = map(beta xi K^T)`` (``map`` the
       ``association``: softmax, sparsemax or 1.5-entmax) with masked stored
       patterns left out, and the new state ``A K``. Repeat while fewer than
       ``update_steps_max`` updates were made and some sequence's state moved
       more than ``update_steps_eps`` (Frobenius norm over ``(Tq, key_dim)``,
       all heads together, largest over the batch).
    3. Output ``A V`` from the last update, the heads concatenated, with padded
       query rows set to 0.

    With ``update_steps_max=1``, all projections off, softmax and
    ``beta=1/sqrt(key_dim / num_heads)`` this is exactly dot-product
    cross-attention; ``num_heads`` heads equal ``num_heads`` one-head layers,
    each on its block of columns of ``W_Q``, ``W_K`` and ``W_V``.

    Args:
        key_dim: size of the Hopfield (association) space, all heads together
            (each head gets ``key_dim / num_heads``). None: the stored patterns' dim.
        value_dim: size of the value projection, all heads together. None:
            ``key_dim`` when ``use_value_projection``, else the stored patterns' dim.
        num_heads: the number of heads, a positive integer dividing ``key_dim``
            and ``value_dim`` (and, without the value projection, the stored dim).
        beta: inverse temperature, a positive finite float. None:
            ``1 / sqrt(key_dim / num_heads)``.
        trainable_beta: learn beta (as ``log_beta``, so it stays positive).
        use_query_projection: learn ``W_Q`` (``(query_dim, key_dim)``, no bias);
            off: the query dim must equal ``key_dim``.
        use_key_projection: learn ``W_K`` (``(stored_dim, key_dim)``); off: the
            stored dim must equal ``key_dim``.
        use_value_projection: learn ``W_V`` (``(stored_dim, value_dim)``).
        update_steps_max: the most updates, an integer >= 1.
        update_steps_eps: stop once no state moved more than this, >= 0.
        association: ``"softmax"`` (the homework's), ``"sparsemax"`` or
            ``"entmax15"`` (`keras_hw2.hopfield.association`): the sparse maps
            give exact zeros, so a retrieval can return one stored pattern exactly.
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
        weights ``(batch_size, Tq, N)``, or ``(batch_size, num_heads, Tq, N)``
        when ``num_heads > 1`` (as `keras.layers.MultiHeadAttention`).

    Raises:
        ValueError: an argument out of range, or inputs of the wrong rank or dim.

    Example:
        >>> layer = Hopfield(key_dim=8, num_heads=2, update_steps_max=3)
        >>> tuple(layer([np.ones((2, 5, 4)), np.ones((2, 7, 6))]).shape)
        (2, 5, 8)
        >>> tuple(layer.energy(np.ones((2, 5, 4)), np.ones((2, 7, 6))).shape)  # per sequence, head and query
        (2, 2, 5)
    """

    def __init__(self, key_dim=None, value_dim=None, beta=None, trainable_beta=False,
                 use_query_projection=True, use_key_projection=True, use_value_projection=True,
                 update_steps_max=1, update_steps_eps=1e-4, num_heads=1, association="softmax",
                 kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        for name, value in (("key_dim", key_dim), ("value_dim", value_dim)):
            if value is not None and not _is_positive_int(value):
                raise ValueError(f"{name} must be None or a positive integer. Received: {name}={value!r}")
        if not _is_positive_int(num_heads):
            raise ValueError(f"num_heads must be a positive integer. Received: num_heads={num_heads!r}")
        for name, value in (("key_dim", key_dim), ("value_dim", value_dim)):
            if value is not None and value % num_heads:
                raise ValueError(f"num_heads must divide {name}={value}. Received: num_heads={num_heads!r}")
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
        self.num_heads = int(num_heads)
        self.beta = None if beta is None else float(beta)
        self.trainable_beta = bool(trainable_beta)
        self.use_query_projection = bool(use_query_projection)
        self.use_key_projection = bool(use_key_projection)
        self.use_value_projection = bool(use_value_projection)
        self.update_steps_max = int(update_steps_max)
        self.update_steps_eps = float(update_steps_eps)
        self.association = check_association(association)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.supports_masking = True

    def build(self, input_shape):
        query_shape, stored_shape = self._validate_inputs(input_shape)
        key_dim = self.key_dim or stored_shape[-1]
        self._check_dim("query", query_shape, key_dim, self.use_query_projection, "use_query_projection")
        self._check_dim("stored", stored_shape, key_dim, self.use_key_projection, "use_key_projection")
        value_dim = (self.value_dim or key_dim) if self.use_value_projection else stored_shape[-1]
        for label, dim in (("key_dim", key_dim), ("value dim", value_dim)):
            if dim % self.num_heads:
                raise ValueError(f"num_heads={self.num_heads} must divide the {label} {dim} (key_dim and value_dim "
                                 f"default to the stored dim). Received: stored.shape={tuple(stored_shape)}")
        self.query_kernel = self.key_kernel = self.value_kernel = self.log_beta = None
        if self.use_query_projection:
            self.query_kernel = self._add_kernel("query_kernel", (query_shape[-1], key_dim))
        if self.use_key_projection:
            self.key_kernel = self._add_kernel("key_kernel", (stored_shape[-1], key_dim))
        if self.use_value_projection:
            self.value_kernel = self._add_kernel("value_kernel", (stored_shape[-1], value_dim))
        beta = self.beta if self.beta is not None else 1.0 / math.sqrt(key_dim // self.num_heads)
        if self.trainable_beta:
            self.log_beta = self.add_weight(name="log_beta", shape=(), initializer=keras.initializers.Constant(
                math.log(beta)), dtype=self.dtype, trainable=True)
        else:
            self._fixed_beta = beta

    def _inverse_temperature(self):
        return ops.exp(self.log_beta) if self.log_beta is not None else self._fixed_beta

    def _calculate_scores(self, state, key, scores_mask=None):
        """Association weights of the states over the stored patterns, in every head.

        Args:
            state: ``(batch_size, num_heads, Tq, key_dim / num_heads)``.
            key: ``(batch_size, num_heads, N, key_dim / num_heads)``.
            scores_mask: optional boolean ``(batch_size, 1, 1, N)``; False entries get weight 0.

        Returns:
            ``map(beta state key^T)``, shape ``(batch_size, num_heads, Tq, N)``.
        """
        scores = self._inverse_temperature() * ops.matmul(state, ops.swapaxes(key, -1, -2))
        if scores_mask is not None:
            lowest = float(np.finfo(keras.backend.standardize_dtype(scores.dtype)).min)
            scores = ops.where(scores_mask, scores, lowest)
        return associate(scores, self.association)

    def _update(self, state, key, scores_mask=None):
        """Iterate ``state <- map(beta state key^T) key`` (at most update_steps_max times).

        Args:
            state: initial states ``(batch_size, num_heads, Tq, key_dim / num_heads)``.
            key: ``(batch_size, num_heads, N, key_dim / num_heads)``.
            scores_mask: optional boolean ``(batch_size, 1, 1, N)``.

        Returns:
            The weights of the last update, ``(batch_size, num_heads, Tq, N)``.
        """
        weights = self._calculate_scores(state, key, scores_mask)
        if self.update_steps_max == 1:
            return weights
        new_state = ops.matmul(weights, key)

        def moving(step, state, new_state, weights):
            moved = ops.max(ops.sqrt(ops.sum(ops.square(new_state - state), axis=(1, 2, 3))))
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
        state, key = self._split_heads(query, self.query_kernel), self._split_heads(stored, self.key_kernel)
        value = self._split_heads(stored, self.value_kernel)
        scores_mask = None
        if stored_mask is not None:
            scores_mask = ops.reshape(ops.cast(stored_mask, "bool"), (ops.shape(stored_mask)[0], 1, 1, -1))
        weights = self._update(state, key, scores_mask)
        heads = ops.matmul(weights, value)  # (batch_size, num_heads, Tq, value_dim / num_heads)
        shape = ops.shape(heads)
        output = ops.reshape(ops.swapaxes(heads, 1, 2), (shape[0], shape[2], self.num_heads * heads.shape[-1]))
        if query_mask is not None:
            output = ops.where(ops.expand_dims(ops.cast(query_mask, "bool"), axis=-1), output, 0)
        if return_attention_scores:
            return output, weights[:, 0] if self.num_heads == 1 else weights
        return output

    def energy(self, query, stored):
        """The modern Hopfield energy of every state in the Hopfield space, for this layer's beta and map.

        ``E(xi) = -beta^-1 Psi*(beta K xi) + 1/2 xi^T xi + beta^-1 H_max(N) + 1/2 M^2``
        with ``xi = q W_Q`` and ``K = Y W_K`` in each head, ``M`` the largest
        key norm of the sequence and ``Psi*`` the association's convex conjugate
        (softmax: ``lse``, the homework's E). Without projections it equals
        `keras_hw2.hopfield.maths.energy` of each query over its sequence's
        stored patterns; each `Hopfield` update never increases it.

        Args:
            query: ``(batch_size, Tq, query_dim)``.
            stored: ``(batch_size, N, stored_dim)``.

        Returns:
            ``(batch_size, Tq)``, or ``(batch_size, num_heads, Tq)`` when ``num_heads > 1``.
        """
        query, stored = ops.convert_to_tensor(query, self.compute_dtype), ops.convert_to_tensor(
            stored, self.compute_dtype)
        if not self.built:
            self.build([query.shape, stored.shape])
        self._validate_inputs([query, stored])
        state, key = self._split_heads(query, self.query_kernel), self._split_heads(stored, self.key_kernel)
        beta = self._inverse_temperature()
        scores = ops.matmul(state, ops.swapaxes(key, -1, -2))
        num_patterns = ops.cast(ops.shape(key)[-2], scores.dtype)
        max_norm_sq = ops.max(ops.sum(ops.square(key), axis=-1), axis=-1, keepdims=True)
        energies = (-conjugate(scores, beta, self.association) + 0.5 * ops.sum(ops.square(state), axis=-1)
                    + max_entropy(num_patterns, self.association) / beta + 0.5 * max_norm_sq)
        return energies[:, 0] if self.num_heads == 1 else energies

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
            return output, keras.KerasTensor(self._scores_shape(query.shape, stored.shape[-2]),
                                             dtype=self.compute_dtype)
        return output

    def _scores_shape(self, query_shape, num_patterns):
        """``(batch_size, Tq, N)``, or ``(batch_size, num_heads, Tq, N)`` with several heads."""
        heads = (self.num_heads,) if self.num_heads > 1 else ()
        return (query_shape[0], *heads, *query_shape[1:-1], num_patterns)

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
            "num_heads": self.num_heads,
            "beta": self.beta,
            "trainable_beta": self.trainable_beta,
            "use_query_projection": self.use_query_projection,
            "use_key_projection": self.use_key_projection,
            "use_value_projection": self.use_value_projection,
            "update_steps_max": self.update_steps_max,
            "update_steps_eps": self.update_steps_eps,
            "association": self.association,
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

    def _split_heads(self, patterns, kernel):
        """``patterns W`` (W the identity when `kernel` is None), its last axis split into the heads.

        ``(batch_size, T, dim)`` -> ``(batch_size, num_heads, T, dim_out / num_heads)``; head h
        holds columns ``h * dim_out / num_heads`` to ``(h + 1) * dim_out / num_heads``.
        """
        projected = patterns if kernel is None else ops.matmul(patterns, kernel)
        shape = ops.shape(projected)
        split = ops.reshape(projected, (shape[0], shape[1], self.num_heads, projected.shape[-1] // self.num_heads))
        return ops.swapaxes(split, 1, 2)


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
        **kwargs: every `Hopfield` argument (``num_heads``, ``association``, ...).

    Call arguments:
        inputs: stored patterns ``(batch_size, N, stored_dim)``.
        mask: optional boolean ``(batch_size, N)``; False marks padding.
        return_attention_scores: also return the weights ``(batch_size, num_queries, N)``
            (``(batch_size, num_heads, num_queries, N)`` when ``num_heads > 1``).

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
        outputs = super().call([self._queries(inputs), inputs], mask=None if mask is None else [None, mask],
                               return_attention_scores=return_attention_scores)
        output, weights = outputs if return_attention_scores else (outputs, None)
        output = ops.reshape(output, (ops.shape(output)[0], -1))
        return (output, weights) if return_attention_scores else output

    def energy(self, stored):
        """`Hopfield.energy` of the learned queries: ``(batch_size, num_queries)``
        (``(batch_size, num_heads, num_queries)`` when ``num_heads > 1``)."""
        stored = ops.convert_to_tensor(stored, self.compute_dtype)
        if not self.built:
            self.build(tuple(stored.shape))
        return super().energy(self._queries(stored), stored)

    def _queries(self, stored):
        """The learned queries repeated over the batch: ``(batch_size, num_queries, query_dim)``."""
        return ops.broadcast_to(ops.expand_dims(ops.cast(self.pooling_query, stored.dtype), 0),
                                (ops.shape(stored)[0], *self.pooling_query.shape))

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
            scores_shape = self._scores_shape((inputs.shape[0], self.num_queries, None), inputs.shape[1])
            return output, keras.KerasTensor(scores_shape, dtype=self.compute_dtype)
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


@keras.saving.register_keras_serializable(package="keras_hw2")
class HopfieldLayer(Hopfield):
    """A lookup over N stored patterns held as the layer's weights (hopfield-layers' ``HopfieldLayer``).

    The input is the state pattern; the stored patterns are the weight
    ``stored_patterns`` of shape ``(num_patterns, pattern_dim)``, trainable or
    fixed, drawn by ``patterns_initializer`` or set from an array
    (``patterns``). Keys and values are the stored patterns through ``W_K``
    and ``W_V``, as in `Hopfield`.

    `HopfieldLayer.associative_memory` builds the classic content-addressable
    memory: fixed patterns, no projections, no normalisation, so the output
    is a retrieved stored pattern itself (hopfield-layers issue #17's settings).

    Args:
        num_patterns: N, a positive integer. None: the first dim of ``patterns``.
        patterns: the initial stored patterns, an array ``(num_patterns, pattern_dim)``
            of finite numbers, or None. `get_config` does not carry it (the weights do).
        pattern_dim: the patterns' dim. None: that of ``patterns``, else the query dim.
        trainable_patterns: learn the stored patterns.
        patterns_initializer: initializer of the stored patterns when ``patterns`` is None.
        **kwargs: every `Hopfield` argument (``num_heads``, ``association``, ...).

    Call arguments:
        inputs: state patterns ``(batch_size, Tq, query_dim)`` or ``(batch_size, query_dim)``.
        mask: optional boolean ``(batch_size, Tq)`` for the rank-3 input; False marks padding.
        return_attention_scores: also return the weights over the N patterns, shaped as
            `Hopfield`'s (without the ``Tq`` axis for a rank-2 input).

    Returns:
        ``(batch_size, Tq, value_dim)`` or ``(batch_size, value_dim)``.

    Raises:
        ValueError: an argument out of range, ``patterns`` not a finite
            ``(num_patterns, pattern_dim)`` array, or an input of the wrong rank or dim.

    Example:
        >>> memory = HopfieldLayer.associative_memory(np.eye(3, dtype="float32"), beta=10.0,
        ...                                           association="sparsemax")
        >>> memory(np.array([[0.9, 0.2, 0.1]], "float32")).numpy().tolist()
        [[1.0, 0.0, 0.0]]
    """

    def __init__(self, num_patterns=None, patterns=None, pattern_dim=None, trainable_patterns=True,
                 patterns_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        for name, value in (("num_patterns", num_patterns), ("pattern_dim", pattern_dim)):
            if value is not None and not _is_positive_int(value):
                raise ValueError(f"{name} must be None or a positive integer. Received: {name}={value!r}")
        if patterns is not None:
            patterns = np.asarray(patterns)
            if patterns.ndim != 2 or patterns.dtype.kind not in "fiu" or not np.all(np.isfinite(patterns)):
                raise ValueError("patterns must be a finite numeric array of shape (num_patterns, pattern_dim). "
                                 f"Received: patterns.shape={patterns.shape} of dtype {patterns.dtype}")
            for name, value, axis in (("num_patterns", num_patterns, 0), ("pattern_dim", pattern_dim, 1)):
                if value is not None and value != patterns.shape[axis]:
                    raise ValueError(f"patterns must have {name}={value} {'rows' if axis == 0 else 'columns'}. "
                                     f"Received: patterns.shape={patterns.shape}")
            num_patterns, pattern_dim = patterns.shape
        if num_patterns is None:
            raise ValueError("num_patterns must be a positive integer (or come from patterns). "
                             "Received: num_patterns=None")
        self.num_patterns = int(num_patterns)
        self.pattern_dim = None if pattern_dim is None else int(pattern_dim)
        self.trainable_patterns = bool(trainable_patterns)
        self.patterns_initializer = keras.initializers.get(patterns_initializer)
        self._initial_patterns = patterns

    @classmethod
    def associative_memory(cls, patterns, *, beta, association="softmax", update_steps_max=1,
                           update_steps_eps=1e-4, **kwargs):
        """A content-addressable memory of `patterns`: ``memory(corrupted)`` returns the stored pattern.

        The settings hopfield-layers users had to ask for (its issue #17): the
        stored patterns fixed (not trainable), no query, key or value projection
        and no normalisation, so each update is the CCCP step
        ``q <- X^T map(beta X q)`` of `keras_hw2.hopfield.maths` and the output
        lies in the patterns' own space. With ``association="sparsemax"`` (or
        ``"entmax15"``) and a beta large enough, the weights are exactly one-hot
        and the output equals a stored pattern bit for bit.

        Args:
            patterns: ``(num_patterns, pattern_dim)`` array.
            beta: inverse temperature, a positive finite float (in the scale of ``X q``).
            association: ``"softmax"``, ``"sparsemax"`` or ``"entmax15"``.
            update_steps_max: the most CCCP updates per call.
            update_steps_eps: stop once no state moves more than this.
            **kwargs: other `HopfieldLayer` arguments (``name``, ``dtype``, ...).

        Returns:
            A `HopfieldLayer` taking queries ``(batch_size, pattern_dim)`` or
            ``(batch_size, Tq, pattern_dim)``.
        """
        return cls(patterns=patterns, trainable_patterns=False, beta=beta, association=association,
                   use_query_projection=False, use_key_projection=False, use_value_projection=False,
                   update_steps_max=update_steps_max, update_steps_eps=update_steps_eps, **kwargs)

    def build(self, input_shape):
        query_shape = self._query_shape(input_shape)
        pattern_dim = self.pattern_dim or query_shape[-1]
        initializer = (self.patterns_initializer if self._initial_patterns is None
                       else keras.initializers.Zeros())
        self.stored_patterns = self.add_weight(name="stored_patterns", shape=(self.num_patterns, pattern_dim),
                                               initializer=initializer, dtype=self.dtype,
                                               trainable=self.trainable_patterns)
        if self._initial_patterns is not None:
            self.stored_patterns.assign(self._initial_patterns.astype(self.stored_patterns.dtype))
        super().build([query_shape, (query_shape[0], self.num_patterns, pattern_dim)])

    def call(self, inputs, mask=None, return_attention_scores=False):
        self._query_shape(inputs.shape)
        single = len(inputs.shape) == 2
        query = ops.expand_dims(inputs, 1) if single else inputs
        outputs = super().call([query, self._stored(query)], mask=None if mask is None or single else [mask, None],
                               return_attention_scores=return_attention_scores)
        if not single:
            return outputs
        if return_attention_scores:
            output, weights = outputs
            return ops.squeeze(output, 1), ops.squeeze(weights, -2)
        return ops.squeeze(outputs, 1)

    def energy(self, query):
        """`Hopfield.energy` of the states over the stored patterns: ``(batch_size, Tq)``,
        ``(batch_size,)`` for a rank-2 query (a ``num_heads`` axis after the batch when ``num_heads > 1``)."""
        query = ops.convert_to_tensor(query, self.compute_dtype)
        if not self.built:
            self.build(tuple(query.shape))
        single = len(query.shape) == 2
        query = ops.expand_dims(query, 1) if single else query
        energies = super().energy(query, self._stored(query))
        return ops.squeeze(energies, -1) if single else energies

    def _stored(self, query):
        """The stored patterns repeated over the batch: ``(batch_size, num_patterns, pattern_dim)``."""
        patterns = ops.cast(self.stored_patterns, query.dtype)
        return ops.broadcast_to(ops.expand_dims(patterns, 0), (ops.shape(query)[0], *patterns.shape))

    def compute_mask(self, inputs, mask=None):
        return None if len(inputs.shape) == 2 else mask

    def compute_output_shape(self, input_shape):
        query_shape = self._query_shape(input_shape)
        pattern_dim = self.pattern_dim or query_shape[-1]
        shape = super().compute_output_shape([query_shape, (query_shape[0], self.num_patterns, pattern_dim)])
        return shape if len(input_shape) == 3 else (shape[0], shape[-1])

    def compute_output_spec(self, inputs, mask=None, return_attention_scores=False):
        output = keras.KerasTensor(self.compute_output_shape(tuple(inputs.shape)), dtype=self.compute_dtype)
        if return_attention_scores:
            query_shape = tuple(inputs.shape) if len(inputs.shape) == 3 else (inputs.shape[0], inputs.shape[1])
            scores_shape = self._scores_shape(query_shape, self.num_patterns)
            return output, keras.KerasTensor(scores_shape, dtype=self.compute_dtype)
        return output

    def _query_shape(self, shape):
        """The query shape as rank 3, ``(batch_size, Tq, query_dim)`` (``Tq = 1`` for a rank-2 query)."""
        shape = tuple(shape)
        if len(shape) not in (2, 3) or isinstance(shape[0], (list, tuple)):
            raise ValueError("HopfieldLayer expects queries of rank 2, (batch_size, dim), or 3, "
                             f"(batch_size, Tq, dim). Received: inputs.shape={shape!r}")
        return shape if len(shape) == 3 else (shape[0], 1, shape[1])

    def get_config(self):
        return {**super().get_config(), "num_patterns": self.num_patterns, "pattern_dim": self.pattern_dim,
                "patterns": None, "trainable_patterns": self.trainable_patterns,
                "patterns_initializer": keras.initializers.serialize(self.patterns_initializer)}


def _is_number(value):
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _is_positive_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1
