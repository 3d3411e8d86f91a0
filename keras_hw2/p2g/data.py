"""TSV corpora and the tf.data pipeline.

A corpus line is ``phonemes separated by spaces<TAB>spelling``: exactly two
tab-separated fields, UTF-8, NFC-normalised on reading. Inside TensorFlow, source tokens are
``tf.strings.split`` (whitespace) and target tokens ``tf.strings.unicode_split``
(Unicode characters): core ops, so no tensorflow-text op reaches a graph.
"""
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import tensorflow as tf

from keras_hw2.errors import InputError
from keras_hw2.p2g.vocab import EOS, SOS, Vocabulary


@dataclass(frozen=True)
class Pair:
    phonemes: str  # NFC, single spaces between symbols
    spelling: str  # NFC


def read_tsv(path) -> list:
    """Read a corpus file into a list of `Pair`s.

    Raises:
        InputError: a missing or non-UTF-8 file, a line without exactly two
            tab-separated fields, or an empty phoneme or spelling field; the
            message names file and line.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a TSV file") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise InputError(f"{path}:{line}: not UTF-8 (byte 0x{raw[e.start]:02x})") from None
    pairs = []
    for number, line in enumerate(text.splitlines(), start=1):
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


def split_phonemes(phonemes):
    """``(batch_size,)`` strings -> ragged ``(batch_size, None)`` phoneme symbols."""
    return tf.strings.split(phonemes)


def split_characters(spellings):
    """``(batch_size,)`` strings -> ragged ``(batch_size, None)`` Unicode characters."""
    return tf.strings.unicode_split(spellings, "UTF-8")


def build_vocabularies(pairs) -> tuple:
    """Source (phoneme) and target (character) vocabularies from training pairs only."""
    source = Vocabulary.from_sequences(p.phonemes.split() for p in pairs)
    target = Vocabulary.from_sequences(list(p.spelling) for p in pairs)
    return source, target


def encode_phonemes(phonemes, vocab: Vocabulary):
    """``(batch_size,)`` strings -> ``(batch_size, S)`` int32 ids, 0-padded."""
    return vocab.lookup(split_phonemes(phonemes)).to_tensor()


def make_dataset(pairs, source_vocab: Vocabulary, target_vocab: Vocabulary, batch_size: int,
                 shuffle: bool = False, seed: int = 0) -> tf.data.Dataset:
    """Teacher-forcing batches ``((source_ids, decoder_inputs), decoder_targets)``.

    Shapes ``(batch_size, S)``, ``(batch_size, T)``, ``(batch_size, T)``, int32,
    PAD=0-padded; decoder inputs are SOS + characters, targets characters + EOS.
    Tokenising and lookup happen inside the pipeline, on whole batches.
    """
    ds = tf.data.Dataset.from_tensor_slices(([p.phonemes for p in pairs], [p.spelling for p in pairs]))
    if shuffle:
        ds = ds.shuffle(len(pairs), seed=seed, reshuffle_each_iteration=True)

    def encode(phonemes, spellings):
        source = encode_phonemes(phonemes, source_vocab)
        chars = target_vocab.lookup(split_characters(spellings))
        n = tf.shape(spellings)[0]
        sos = tf.fill([n, 1], SOS)
        eos = tf.fill([n, 1], EOS)
        decoder_inputs = tf.concat([sos, chars], axis=1).to_tensor()
        decoder_targets = tf.concat([chars, eos], axis=1).to_tensor()
        return (source, decoder_inputs), decoder_targets

    return ds.batch(batch_size).map(encode, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
