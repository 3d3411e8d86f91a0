"""Phoneme strings in, spellings out: the one decoding graph of the CLI, training metrics and the SavedModel.

The module loads a trained speller (`load_checkpoint`), decodes with it
(`Speller`) and exports it for TF Serving (`export_speller`). Every step of
decoding is a TensorFlow op, so the export runs exactly what the CLI runs:

1.-3. tokenise (`keras_hw2.p2g.data.encode_phonemes`, the one tokeniser of
   training data and inputs): NFC-normalise the UTF-8 input, split it into
   phoneme symbols at Unicode whitespace, look the symbols up (unknown
   symbols -> UNK) and pad them to ids ``(batch_size, S)``, S >= 1;
4. decode with a sampler (`keras_hw2.p2g.decoding.generate`, from a `Seq2Seq`, a
   `keras_hw2.p2g.transformer.TransformerSpeller` or an `keras_hw2.p2g.ensemble.Ensemble`
   of several; spellings stop at `MAX_LENGTH`);
   with ``jit_compile=True``, greedy decoding is one XLA computation, the
   source ids padded (masked) to a multiple of `SOURCE_BUCKET` columns so it
   compiles once per batch size and bucket;
5. join the target characters back into strings (special tokens dropped).

The decoding arguments are checked in the graph (`tf.debugging.Assert`), so a
served model answers a bad value with ``InvalidArgument`` naming it instead of
decoding: ``1 <= num_beams <= 64``, ``0 < p <= 1``, ``1 <= num_samples <= 100``,
``length_penalty`` finite and >= 0.

The export (`export_speller`) saves the `Speller`'s own functions, three
signatures with fixed input signatures:

- ``serving_default`` (greedy): ``phonemes`` string ``(batch_size,)`` ->
  ``spellings`` string ``(batch_size,)``, ``log_probs`` float32 ``(batch_size,)``;
- ``nucleus``: ``phonemes``, ``p`` float32, ``num_samples`` int32, ``seed``
  int64 -> ``spellings``, ``log_probs`` ``(batch_size, num_samples)``;
- ``beam_search``: ``phonemes``, ``num_beams`` int32, ``length_penalty``
  float32 -> the n-best lists ``spellings``, ``log_probs`` (total) and
  ``scores`` (length-normalised), each ``(batch_size, num_beams)``, sorted by
  score, best first.

The graph uses two tensorflow-text ops (``NormalizeUTF8`` and the whitespace
tokenizer), which stock ``tensorflow_model_server`` links; a Python process
loading the export must ``import tensorflow_text`` first.
"""
from pathlib import Path

import numpy as np
import tensorflow as tf
import tensorflow_text

from keras_hw2 import checkpoints
from keras_hw2.export import export_endpoints
from keras_hw2.p2g import decoding
from keras_hw2.p2g.data import encode_phonemes, phoneme_symbols, split_characters
from keras_hw2.p2g.ensemble import Ensemble
from keras_hw2.p2g.models import Seq2Seq
from keras_hw2.p2g.transformer import TransformerSpeller
from keras_hw2.p2g.vocab import SOS, UNK
from keras_hw2.progress import Progress

MAX_BEAMS = 64  # most hypotheses per word a beam search may keep
SOURCE_BUCKET = 8  # with jit_compile, source lengths are padded to a multiple of this (one XLA program per bucket)
MAX_SAMPLES = 100  # most nucleus samples per word
PROGRESS_MIN_WORDS = 100  # `Speller.decode` of more words than this shows a progress bar (beam search always does)
# The bounds of one request to an exported signature (`request_checks`; docs/reliability.md). TF Serving has none.
MAX_REQUEST_WORDS = 1024  # phoneme strings per request
MAX_PHONEME_BYTES = 1024  # UTF-8 bytes per phoneme string (the longest training word is far below 100)

