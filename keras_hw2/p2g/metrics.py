"""Spelling metrics: CER, WER and WER@k, with `tf.edit_distance` on Unicode characters."""
import tensorflow as tf


def _as_strings(values):
    return tf.convert_to_tensor(values, dtype=tf.string)


def edit_distances(predictions, references) -> tf.Tensor:
    """Levenshtein distances between ``(n,)`` predicted and reference strings, in characters.

    Args:
        predictions: ``(n,)`` strings.
        references: ``(n,)`` strings.

    Returns:
        ``(n,)`` float32 tensor of unnormalised distances.

    Example:
    >>> edit_distances(["kat", "dog"], ["cat", "dgo"]).numpy().tolist()
    [1.0, 2.0]
    """
    predictions, references = _as_strings(predictions), _as_strings(references)
    hyp = tf.strings.unicode_split(predictions, "UTF-8").to_sparse()
    ref = tf.strings.unicode_split(references, "UTF-8").to_sparse()
    return tf.edit_distance(hyp, ref, normalize=False)


def character_error_rate(predictions, references) -> float:
    """Total edit distance / total reference length (characters), over ``(n,)`` strings.

    Example:
    >>> round(character_error_rate(["kat", "dog"], ["cat", "dogs"]), 4)  # (1 + 1) / (3 + 4)
    0.2857
    """
    distances = edit_distances(predictions, references)
    lengths = tf.strings.length(_as_strings(references), unit="UTF8_CHAR")
    return float(tf.reduce_sum(distances) / tf.cast(tf.reduce_sum(lengths), tf.float32))


def word_error_rate(predictions, references) -> float:
    """Fraction of the ``(n,)`` words not reproduced exactly.

    Example:
    >>> word_error_rate(["kat", "dog"], ["cat", "dog"])
    0.5
    """
    wrong = tf.not_equal(_as_strings(predictions), _as_strings(references))
    return float(tf.reduce_mean(tf.cast(wrong, tf.float32)))


def word_error_rate_at_k(samples, references) -> float:
    """Fraction of words none of whose k samples is exact; `samples` is ``(n, k)`` strings.

    Example:
    >>> word_error_rate_at_k([["kat", "cat"], ["dgo", "god"]], ["cat", "dog"])
    0.5
    """
    samples, references = _as_strings(samples), _as_strings(references)
    hit = tf.reduce_any(tf.equal(samples, references[:, None]), axis=1)
    return float(tf.reduce_mean(tf.cast(tf.logical_not(hit), tf.float32)))
