"""TSV corpora and the tf.data pipeline.

A corpus line is ``phonemes separated by spaces<TAB>spelling``: exactly two
tab-separated fields, UTF-8, NFC-normalised on reading. Inside TensorFlow, source
strings become ids through `encode_phonemes`, the one phoneme tokeniser (of the
training pipeline, the CLI and the SavedModel alike: `keras_hw2.p2g.speller`), and
target strings are split into Unicode characters (`split_characters`).
"""
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf
import tensorflow_text

from keras_hw2.errors import InputError
from keras_hw2.p2g.vocab import EOS, SOS, Vocabulary


BOM = "\ufeff"  # a UTF-8 byte-order mark, which some editors put at the start of a file
FORBIDDEN_CATEGORIES = ("Cc", "Zl", "Zp")  # control characters and line/paragraph separators (the tab aside)


@dataclass(frozen=True)
class Pair:
    phonemes: str  # NFC, single spaces between symbols
    spelling: str  # NFC


def read_lines(path, raw: bytes = None) -> list:
    """The lines of a UTF-8 text file, as ``[(line_number, line), ...]``: the one reader of corpus and input files.

    A UTF-8 byte-order mark at the start is dropped; lines end at ``\n``
    (``\r\n`` too); the newline ending the last line ends no extra line.

    Args:
        path: the file (named in messages).
        raw: its bytes, when already read (standard input); None: read `path`.

    Raises:
        InputError: a missing or non-UTF-8 file, or a control character (NUL and
            every other Unicode ``Cc`` but the tab, a line/paragraph separator,
            or a byte-order mark after the start); the message names file and line.
    """
    if raw is None:
        try:
            raw = Path(path).read_bytes()
        except FileNotFoundError:
            raise InputError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise InputError(f"{path}: is a directory, not a text file") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise InputError(f"{path}:{line}: not UTF-8 (byte 0x{raw[e.start]:02x})") from None
    lines = text.removeprefix(BOM).split("\n")
    if lines[-1] == "":
        lines.pop()  # the newline ending the last line
    numbered = []
    for number, line in enumerate(lines, start=1):
        line = line.removesuffix("\r")
        bad = next((c for c in line if c == BOM or c != "\t" and unicodedata.category(c) in FORBIDDEN_CATEGORIES),
                   None)
        if bad is not None:
            raise InputError(f"{path}:{number}: control character U+{ord(bad):04X} at column "
                             f"{line.index(bad) + 1} (a control character, line separator or byte-order mark); "
                             "a line holds printable text only")
        numbered.append((number, line))
    return numbered


def read_tsv(path) -> list:
    """Read a corpus file into a list of `Pair`s (lines as `read_lines` reads them).

    Raises:
        InputError: a file `read_lines` refuses, a line without exactly two
            tab-separated fields, or an empty phoneme or spelling field; the
            message names file and line.
    """
    pairs = []
    for number, line in read_lines(path):
        fields = line.split("\t")
        if len(fields) < 2:
            raise InputError(f"{path}:{number}: no tab between phonemes and spelling: {line[:40]!r}")
        if len(fields) > 2:
            raise InputError(f"{path}:{number}: {len(fields)} tab-separated fields; expected exactly 2, "
                             f"phonemes<TAB>spelling: {line[:40]!r}")
        phonemes = " ".join(unicodedata.normalize("NFC", fields[0]).split())
        spelling = unicodedata.normalize("NFC", fields[1].strip())
        if not phonemes:
            raise InputError(f"{path}:{number}: empty phoneme field")
        if not spelling:
            raise InputError(f"{path}:{number}: empty spelling field")
        pairs.append(Pair(phonemes, spelling))
    if not pairs:
        raise InputError(f"{path}: holds no lines")
    return pairs


