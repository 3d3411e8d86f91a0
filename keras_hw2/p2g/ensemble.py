"""Several spellers of the same vocabularies decoding as one: their per-step log-probabilities averaged.

An `Ensemble` stands wherever a `Seq2Seq` decodes (`Speller`, `export_speller`):
it has the vocabularies and the `step_function` of the samplers
(`keras_hw2.p2g.decoding.generate`), so greedy decoding, nucleus sampling and
beam search combine the members inside the one decoding loop, at every step,
rather than voting over finished spellings.
"""
import tensorflow as tf

from keras_hw2.errors import InputError


class Ensemble(tf.Module):
    """Average the members' next-token log-probabilities at every decoding step.

    The combined step returns the mean of the members' logits. The samplers
    take ``log_softmax`` of what the step returns, and ``log_softmax`` ignores
    a constant added to a row, so this is exactly the mean of the members'
    log-probabilities, renormalised: mean_m log_softmax(l_m) differs from
    mean_m l_m by the row constant mean_m logsumexp(l_m). An ensemble of one
    model therefore decodes exactly as that model does.

    Args:
        members: `Seq2Seq` models with the same source and target vocabularies.
        names: how to name each member in errors (e.g. its run directory); default ``member i``.

    Raises:
        InputError: no members, or a member whose vocabulary differs from the
            first member's (names the first such member).

    Example:
    >>> from keras_hw2.p2g.models import Seq2Seq
    >>> tokens = ["<pad>", "<sos>", "<eos>", "<unk>", "k"]
    >>> members = [Seq2Seq(tokens, tokens, units=4) for _ in range(2)]
    >>> _ = [m((tf.ones((1, 2), tf.int32), tf.ones((1, 2), tf.int32))) for m in members]
    >>> next_fn, states = Ensemble(members).step_function(tf.constant([[4, 4]]), repeats=3)
    >>> logits, states = next_fn(tf.fill([3], 1), states)
    >>> tuple(logits.shape), len(states)
    ((3, 5), 2)
    """

    def __init__(self, members, names=None):
        super().__init__(name="ensemble")
        members = list(members)
        names = list(names) if names is not None else [f"member {i}" for i in range(len(members))]
        if not members:
            raise InputError("an ensemble needs at least one model. Received: no models")
        first = members[0]
        for member, name in zip(members[1:], names[1:]):
            for what, vocabulary in (("phoneme (source)", "source_vocabulary"),
                                     ("spelling (target)", "target_vocabulary")):
                if getattr(member, vocabulary).tokens != getattr(first, vocabulary).tokens:
                    raise InputError(f"{name}: its {what} vocabulary differs from that of {names[0]}; an "
                                     f"ensemble's models must share their vocabularies. Received: {name}")
        self.members = members
        self.source_vocabulary = first.source_vocabulary
        self.target_vocabulary = first.target_vocabulary

    def step_function(self, source_ids, repeats=1):
        """Every member's one-step function combined (see the class docstring); states: one entry per member."""
        steps = [member.step_function(source_ids, repeats) for member in self.members]

        def next_fn(token_ids, states):
            outputs = [step(token_ids, state) for (step, _), state in zip(steps, states)]
            logits = tf.add_n([logits for logits, _ in outputs]) / float(len(outputs))
            return logits, [state for _, state in outputs]

        return next_fn, [states for _, states in steps]
