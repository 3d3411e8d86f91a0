"""Batched decoding loops: greedy, nucleus (top-p) and beam search.

As in keras-hub, the model supplies a one-step function
``next_fn(token_ids (batch,), states) -> (logits (batch, V), states)``; a
`Sampler` runs the batched `tf.while_loop` with a `finished` vector and a
maximum length, and subclasses choose tokens by overriding only
`get_next_token(probabilities)`. `BeamSampler` keeps several hypotheses per
row and so overrides the loop itself, as keras-hub's does; with
``n_best=True`` it returns every hypothesis, best first.

`generate` starts any of them from a model's `step_function` (a `Seq2Seq`,
or an `keras_hw2.p2g.ensemble.Ensemble` averaging several).
"""
import tensorflow as tf

from keras_hw2.checks import Integer
from keras_hw2.p2g.vocab import EOS, PAD, SOS

MAX_LENGTH = 50  # the longest spelling the decoders produce (the homework's limit)


def _as_seed(seed):
    """An int or ``(2,)`` tensor -> the ``(2,)`` int64 seed of the stateless random ops."""
    seed = tf.cast(tf.convert_to_tensor(0 if seed is None else seed), tf.int64)
    return tf.stack([tf.zeros([], tf.int64), seed]) if seed.shape.rank == 0 else seed


def generate(model, source_ids, sampler, num_samples=1, seed=None):
    """Decode ``(batch_size, S)`` source ids with `sampler`, `num_samples` rows per word.

    Args:
        model: has ``step_function(source_ids, repeats) -> (next_fn, states)``,
            the one-step function and its initial states with every word's row
            repeated `repeats` times in a row.
        source_ids: ``(batch_size, S)`` int32 ids.
        sampler: a `Sampler`.
        num_samples: rows per word.
        seed: see `Sampler`.

    Returns:
        What `sampler` returns: token ids ``(batch_size * num_samples, max_length)``
        (PAD after EOS) and their log-probabilities ``(batch_size * num_samples,)``;
        rows b*num_samples ... belong to word b.
    """
    next_fn, states = model.step_function(source_ids, num_samples * sampler.num_beams)
    return sampler(next_fn, states, tf.shape(source_ids)[0] * num_samples, seed=seed)


class Sampler:
    """Base sampler: the batched decoding loop; subclasses override `get_next_token`.

    Loop: start from SOS; at each step call `next_fn`, turn logits into
    probabilities, choose tokens with `get_next_token`, add their log-probability;
    rows that have produced EOS are `finished` and emit PAD from then on; stop
    when every row is finished or after `max_length` tokens.

    Args:
        max_length: most tokens per row, EOS included.

    Call arguments:
        next_fn: the one-step function.
        states: the initial decoder states (nested tensors with batch first).
        batch_size: number of rows.
        seed: int or ``(2,)`` tensor for the stateless random ops; during a
            step, `self.seed` holds that step's seed (`get_next_token` may use it;
            a subclass that draws nothing sets ``uses_seed = False`` and the loop
            skips deriving it).

    Returns:
        Tokens ``(batch_size, max_length)`` int32 (EOS, then PAD, after the
        spelling) and the sum of their log-probabilities ``(batch_size,)``.
    """

    num_beams = 1
    uses_seed = True  # get_next_token reads self.seed

    def __init__(self, max_length=MAX_LENGTH):
        Integer(minimum=1).check("max_length", max_length)
        self.max_length = max_length
        self.seed = None

    def __call__(self, next_fn, states, batch_size, seed=None):
        seed = _as_seed(seed)
        positions = tf.range(self.max_length)

        def cond(step, token_ids, states, tokens, log_probs, finished):
            return tf.logical_not(tf.reduce_all(finished))

        def body(step, token_ids, states, tokens, log_probs, finished):
            logits, states = next_fn(token_ids, states)
            step_log_probs = tf.nn.log_softmax(logits)
            if self.uses_seed:
                self.seed = tf.random.experimental.stateless_fold_in(seed, tf.cast(step, tf.int64))
            next_ids = tf.cast(self.get_next_token(tf.exp(step_log_probs)), tf.int32)
            next_ids = tf.where(finished, PAD, next_ids)
            chosen = tf.gather(step_log_probs, next_ids, batch_dims=1)
            log_probs += tf.where(finished, 0.0, chosen)
            tokens += next_ids[:, None] * tf.cast(positions == step, tf.int32)[None, :]
            finished = finished | (next_ids == EOS)
            return step + 1, next_ids, states, tokens, log_probs, finished

        init = (tf.constant(0), tf.fill([batch_size], SOS), states,
                tf.zeros([batch_size, self.max_length], tf.int32), tf.zeros([batch_size]),
                tf.zeros([batch_size], tf.bool))
        _, _, _, tokens, log_probs, _ = tf.while_loop(cond, body, init, maximum_iterations=self.max_length)
        self.seed = None
        return tokens, log_probs

    def get_next_token(self, probabilities):
        """``(batch_size, V)`` probabilities -> ``(batch_size,)`` chosen token ids."""
        raise NotImplementedError(f"{type(self).__name__} must implement get_next_token(probabilities)")


