"""Property-based probes of every reader and parser (issue 27; docs/reliability.md), with `hypothesis`.

The invariant everywhere: a correct result, or the documented error (`InputError`, one line naming what is at
fault; `InvalidArgument` in a signature), never another exception, a hang, or output outside the model's
alphabet. Examples are derandomized (the same on every run) and bounded in the default suite; the ``slow``
variants draw `SLOW_FACTOR` times as many.
"""
import argparse
import contextlib
import io
import math
import tempfile
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SLOW_FACTOR = 25
SCALES = [1, pytest.param(SLOW_FACTOR, marks=pytest.mark.slow)]


def fuzz(examples: int, scale: int):
    """The settings of every property: derandomized, no example database, no deadline (CPU contention)."""
    return settings(max_examples=examples * scale, derandomize=True, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def one_line(message) -> bool:
    return "\n" not in str(message) and "Traceback" not in str(message)


def read_or_refuse(read, path, raw=None):
    """``read(path)`` (after writing `raw` there): its result, or None when it refused with the documented
    error, an `InputError` of one line starting with the path."""
    from keras_hw2.errors import InputError

    if raw is not None:
        path.write_bytes(raw)
    try:
        return read(path)
    except InputError as e:
        assert str(e).startswith(str(path)) and one_line(e)
        return None


# Text with every kind of character: control characters, separators, surrogate-free Unicode, the BOM.
ANY_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
TSV_TEXT = st.lists(st.one_of(ANY_TEXT, st.sampled_from(["\t", "\n", "\r\n", "\ufeff", "\x00", " ", "k æ\tcat"])),
                    max_size=12).map("".join)


@pytest.mark.parametrize("scale", SCALES)
def test_the_tsv_reader_gives_clean_pairs_or_one_line_naming_the_file(scale):
    from keras_hw2.p2g.data import FORBIDDEN_CATEGORIES, read_tsv

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "corpus.tsv"

        @fuzz(150, scale)
        @given(st.one_of(TSV_TEXT.map(lambda t: t.encode("utf-8")), st.binary(max_size=60)))
        def check(raw):
            for pair in read_or_refuse(read_tsv, path, raw) or []:
                for field in (pair.phonemes, pair.spelling):
                    assert field and field == unicodedata.normalize("NFC", field) and "\ufeff" not in field[:1]
                    assert not any(unicodedata.category(c) in FORBIDDEN_CATEGORIES for c in field)
                assert pair.phonemes == " ".join(pair.phonemes.split())

        check()


ARRAYS = st.dictionaries(
    st.sampled_from(["train_images", "train_labels", "val_images", "val_labels", "test_images", "test_labels",
                     "class_names", "other"]),
    st.tuples(st.sampled_from(["uint8", "int64", "float32", "bool", "U8"]),
              st.sampled_from([(0,), (2,), (2, 1), (2, 6912), (2, 48, 48, 3), (3, 48, 48, 3), (2, 48, 48), (1, 2)]),
              st.integers(-2, 300)),
    max_size=8)


@pytest.mark.parametrize("scale", SCALES)
def test_the_npz_loader_gives_valid_images_or_one_line_naming_the_file(scale):
    from keras_hw2.cnn.data import CLASS_NAMES, load_npz

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "data.npz"

        @fuzz(80, scale)
        @given(ARRAYS, st.booleans(), st.binary(max_size=40))
        def check(arrays, corrupt, garbage):
            if corrupt:
                path.write_bytes(b"PK\x03\x04" + garbage)
            else:
                np.savez(path, **{key: np.full(shape, fill).astype(dtype) for key, (dtype, shape, fill)
                                  in arrays.items()})
            data = read_or_refuse(load_npz, path)
            for images, labels in data.splits.values() if data else []:
                assert images.dtype == np.uint8 and images.shape[1:] == (48, 48, 3) and len(images) > 0
                assert labels.dtype == np.int64 and labels.shape == (len(images),)
                assert labels.min() >= 0 and labels.max() < len(CLASS_NAMES)

        check()


def _png(height, width, channels, value):
    import tensorflow as tf
    return tf.io.encode_png(np.full((height, width, channels), value, np.uint8)).numpy()


IMAGE_BYTES = st.one_of(
    st.binary(max_size=200),
    st.builds(_png, st.integers(1, 120), st.integers(1, 120), st.sampled_from([1, 3, 4]), st.integers(0, 255)),
    st.builds(lambda png, cut, flip: bytearray(png[:cut]) if flip is None else
              bytes(b ^ 0xFF if i == flip % len(png) else b for i, b in enumerate(png)),
              st.builds(_png, st.integers(1, 40), st.integers(1, 40), st.just(3), st.integers(0, 255)),
              st.integers(0, 200), st.one_of(st.none(), st.integers(0, 10_000))).map(bytes))


@pytest.mark.parametrize("scale", SCALES)
def test_the_image_decoder_gives_48x48_rgb_or_one_line_naming_the_file(scale):
    from keras_hw2.cnn.images import load_image

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "image.png"

        @fuzz(80, scale)
        @given(IMAGE_BYTES)
        def check(raw):
            pixels = read_or_refuse(load_image, path, raw)
            assert pixels is None or pixels.dtype == np.uint8 and pixels.shape == (48, 48, 3)

        check()


NUMBER_TEXT = st.one_of(ANY_TEXT, st.integers().map(str), st.floats(allow_nan=True).map(repr),
                        st.sampled_from(["1e309", "-0", "0x10", "nan", "inf", "1_000", " 3", "٣", "True"]))


@pytest.mark.parametrize("scale", SCALES)
def test_the_cli_number_parsers_give_a_value_in_range_or_one_line_naming_the_flag(scale):
    from keras_hw2 import cli

    integer = cli.integer("--num-beams", minimum=1, maximum=64)
    number = cli.number("--top-p", 0, 1, low_open=True)

    @fuzz(300, scale)
    @given(NUMBER_TEXT)
    def check(text):
        for parse, ok in [(integer, lambda v: isinstance(v, int) and 1 <= v <= 64),
                          (number, lambda v: isinstance(v, float) and math.isfinite(v) and 0 < v <= 1)]:
            try:
                value = parse(text)
            except argparse.ArgumentTypeError as e:
                assert str(e).startswith(("--num-beams must be", "--top-p must be")) and one_line(e)
                assert "Received: " in str(e)
                continue
            assert ok(value), (text, value)

    check()


@pytest.mark.parametrize("scale", SCALES)
def test_the_command_line_exits_2_with_one_line_on_any_number_or_list(scale):
    from keras_hw2.cnn.__main__ import build_parser

    parser = build_parser()

    @fuzz(100, scale)
    @given(NUMBER_TEXT, st.lists(NUMBER_TEXT, min_size=1, max_size=4))
    def check(text, files):
        for argv in (["evaluate", "--run", "r", "--data", "d", "--batch-size", text],
                     ["predict", "--run", "r", "--top-k", text, "--", *files]):
            stderr = io.StringIO()
            with contextlib.redirect_stderr(stderr):
                try:
                    args = parser.parse_args(argv)
                except SystemExit as e:
                    assert e.code == 2 and stderr.getvalue().startswith("error: ")
                    assert stderr.getvalue().count("\n") == 1, stderr.getvalue()
                    continue
            assert (args.batch_size if argv[0] == "evaluate" else args.top_k) >= 1
            if argv[0] == "predict":
                assert args.files == files

    check()


@pytest.mark.parametrize("scale", SCALES)
def test_a_list_rule_accepts_exactly_non_empty_lists_of_valid_elements(scale):
    from keras_hw2.checks import Each, Integer
    from keras_hw2.errors import InputError

    rule = Each(Integer(minimum=1))

    @fuzz(200, scale)
    @given(st.one_of(st.lists(st.one_of(st.integers(-3, 5), st.booleans(), st.floats(), st.text(max_size=3)),
                              max_size=4),
                     st.integers(), st.text(max_size=4), st.none()))
    def check(value):
        valid = isinstance(value, list) and value and all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)
        try:
            rule.check("--learning-rates", value)
        except InputError as e:
            assert not valid and str(e).startswith("--learning-rates") and one_line(e)
            return
        assert valid, value

    check()