def normalize(text: str) -> str:
    """NFC, whitespace collapsed: the form `read_tsv` gives, for command-line inputs."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def split_characters(spellings):
    """``(batch_size,)`` strings -> ragged ``(batch_size, None)`` Unicode characters."""
    return tf.strings.unicode_split(spellings, "UTF-8")


def build_vocabularies(pairs) -> tuple:
    """Source (phoneme) and target (character) vocabularies from training pairs only."""
    source = Vocabulary.from_sequences(p.phonemes.split() for p in pairs)
    target = Vocabulary.from_sequences(list(p.spelling) for p in pairs)
    return source, target


def phoneme_symbols(phonemes):
    """``(batch_size,)`` UTF-8 phoneme strings -> ragged ``(batch_size, None)`` symbols: NFC, split at Unicode
    whitespace (steps 1-2 of `encode_phonemes`)."""
    return tensorflow_text.WhitespaceTokenizer().tokenize(tensorflow_text.normalize_utf8(phonemes, "NFC"))


def encode_phonemes(phonemes, vocab: Vocabulary):
    """``(batch_size,)`` UTF-8 phoneme strings -> ``(batch_size, S)`` int32 ids, PAD=0-padded, S >= 1.

    1. NFC-normalise (``tensorflow_text.normalize_utf8``), so a decomposed ``é``
       (``e`` + U+0301) is the symbol the vocabulary holds;
    2. split at Unicode whitespace (``tensorflow_text.WhitespaceTokenizer``),
       as `normalize` and `read_tsv` do in Python;
    3. look the symbols up (`Vocabulary.lookup`; unknown symbols -> UNK) and pad
       to the longest; an empty string is one PAD.

    Example:
    >>> vocab = Vocabulary(["<pad>", "<sos>", "<eos>", "<unk>", "k", "æ", "t"])
    >>> encode_phonemes(tf.constant(["k æ t", "t  zz", ""]), vocab).numpy().tolist()
    [[4, 5, 6], [6, 3, 0], [0, 0, 0]]
    """
    ids = vocab.lookup(phoneme_symbols(phonemes)).to_tensor()
    return tf.pad(ids, [[0, 0], [0, tf.maximum(1 - tf.shape(ids)[1], 0)]])


def length_sorted_order(lengths, batch_size: int, sort_window: int, seed: int) -> np.ndarray:
    """A seeded shuffle of ``range(len(lengths))`` whose batches hold words of similar length.

    1. Shuffle every index (``np.random.default_rng(seed)``).
    2. Cut the shuffle into windows of ``sort_window * batch_size`` words and
       sort each window by length (stable), so each batch pads to a length
       close to its words' own.
    3. Cut into batches and shuffle the order of the full batches; a last,
       partial batch stays last.

    Args:
        lengths: one length per word (e.g. phonemes + characters).
        batch_size: words per batch.
        sort_window: batches sorted together; 1 keeps each batch's words as
            the shuffle drew them (only their order within the batch changes).
        seed: the shuffling seed.

    Returns:
        ``(len(lengths),)`` int64 indices; consecutive runs of `batch_size` are the batches.

    Example:
    >>> order = length_sorted_order([1, 9, 2, 8, 3, 7], batch_size=2, sort_window=3, seed=0)
    >>> sorted(tuple(sorted([1, 9, 2, 8, 3, 7][i] for i in order[k:k + 2])) for k in (0, 2, 4))
    [(1, 2), (3, 7), (8, 9)]
    """
    rng = np.random.default_rng(seed)
    lengths = np.asarray(lengths)
    order = rng.permutation(len(lengths))
    window = sort_window * batch_size
    for start in range(0, len(order), window):
        part = order[start:start + window]
        order[start:start + window] = part[np.argsort(lengths[part], kind="stable")]
    num_full = len(order) // batch_size
    batches = order[:num_full * batch_size].reshape(num_full, batch_size)[rng.permutation(num_full)]
    return np.concatenate([batches.reshape(-1), order[num_full * batch_size:]])


def make_dataset(pairs, source_vocab: Vocabulary, target_vocab: Vocabulary, batch_size: int,
                 shuffle: bool = False, seed: int = 0, sort_window: int = 0, weights=None) -> tf.data.Dataset:
    """Teacher-forcing batches ``((source_ids, decoder_inputs), decoder_targets)``.

    Shapes ``(batch_size, S)``, ``(batch_size, T)``, ``(batch_size, T)``, int32,
    PAD=0-padded to the batch's longest word; decoder inputs are SOS +
    characters, targets characters + EOS. Tokenising and lookup happen inside
    the pipeline, on whole batches. With `weights`, the targets are
    ``(decoder_targets, word_weights)``, the second ``(batch_size,)`` float32.

    Args:
        pairs: the words (`Pair`).
        source_vocab: the phoneme vocabulary.
        target_vocab: the character vocabulary.
        batch_size: words per batch.
        shuffle: shuffle with `seed` (a new order on every pass when `sort_window` is 0).
        seed: the shuffling seed.
        sort_window: with `shuffle`, > 0 batches words of similar length
            together (`length_sorted_order`), which pads far less; 0: plain
            shuffling (``tf.data``).
        weights: None, or one loss weight per pair (`keras_hw2.p2g.word_weights`), kept with its word.
    """
    weights = None if weights is None else np.asarray(weights, np.float32)
    if shuffle and sort_window:
        lengths = [len(p.phonemes.split()) + len(p.spelling) for p in pairs]
        order = length_sorted_order(lengths, batch_size, sort_window, seed)
        pairs = [pairs[i] for i in order]
        weights = None if weights is None else weights[order]
    columns = ([p.phonemes for p in pairs], [p.spelling for p in pairs])
    ds = tf.data.Dataset.from_tensor_slices(columns if weights is None else (*columns, weights))
    if shuffle and not sort_window:
        ds = ds.shuffle(len(pairs), seed=seed, reshuffle_each_iteration=True)

    def encode(phonemes, spellings, *word_weights):
        source = encode_phonemes(phonemes, source_vocab)
        chars = target_vocab.lookup(split_characters(spellings))
        n = tf.shape(spellings)[0]
        sos = tf.fill([n, 1], SOS)
        eos = tf.fill([n, 1], EOS)
        decoder_inputs = tf.concat([sos, chars], axis=1).to_tensor()
        decoder_targets = tf.concat([chars, eos], axis=1).to_tensor()
        return (source, decoder_inputs), (decoder_targets, *word_weights) if word_weights else decoder_targets

    return ds.batch(batch_size).map(encode, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