class GreedySampler(Sampler):
    """The most probable token at every step (ties: the lowest id).

    Example:
    >>> def next_fn(token_ids, states):  # a fake model: after SOS 4, after 4 5, then EOS
    ...     next_ids = tf.gather([EOS, 4, EOS, EOS, 5, EOS], token_ids)
    ...     return tf.one_hot(next_ids, 6) * 10.0, states
    >>> tokens, log_probs = GreedySampler(max_length=4)(next_fn, [], batch_size=2)
    >>> tokens.numpy().tolist()
    [[4, 5, 2, 0], [4, 5, 2, 0]]
    """

    uses_seed = False

    def get_next_token(self, probabilities):
        return tf.argmax(probabilities, axis=-1, output_type=tf.int32)


class NucleusSampler(Sampler):
    """Nucleus (top-p) sampling (Holtzman et al., 2020), seeded and reproducible.

    At each step keep the smallest set of tokens, taken in order of decreasing
    probability (ties: lower id first), whose cumulative probability is >= p:
    a token is kept when the probability before it is < p, so the token that
    crosses p is included, and when p equals a cumulative sum exactly no further
    token is. The most likely token is always kept (p -> 0 is greedy); p >= 1
    keeps every token (plain sampling). The kept probabilities are renormalised
    and one token is drawn with `tf.random.stateless_categorical`.

    Args:
        p: the nucleus mass, in (0, 1]; a float or a scalar tensor.
        max_length: see `Sampler`.
    """

    def __init__(self, p, max_length=MAX_LENGTH):
        super().__init__(max_length)
        if not tf.is_tensor(p) and not 0.0 < p <= 1.0:
            raise ValueError(f"p must be in (0, 1]. Received: p={p!r}")
        self.p = p

    def get_next_token(self, probabilities):
        p = tf.cast(self.p, probabilities.dtype)
        sorted_probs, sorted_ids = tf.math.top_k(probabilities, k=tf.shape(probabilities)[-1])
        mass_before = tf.cumsum(sorted_probs, axis=-1, exclusive=True)
        first = tf.range(tf.shape(sorted_probs)[-1]) == 0
        keep = (mass_before < p) | (p >= 1.0) | first[None, :]
        kept = tf.where(keep, sorted_probs, 0.0)
        log_kept = tf.math.log(kept / tf.reduce_sum(kept, axis=-1, keepdims=True))
        draw = tf.random.stateless_categorical(log_kept, 1, seed=tf.cast(self.seed, tf.int32), dtype=tf.int32)
        return tf.gather(sorted_ids, draw[:, 0], batch_dims=1)


