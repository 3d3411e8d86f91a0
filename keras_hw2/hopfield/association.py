"""Association maps: softmax, sparsemax and 1.5-entmax, with their entropies and convex conjugates.

Each map sends scores ``z`` (last axis: the N stored patterns) to weights on
the probability simplex, ``p = argmax_p <p, z> + H(p)``, for an entropy H:

- ``softmax``: Shannon entropy ``H(p) = -sum p log p``; every weight > 0.
- ``sparsemax`` (Martins & Astudillo 2016): Gini entropy
  ``H(p) = 1/2 (1 - sum p^2)``; the Euclidean projection of z onto the simplex,
  ``p = max(z - tau, 0)``, so weights are exactly zero below the threshold tau.
- ``entmax15`` (Peters et al. 2019): Tsallis entropy with alpha = 1.5,
  ``H(p) = 4/3 (1 - sum p^(3/2))``; ``p = max(z/2 - tau, 0)^2``, sparse too.

The convex conjugate ``Psi*(z) = max_p <p, z> + H(p)`` has gradient ``p``;
with it the modern Hopfield energy of every map reads
``E(q) = -beta^-1 Psi*(beta X q) + 1/2 q^T q + beta^-1 H_max(N) + 1/2 M^2``
(softmax: ``Psi* = logsumexp``, the homework's energy; sparse maps: Hu et al.
2023, "On Sparse Modern Hopfield Model"), and its CCCP update
``q <- X^T map(beta X q)`` never increases it.

The maps are written with Keras ops, exact in the forward pass (a sort of the
scores within 1 of the maximum and a cumulative sum find the threshold), with their closed-form Jacobians as the
gradient (`keras.ops.custom_gradient`): sparsemax ``diag(s) - s s^T / |s|``
(s: the support's indicator), 1.5-entmax ``diag(g) - g g^T / sum g``
(``g = sqrt(p)``). Float16 and bfloat16 scores are mapped in float32.
"""
import math

from keras import ops

ASSOCIATIONS = ("softmax", "sparsemax", "entmax15")


def check_association(association) -> str:
    """`association` when it names a map, else a Keras-style `ValueError`."""
    if association not in ASSOCIATIONS:
        raise ValueError(f"association must be one of {', '.join(ASSOCIATIONS)}. "
                         f"Received: association={association!r}")
    return association


def sparsemax(scores):
    """Sparsemax over the last axis: the Euclidean projection of ``scores`` onto the simplex.

    Args:
        scores: ``(..., N)`` floats.

    Returns:
        Weights of the same shape and dtype, summing to 1, exact zeros off the support.

    Example:
        >>> [round(float(w), 6) for w in sparsemax(ops.convert_to_tensor([0.5, 0.3, -1.0], "float64"))]
        [0.6, 0.4, 0.0]
    """
    return _in_float32(_sparsemax, scores)


def entmax15(scores):
    """1.5-entmax over the last axis, by the exact sort-based threshold of Peters et al. (2019).

    Args:
        scores: ``(..., N)`` floats.

    Returns:
        Weights of the same shape and dtype, ``max(scores/2 - tau, 0)^2``, summing to 1.

    Example:
        >>> [round(float(w), 5) for w in entmax15(ops.convert_to_tensor([1.0, 0.5, 0.0], "float64"))]
        [0.6242, 0.29167, 0.08414]
    """
    return _in_float32(_entmax15, scores)


def associate(scores, association: str):
    """The weights ``map(scores)`` over the last axis for the map named `association`."""
    if association == "softmax":
        return ops.softmax(scores, axis=-1)
    return {"sparsemax": sparsemax, "entmax15": entmax15}[check_association(association)](scores)


def entropy(weights, association: str):
    """The map's entropy H of weights on the simplex, over the last axis: shape ``weights.shape[:-1]``."""
    return ops.sum(_entropy_terms(weights, association), axis=-1)


def _entropy_terms(weights, association):
    """H as a sum over the weights of one term each (the Gini and Tsallis forms use ``sum p = 1``)."""
    check_association(association)
    if association == "softmax":
        return -weights * ops.log(ops.where(weights > 0, weights, ops.ones_like(weights)))
    if association == "sparsemax":
        return 0.5 * (weights - ops.square(weights))
    return 4.0 / 3.0 * (weights - weights * ops.sqrt(weights))


