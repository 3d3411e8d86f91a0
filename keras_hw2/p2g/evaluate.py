"""Scoring a trained speller on labelled words: CER / WER (/ WER@k, beam), and checking its inputs.

`evaluate` scores a list of `Pair`s (decoding them with `Speller.decode`);
`evaluation_data` finds the words ``python -m keras_hw2.p2g evaluate`` scores,
`data_label` names them in the files it writes (`error_rows` -> `errors-<label>.tsv`,
beside ``evaluation-<label>.json``), and `check_alphabet` refuses phoneme strings written in another alphabet than
the checkpoint's (ARPAbet for the embedded cmudict corpus, IPA for the
homework's WikiPron TSVs): the whole evaluation data, or each word given to
``predict``, by the same rule.
"""
import re
from pathlib import Path

import numpy as np

from keras_hw2.errors import InputError
from keras_hw2.p2g import cmudict_corpus, metrics
from keras_hw2.p2g.data import read_tsv
from keras_hw2.p2g.speller import Speller
from keras_hw2.p2g.vocab import SPECIAL_TOKENS

MAX_UNKNOWN_FRACTION = 0.05  # more unknown phoneme symbols than this (in the data, or in one word) is an error
TEST_FILE = "test.tsv"  # the test split of a data directory
ERROR_COLUMNS = ("phonemes", "reference", "prediction", "cer")  # then "samples" (--top-p), "beam_n_best" (--beam)


def evaluate(speller: Speller, pairs, top_p=None, k=1, beam=None, seed=0, batch_size=1000, verbose=0) -> dict:
    """`score`'s figures alone."""
    return score(speller, pairs, top_p=top_p, k=k, beam=beam, seed=seed, batch_size=batch_size, verbose=verbose)[0]


def score(speller: Speller, pairs, top_p=None, k=1, beam=None, seed=0, batch_size=1000, verbose=0) -> tuple:
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
        ``(result, decoded)``: `result` is ``{"words", "cer", "wer"}`` plus
        ``"wer_at_k", "differing"`` (up to five ``(phonemes, reference, samples)``
        whose samples differ) with `top_p`, and ``"beam_cer", "beam_wer",
        "beam_wer_at_k"`` (over the `beam` best) with `beam`; `decoded` is
        `Speller.decode`'s dictionary, word by word (`error_rows`).
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
    return result, decoded


def error_rows(pairs, decoded: dict) -> list:
    """The words greedy decoding spells wrong, worst first: one dict per word, keys `ERROR_COLUMNS`.

    Rows are ordered by per-word CER (edit distance / reference length),
    highest first, then by the words' order. With nucleus samples in `decoded`,
    a row also has ``"samples"``; with a beam, ``"beam_n_best"`` (the
    hypotheses best first); both as ``", "``-joined spellings.

    Example:
    >>> from keras_hw2.p2g.data import Pair
    >>> pairs = [Pair("K AE T", "cat"), Pair("D AO G", "dog"), Pair("B UH K", "book")]
    >>> [(r["reference"], r["prediction"], r["cer"]) for r in error_rows(pairs, {"spellings": ["kat", "dog", "b"]})]
    [('book', 'b', 0.75), ('cat', 'kat', 0.3333)]
    """
    references = [pair.spelling for pair in pairs]
    predictions = decoded["spellings"]
    distances = metrics.edit_distances(predictions, references).numpy()
    lengths = np.array([len(reference) for reference in references])
    cer = distances / lengths
    rows = []
    for i in sorted(range(len(pairs)), key=lambda i: (-cer[i], i)):
        if predictions[i] == references[i]:
            continue
        row = {"phonemes": pairs[i].phonemes, "reference": references[i], "prediction": predictions[i],
               "cer": round(float(cer[i]), 4)}
        if "samples" in decoded:
            row["samples"] = ", ".join(decoded["samples"][i])
        if "beam_n_best" in decoded:
            row["beam_n_best"] = ", ".join(decoded["beam_n_best"][i])
        rows.append(row)
    return rows


def errors_tsv(rows, decoded: dict) -> str:
    """`error_rows` as a TSV text with a header line (the columns `decoded` gives)."""
    columns = [*ERROR_COLUMNS, *(key for key in ("samples", "beam_n_best") if key in decoded)]
    lines = ["\t".join(columns)] + ["\t".join(str(row[column]) for column in columns) for row in rows]
    return "\n".join(lines) + "\n"


def data_label(data=None, config=None) -> str:
    """What `evaluation_data` scores, as a file-name part: ``p2g-valid``, ``cmudict-full-test``.

    A TSV file is ``<its directory>-<its stem>``; a data directory its
    ``test.tsv``; an embedded split ``cmudict-<variant>-<split>``.

    Example:
    >>> data_label("../shared/data/p2g/valid.tsv"), data_label("cmudict:full:valid")
    ('p2g-valid', 'cmudict-full-valid')
    >>> data_label(None, {"data": None}), data_label(None, {"data": "cmudict:full"})
    ('cmudict-sample-test', 'cmudict-full-test')
    """
    spec = data if data is not None else trained_corpus(config or {})
    if spec is None or str(spec).startswith(cmudict_corpus.PREFIX):
        parts = str(spec or cmudict_corpus.PREFIX + cmudict_corpus.DEFAULT_VARIANT).split(":")
        label = "-".join([*parts, "test"] if len(parts) == 2 else parts)
    else:
        path = Path(spec)
        if data is None or path.is_dir():
            path = path / TEST_FILE
        label = f"{path.resolve().parent.name}-{path.stem}"
    return re.sub(r"[^\w.-]+", "_", label)


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