SYMBOLS = st.text(st.characters(exclude_categories=["Cs", "Cc", "Zs", "Zl", "Zp"], exclude_characters="\x85"),
                  min_size=1, max_size=3)


@pytest.mark.parametrize("scale", SCALES)
def test_the_tokeniser_maps_known_symbols_to_their_ids_and_anything_else_to_unk_or_pad(scale):
    import tensorflow as tf

    from keras_hw2.p2g.data import encode_phonemes
    from keras_hw2.p2g.vocab import PAD, SPECIAL_TOKENS, UNK, Vocabulary

    @fuzz(40, scale)
    @given(st.lists(st.lists(SYMBOLS.map(lambda s: unicodedata.normalize("NFC", s)).filter(
                        lambda s: s == " ".join(s.split())), max_size=5), min_size=1, max_size=4),
           st.lists(ANY_TEXT, min_size=1, max_size=4))
    def check(words, noise):
        vocab = Vocabulary.from_sequences(words)
        assert tuple(vocab.tokens[:4]) == SPECIAL_TOKENS and len(set(vocab.tokens)) == len(vocab.tokens)
        assert vocab.tokens[4:] == sorted(vocab.tokens[4:])
        ids = encode_phonemes(tf.constant([" ".join(w) for w in words]), vocab).numpy()
        for row, word in zip(ids, words):
            expected = [vocab.tokens.index(s) if s not in SPECIAL_TOKENS else UNK for s in word]
            assert row.tolist() == expected + [PAD] * (ids.shape[1] - len(expected))
        noisy = encode_phonemes(tf.constant(noise), vocab).numpy()
        assert noisy.shape[0] == len(noise) and noisy.shape[1] >= 1
        assert noisy.min() >= 0 and noisy.max() < len(vocab.tokens)

    check()


