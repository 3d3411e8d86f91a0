"""`train --word-weights frequency`: hand-worked weights, off by default, the weights reach the loss, bad values."""
import math

import numpy as np
import pytest
import tensorflow as tf

from keras_hw2 import training
from keras_hw2.cli import run_main
from keras_hw2.errors import InputError
from keras_hw2.p2g import __main__ as p2g_cli, word_weights
from keras_hw2.p2g.data import Pair, build_vocabularies, make_dataset
from keras_hw2.p2g.train import Corpus, TrainConfig, make_task, token_loss
from keras_hw2.runs import config_dict

WORDS = [Pair("K AE T", "cat"), Pair("D AO G", "dog"), Pair("K AE T S", "cats"), Pair("D AO G Z", "dogs")]


def test_the_weight_is_the_square_root_of_uses_per_million_words_between_1_and_10_to_the_1_5():
    zipf = [0.0, 2.5, 3.0, 4.0, 4.5, 5.0, 6.0, 7.7]
    expected = [1.0, 1.0, 1.0, math.sqrt(10), 10 ** 0.75, 10.0, 10 ** 1.5, 10 ** 1.5]
    np.testing.assert_allclose(word_weights.frequency_weight(zipf), expected, rtol=1e-6)
    assert word_weights.frequency_weight(zipf).dtype == np.float32


def test_frequency_weights_come_from_wordfreqs_english_zipf_frequencies():
    from wordfreq import zipf_frequency
    weights = word_weights.word_weights(["the", "cat", "qzxvkj"], "frequency")
    cat = zipf_frequency("cat", "en")
    assert 4 < cat < 6  # so "cat" lies strictly between the floor and the ceiling
    np.testing.assert_allclose(weights, [10 ** 1.5, 10 ** ((cat - 3) / 2), 1.0], rtol=1e-6)


def test_word_weights_are_off_by_default_and_left_out_of_config_json():
    config = TrainConfig()
    assert config.word_weights == "none" and word_weights.word_weights(["cat"], "none") is None
    assert "word_weights" not in config_dict(config)
    assert config_dict(TrainConfig(word_weights="frequency"))["word_weights"] == "frequency"
    source, target = build_vocabularies(WORDS)
    _, y = next(iter(make_dataset(WORDS, source, target, batch_size=4)))
    assert isinstance(y, tf.Tensor)  # unweighted: the targets alone, as before the option existed
    task = make_task(config, Corpus({"train": WORDS, "valid": WORDS}, "test"))
    assert task.loss is token_loss


def test_a_words_weight_travels_with_it_through_the_length_sorted_shuffle():
    source, target = build_vocabularies(WORDS)
    weight_of = {"cat": 1.0, "dog": 2.0, "cats": 3.0, "dogs": 4.0}
    seen = {}
    for _, (targets, got) in make_dataset(WORDS, source, target, batch_size=2, shuffle=True, seed=3,
                                          sort_window=2, weights=[weight_of[p.spelling] for p in WORDS]):
        for ids, weight in zip(targets.numpy(), got.numpy()):
            seen["".join(target.tokens[i] for i in ids if i > 2)] = float(weight)  # 0-2: PAD, SOS, EOS
    assert seen == weight_of


def test_the_weights_reach_the_training_loss_and_validation_stays_unweighted(monkeypatch):
    # hand-chosen Zipf frequencies: cat 5 -> weight 10, the others 3 -> weight 1
    monkeypatch.setattr(word_weights, "zipf_frequencies",
                        lambda words: np.array([5.0 if w == "cat" else 3.0 for w in words]))
    config = TrainConfig(units=4, use_attention=True, batch_size=4, sort_window=0, word_weights="frequency")
    task = make_task(config, Corpus({"train": WORDS, "valid": WORDS}, "test"))
    model = task.build_model()
    rng = np.random.default_rng(0)
    for variable in model.weights:  # far from the near-uniform start, so each word's loss differs
        variable.assign(rng.normal(0.0, 1.0, variable.shape).astype(np.float32))
    trainer = training.Trainer(tf.distribute.get_strategy(), model, task, jit_compile=False)
    (x, (targets, weights)), = task.train_data(0).take(1)
    np.testing.assert_allclose(sorted(weights.numpy()), [1, 1, 1, 10])
    per_token = token_loss(targets, model(x, training=False)).numpy()
    tokens = (targets.numpy() != 0).astype(np.float32)
    per_word = weights.numpy()[:, None] * tokens
    expected = (per_token * per_word).sum() / per_word.sum()
    unweighted = (per_token * tokens).sum() / tokens.sum()
    assert abs(expected - unweighted) > 0.05 * unweighted  # the weights change the figure
    batch = (x, (targets, weights))
    trainer.test_sums.reset()
    trainer.test_function(task.train_data(0).element_spec)(batch)
    assert trainer.test_sums.means()["loss"] == pytest.approx(expected, rel=1e-5)
    (vx, (vtargets, vweights)), = task.validation_data.take(1)
    assert vweights.numpy().tolist() == [1.0] * len(WORDS)


def test_bad_values_are_refused_in_one_line_with_exit_2(capsys, tmp_path):
    with pytest.raises(InputError, match=r"--word-weights must be one of none, frequency\. "
                                         r"Received: --word-weights='zipf'"):
        TrainConfig(word_weights="zipf")
    assert run_main(p2g_cli.main, ["train", "--word-weights", "often", "--runs-dir", str(tmp_path / "runs")]) == 2
    assert capsys.readouterr().err == \
        "error: --word-weights must be one of none, frequency. Received: --word-weights='often'\n"
    assert not (tmp_path / "runs").exists()


def test_frequency_weights_without_wordfreq_name_the_extra(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "wordfreq", None)  # `import wordfreq` raises ImportError
    with pytest.raises(InputError, match=r"needs the wordfreq package \(pip install 'keras_hw2\[presets\]'\)"):
        word_weights.word_weights(["cat"], "frequency")
