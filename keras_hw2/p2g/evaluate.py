"""Scoring and batch decoding with a trained speller: CER / WER (/ WER@k, beam) on labelled words.

`greedy`, `sample` and `beam_search` decode a list of phoneme strings in batches,
optionally counting them on a `keras_hw2.progress.Progress` bar; `spell` is the
greedy spellings alone (training's validation CER uses it); `evaluate` scores
a list of `Pair`s. `evaluation_data` finds the words ``python -m keras_hw2.p2g
evaluate`` scores, and `check_alphabet` refuses data written in another
phoneme alphabet than the checkpoint's (ARPAbet for the embedded cmudict
corpus, IPA for the homework's WikiPron TSVs).
"""
from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_hw2.errors import InputError
from keras_hw2.p2g import cmudict_corpus, metrics
from keras_hw2.p2g.data import read_tsv
from keras_hw2.p2g.serving import Speller
from keras_hw2.p2g.vocab import SPECIAL_TOKENS
from keras_hw2.progress import Progress

PROGRESS_MIN_WORDS = 100  # decoding more words than this shows a progress bar (beam search always does)
MAX_UNKNOWN_FRACTION = 0.05  # more unknown phoneme symbols than this in the evaluation data is an error
TEST_FILE = "test.tsv"  # the test split of a data directory


def _batched(decode, phonemes, batch_size: int, progress) -> dict:
    """Run ``decode(start, batch)`` over batches of `phonemes`; concatenates its ``spellings`` / ``log_probs``."""
    parts = []
    for start in range(0, len(phonemes), batch_size):
        batch = list(phonemes[start:start + batch_size])
        out = decode(start, batch)
        parts.append({key: out[key].numpy() for key in ("spellings", "log_probs")})
        if progress is not None:
            progress.add(len(batch))
    if not parts:
        return {"spellings": [], "log_probs": np.zeros(0, "float32")}
    joined = {key: np.concatenate([part[key] for part in parts]) for key in ("spellings", "log_probs")}
    joined["spellings"] = np.vectorize(lambda s: s.decode("utf-8"), otypes=[object])(joined["spellings"]).tolist()
    return joined


def greedy(speller: Speller, phonemes, batch_size: int = 1000, progress=None) -> dict:
    """Greedy spellings (``N`` strings) and their log-probabilities ``(N,)`` of ``N`` phoneme strings."""
    return _batched(lambda start, batch: speller.greedy(tf.constant(batch)), phonemes, batch_size, progress)


def sample(speller: Speller, phonemes, p: float, num_samples: int, seed: int = 0, batch_size: int = 1000,
            progress=None) -> dict:
    """`num_samples` nucleus samples per word: ``N`` lists of strings and log-probabilities ``(N, num_samples)``.

    The batch starting at word ``i`` is drawn with seed ``seed + i``.
    """
    def decode(start, batch):
        return speller.sample(tf.constant(batch), tf.constant(p, tf.float32), tf.constant(num_samples, tf.int32),
                              tf.constant(seed + start, tf.int64))
    return _batched(decode, phonemes, batch_size, progress)


def beam_search(speller: Speller, phonemes, num_beams: int = 5, batch_size: int = 1000, progress=None) -> dict:
    """Beam-search spellings (``N`` strings) and their log-probabilities ``(N,)``."""
    return _batched(lambda start, batch: speller.beam_search(batch, num_beams=num_beams),
                    phonemes, batch_size, progress)


def spell(speller: Speller, phonemes, batch_size: int = 1000, verbose=0) -> list:
    """Greedy spellings of a list of phoneme strings, decoded in batches.

    Args:
        speller: a `Speller` around a trained `Seq2Seq`.
        phonemes: phoneme strings in the checkpoint's alphabet, symbols separated by spaces.
        batch_size: words per decoding call.
        verbose: ``"auto"``, 0, 1 or 2 (`keras_hw2.progress.Progress`); a bar only above 100 words.

    Returns:
        One spelling per phoneme string.
    """
    progress = Progress(len(phonemes), "word", verbose) if len(phonemes) > PROGRESS_MIN_WORDS else None
    return greedy(speller, phonemes, batch_size, progress)["spellings"]


