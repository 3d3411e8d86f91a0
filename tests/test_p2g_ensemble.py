"""keras_hw2.p2g.ensemble and the n-best lists: one model as an ensemble, averaged log-probabilities, the export."""
import json

import numpy as np
import pytest
import tensorflow as tf

from conftest import _python
from keras_hw2.errors import InputError
from keras_hw2.p2g import decoding
from keras_hw2.p2g.ensemble import Ensemble
from keras_hw2.p2g.models import Seq2Seq
from keras_hw2.p2g.speller import Speller, export_speller
from keras_hw2.p2g.vocab import EOS, SPECIAL_TOKENS, SOS, Vocabulary

SOURCE = [*SPECIAL_TOKENS, "k", "æ", "t", "s"]
TARGET = [*SPECIAL_TOKENS, "c", "a", "t", "s"]
WORDS = ["k æ t", "s", "t æ k s", "k zz"]


def _model(seed, use_attention=True, target=TARGET):
    tf.keras.utils.set_random_seed(seed)
    model = Seq2Seq(SOURCE, target, units=8, use_attention=use_attention)
    model((tf.ones((1, 3), tf.int32), tf.ones((1, 2), tf.int32)))  # builds the weights
    return model


@pytest.fixture(scope="module")
def models():
    return _model(0), _model(1, use_attention=False)


def _numpy(outputs):
    return {name: value.numpy() for name, value in outputs.items()}


def test_an_ensemble_of_one_model_decodes_exactly_as_that_model(models):
    single, alone = Speller(models[0]), Speller(Ensemble([models[0]]))
    pairs = [(single.greedy(WORDS), alone.greedy(WORDS)),
             (single.beam_search(WORDS, 4, 1.0), alone.beam_search(WORDS, 4, 1.0))]
    for expected, got in pairs:
        expected, got = _numpy(expected), _numpy(got)
        assert expected.keys() == got.keys()
        for name in expected:
            np.testing.assert_array_equal(got[name], expected[name])


class _Fixed:
    """A stand-in member whose every step gives the same next-token probabilities (no states)."""

    def __init__(self, probabilities):
        self.source_vocabulary = Vocabulary(SOURCE)
        self.target_vocabulary = Vocabulary(TARGET)
        self.logits = tf.math.log(tf.constant([probabilities], tf.float32)) + 3.0  # any row constant

    def step_function(self, source_ids, repeats=1):
        rows = tf.shape(source_ids)[0] * repeats

        def next_fn(token_ids, states):
            return tf.tile(self.logits, [rows, 1]), states

        return next_fn, []


def test_ensemble_averages_the_members_log_probabilities_at_each_step():
    # member 1 puts 0.7 on "c", 0.3 on EOS; member 2 0.1 on "c", 0.9 on EOS: geometric mean sqrt(0.07) < sqrt(0.27)
    first, second = np.full(len(TARGET), 0.0), np.full(len(TARGET), 0.0)
    c = TARGET.index("c")
    first[[c, EOS]], second[[c, EOS]] = [0.7, 0.3], [0.1, 0.9]
    ensemble = Ensemble([_Fixed(first + 1e-12), _Fixed(second + 1e-12)])
    tokens, log_probs = decoding.generate(ensemble, tf.constant([[4, 5]]), decoding.GreedySampler(max_length=3))
    combined = np.sqrt([0.07, 0.27]) / np.sqrt([0.07, 0.27]).sum()  # exp(mean log p), renormalised
    assert tokens.numpy().tolist() == [[EOS, 0, 0]]  # arithmetic averaging (0.4 vs 0.6) agrees; the value does not
    np.testing.assert_allclose(log_probs, [np.log(combined[1])], rtol=1e-5)


