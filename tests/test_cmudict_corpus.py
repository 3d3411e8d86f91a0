"""The embedded cmudict corpora: the 8% sample (default) and the full variant (`--data cmudict:full`)."""
import zlib

import pytest

from keras_hw2.errors import InputError
from keras_hw2.p2g import cmudict_corpus
from keras_hw2.p2g.evaluate import evaluation_data
from keras_hw2.p2g.train import load_corpus


@pytest.fixture(scope="module")
def full():
    return cmudict_corpus.load_cmudict_corpus("full")


def test_the_split_rule_is_the_crc32_worked_by_hand():
    # crc32: cat 2656977832, tree 3074318044, house 1742027165, door 2330285101; h % 100 = 32, 44, 65, 1: only
    # "door" is in the 8% sample; (h // 100) % 10 = 8, 0, 1, 1: train, valid, test, test
    words = ("cat", "tree", "house", "door")
    assert [zlib.crc32(w.encode()) for w in words] == [2656977832, 3074318044, 1742027165, 2330285101]
    assert [cmudict_corpus._split_of(w, 100) for w in words] == ["train", "valid", "test", "test"]
    assert [cmudict_corpus._split_of(w) for w in words] == [None, None, None, "test"]


def test_the_full_corpus_holds_every_usable_word_split_80_10_10(full):
    sizes = {split: len(pairs) for split, pairs in full.items()}
    assert sizes == {"train": 99_916, "valid": 12_568, "test": 12_427}
    total = sum(sizes.values())
    assert abs(sizes["train"] / total - 0.8) < 0.005 and abs(sizes["valid"] / total - 0.1) < 0.005
    words = {split: {p.spelling for p in pairs} for split, pairs in full.items()}
    assert not (words["train"] & words["valid"]) and not (words["train"] & words["test"]) \
        and not (words["valid"] & words["test"])
    assert {"cat", "water", "school"} <= words["train"] and "house" in words["test"]


def test_a_sampled_word_lies_in_the_same_split_of_the_full_corpus(full):
    sample = cmudict_corpus.load_cmudict_corpus("sample")
    for split in cmudict_corpus.SPLITS:
        assert set(sample[split]) <= set(full[split])
    assert sum(map(len, sample.values())) == 10_059


def test_the_full_corpus_is_the_same_on_every_load(full):
    cmudict_corpus.load_cmudict_corpus.cache_clear()
    again = cmudict_corpus.load_cmudict_corpus("full")
    assert again is not full and again == full


def test_data_names_select_the_variant_and_unknown_ones_are_refused():
    assert cmudict_corpus.variant_of(None) == "sample"
    assert cmudict_corpus.variant_of("cmudict:full") == "full"
    assert cmudict_corpus.variant_of("cmudict_dir") is None
    with pytest.raises(InputError, match=r"cmudict:sample, cmudict:full .*Received: --data=cmudict:fll"):
        cmudict_corpus.variant_of("cmudict:fll")
    with pytest.raises(InputError, match=r"unknown split 'dev'.*Received: --data=cmudict:full:dev"):
        cmudict_corpus.labelled_split("cmudict:full:dev")


def test_training_and_evaluation_find_the_full_corpus_by_its_recorded_name(full):
    splits, announcement = load_corpus("cmudict:full")
    assert splits == {"train": full["train"], "valid": full["valid"]}
    assert "--data cmudict:full" in announcement and "99,916 train" in announcement
    pairs, source = evaluation_data(None, {"data": "cmudict:full"})  # a run's config.json, no --data
    assert pairs == full["test"] and "full" in source and "12,427" in source
    pairs, _ = evaluation_data("cmudict:full:valid", None)
    assert pairs == full["valid"]
    pairs, _ = evaluation_data(None, {"data": None})  # runs trained on the default sample
    assert pairs == cmudict_corpus.load_cmudict_corpus()["test"]


def test_an_unknown_variant_is_a_one_line_error_before_training(python, tmp_path):
    result = python("-m", "keras_hw2.p2g", "train", "--data", "cmudict:fll", "--runs-dir", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1:] == [
        "error: unknown embedded corpus 'cmudict:fll'; choose one of cmudict:sample, cmudict:full (or a data "
        "directory). Received: --data=cmudict:fll"]
    assert not any(tmp_path.iterdir())