def evaluate(speller: Speller, pairs, top_p=None, k=1, beam=None, seed=0, batch_size=1000, verbose=0) -> dict:
    """CER and WER of greedy decoding, WER@k of k nucleus samples, CER/WER of beam search.

    Args:
        speller: a `Speller` around a trained `Seq2Seq`.
        pairs: the labelled words (`keras_hw2.p2g.data.Pair`).
        top_p: with a value, also draw `k` nucleus samples per word with this p.
        k: samples per word.
        beam: with a value, also decode with beam search of this size.
        seed: seed of the nucleus samples.
        batch_size: words per decoding call.
        verbose: progress bar (`keras_hw2.progress.Progress`) above 100 words, or with beam search.

    Returns:
        ``{"words", "cer", "wer"}`` plus ``"wer_at_k", "differing"`` (up to five
        ``(phonemes, reference, samples)`` whose samples differ) with `top_p`, and
        ``"beam_cer", "beam_wer"`` with `beam`.
    """
    phonemes = [p.phonemes for p in pairs]
    references = [p.spelling for p in pairs]
    passes = 1 + (top_p is not None) + (beam is not None)
    shown = len(pairs) > PROGRESS_MIN_WORDS or beam is not None
    progress = Progress(passes * len(pairs), "word", verbose) if shown else None
    predictions = greedy(speller, phonemes, batch_size, progress)["spellings"]
    result = {"words": len(pairs), "cer": metrics.character_error_rate(predictions, references),
              "wer": metrics.word_error_rate(predictions, references)}
    if top_p is not None:
        drawn = sample(speller, phonemes, top_p, k, seed, batch_size, progress)["spellings"]
        result["wer_at_k"] = metrics.word_error_rate_at_k(drawn, references)
        result["differing"] = [(phonemes[i], references[i], drawn[i]) for i in range(len(pairs))
                               if len(set(drawn[i])) > 1][:5]
    if beam is not None:
        beamed = beam_search(speller, phonemes, beam, batch_size, progress)["spellings"]
        result["beam_cer"] = metrics.character_error_rate(beamed, references)
        result["beam_wer"] = metrics.word_error_rate(beamed, references)
    return result


def trained_corpus(config: dict):
    """The training corpus a run's ``config.json`` records: a data directory, or None for the embedded cmudict.

    Raises:
        InputError: the configuration does not record it.
    """
    for key in ("data", "data_dir"):  # "data_dir": runs made before the field was renamed
        if key in config:
            return config[key]
    raise InputError("the run's config.json does not record its training corpus; pass --data FILE.tsv")


def evaluation_data(data=None, config=None) -> tuple:
    """The labelled words `evaluate` scores, and where they come from.

    Args:
        data: a TSV file, a data directory holding ``test.tsv``, or an embedded
            split (``cmudict:full``, ``cmudict:full:valid``); None: the
            test split of the corpus the run was trained on (`config`).
        config: the run's ``config.json``, or None when the checkpoint has none.

    Returns:
        ``([Pair, ...], description)``.

    Raises:
        InputError: a bad file, a directory without ``test.tsv``, or an unknown training corpus.
    """
    embedded = None if data is None else cmudict_corpus.labelled_split(data)  # --data cmudict:full[:valid]
    if embedded is not None:
        return embedded
    if data is not None:
        path = Path(data)
        if path.is_dir():
            if not (path / TEST_FILE).is_file():
                raise InputError(f"{path}: holds no {TEST_FILE}; pass a TSV file. Received: --data={data}")
            path = path / TEST_FILE
        return read_tsv(path), str(path)
    if config is None:
        raise InputError("the checkpoint has no config.json beside it, so the corpus it was trained on is "
                         "unknown; pass --data FILE.tsv")
    corpus = trained_corpus(config)
    if cmudict_corpus.variant_of(corpus) is not None:  # None or "cmudict:<variant>": an embedded corpus
        return cmudict_corpus.labelled_split(corpus)
    path = Path(corpus) / TEST_FILE
    if not path.is_file():
        raise InputError(f"{path}: no such file; the run was trained on {corpus}, which has no test split; "
                         "pass --data FILE.tsv")
    return read_tsv(path), str(path)


def check_alphabet(pairs, source_tokens, source: str, max_unknown: float = MAX_UNKNOWN_FRACTION):
    """Count the phoneme symbols of `pairs` that the checkpoint's vocabulary does not know.

    Args:
        pairs: the labelled words.
        source_tokens: the checkpoint's phoneme vocabulary (`Vocabulary.tokens`).
        source: how to name the data in messages.
        max_unknown: the largest tolerated fraction of unknown symbols.

    Returns:
        None when every symbol is known, else a one-line warning with the count.

    Raises:
        InputError: more than `max_unknown` of the symbols are unknown (data in
            another alphabet); names the first few and the checkpoint's alphabet.

    Example:
    >>> from keras_hw2.p2g.data import Pair
    >>> check_alphabet([Pair("K AE T", "cat")] * 30 + [Pair("K AE X", "cax")], ["<pad>", "<sos>", "<eos>",
    ...                "<unk>", "AE", "K", "T"], "x.tsv")
    'x.tsv: 1 of 93 phoneme symbols (1.08%) are unknown to the checkpoint and read as <unk>: X'
    """
    known = set(source_tokens)
    unknown, total = {}, 0
    for pair in pairs:
        for symbol in pair.phonemes.split():
            total += 1
            if symbol not in known:
                unknown[symbol] = unknown.get(symbol, 0) + 1
    count = sum(unknown.values())
    if not count:
        return None
    first = ", ".join(list(unknown)[:5]) + (", ..." if len(unknown) > 5 else "")
    share = f"{count:,} of {total:,} phoneme symbols ({count / total:.2%})"
    if count / total > max_unknown:
        alphabet = [token for token in source_tokens if token not in SPECIAL_TOKENS]
        shown = " ".join(alphabet[:40]) + (" ..." if len(alphabet) > 40 else "")
        raise InputError(f"{source}: {share} are unknown to the checkpoint, e.g. {first}: is the data in "
                         f"another phoneme alphabet? The checkpoint's alphabet: {shown}")
    return f"{source}: {share} are unknown to the checkpoint and read as <unk>: {first}"
