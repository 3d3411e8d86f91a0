"""keras_hw2.p2g.transformer: cached steps = full pass, causal and padding masks, size, saving, CLI, export."""
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import _python
from keras_hw2.cli import run_main
from keras_hw2.errors import InputError
from keras_hw2.p2g import decoding
from keras_hw2.p2g.__main__ import main
from keras_hw2.p2g.ensemble import Ensemble
from keras_hw2.p2g.models import Seq2Seq
from keras_hw2.p2g.speller import Speller, export_speller, load_checkpoint
from keras_hw2.p2g.train import TrainConfig
from keras_hw2.p2g.transformer import TransformerSpeller
from keras_hw2.p2g.vocab import SOS, SPECIAL_TOKENS
from keras_hw2.runs import config_dict
from test_p2g_cli import PHONES, _write_corpus
from test_p2g_ensemble import RELOAD

SOURCE = [*SPECIAL_TOKENS, "k", "æ", "t", "s"]
TARGET = [*SPECIAL_TOKENS, "c", "a", "t", "s"]
WORDS = ["k æ t", "s", "t æ k s", "k zz"]
SOURCE_IDS = tf.constant([[4, 5, 6, 0], [7, 0, 0, 0], [6, 5, 4, 7]])  # padded rows
DECODER_INPUTS = tf.constant([[SOS, 4, 5, 6, 2], [SOS, 7, 7, 0, 0], [SOS, 6, 5, 4, 7]])


def _model(seed=0, **kwargs):
    keras.utils.set_random_seed(seed)
    settings = {"units": 16, "layers": 2, "heads": 4, "dropout": 0.1, **kwargs}
    model = TransformerSpeller(SOURCE, TARGET, **settings)
    model((tf.ones((1, 3), tf.int32), tf.ones((1, 2), tf.int32)))  # builds the weights
    # trained-looking weights: larger than the initial ones, so each path's mistakes would show
    model.set_weights([w + np.random.default_rng(seed).normal(0, 0.3, w.shape).astype("float32")
                       for w in model.get_weights()])
    return model


@pytest.fixture(scope="module")
def model():
    return _model()


def _stepped_logits(model, source_ids, decoder_inputs):
    next_fn, states = model.step_function(source_ids)
    logits = []
    for t in range(decoder_inputs.shape[1]):
        step_logits, states = next_fn(decoder_inputs[:, t], states)
        logits.append(step_logits.numpy())
    return np.stack(logits, axis=1)


@pytest.mark.parametrize("tie_embeddings", [True, False])
def test_cached_steps_give_the_logits_of_the_full_causal_pass(tie_embeddings):
    model = _model(tie_embeddings=tie_embeddings)
    full = model((SOURCE_IDS, DECODER_INPUTS), training=False).numpy()
    np.testing.assert_allclose(_stepped_logits(model, SOURCE_IDS, DECODER_INPUTS), full, atol=1e-5, rtol=0)
    assert np.abs(full).max() > 1.0  # the logits are far from 0: the comparison is not vacuous


def test_a_later_target_token_or_source_padding_changes_no_earlier_logit(model):
    logits = model((SOURCE_IDS, DECODER_INPUTS), training=False).numpy()
    changed = DECODER_INPUTS.numpy().copy()
    changed[:, 3] = 7
    changed_logits = model((SOURCE_IDS, tf.constant(changed)), training=False).numpy()
    np.testing.assert_array_equal(changed_logits[:, :3], logits[:, :3])  # positions 0..2 never see position 3
    assert np.abs(changed_logits[:, 3:] - logits[:, 3:]).max() > 1e-3
    padded = tf.pad(SOURCE_IDS, [[0, 0], [0, 3]])  # more padding columns: masked, nothing changes
    np.testing.assert_allclose(model((padded, DECODER_INPUTS), training=False).numpy(), logits, atol=1e-5)


def _parameters(source, target, units, layers, tied=True):
    """By hand: embeddings, per encoder block attention (4 Dense with bias) + 2 layer norms + feed-forward
    (units -> 4 units -> units), per decoder block two attentions + 3 layer norms + feed-forward, two final
    layer norms, the output bias (tied) or Dense."""
    attention, norm, feedforward = 4 * (units * units + units), 2 * units, 8 * units * units + 5 * units
    encoder, decoder = attention + 2 * norm + feedforward, 2 * attention + 3 * norm + feedforward
    output = target if tied else target * units + target
    return (source + target) * units + layers * (encoder + decoder) + 2 * norm + output


def test_the_parameter_count_is_the_closed_form(model):
    assert model.count_params() == _parameters(8, 8, 16, 2) == 15_688
    assert _model(units=8, layers=1, heads=2, tie_embeddings=False).count_params() == _parameters(8, 8, 8, 1, False)


