"""Samplers driven by a fake one-step function with exact expected outputs."""
import numpy as np
import pytest
import tensorflow as tf

from keras_hw2.p2g import decoding
from keras_hw2.p2g.vocab import EOS

V = 7  # PAD SOS EOS UNK a=4 b=5 c=6
A, B = 4, 5


def _fake_next_fn(distributions):
    """next_fn whose distribution depends on the whole prefix; unlisted prefixes give EOS.

    `distributions`: {prefix tuple of tokens after SOS: {token: probability}}.
    The state is the prefix code sum(token * V**i), so every prefix has its own row.
    """
    size = V ** 4
    table = np.full((size, V), 1e-9)
    table[:, EOS] = 1.0
    for prefix, dist in distributions.items():
        code = 1
        for token in prefix:
            code = code * V + token
        table[code] = 1e-9
        for token, p in dist.items():
            table[code, token] = p
    log_table = tf.constant(np.log(table), tf.float32)

    def next_fn(token_ids, states):
        code = tf.minimum(states[0] * V + token_ids, size - 1)
        return tf.gather(log_table, code), [code]

    return next_fn


WORLD = {(): {A: 0.6, B: 0.4}, (A,): {A: 0.5, B: 0.5}, (A, A): {EOS: 1.0}, (B,): {EOS: 1.0}}


def _run(sampler, distributions=WORLD, batch_size=1, seed=None):
    start = [tf.zeros([batch_size * sampler.num_beams], tf.int32)]
    tokens, log_probs = sampler(_fake_next_fn(distributions), start, batch_size, seed=seed)
    return tokens.numpy(), log_probs.numpy()


def test_greedy_takes_the_argmax_and_pads_after_eos():
    tokens, log_probs = _run(decoding.GreedySampler(max_length=6), batch_size=2)
    np.testing.assert_array_equal(tokens, [[A, A, EOS, 0, 0, 0]] * 2)
    np.testing.assert_allclose(log_probs, [np.log(0.6 * 0.5)] * 2, rtol=1e-5)


def test_decoding_stops_at_max_length_without_eos():
    loop = {(): {A: 1.0}, (A,): {A: 1.0}, (A, A): {A: 1.0}, (A, A, A): {A: 1.0}}
    tokens, _ = _run(decoding.GreedySampler(max_length=3), loop)
    np.testing.assert_array_equal(tokens, [[A, A, A]])


def test_beam_search_without_length_normalisation_finds_the_more_probable_word():
    tokens, log_probs = _run(decoding.BeamSampler(num_beams=2, length_penalty=0.0, max_length=5), batch_size=2)
    np.testing.assert_array_equal(tokens, [[B, EOS, 0, 0, 0]] * 2)  # P(b) = 0.4 > P(aa) = 0.3
    np.testing.assert_allclose(log_probs, [np.log(0.4)] * 2, rtol=1e-5)


def test_beam_search_length_normalisation_prefers_higher_probability_per_token():
    tokens, log_probs = _run(decoding.BeamSampler(num_beams=2, length_penalty=1.0, max_length=5))
    # log(0.3)/3 = -0.401 > log(0.4)/2 = -0.458
    np.testing.assert_array_equal(tokens, [[A, A, EOS, 0, 0]])
    np.testing.assert_allclose(log_probs, [np.log(0.3)], rtol=1e-5)


def test_beam_n_best_returns_every_hypothesis_sorted_by_normalised_score():
    sampler = decoding.BeamSampler(num_beams=2, length_penalty=1.0, max_length=5, n_best=True)
    tokens, log_probs, scores = sampler(_fake_next_fn(WORLD), [tf.zeros([4], tf.int32)], 2)
    np.testing.assert_array_equal(tokens, [[A, A, EOS, 0, 0], [B, EOS, 0, 0, 0]] * 2)  # rows b*2 + rank
    np.testing.assert_allclose(log_probs, [np.log(0.3), np.log(0.4)] * 2, rtol=1e-5)
    np.testing.assert_allclose(scores, [np.log(0.3) / 3, np.log(0.4) / 2] * 2, rtol=1e-5)
    best_tokens, best_log_probs = _run(decoding.BeamSampler(num_beams=2, max_length=5), batch_size=2)
    np.testing.assert_array_equal(tokens[::2], best_tokens)
    np.testing.assert_array_equal(log_probs[::2], best_log_probs)


def _draw(p, probabilities, n=4000, seed=0):
    sampler = decoding.NucleusSampler(p)
    sampler.seed = tf.constant([0, seed], tf.int64)
    probs = tf.tile(tf.constant([probabilities], tf.float32), [n, 1])
    return np.bincount(sampler.get_next_token(probs).numpy(), minlength=len(probabilities)) / n


def test_nucleus_with_p_equal_to_a_cumulative_sum_keeps_no_further_token():
    np.testing.assert_array_equal(_draw(0.5, [0, 0, 0, 0, 0.5, 0.25, 0.25]), [0, 0, 0, 0, 1, 0, 0])


def test_nucleus_includes_the_token_that_crosses_p_and_renormalises():
    freq = _draw(0.6, [0, 0, 0, 0, 0.5, 0.25, 0.25])
    assert freq[6] == 0 and freq[4] + freq[5] == 1
    assert freq[4] == pytest.approx(2 / 3, abs=0.03)


def test_nucleus_breaks_ties_by_lower_token_id():
    freq = _draw(0.75, [0, 0, 0, 0, 0.25, 0.5, 0.25])  # order: 5, then 4 before 6
    assert freq[6] == 0 and freq[4] == pytest.approx(1 / 3, abs=0.03)


def test_nucleus_p_one_is_plain_sampling_and_tiny_p_is_greedy():
    freq = _draw(1.0, [0, 0, 0, 0, 0.5, 0.25, 0.25])
    np.testing.assert_allclose(freq[4:], [0.5, 0.25, 0.25], atol=0.03)
    np.testing.assert_array_equal(_draw(1e-6, [0, 0, 0, 0, 0.3, 0.3, 0.4]), [0, 0, 0, 0, 0, 0, 1])


def test_nucleus_loop_is_reproducible_per_seed_and_varies_across_seeds():
    first = _run(decoding.NucleusSampler(1.0, max_length=4), batch_size=64, seed=3)[0]
    again = _run(decoding.NucleusSampler(1.0, max_length=4), batch_size=64, seed=3)[0]
    other = _run(decoding.NucleusSampler(1.0, max_length=4), batch_size=64, seed=4)[0]
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    words = {tuple(row[:np.argmax(row == EOS) + 1]) for row in first}
    assert words == {(A, A, EOS), (A, B, EOS), (B, EOS)}


def test_sampler_arguments_are_validated():
    with pytest.raises(ValueError, match="Received: p=0"):
        decoding.NucleusSampler(0)
    with pytest.raises(ValueError, match="Received: num_beams=0"):
        decoding.BeamSampler(0)
    with pytest.raises(ValueError, match="Received: max_length=0"):
        decoding.GreedySampler(max_length=0)
