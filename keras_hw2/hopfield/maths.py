"""The modern Hopfield energy, its closed-form calculus and CCCP retrieval.

Notation (Ramsauer et al. 2020, "Hopfield Networks is All You Need"): stored
patterns X with rows x_i (N of them, dimension D), a state pattern q, inverse
temperature beta > 0, M = max_i ||x_i|| and
``lse(beta, z) = beta^-1 log sum_i exp(beta z_i)``. The energy

    E(q) = -lse(beta, X q) + 1/2 q^T q + beta^-1 log N + 1/2 M^2

splits into a convex part E1(q) = 1/2 q^T q + beta^-1 log N + 1/2 M^2 and a
concave part E2(q) = -lse(beta, X q). The concave-convex procedure (CCCP)
solves grad E1(q_{t+1}) = -grad E2(q_t), i.e. q_{t+1} = X^T softmax(beta X q_t),
and never increases E.

The same holds for the sparse maps of `keras_hw2.hopfield.association`
(``association="sparsemax"`` or ``"entmax15"``, Hu et al. 2023): ``lse`` becomes
the map's convex conjugate ``beta^-1 Psi*(beta X q)``, ``log N`` its entropy's
largest value H_max(N), and softmax in the update the map itself. ``energy``,
``energy_convex``, ``energy_concave``, ``grad_neg_energy_concave``, ``cccp_step``
and ``retrieve`` take ``association`` (default ``"softmax"``, the homework's).

Every function is batched over B state patterns: ``state`` has shape
``(batch_size, dim)``; ``stored`` has shape ``(num_patterns, dim)`` (shared by the
batch) or ``(batch_size, num_patterns, dim)`` (one set per state); ``beta`` is a
positive scalar or one value per state, shape ``(batch_size,)``. Everything is
computed with max-subtracted log-sum-exp / softmax, so beta = 1e6 is safe.
"""
import functools
import math
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from keras_hw2.hopfield.association import associate, check_association, conjugate, max_entropy


def lse(beta, z) -> tf.Tensor:
    """Log-sum-exp at inverse temperature beta over the last axis.

    Args:
        beta: positive scalar or tensor of shape ``(batch_size,)``.
        z: tensor of shape ``(batch_size, num_patterns)``.

    Returns:
        ``beta^-1 log sum_i exp(beta z_i)``, shape ``(batch_size,)``; it lies in
        ``[max(z), max(z) + beta^-1 log N]``.

    Example:
        >>> float(lse(1e6, tf.constant([[1.0, 2.0]], tf.float64))[0])
        2.0
    """
    z = tf.convert_to_tensor(z)
    beta = _validate_beta(beta, z.dtype)
    column = _broadcastable(beta, 2)
    return tf.squeeze(tf.reduce_logsumexp(column * z, axis=-1, keepdims=True) / column, axis=-1)


def similarities(state, stored) -> tf.Tensor:
    """The dot products X q of every state with every stored pattern.

    Args:
        state: ``(batch_size, dim)``.
        stored: ``(num_patterns, dim)`` or ``(batch_size, num_patterns, dim)``.

    Returns:
        Tensor of shape ``(batch_size, num_patterns)``.

    Example:
        >>> stored = tf.constant([[1.0, 0.0], [0.0, 2.0]])
        >>> similarities(tf.constant([[3.0, 1.0]]), stored).numpy().tolist()
        [[3.0, 2.0]]
    """
    state, stored = _validate_patterns(state, stored)
    return _similarities(state, stored)


def energy_convex(state, stored, beta, association: str = "softmax") -> tf.Tensor:
    """E1(q) = 1/2 q^T q + beta^-1 log N + 1/2 M^2 (H_max(N) for log N off softmax), shape ``(batch_size,)``."""
    state, stored, beta = _validate(state, stored, beta)
    num_patterns = tf.cast(tf.shape(stored)[-2], state.dtype)
    max_norm_sq = tf.reduce_max(tf.reduce_sum(tf.square(stored), axis=-1), axis=-1)
    return (0.5 * tf.reduce_sum(tf.square(state), axis=-1) + max_entropy(num_patterns, association) / beta
            + 0.5 * max_norm_sq)


def energy_concave(state, stored, beta, association: str = "softmax") -> tf.Tensor:
    """E2(q) = -lse(beta, X q) (``-beta^-1 Psi*(beta X q)`` off softmax), shape ``(batch_size,)``."""
    state, stored, beta = _validate(state, stored, beta)
    if check_association(association) == "softmax":
        return -lse(beta, _similarities(state, stored))
    return -conjugate(_similarities(state, stored), _broadcastable(beta, 2), association)


def energy(state, stored, beta, association: str = "softmax") -> tf.Tensor:
    """The modern Hopfield energy E(q) = E1(q) + E2(q), shape ``(batch_size,)``.

    Example:
        >>> stored = tf.eye(2, dtype=tf.float64)
        >>> round(float(energy(stored[:1], stored, 1.0)[0]), 6)  # -log(e + 1) + 1/2 + log 2 + 1/2
        0.379885
    """
    return energy_convex(state, stored, beta, association) + energy_concave(state, stored, beta, association)