class BeamSampler(Sampler):
    """Beam search with length normalisation.

    Keeps `num_beams` hypotheses per word (rows b*num_beams + j); each step
    extends every live hypothesis by every token and keeps the `num_beams` best
    by normalised score log P / length**length_penalty (length counts EOS);
    finished hypotheses stay in the beam unchanged. The result is each word's
    best hypothesis by that score, or with `n_best` all `num_beams` of them,
    sorted by it best first, as every step's ranking leaves them (ties: the
    lower beam first, so the first is the best that ``n_best=False`` returns).

    Args:
        num_beams: hypotheses per word; a positive int or a scalar int32 tensor
            (a tensor is checked by the caller, as `Speller.beam_search` does in its graph).
        length_penalty: exponent alpha of the length normalisation (0 = none);
            a number >= 0 or a scalar float tensor.
        max_length: see `Sampler`.
        n_best: return every hypothesis, not only the best.

    Call arguments:
        states: initial states with ``batch_size * num_beams`` rows.

    Returns:
        Tokens ``(batch_size, max_length)`` and the best hypotheses' total
        log-probabilities ``(batch_size,)``; with `n_best`, tokens
        ``(batch_size * num_beams, max_length)`` (rows b*num_beams ... are word
        b's, best first), their total log-probabilities and their normalised
        scores, both ``(batch_size * num_beams,)``.
    """

    def __init__(self, num_beams=5, length_penalty=1.0, max_length=MAX_LENGTH, n_best=False):
        super().__init__(max_length)
        if not tf.is_tensor(num_beams):
            Integer(minimum=1).check("num_beams", num_beams)
        if not tf.is_tensor(length_penalty) and not length_penalty >= 0:
            raise ValueError(f"length_penalty must be >= 0. Received: length_penalty={length_penalty!r}")
        self.num_beams = num_beams
        self.length_penalty = length_penalty
        self.n_best = n_best

    def __call__(self, next_fn, states, batch_size, seed=None):
        k = self.num_beams
        positions = tf.range(self.max_length)

        def regroup(t):  # (batch*k, ...) -> (batch, k, ...)
            return tf.reshape(t, tf.concat([[batch_size, k], tf.shape(t)[1:]], 0))

        def flatten(t, like):  # (batch, k, ...) -> (batch*k, ...), the shape of `like`
            return tf.reshape(t, tf.shape(like))

        def cond(step, token_ids, states, tokens, scores, lengths, finished):
            return tf.logical_not(tf.reduce_all(finished))

        def body(*loop_vars):  # keeps every loop variable's static shape
            new = step_beams(*loop_vars)
            return tf.nest.map_structure(lambda t, old: tf.ensure_shape(t, old.shape), new, loop_vars)

        def step_beams(step, token_ids, states, tokens, scores, lengths, finished):
            logits, states = next_fn(token_ids, states)
            log_probs = regroup(tf.nn.log_softmax(logits))  # (batch, k, V)
            vocabulary_size = tf.shape(log_probs)[-1]
            pad_only = tf.where(tf.range(vocabulary_size) == PAD, 0.0, float("-inf"))
            log_probs = tf.where(finished[..., None], pad_only, log_probs)
            candidates = scores[..., None] + log_probs
            new_lengths = lengths + tf.where(finished, 0.0, 1.0)
            normalised = candidates / (new_lengths[..., None] ** self.length_penalty)
            _, best = tf.math.top_k(tf.reshape(normalised, [batch_size, -1]), k=k)
            parent, next_ids = best // vocabulary_size, best % vocabulary_size
            scores = tf.gather(tf.reshape(candidates, [batch_size, -1]), best, batch_dims=1)
            lengths = tf.gather(new_lengths, parent, batch_dims=1)
            finished = tf.gather(finished, parent, batch_dims=1) | (next_ids == EOS)
            tokens = tf.gather(tokens, parent, batch_dims=1)
            tokens += next_ids[..., None] * tf.cast(positions == step, tf.int32)
            states = tf.nest.map_structure(lambda s: flatten(tf.gather(regroup(s), parent, batch_dims=1), s), states)
            return step + 1, flatten(next_ids, token_ids), states, tokens, scores, lengths, finished

        first_beam_only = tf.where(tf.range(k) == 0, 0.0, float("-inf"))
        init = (tf.constant(0), tf.fill([batch_size * k], SOS), states,
                tf.zeros([batch_size, k, self.max_length], tf.int32),
                tf.tile(first_beam_only[None, :], [batch_size, 1]), tf.zeros([batch_size, k]),
                tf.zeros([batch_size, k], tf.bool))
        _, _, _, tokens, scores, lengths, _ = tf.while_loop(cond, body, init, maximum_iterations=self.max_length)
        normalised = scores / tf.maximum(lengths, 1.0) ** self.length_penalty
        if not self.n_best:
            best = tf.argmax(normalised, axis=-1, output_type=tf.int32)
            return tf.gather(tokens, best, batch_dims=1), tf.gather(scores, best, batch_dims=1)
        # the beam is kept sorted by normalised score: every step's `top_k` ranks it (ties: lower beam first)
        return tf.reshape(tokens, [-1, self.max_length]), tf.reshape(scores, [-1]), tf.reshape(normalised, [-1])