PHONEMES = tf.TensorSpec([None], tf.string, name="phonemes")
P = tf.TensorSpec([], tf.float32, name="p")
NUM_SAMPLES = tf.TensorSpec([], tf.int32, name="num_samples")
SEED = tf.TensorSpec([], tf.int64, name="seed")
NUM_BEAMS = tf.TensorSpec([], tf.int32, name="num_beams")
LENGTH_PENALTY = tf.TensorSpec([], tf.float32, name="length_penalty")


class Speller:
    """Spell phoneme strings with a trained `Seq2Seq`: tokenise, decode, detokenise, all in TensorFlow.

    `greedy`, `sample` and `beam_search` are `tf.function`s with fixed input
    signatures (the SavedModel's ``serving_default``, ``nucleus`` and
    ``beam_search``); they take tensors or Python values. Keep a reference to
    the `Speller` while calling them (a `tf.function` method holds its
    instance weakly). `decode` and `spell` run them over a list of any length,
    in batches, with a progress bar.

    Args:
        model: a trained `Seq2Seq` or `keras_hw2.p2g.transformer.TransformerSpeller`
            (its vocabularies come with it), or an `keras_hw2.p2g.ensemble.Ensemble` of several.
        jit_compile: XLA-compile greedy decoding (encoder and the whole
            decoding loop), which removes the per-op overhead of the loop's
            small ops: ~4x faster one word at a time on a 2-core CPU, after a
            compilation of a few seconds per batch size and source bucket (so
            it pays in a long-lived process, not for one `predict`).
            Nucleus and beam search stay uncompiled (their number of rows per
            word is a run-time tensor, which XLA cannot shape). Exports keep
            the uncompiled graph (TF Serving runs XLA on CPU only behind
            ``--xla_cpu_compilation_enabled``).

    Example:
    >>> tokens = ["<pad>", "<sos>", "<eos>", "<unk>", "k", "æ", "t"]
    >>> model = Seq2Seq(tokens, ["<pad>", "<sos>", "<eos>", "<unk>", "c", "a", "t"], units=4)
    >>> _ = model((tf.ones((1, 3), tf.int32), tf.ones((1, 2), tf.int32)))  # builds the weights
    >>> speller = Speller(model)
    >>> speller.encode(tf.constant(["k æ t", "t zz", ""])).numpy().tolist()
    [[4, 5, 6], [6, 3, 0], [0, 0, 0]]
    >>> speller.greedy(["k æ t"])["spellings"].shape
    TensorShape([1])
    >>> sorted(speller.decode(["k æ t", "t"], top_p=0.9, num_samples=2, num_beams=2))
    ['beam', 'beam_log_probs', 'beam_n_best', 'beam_n_best_log_probs', 'beam_scores', 'log_probs',
     'sample_log_probs', 'samples', 'spellings']
    """

    def __init__(self, model, jit_compile: bool = False):
        self.model = model
        self.source_table = model.source_vocabulary.table
        self.target_tokens = tf.constant(model.target_vocabulary.tokens)
        self.jit_compile = jit_compile
        self._greedy_ids = tf.function(self._generate_greedy, jit_compile=True) if jit_compile \
            else self._generate_greedy

    def encode(self, phonemes):
        """``(batch_size,)`` UTF-8 phoneme strings -> ``(batch_size, S)`` int32 ids, S >= 1 (steps 1-3)."""
        return encode_phonemes(phonemes, self.model.source_vocabulary)

    def detokenize(self, tokens):
        """``(..., L)`` token ids -> ``(...)`` strings of their characters (special tokens dropped)."""
        characters = tf.ragged.boolean_mask(tf.gather(self.target_tokens, tokens), tokens > UNK)
        return tf.strings.reduce_join(characters, axis=-1)

    @tf.function(input_signature=[PHONEMES])
    def greedy(self, phonemes):
        """Greedy spellings ``(batch_size,)`` string and their log-probabilities ``(batch_size,)`` float32."""
        source_ids = self.encode(phonemes)
        if self.jit_compile:
            source_ids = tf.pad(source_ids, [[0, 0], [0, -tf.shape(source_ids)[1] % SOURCE_BUCKET]])
        tokens, log_probs = self._greedy_ids(source_ids)
        return {"spellings": self.detokenize(tokens), "log_probs": log_probs}

    def _generate_greedy(self, source_ids):
        return decoding.generate(self.model, source_ids, decoding.GreedySampler())

    @tf.function(input_signature=[PHONEMES, P, NUM_SAMPLES, SEED])
    def sample(self, phonemes, p, num_samples, seed):
        """`num_samples` nucleus samples per word: spellings and log-probs ``(batch_size, num_samples)``.

        Raises:
            tf.errors.InvalidArgumentError: `p` outside (0, 1] or `num_samples`
                outside [1, 100]; the message names the argument.
        """
        checks = [_check(p > 0.0, p <= 1.0, "p must be in (0, 1]. Received: p=", p),
                  _check(num_samples >= 1, num_samples <= MAX_SAMPLES,
                         f"num_samples must be an integer from 1 to {MAX_SAMPLES}. Received: num_samples=",
                         num_samples)]
        with tf.control_dependencies(checks):
            source_ids = self.encode(phonemes)
        tokens, log_probs = decoding.generate(self.model, source_ids, decoding.NucleusSampler(p),
                                                num_samples=num_samples, seed=seed)
        shape = tf.stack([-1, num_samples])
        return {"spellings": tf.reshape(self.detokenize(tokens), shape), "log_probs": tf.reshape(log_probs, shape)}

    @tf.function(input_signature=[PHONEMES, NUM_BEAMS, LENGTH_PENALTY])
    def beam_search(self, phonemes, num_beams=5, length_penalty=1.0):
        """The n-best lists of beam search: every hypothesis, best first.

        Returns:
            ``{"spellings": string, "log_probs": float32, "scores": float32}``,
            each ``(batch_size, num_beams)``: the spellings, their total
            log-probabilities and their length-normalised scores
            log P / length**length_penalty (length counts EOS), sorted by score.

        Raises:
            tf.errors.InvalidArgumentError: `num_beams` outside [1, 64] or a
                negative or non-finite `length_penalty`; the message names it.
        """
        checks = [_check(num_beams >= 1, num_beams <= MAX_BEAMS,
                         f"num_beams must be an integer from 1 to {MAX_BEAMS}. Received: num_beams=", num_beams),
                  _check(tf.math.is_finite(length_penalty), length_penalty >= 0.0,
                         "length_penalty must be a finite number >= 0. Received: length_penalty=", length_penalty)]
        with tf.control_dependencies(checks):
            source_ids = self.encode(phonemes)
        sampler = decoding.BeamSampler(num_beams, length_penalty, n_best=True)
        tokens, log_probs, scores = decoding.generate(self.model, source_ids, sampler)
        shape = tf.stack([-1, num_beams])
        return {"spellings": tf.reshape(self.detokenize(tokens), shape), "log_probs": tf.reshape(log_probs, shape),
                "scores": tf.reshape(scores, shape)}

    def attention(self, phonemes, spellings):
        """Attention weights ``(batch_size, T, S)`` of the decoder producing `spellings` (teacher-forced)."""
        source_ids = self.encode(tf.constant(phonemes))
        characters = split_characters(tensorflow_text.normalize_utf8(tf.constant(spellings), "NFC"))
        target = self.model.target_vocabulary.lookup(characters)
        decoder_inputs = tf.concat([tf.fill([tf.shape(source_ids)[0], 1], SOS), target], axis=1).to_tensor()
        _, scores = self.model((source_ids, decoder_inputs), training=False, return_attention_scores=True)
        return scores

    def decode(self, phonemes, top_p=None, num_samples=3, num_beams=None, seed=0, batch_size=1000,
               verbose=0) -> dict:
        """Decode ``N`` phoneme strings in batches: greedy, plus nucleus samples and beam search on request.

        Every batch is decoded in each requested way before the next one, and
        one progress bar (`keras_hw2.progress.Progress`, shown above
        `PROGRESS_MIN_WORDS` words or with beam search) counts its words, each once.

        Args:
            phonemes: phoneme strings in the checkpoint's alphabet, symbols separated by spaces.
            top_p: with a value, also draw `num_samples` nucleus samples per word with this p.
            num_samples: samples per word with `top_p`.
            num_beams: with a value, also decode with beam search of this size (length penalty 1).
            seed: the batch starting at word ``i`` draws its samples with seed ``seed + i``.
            batch_size: words per decoding call.
            verbose: ``"auto"``, 0, 1 or 2 (`keras_hw2.progress.Progress`).

        Returns:
            ``{"spellings": N strings, "log_probs": (N,) float32}`` (greedy), plus
            ``"samples"`` (N lists of `num_samples` strings) and ``"sample_log_probs"``
            ``(N, num_samples)`` with `top_p`; with `num_beams`, the best
            hypotheses ``"beam"`` (N strings) and ``"beam_log_probs"`` ``(N,)``,
            and the n-best lists (`beam_search`) ``"beam_n_best"`` (N lists of
            `num_beams` strings), ``"beam_n_best_log_probs"`` and
            ``"beam_scores"`` ``(N, num_beams)``.
        """
        phonemes = list(phonemes)
        # (decode(batch, start), {output of the signature: key of the result})
        decoders = [(lambda batch, start: self.greedy(batch), {"spellings": "spellings", "log_probs": "log_probs"})]
        if top_p is not None:
            decoders.append((lambda batch, start: self.sample(batch, top_p, num_samples, seed + start),
                             {"spellings": "samples", "log_probs": "sample_log_probs"}))
        if num_beams is not None:
            decoders.append((lambda batch, start: self.beam_search(batch, num_beams),
                             {"spellings": "beam_n_best", "log_probs": "beam_n_best_log_probs",
                              "scores": "beam_scores"}))
        shown = len(phonemes) > PROGRESS_MIN_WORDS or num_beams is not None
        progress = Progress(len(phonemes), "word", verbose) if shown else None
        parts = {key: [] for _, keys in decoders for key in keys.values()}
        for start in range(0, len(phonemes), batch_size):
            batch = phonemes[start:start + batch_size]
            for decode, keys in decoders:
                out = decode(tf.constant(batch, tf.string), start)
                for output, key in keys.items():
                    parts[key].append(out[output].numpy())
            if progress is not None:
                progress.add(len(batch))
        result = {key: np.concatenate(chunks) if chunks else np.zeros(0, "float32") for key, chunks in parts.items()}
        for _, keys in decoders:
            result[keys["spellings"]] = _strings(result[keys["spellings"]])
        if num_beams is not None:
            result["beam"] = [row[0] for row in result["beam_n_best"]]
            result["beam_log_probs"] = result["beam_n_best_log_probs"].reshape(-1, num_beams)[:, 0]
        return result

    def spell(self, phonemes, batch_size: int = 1000, verbose=0) -> list:
        """The greedy spellings of a list of phoneme strings (`decode`): one string per input."""
        return self.decode(phonemes, batch_size=batch_size, verbose=verbose)["spellings"]


