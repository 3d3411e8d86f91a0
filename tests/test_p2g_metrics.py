"""CER, WER and WER@k against hand-worked cases."""
import pytest

from keras_hw2.p2g import metrics


def test_cer_counts_substitution_insertion_deletion_over_reference_length():
    # "cat"->"cut": 1 substitution; "dog"->"dogs": 1 insertion; "bird"->"brd": 1 deletion; 10 reference chars
    assert metrics.character_error_rate(["cut", "dogs", "brd"], ["cat", "dog", "bird"]) == pytest.approx(3 / 10)


def test_cer_of_empty_prediction_is_one_per_reference_character():
    assert metrics.character_error_rate(["", "ab"], ["abc", "ab"]) == pytest.approx(3 / 5)


def test_cer_counts_unicode_characters_not_bytes():
    # "café" vs "cafe": one substitution of a 2-byte character, 4 characters
    assert metrics.character_error_rate(["cafe"], ["café"]) == pytest.approx(1 / 4)
    assert [float(d) for d in metrics.edit_distances(["ñandú", ""], ["nandu", "é"])] == [2.0, 1.0]


def test_wer_is_fraction_of_words_not_exact():
    assert metrics.word_error_rate(["cat", "dgo", "", "Bird"], ["cat", "dog", "x", "bird"]) == pytest.approx(3 / 4)


def test_wer_at_k_counts_words_none_of_whose_samples_is_exact():
    samples = [["kat", "cat", "catt"], ["dgo", "dog", "dog"], ["brd", "bird ", "burd"]]
    assert metrics.word_error_rate_at_k(samples, ["cat", "dog", "bird"]) == pytest.approx(1 / 3)