def test_ensemble_step_is_the_renormalised_mean_of_the_members_log_softmax(models):
    source_ids = tf.constant([[4, 5, 6], [7, 0, 0]])
    next_fn, states = Ensemble(models).step_function(source_ids, repeats=2)
    token_ids = tf.constant([SOS, SOS, 4, 6])
    logits, _ = next_fn(token_ids, states)
    by_hand = []
    for model in models:
        member_fn, member_states = model.step_function(source_ids, repeats=2)
        by_hand.append(tf.nn.log_softmax(member_fn(token_ids, member_states)[0]).numpy())
    mean = np.mean(by_hand, axis=0)
    expected = mean - np.log(np.exp(mean).sum(-1, keepdims=True))
    np.testing.assert_allclose(tf.nn.log_softmax(logits).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_ensemble_greedy_follows_the_hand_combined_loop(models):
    source_ids = Speller(models[0]).encode(tf.constant(WORDS))
    tokens, log_probs = decoding.generate(Ensemble(models), source_ids, decoding.GreedySampler(max_length=6))
    steps = [model.step_function(source_ids) for model in models]
    states = [s for _, s in steps]
    token_ids, total = tf.fill([len(WORDS)], SOS), np.zeros(len(WORDS))
    finished = np.zeros(len(WORDS), bool)
    for step in range(6):
        outputs = [fn(token_ids, s) for (fn, _), s in zip(steps, states)]
        states = [s for _, s in outputs]
        mean = np.mean([tf.nn.log_softmax(logits).numpy() for logits, _ in outputs], axis=0)
        mean -= np.log(np.exp(mean).sum(-1, keepdims=True))
        chosen = np.where(finished, 0, mean.argmax(-1))
        total += np.where(finished, 0.0, mean[np.arange(len(WORDS)), chosen])
        np.testing.assert_array_equal(tokens[:, step], chosen)
        finished |= chosen == EOS
        token_ids = tf.constant(chosen, tf.int32)
    np.testing.assert_allclose(log_probs, total, rtol=1e-5, atol=1e-5)


def test_n_best_is_sorted_and_its_first_entry_is_the_beam_search_best(models):
    speller = Speller(Ensemble(models))
    decoded = speller.decode(WORDS, num_beams=4)  # through `beam_search`
    scores = decoded["beam_scores"]
    assert scores.shape == decoded["beam_n_best_log_probs"].shape == (len(WORDS), 4)
    assert [len(row) for row in decoded["beam_n_best"]] == [4] * len(WORDS)
    assert (np.diff(scores, axis=1) <= 0).all() and (np.diff(scores, axis=1) < 0).any()
    tokens, log_probs = decoding.generate(speller.model, speller.encode(tf.constant(WORDS)), decoding.BeamSampler(4))
    best = [t.decode() for t in speller.detokenize(tokens).numpy()]
    assert decoded["beam"] == [row[0] for row in decoded["beam_n_best"]] == best
    np.testing.assert_allclose(decoded["beam_log_probs"], log_probs.numpy(), rtol=1e-6)  # graph vs eager


def test_members_with_other_vocabularies_are_refused_naming_the_first(models):
    other = _model(2, target=[*SPECIAL_TOKENS, "k", "a", "t", "s"])
    with pytest.raises(InputError, match=r"^--run=C: its spelling \(target\) vocabulary differs from that of "
                                         r"--run=A; .* Received: --run=C$"):
        Ensemble([models[0], models[1], other, other], names=["--run=A", "--run=B", "--run=C", "--run=D"])
    with pytest.raises(InputError, match="at least one model"):
        Ensemble([])


RELOAD = """
import json, sys
import tensorflow as tf
import tensorflow_text  # noqa: F401
p2g = tf.saved_model.load(sys.argv[1]).signatures
words = tf.constant(json.loads(sys.argv[2]))
outputs = {"greedy": p2g["serving_default"](phonemes=words),
           "nucleus": p2g["nucleus"](phonemes=words, p=tf.constant(0.9), num_samples=tf.constant(2),
                                     seed=tf.constant(7, tf.int64)),
           "beam": p2g["beam_search"](phonemes=words, num_beams=tf.constant(3), length_penalty=tf.constant(1.0))}
text = lambda v: [t.decode() for t in v.numpy().ravel()] if v.dtype == tf.string else v.numpy().tolist()
print(json.dumps({f"{k}/{n}": text(v) for k, out in outputs.items() for n, v in out.items()}))
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] == "keras_hw2")))
"""


def test_an_ensemble_exports_as_one_savedmodel_that_reloads_with_all_signatures(models, tmp_path):
    ensemble = Ensemble(models)
    directory = export_speller(ensemble, "ensemble", root=tmp_path)
    result = _python("-c", RELOAD, str(directory), json.dumps(WORDS))
    assert result.returncode == 0, result.stderr
    printed, imported = (json.loads(line) for line in result.stdout.splitlines()[-2:])
    assert imported == []
    speller = Speller(ensemble)
    expected = {"greedy": speller.greedy(WORDS), "nucleus": speller.sample(WORDS, 0.9, 2, 7),
                "beam": speller.beam_search(WORDS, 3, 1.0)}
    for kind, outputs in expected.items():
        for name, value in outputs.items():
            if value.dtype == tf.string:
                assert printed[f"{kind}/{name}"] == [t.decode() for t in value.numpy().ravel()], (kind, name)
            else:
                np.testing.assert_allclose(printed[f"{kind}/{name}"], value.numpy(), rtol=1e-5, atol=1e-5)
    assert len(printed["beam/spellings"]) == len(WORDS) * 3 and np.shape(printed["beam/scores"]) == (len(WORDS), 3)