def _strings(array) -> list:
    """A bytes array of any shape as nested lists of `str`."""
    return np.vectorize(lambda s: s.decode("utf-8"), otypes=[object])(array).tolist() if array.size else []


def _check(lower_ok, upper_ok, message: str, value):
    """An assert op: both conditions hold, else InvalidArgument ``message`` followed by `value`."""
    return tf.debugging.Assert(tf.logical_and(lower_ok, upper_ok), [message, value])


# What a p2g checkpoint holds: a `Seq2Seq` or a `TransformerSpeller` (registered with Keras by importing
# `keras_hw2.p2g.models` and `keras_hw2.p2g.transformer`).
CHECK = checkpoints.ModelCheck(task="p2g", expected="a p2g speller checkpoint (Seq2Seq or TransformerSpeller)",
                               class_names=(Seq2Seq.__name__, TransformerSpeller.__name__))


def load_checkpoint(run):
    """The trained `Seq2Seq` or `TransformerSpeller` (weights and vocabularies) of `run`, a run directory or
    its ``best.keras``.

    Every p2g command loads its model here.

    Raises:
        InputError: a missing, truncated, foreign or unsafe file (`keras_hw2.checkpoints.load_model`).
    """
    return checkpoints.load_model(run, CHECK)


def load_spellers(runs):
    """The `Seq2Seq` of one run, or the `keras_hw2.p2g.ensemble.Ensemble` of several runs (`load_checkpoint` each).

    Raises:
        InputError: a bad checkpoint, or a run whose vocabularies differ from
            the first run's (the message names it).
    """
    runs = list(runs)
    models = [load_checkpoint(run) for run in runs]
    if len(models) == 1:
        return models[0]
    return Ensemble(models, names=[f"--run={run}" for run in runs])