def max_entropy(num_patterns, association: str):
    """H of the uniform weights over `num_patterns` (an int or a float tensor): the entropy's largest value.

    Example:
        >>> [round(float(max_entropy(4, name)), 6) for name in ASSOCIATIONS]
        [1.386294, 0.375, 0.666667]
    """
    check_association(association)
    if isinstance(num_patterns, int):
        num_patterns = float(num_patterns)
        log, sqrt = math.log, math.sqrt
    else:
        log, sqrt = ops.log, ops.sqrt
    if association == "softmax":
        return log(num_patterns)
    if association == "sparsemax":
        return 0.5 * (1.0 - 1.0 / num_patterns)
    return 4.0 / 3.0 * (1.0 - 1.0 / sqrt(num_patterns))


def conjugate(scores, beta, association: str):
    """``beta^-1 Psi*(beta scores)`` over the last axis: the map's smoothed maximum, shape ``scores.shape[:-1]``.

    It lies in ``[max(scores), max(scores) + beta^-1 H_max(N)]``; for softmax it
    is ``lse(beta, scores)``, computed as a max-subtracted log-sum-exp.

    Args:
        scores: ``(..., N)``.
        beta: positive scalar, or a tensor broadcastable to ``scores.shape[:-1] + (1,)``.
    """
    if check_association(association) == "softmax":
        return ops.squeeze(ops.logsumexp(beta * scores, axis=-1, keepdims=True) / beta, axis=-1)
    weights = associate(beta * scores, association)
    return ops.sum(weights * scores + _entropy_terms(weights, association) / beta, axis=-1)


def _in_float32(fn, scores):
    scores = ops.convert_to_tensor(scores)
    dtype = scores.dtype
    if ops.dtype(scores) in ("float16", "bfloat16"):
        return ops.cast(fn(ops.cast(scores, "float32")), dtype)
    return fn(scores)


def _sorted_shifted(scores, floor):
    """Scores minus their maximum, clipped at `floor`, and the candidates for the support, sorted descending.

    The threshold lies within 1 of the maximum (the largest weight is at most
    1), so no score below ``max - 1`` is in the support: the candidates are
    the k largest scores, k the most scores of any row within 1 of its maximum
    (a partial sort, `keras.ops.top_k`), and the clip at ``floor < -1`` changes
    no weight while keeping masked scores (the dtype's lowest value) from overflowing.

    Returns:
        ``(shifted (..., N), candidates (..., k))``.
    """
    shifted = ops.maximum(scores - ops.max(scores, axis=-1, keepdims=True), floor)
    num_candidates = ops.max(ops.sum(ops.cast(shifted >= -1.0, "int32"), axis=-1))
    return shifted, ops.top_k(shifted, num_candidates)[0]


def _at_support_end(values, in_support):
    """``values[..., k - 1]`` where k counts the True entries of `in_support` (a prefix): ``(..., 1)``."""
    size = ops.sum(ops.cast(in_support, "int32"), axis=-1, keepdims=True)
    return ops.take_along_axis(values, size - 1, axis=-1)


@ops.custom_gradient
def _sparsemax(scores):
    shifted, ordered = _sorted_shifted(scores, -2.0)
    rank = ops.cumsum(ops.ones_like(ordered), axis=-1)
    cumulative = ops.cumsum(ordered, axis=-1)
    in_support = 1.0 + rank * ordered > cumulative
    size = ops.cast(ops.sum(ops.cast(in_support, "int32"), axis=-1, keepdims=True), scores.dtype)
    threshold = (_at_support_end(cumulative, in_support) - 1.0) / size
    weights = ops.maximum(shifted - threshold, 0.0)

    def grad(*args, upstream=None):
        upstream = args[0] if upstream is None else upstream
        support = ops.cast(weights > 0, upstream.dtype)
        mean = ops.sum(support * upstream, axis=-1, keepdims=True) / ops.sum(support, axis=-1, keepdims=True)
        return support * (upstream - mean)

    return weights, grad


@ops.custom_gradient
def _entmax15(scores):
    shifted, ordered = _sorted_shifted(scores / 2.0, -2.0)
    rank = ops.cumsum(ops.ones_like(ordered), axis=-1)
    mean = ops.cumsum(ordered, axis=-1) / rank
    mean_square = ops.cumsum(ops.square(ordered), axis=-1) / rank
    # The threshold if the support were the k largest: tau_k = mean_k - sqrt((1 - k var_k) / k).
    thresholds = mean - ops.sqrt(ops.maximum((1.0 - rank * (mean_square - ops.square(mean))) / rank, 0.0))
    threshold = _at_support_end(thresholds, thresholds <= ordered)
    weights = ops.square(ops.maximum(shifted - threshold, 0.0))

    def grad(*args, upstream=None):
        upstream = args[0] if upstream is None else upstream
        root = ops.sqrt(weights)
        weighted = root * upstream
        return weighted - root * ops.sum(weighted, axis=-1, keepdims=True) / ops.sum(root, axis=-1, keepdims=True)

    return weights, grad