def grad_energy_convex(state) -> tf.Tensor:
    """Closed-form gradient of E1: q, shape ``(batch_size, dim)``."""
    return tf.convert_to_tensor(state)


def grad_neg_energy_concave(state, stored, beta, association: str = "softmax") -> tf.Tensor:
    """Closed-form gradient of -E2: X^T softmax(beta X q) (the map for softmax off it), shape ``(batch_size, dim)``."""
    state, stored, beta = _validate(state, stored, beta)
    return _weighted_sum(_weights(state, stored, beta, association), stored)


def hessian_energy_convex(state) -> tf.Tensor:
    """Closed-form Hessian of E1: the identity, shape ``(batch_size, dim, dim)``."""
    state = tf.convert_to_tensor(state)
    return tf.eye(tf.shape(state)[-1], batch_shape=tf.shape(state)[:1], dtype=state.dtype)


def hessian_neg_energy_concave(state, stored, beta) -> tf.Tensor:
    """Closed-form Hessian of -E2: beta X^T (diag(p) - p p^T) X, p = softmax(beta X q).

    Computed as ``beta * sum_i p_i (x_i - m)(x_i - m)^T`` with ``m = X^T p``, the
    same matrix written as a weighted covariance, so it is positive
    semi-definite up to rounding even for large beta.

    Returns:
        Tensor of shape ``(batch_size, dim, dim)``.
    """
    state, stored, beta = _validate(state, stored, beta)
    weights = _weights(state, stored, beta)
    mean = _weighted_sum(weights, stored)
    if stored.shape.rank == 2:
        stored = stored[tf.newaxis]
    centred = stored - mean[:, tf.newaxis, :]
    covariance = tf.einsum("bn,bnd,bne->bde", weights, centred, centred)
    return _broadcastable(beta, 3) * covariance


def cccp_step(state, stored, beta, association: str = "softmax") -> tf.Tensor:
    """One CCCP update q_{t+1} = X^T softmax(beta X q_t) (or another map), shape ``(batch_size, dim)``.

    With beta = 1/sqrt(dim) this is single-head cross-attention of the states
    over the stored patterns (keys = values = X, identity projections).

    Example:
        >>> stored = tf.constant([[1.0, 0.0], [0.0, 2.0]], tf.float64)
        >>> cccp_step(tf.constant([[3.0, 1.0]], tf.float64), stored, 1.0).numpy().round(4).tolist()
        [[0.7311, 0.5379]]
    """
    return grad_neg_energy_concave(state, stored, beta, association)


class Retrieval(NamedTuple):
    """What `retrieve` returns (T = num_steps)."""

    state: tf.Tensor       # (batch_size, dim): the final state q_T
    num_steps: tf.Tensor   # (): int32, the number of updates T made
    trajectory: tf.Tensor  # (T + 1, batch_size, dim): q_0 ... q_T
    energies: tf.Tensor    # (T + 1, batch_size): E(q_0) ... E(q_T)


def retrieve(state, stored, beta, max_steps: int = 100, tol: float = 1e-6,
             association: str = "softmax") -> Retrieval:
    """Iterate the CCCP update from ``state`` until it reaches a fixed point.

    Steps:
    1. q_{t+1} = X^T softmax(beta X q_t) for all states at once.
    2. Stop after the update in which no state moved more than ``tol``
       (``max_b ||q_{t+1} - q_t|| <= tol``, the ``update_steps_eps`` rule of
       hopfield-layers), or after ``max_steps`` updates.

    Args:
        state: initial states q_0, ``(batch_size, dim)``.
        stored: ``(num_patterns, dim)`` or ``(batch_size, num_patterns, dim)``.
        beta: positive scalar or ``(batch_size,)``.
        max_steps: the most updates to make, an integer >= 1.
        tol: the movement below which the iteration stops, >= 0.
        association: ``"softmax"``, ``"sparsemax"`` or ``"entmax15"``; the energies are the map's own.

    Returns:
        A `Retrieval`: final state, number of steps, trajectory and energies.

    Raises:
        ValueError: bad ranks or dims, non-positive or non-finite beta,
            ``max_steps < 1``, a negative ``tol`` or an unknown ``association``.

    Example:
        >>> stored = tf.constant([[1.0, 0.0], [0.0, 1.0]], tf.float64)
        >>> result = retrieve(tf.constant([[0.9, 0.2]], tf.float64), stored, beta=100.0)
        >>> result.state.numpy().round(6).tolist(), int(result.num_steps)
        ([[1.0, 0.0]], 2)
    """
    if not isinstance(max_steps, int) or isinstance(max_steps, bool) or max_steps < 1:
        raise ValueError(f"max_steps must be an integer >= 1. Received: max_steps={max_steps!r}")
    if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a finite number >= 0. Received: tol={tol!r}")
    check_association(association)
    state, stored, beta = _validate(state, stored, beta)
    # One graph per (stored rank, beta rank, map), relaxed to any sizes, so new sizes rarely retrace.
    key = (stored.shape.rank, beta.shape.rank, association)
    if key not in _COMPILED_ITERATE:
        _COMPILED_ITERATE[key] = tf.function(functools.partial(_iterate, association=association),
                                             reduce_retracing=True)
    iterate = _COMPILED_ITERATE[key]
    return Retrieval(*iterate(state, stored, beta, tf.constant(max_steps), tf.constant(tol, state.dtype)))