def request_checks(phonemes) -> list:
    """Assert ops refusing a request the exported signatures do not decode, ``InvalidArgument`` naming it.

    Refused: more than `MAX_REQUEST_WORDS` strings; a string that is not UTF-8, longer than
    `MAX_PHONEME_BYTES` bytes, or holds no phoneme symbol (empty or whitespace only). The
    message names the first offending string's index in the batch.
    """
    size = tf.size(phonemes)
    checks = [tf.debugging.Assert(size <= MAX_REQUEST_WORDS, [
        f"a request holds at most {MAX_REQUEST_WORDS} phoneme strings. Received: batch size", size])]
    def first(bad):  # the index of the first True (the batch size when none; an empty batch is fine)
        return tf.argmax(tf.concat([tf.cast(bad, tf.int32), [1]], axis=0), output_type=tf.int32)

    too_long = tf.strings.length(phonemes) > MAX_PHONEME_BYTES
    checks.append(tf.debugging.Assert(tf.logical_not(tf.reduce_any(too_long)), [
        f"a phoneme string holds at most {MAX_PHONEME_BYTES} UTF-8 bytes. Received: a longer one at index",
        first(too_long)]))
    not_utf8 = tf.strings.unicode_transcode(phonemes, "UTF-8", "UTF-8", errors="replace") != phonemes
    checks.append(tf.debugging.Assert(tf.logical_not(tf.reduce_any(not_utf8)), [
        "phoneme strings must be UTF-8. Received: invalid UTF-8 at index", first(not_utf8)]))
    with tf.control_dependencies(checks):  # the tokenizer reads valid UTF-8 only
        empty = phoneme_symbols(phonemes).row_lengths() == 0
    checks.append(tf.debugging.Assert(tf.logical_not(tf.reduce_any(empty)), [
        "a phoneme string holds at least one phoneme symbol. Received: an empty or whitespace-only one at index",
        first(empty)]))
    return checks


def _guarded(function):
    """`function` (a `Speller` signature) run after `request_checks` of its ``phonemes``, same input signature."""
    def endpoint(phonemes, *args):
        with tf.control_dependencies(request_checks(phonemes)):
            return function(tf.identity(phonemes), *args)
    return tf.function(endpoint, input_signature=function.input_signature)


def export_speller(model, model_name="p2g", root="saved_models", version=None) -> Path:
    """Export the three signatures (module docstring) as ``root/model_name/version``; returns that directory.

    `model`: a `Seq2Seq`, or an `keras_hw2.p2g.ensemble.Ensemble` (one SavedModel holding every member).
    Each signature first checks its request (`request_checks`): the bounds `MAX_REQUEST_WORDS` and
    `MAX_PHONEME_BYTES`, UTF-8, at least one phoneme symbol per string.
    """
    speller = Speller(model)
    endpoints = {name: _guarded(function) for name, function in
                 {"serving_default": speller.greedy, "nucleus": speller.sample,
                  "beam_search": speller.beam_search}.items()}
    members = model.members if isinstance(model, Ensemble) else [model]
    return export_endpoints(endpoints, model_name, root=root, version=version,
                            track=[*members, speller.source_table])