def test_a_saved_transformer_reloads_with_its_config_and_logits(model, tmp_path):
    model.save(tmp_path / "best.keras")
    reloaded = load_checkpoint(tmp_path / "best.keras")  # the CLI's loader (class name checked first)
    assert isinstance(reloaded, TransformerSpeller) and reloaded.get_config() == model.get_config()
    np.testing.assert_array_equal(reloaded((SOURCE_IDS, DECODER_INPUTS)).numpy(),
                                  model((SOURCE_IDS, DECODER_INPUTS)).numpy())


class _FullPass:
    """The reference decoder: every step reruns the full causal pass over the tokens so far (no cache)."""

    def __init__(self, model):
        self.model = model
        self.source_vocabulary, self.target_vocabulary = model.source_vocabulary, model.target_vocabulary

    def step_function(self, source_ids, repeats=1):
        source_ids = tf.repeat(source_ids, repeats, axis=0)
        rows = tf.shape(source_ids)[0]

        def next_fn(token_ids, states):
            position, tokens = states
            tokens = tokens + token_ids[:, None] * tf.one_hot(position, decoding.MAX_LENGTH, dtype=tf.int32)
            logits = self.model((source_ids, tokens), training=False)  # later positions: never seen (causal)
            return tf.gather(logits, position, batch_dims=1), [position + 1, tokens]

        return next_fn, [tf.zeros([rows], tf.int32), tf.zeros(tf.stack([rows, decoding.MAX_LENGTH]), tf.int32)]


def test_beam_search_decodes_as_the_uncached_reference(model):
    # the beam reorders the rows at every step: the cache must follow its hypotheses
    cached, reference = Speller(model), Speller(_FullPass(model))  # held: a signature holds its Speller weakly
    got, expected = cached.beam_search(WORDS, 3, 1.0), reference.beam_search(WORDS, 3, 1.0)
    np.testing.assert_array_equal(got["spellings"].numpy(), expected["spellings"].numpy())
    np.testing.assert_allclose(got["log_probs"].numpy(), expected["log_probs"].numpy(), atol=1e-4)
    spellings = got["spellings"].numpy()
    assert len({s for row in spellings for s in row}) > len(WORDS)  # the beams differ: reordering was exercised


def test_an_ensemble_of_one_transformer_is_it_and_transformers_ensemble_with_lstms(model):
    single, alone = Speller(model), Speller(Ensemble([model]))
    for name in ("greedy", "beam_search"):
        args = (WORDS,) if name == "greedy" else (WORDS, 3, 1.0)
        got, expected = getattr(alone, name)(*args), getattr(single, name)(*args)
        for key in expected:
            np.testing.assert_array_equal(got[key].numpy(), expected[key].numpy())
    keras.utils.set_random_seed(3)
    lstm = Seq2Seq(SOURCE, TARGET, units=8, use_attention=True)
    lstm((tf.ones((1, 3), tf.int32), tf.ones((1, 2), tf.int32)))
    members = [model, _model(seed=1), lstm]
    next_fn, states = Ensemble(members).step_function(SOURCE_IDS)
    logits, _ = next_fn(tf.fill([3], SOS), states)
    by_hand = []
    for member in members:
        member_fn, member_states = member.step_function(SOURCE_IDS)
        by_hand.append(member_fn(tf.fill([3], SOS), member_states)[0].numpy())
    np.testing.assert_allclose(logits.numpy(), np.mean(by_hand, axis=0), atol=1e-6)