@pytest.fixture(scope="module")
def greedy(exports):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (the export's ops)

    return tf.saved_model.load(str(exports["p2g"])).signatures["serving_default"]


PHONEME_STRINGS = st.one_of(
    st.lists(st.sampled_from(["k", "æ", "t", "t͡ʃ", "é", "e\u0301", "zz"]), min_size=1, max_size=30).map(" ".join),
    ANY_TEXT.map(lambda t: t.encode("utf-8")),
    st.binary(max_size=12),
    st.sampled_from(["", " ", "\t\n", "\u3000", "k" * 1025, "k " * 512, "\x00k"]).map(lambda t: t.encode()))


@pytest.mark.parametrize("scale", SCALES)
def test_the_served_greedy_signature_spells_in_its_alphabet_or_refuses_with_invalid_argument(greedy, scale):
    import tensorflow as tf

    from keras_hw2.p2g.speller import MAX_PHONEME_BYTES, MAX_REQUEST_WORDS
    from serving_standins import TARGET

    alphabet = set(TARGET[4:])

    @fuzz(60, scale)
    @given(st.lists(PHONEME_STRINGS, min_size=1, max_size=6), st.booleans())
    def check(batch, oversized):
        batch = [s if isinstance(s, bytes) else s.encode() for s in batch]
        if oversized:
            batch = batch * (MAX_REQUEST_WORDS // len(batch) + 1)
        must_fail = len(batch) > MAX_REQUEST_WORDS or any(
            len(s) > MAX_PHONEME_BYTES or not _utf8(s) or not s.decode().strip(" \t\n\u3000") for s in batch)
        try:
            out = greedy(phonemes=tf.constant(batch, tf.string))
        except tf.errors.InvalidArgumentError as e:
            assert "assertion failed: [" in e.message
            assert must_fail or "empty or whitespace-only" in e.message, (batch, e.message)
            return
        assert not must_fail, batch
        spellings = [s.decode() for s in out["spellings"].numpy()]
        assert len(spellings) == len(batch) and all(set(s) <= alphabet for s in spellings), spellings
        assert np.all(out["log_probs"].numpy() <= 0)

    check()


def _utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
