"""Scoring a trained speller on labelled words: CER / WER (/ WER@k, beam), and checking its inputs.

`evaluate` scores a list of `Pair`s (decoding them with `Speller.decode`);
`evaluation_data` finds the words ``python -m keras_hw2.p2g evaluate`` scores,
and `check_alphabet` refuses phoneme strings written in another alphabet than
the checkpoint's (ARPAbet for the embedded cmudict corpus, IPA for the
homework's WikiPron TSVs): the whole evaluation data, or each word given to
``predict``, by the same rule.
"""
from pathlib import Path

from keras_hw2.errors import InputError
from keras_hw2.p2g import cmudict_corpus, metrics
from keras_hw2.p2g.data import read_tsv
from keras_hw2.p2g.speller import Speller
from keras_hw2.p2g.vocab import SPECIAL_TOKENS

MAX_UNKNOWN_FRACTION = 0.05  # more unknown phoneme symbols than this (in the data, or in one word) is an error
TEST_FILE = "test.tsv"  # the test split of a data directory


def evaluate(speller: Speller, pairs, top_p=None, k=1, beam=None, seed=0, batch_size=1000, verbose=0) -> dict:
    """CER and WER of greedy decoding, WER@k of k nucleus samples, CER/WER and WER@k of beam search.

    Args:
        speller: a `Speller` around a trained `Seq2Seq`.
        pairs: the labelled words (`keras_hw2.p2g.data.Pair`).
        top_p: with a value, also draw `k` nucleus samples per word with this p.
        k: samples per word.
        beam: with a value, also decode with beam search of this size (its
            n-best lists give WER@beam, as the samples give WER@k).
        seed: seed of the nucleus samples.
        batch_size: words per decoding call.
        verbose: progress bar over the words (`Speller.decode`).

    Returns:
        ``{"words", "cer", "wer"}`` plus ``"wer_at_k", "differing"`` (up to five
        ``(phonemes, reference, samples)`` whose samples differ) with `top_p`, and
        ``"beam_cer", "beam_wer", "beam_wer_at_k"`` (over the `beam` best) with `beam`.
    """
    phonemes = [p.phonemes for p in pairs]
    references = [p.spelling for p in pairs]
    decoded = speller.decode(phonemes, top_p=top_p, num_samples=k, num_beams=beam, seed=seed,
                             batch_size=batch_size, verbose=verbose)
    predictions = decoded["spellings"]
    result = {"words": len(pairs), "cer": metrics.character_error_rate(predictions, references),
              "wer": metrics.word_error_rate(predictions, references)}
    if top_p is not None:
        drawn = decoded["samples"]
        result["wer_at_k"] = metrics.word_error_rate_at_k(drawn, references)
        result["differing"] = [(phonemes[i], references[i], drawn[i]) for i in range(len(pairs))
                               if len(set(drawn[i])) > 1][:5]
    if beam is not None:
        result["beam_cer"] = metrics.character_error_rate(decoded["beam"], references)
        result["beam_wer"] = metrics.word_error_rate(decoded["beam"], references)
        result["beam_wer_at_k"] = metrics.word_error_rate_at_k(decoded["beam_n_best"], references)
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


def check_alphabet(phonemes, source_tokens, source: str, max_unknown: float = MAX_UNKNOWN_FRACTION):
    """Count the phoneme symbols of `phonemes` that the checkpoint's vocabulary does not know.

    Args:
        phonemes: phoneme strings (symbols separated by spaces), e.g. the evaluation data's, or one word.
        source_tokens: the checkpoint's phoneme vocabulary (`Vocabulary.tokens`).
        source: how to name the strings in messages (a file, or the word itself).
        max_unknown: the largest tolerated fraction of unknown symbols.

    Returns:
        None when every symbol is known, else a one-line warning with the count.

    Raises:
        InputError: more than `max_unknown` of the symbols are unknown (another
            alphabet); names the first few and the checkpoint's alphabet.

    Example:
    >>> tokens = ["<pad>", "<sos>", "<eos>", "<unk>", "AE", "K", "T"]
    >>> check_alphabet(["K AE T"] * 30 + ["K AE X"], tokens, "x.tsv")
    'x.tsv: 1 of 93 phoneme symbols (1.08%) are unknown to the checkpoint and read as <unk>: X'
    >>> check_alphabet(["k æ T"], tokens, "'k æ T'")
    Traceback (most recent call last):
    ...
    keras_hw2.errors.InputError: 'k æ T': 2 of 3 phoneme symbols (66.67%) are unknown to the checkpoint, ...
    """
    known = set(source_tokens)
    unknown, total = {}, 0
    for text in phonemes:
        for symbol in text.split():
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
        raise InputError(f"{source}: {share} are unknown to the checkpoint, e.g. {first}: is it in "
                         f"another phoneme alphabet? The checkpoint's alphabet: {shown}")
    return f"{source}: {share} are unknown to the checkpoint and read as <unk>: {first}"