def test_the_cross_attention_is_a_distribution_over_the_source_symbols(model):
    scores = Speller(model).attention(["k æ t", "s"], ["cat", "s"]).numpy()  # (2, T=4, S=3)
    assert scores.shape == (2, 4, 3)
    np.testing.assert_allclose(scores.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(scores[1, :, 1:], 0.0, atol=1e-6)  # "s" has one symbol: the padding gets nothing


def test_the_transformer_options_are_opt_in_config_keys():
    assert set(config_dict(TrainConfig())).isdisjoint({"model", "layers", "heads"})  # old runs' config.json
    chosen = config_dict(TrainConfig(model="transformer", layers=2, heads=2, units=8))
    assert (chosen["model"], chosen["layers"], chosen["heads"]) == ("transformer", 2, 2)


def _cli(capsys, *argv):
    code = run_main(main, [str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("flags, message", [
    (["--model", "transformer", "--units", "30", "--heads", "4"],
     "--units must be divisible by --heads (each head takes --units/--heads dimensions). "
     "Received: --units=30, --heads=4"),
    (["--layers", "2"], "--layers and --heads shape the Transformer (--model transformer); the LSTM takes "
                        "neither. Received: --layers=2 with --model=lstm"),
    (["--model", "lstm", "--heads", "2", "--layers", "1"],
     "--layers and --heads shape the Transformer (--model transformer); the LSTM takes neither. "
     "Received: --layers=1, --heads=2 with --model=lstm"),
    (["--model", "transformer", "--attention"],
     "--attention adds Bahdanau attention to the LSTM; a Transformer always attends. "
     "Received: --attention with --model=transformer"),
    (["--model", "gpt"], "--model must be one of lstm, transformer. Received: --model='gpt'"),
])
def test_bad_transformer_flags_are_refused_in_one_line_before_anything_is_written(flags, message, capsys, tmp_path):
    code, out, err = _cli(capsys, "train", "--data", _write_corpus(tmp_path / "data"), *flags,
                          "--runs-dir", tmp_path / "runs", "--run-name", "bad")
    assert (code, out, err) == (2, "", f"error: {message}\n")
    assert not (tmp_path / "runs").exists()
    with pytest.raises(InputError, match="Received: units=6, heads=4"):
        TransformerSpeller(SOURCE, TARGET, units=6, heads=4)


def test_a_transformer_does_not_start_from_an_lstm(capsys, tmp_path):
    from keras_hw2.p2g.data import build_vocabularies, read_tsv
    data = _write_corpus(tmp_path / "data")
    source, target = build_vocabularies(read_tsv(data / "train.tsv"))
    lstm = Seq2Seq(source.tokens, target.tokens, units=8, use_attention=True)
    lstm.build(((None, None), (None, None)))
    lstm.save(tmp_path / "lstm.keras")
    code, out, err = _cli(capsys, "train", "--data", data, "--model", "transformer", "--units", "8", "--layers", "1",
                          "--init-from", tmp_path / "lstm.keras", "--runs-dir", tmp_path / "runs")
    assert (code, out) == (2, "") and not (tmp_path / "runs").exists()
    assert err == (f"error: --init-from {tmp_path / 'lstm.keras'} cannot start this run: it has no layers (another "
                   f"kind of model), this run's is 1; it has no heads (another kind of model), this run's is 4. "
                   f"Received: --init-from={tmp_path / 'lstm.keras'}\n")


def test_a_transformer_trains_predicts_and_its_export_reloads_in_a_clean_process(tmp_path, capsys):
    data = _write_corpus(tmp_path / "data")
    code, out, err = _cli(capsys, "train", "--data", data, "--model", "transformer", "--units", "8", "--layers", "1",
                          "--heads", "2", "--epochs", "1", "--batch-size", "16", "--runs-dir", tmp_path / "runs",
                          "--run-name", "tiny")
    run = tmp_path / "runs" / "p2g" / "tiny"
    assert code == 0, err
    assert out.splitlines()[2] == (f"model: transformer, 1 layers, 8 units, 2 heads: "
                                   f"{_parameters(9, 9, 8, 1):,} parameters")  # 5 + 4 specials each side
    assert json.loads((run / "config.json").read_text())["model"] == "transformer"
    words = [" ".join(PHONES[c] for c in "cat"), "b oʊ t"]
    code, out, _ = _cli(capsys, "predict", "--run", run, "--run", run, *words, "--beam", "2", "--attention-png",
                        tmp_path / "att.png", "--quiet")
    assert code == 2  # --attention-png draws one model: refused for an ensemble
    code, out, _ = _cli(capsys, "predict", "--run", run, *words, "--attention-png", tmp_path / "att.png", "--quiet")
    assert code == 0 and (tmp_path / "att.png").stat().st_size > 0 and len(out.splitlines()) == 3
    cli_spellings = [line.split("\t")[1] for line in out.splitlines()[:2]]
    code, out, _ = _cli(capsys, "evaluate", "--run", run, "--run", run, "--beam", "2", "--quiet")
    assert code == 0 and json.loads(out.splitlines()[0])["words"] == 4
    code, _, err = _cli(capsys, "export", "--run", run, "--models-dir", tmp_path / "sm", "--quiet")
    assert code == 0, err
    result = _python("-c", RELOAD, str(tmp_path / "sm" / "p2g" / "1"), json.dumps(words))
    assert result.returncode == 0, result.stderr[-2000:]
    printed, imported = (json.loads(line) for line in result.stdout.splitlines()[-2:])
    assert imported == []  # the SavedModel needs no keras_hw2
    assert printed["greedy/spellings"] == cli_spellings
    assert len(printed["nucleus/spellings"]) == 2 * 2 and len(printed["beam/spellings"]) == 2 * 3
    for row in np.reshape(printed["beam/scores"], (2, 3)):  # each word's n-best list, best first
        assert list(row) == sorted(row, reverse=True)