_COMPILED_ITERATE = {}


def _iterate(state, stored, beta, max_steps, tol, association):
    """The loop of `retrieve` (run as a `tf.function`); returns its four fields."""

    def not_converged(step, current, moved, states, energies):
        return moved > tol

    def update(step, current, moved, states, energies):
        new = cccp_step(current, stored, beta, association)
        moved = tf.reduce_max(tf.norm(new - current, axis=-1))
        return (step + 1, new, moved, states.write(step + 1, new),
                energies.write(step + 1, energy(new, stored, beta, association)))

    states = tf.TensorArray(state.dtype, size=0, dynamic_size=True, element_shape=state.shape)
    energies = tf.TensorArray(state.dtype, size=0, dynamic_size=True, element_shape=state.shape[:1])
    initial = (tf.constant(0), state, tf.constant(math.inf, state.dtype),
               states.write(0, state), energies.write(0, energy(state, stored, beta, association)))
    num_steps, final, _, states, energies = tf.while_loop(
        not_converged, update, initial, maximum_iterations=max_steps)
    return final, num_steps, states.stack(), energies.stack()


def _similarities(state, stored):
    if stored.shape.rank == 2:
        return tf.matmul(state, stored, transpose_b=True)
    return tf.einsum("bd,bnd->bn", state, stored)


def _weights(state, stored, beta, association="softmax"):
    scores = _broadcastable(beta, 2) * _similarities(state, stored)
    return tf.nn.softmax(scores, axis=-1) if association == "softmax" else associate(scores, association)


def _weighted_sum(weights, stored):
    if stored.shape.rank == 2:
        return tf.matmul(weights, stored)
    return tf.einsum("bn,bnd->bd", weights, stored)


def _broadcastable(beta, rank):
    """A scalar beta as is; a per-state beta ``(batch_size,)`` padded to ``rank``."""
    if beta.shape.rank == 0:
        return beta
    return tf.reshape(beta, [-1] + [1] * (rank - 1))


def _validate_patterns(state, stored):
    state = tf.convert_to_tensor(state)
    if not state.dtype.is_floating:
        state = tf.cast(state, tf.float32)
    stored = tf.cast(stored, state.dtype)
    if state.shape.rank != 2:
        raise ValueError("state must have rank 2, (batch_size, dim). "
                         f"Received: state.shape={tuple(state.shape)}")
    if stored.shape.rank not in (2, 3):
        raise ValueError("stored must have rank 2, (num_patterns, dim), or 3, (batch_size, num_patterns, dim). "
                         f"Received: stored.shape={tuple(stored.shape)}")
    state_dim, stored_dim = state.shape[-1], stored.shape[-1]
    if state_dim is not None and stored_dim is not None and state_dim != stored_dim:
        raise ValueError(f"state and stored patterns must have the same dim. Received: state.shape="
                         f"{tuple(state.shape)}, stored.shape={tuple(stored.shape)}")
    if stored.shape.rank == 3 and None not in (state.shape[0], stored.shape[0]) and state.shape[0] != stored.shape[0]:
        raise ValueError(f"state and stored must have the same batch_size. Received: state.shape="
                         f"{tuple(state.shape)}, stored.shape={tuple(stored.shape)}")
    return state, stored


def _validate_beta(beta, dtype):
    """beta as a tensor of ``dtype``; a known value must be positive and finite."""
    value = tf.get_static_value(beta)
    if value is not None:
        value = np.asarray(value, dtype=np.float64)
        if value.ndim > 1 or not (np.isfinite(value) & (value > 0)).all():
            raise ValueError("beta must be a positive finite scalar or a vector of them, (batch_size,). "
                             f"Received: beta={value.tolist()!r}")
    # A Python or NumPy beta becomes `dtype` directly: tf.cast would round it through float32 first.
    beta = tf.cast(beta, dtype) if tf.is_tensor(beta) else tf.constant(np.asarray(beta, dtype=dtype.as_numpy_dtype))
    if beta.shape.rank not in (0, 1):
        raise ValueError(f"beta must be a scalar or have shape (batch_size,). Received: beta.shape={tuple(beta.shape)}")
    return beta


def _validate(state, stored, beta):
    state, stored = _validate_patterns(state, stored)
    return state, stored, _validate_beta(beta, state.dtype)
