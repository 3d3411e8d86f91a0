"""TSV reading, vocabularies, the tf.data pipeline and the embedded cmudict corpus."""
import unicodedata

import numpy as np
import pytest

from keras_hw2.errors import InputError
from keras_hw2.p2g import cmudict_corpus, data
from keras_hw2.p2g.vocab import SPECIAL_TOKENS, UNK, Vocabulary


def _write(tmp_path, content, name="x.tsv"):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def test_reads_pairs_and_normalises_to_nfc(tmp_path):
    nfd = unicodedata.normalize("NFD", "café")
    path = _write(tmp_path, f"t͡ʃ æ p l ə t\tchaplet\nk  æ f eɪ\t{nfd}\n")
    pairs = data.read_tsv(path)
    assert pairs == [data.Pair("t͡ʃ æ p l ə t", "chaplet"), data.Pair("k æ f eɪ", "café")]
    assert pairs[1].spelling == unicodedata.normalize("NFC", "café")


@pytest.mark.parametrize("content, message", [
    ("a b\tab\na b ab\n", r"x\.tsv:2: no tab"),
    ("a b\tab\tba\n", r"x\.tsv:1: 3 tab-separated fields; expected exactly 2, phonemes<TAB>spelling"),
    ("a b\tab\t\n", r"x\.tsv:1: 3 tab-separated fields"),
    ("a b\tab\n\tab\n", r"x\.tsv:2: empty phoneme field"),
    ("a b\t \n", r"x\.tsv:1: empty spelling field"),
    (b"a\tb\nc\t\xff\n", r"x\.tsv:2: not UTF-8"),
    ("", r"x\.tsv: holds no lines"),
])
def test_bad_lines_name_file_and_line(tmp_path, content, message):
    with pytest.raises(InputError, match=message):
        data.read_tsv(_write(tmp_path, content))


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="nope.tsv: no such file"):
        data.read_tsv(tmp_path / "nope.tsv")


def test_vocabulary_has_specials_first_and_maps_unknown_symbols_to_unk():
    pairs = [data.Pair("t͡ʃ æ", "ab"), data.Pair("æ oʊ", "bc")]
    source, target = data.build_vocabularies(pairs)
    assert source.tokens == [*SPECIAL_TOKENS, "oʊ", "t͡ʃ", "æ"]
    assert target.tokens == [*SPECIAL_TOKENS, "a", "b", "c"]
    ids = data.encode_phonemes(np.array(["t͡ʃ oʊ zz", "æ"]), source)
    np.testing.assert_array_equal(ids, [[5, 4, UNK], [6, 0, 0]])


def test_vocabulary_validation():
    with pytest.raises(ValueError, match="must not repeat"):
        Vocabulary([*SPECIAL_TOKENS, "a", "a"])
    with pytest.raises(ValueError, match="must start with"):
        Vocabulary(["a", *SPECIAL_TOKENS])


def test_dataset_gives_sos_inputs_and_eos_targets_padded_with_zero():
    pairs = [data.Pair("k æ t", "cat"), data.Pair("æ", "é")]
    source, target = data.build_vocabularies(pairs)
    (src, dec_in), dec_out = next(iter(data.make_dataset(pairs, source, target, batch_size=2)))
    c, a, t, e_acute = (target.tokens.index(ch) for ch in "caté")
    np.testing.assert_array_equal(dec_in, [[1, c, a, t], [1, e_acute, 0, 0]])
    np.testing.assert_array_equal(dec_out, [[c, a, t, 2], [e_acute, 2, 0, 0]])
    assert src.shape == (2, 3) and src[1, 1] == 0


def test_cmudict_corpus_splits_are_disjoint_sized_and_stressless():
    corpus = cmudict_corpus.load_cmudict_corpus()
    words = {split: {p.spelling for p in pairs} for split, pairs in corpus.items()}
    assert not (words["train"] & words["valid"]) and not (words["train"] & words["test"])
    assert 7000 < len(corpus["train"]) < 9000 and 900 < len(corpus["valid"]) < 1100
    assert not any(ch.isdigit() for p in corpus["train"] for ch in p.phonemes)
    assert all(p.spelling == p.spelling.lower() for p in corpus["valid"])


def test_length_sorted_order_is_a_seeded_permutation_of_length_similar_batches():
    lengths = np.random.default_rng(1).integers(1, 30, size=103)
    order = data.length_sorted_order(lengths, batch_size=8, sort_window=4, seed=3)
    assert sorted(order.tolist()) == list(range(103))
    assert order.tolist() == data.length_sorted_order(lengths, 8, 4, seed=3).tolist()
    assert order.tolist() != data.length_sorted_order(lengths, 8, 4, seed=4).tolist()
    plain = data.length_sorted_order(lengths, batch_size=8, sort_window=1, seed=3)

    def padding(indices):  # padded positions over the full batches
        batches = np.asarray(lengths)[indices[:96]].reshape(12, 8)
        return int((batches.max(axis=1, keepdims=True) - batches).sum())

    assert padding(order) < padding(plain)


def test_sorted_dataset_holds_every_word_once_padded_to_its_batch():
    pairs = [data.Pair(" ".join("k" * n), "c" * n) for n in (1, 7, 2, 6, 3, 5, 4, 8)]
    source, target = data.build_vocabularies(pairs)
    batches = list(data.make_dataset(pairs, source, target, batch_size=2, shuffle=True, seed=0, sort_window=4))
    lengths = [sorted(int(n) for n in _phoneme_counts(src)) for (src, _), _ in batches]
    assert sorted(n for batch in lengths for n in batch) == list(range(1, 9))
    assert all(batch[1] - batch[0] == 1 for batch in lengths)  # neighbours in length share a batch
    assert all(src.shape[1] == max(n) for ((src, _), _), n in zip(batches, lengths))


def _phoneme_counts(source_ids):
    """Phonemes per word of a ``(batch_size, S)`` id batch."""
    return np.count_nonzero(source_ids.numpy(), axis=1)
