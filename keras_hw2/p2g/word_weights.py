"""Word-frequency weights of the training words: ``train --word-weights frequency`` (issue 21).

A pronouncing dictionary lists a rare name or variant spelling once, as it lists
an everyday word once, so a speller trained on it spells common, often irregular
words (``door``, ``friend``, ``money``) by the rules of the many rare ones
(``dore``, ``frend``, ``munney``). ``--word-weights frequency`` weighs each
training word's loss by how often the word is used in English:

    weight(word) = 10 ** ((clip(zipf(word), FLOOR_ZIPF, CEILING_ZIPF) - FLOOR_ZIPF) / 2)

where ``zipf(word)`` is the word's Zipf frequency from the `wordfreq` package
(``log10`` of its uses per billion words; 0 for a word it does not know), read
offline from the data wordfreq bundles. The weight is the square root of how
many times more often than once per million words (Zipf 3) the word is used:
1 for a word used at most once per million words (most of the dictionary's
names and variants), 10 at Zipf 5 (``paper``, ``table``: once per 10,000
words), at most ``10 ** 1.5`` (about 31.6) from Zipf 6 up (``time``,
``the``). Each target token of the word weighs the word's weight (padding 0); a
batch's loss is their weighted mean (`keras_hw2.training.Trainer`).

Only training is weighted: the validation loss, CER and WER, and ``evaluate``,
still count every dictionary word once. ``none`` (the default) weighs every word 1
and leaves the pipeline exactly as it was; the option is an opt-in config key
(left out of config.json at its default, `keras_hw2.runs.opt_in`).

wordfreq (code Apache-2.0; its word lists CC BY-SA 4.0) is a build-time extra,
``pip install keras_hw2[presets]``; nothing imports it unless the option asks.
"""
import numpy as np

from keras_hw2.checks import received
from keras_hw2.errors import InputError

SCHEMES = ("none", "frequency")
DEFAULT = "none"
FLOOR_ZIPF = 3.0  # once per million words: this and rarer weigh 1
CEILING_ZIPF = 6.0  # once per thousand words: this and more common weigh 10 ** 1.5
LANGUAGE = "en"
WORD_LIST = "large_en.msgpack.gz"  # the list wordfreq's zipf_frequency reads for English (its "best")


def frequency_weight(zipf):
    """The weight of words of Zipf frequency `zipf` (a number or an array), float32.

    Example:
    >>> [round(float(w), 3) for w in frequency_weight([0.0, 3.0, 4.0, 5.0, 6.0, 7.5])]
    [1.0, 1.0, 3.162, 10.0, 31.623, 31.623]
    """
    zipf = np.clip(np.asarray(zipf, np.float64), FLOOR_ZIPF, CEILING_ZIPF)
    return (10.0 ** ((zipf - FLOOR_ZIPF) / 2)).astype(np.float32)


def zipf_frequencies(words) -> np.ndarray:
    """``(len(words),)`` float64 Zipf frequencies of `words` in English (wordfreq's bundled lists).

    Raises:
        InputError: wordfreq is not installed.
    """
    try:
        from wordfreq import zipf_frequency
    except ImportError:
        raise InputError("--word-weights frequency needs the wordfreq package (pip install 'keras_hw2[presets]'). "
                         f"{received('--word-weights', 'frequency')}") from None
    return np.array([zipf_frequency(word, LANGUAGE) for word in words], np.float64)


def word_weights(words, scheme: str):
    """``(len(words),)`` float32 loss weights of the training words under `scheme` (one of `SCHEMES`, checked
    by the config); None for ``none``, which leaves the training pipeline unweighted.

    Raises:
        InputError: wordfreq missing for ``frequency``.
    """
    if scheme == "none":
        return None
    return frequency_weight(zipf_frequencies(words))
