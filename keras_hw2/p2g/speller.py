"""Phoneme strings in, spellings out: the one decoding graph of the CLI, training metrics and the SavedModel.

Every step is a TensorFlow op, so the export runs exactly what the CLI runs:

1. NFC-normalise the UTF-8 input (``tensorflow_text.normalize_utf8``), so a
   decomposed ``é`` (``e`` + U+0301) is the symbol the vocabulary holds;
2. split it into phoneme symbols at Unicode whitespace
   (``tensorflow_text.WhitespaceTokenizer``);
3. look the symbols up (`Vocabulary.table`; unknown symbols -> UNK) and pad
   them to ids ``(batch_size, S)``, S >= 1 (an empty string is one PAD);
4. decode with a sampler (`Seq2Seq.generate`; spellings stop at `MAX_LENGTH`);
   with ``jit_compile=True``, greedy decoding is one XLA computation, the
   source ids padded (masked) to a multiple of `SOURCE_BUCKET` columns so it
   compiles once per batch size and bucket;
5. join the target characters back into strings (special tokens dropped).

The decoding arguments are checked in the graph (`tf.debugging.Assert`), so a
served model answers a bad value with ``InvalidArgument`` naming it instead of
decoding: ``1 <= num_beams <= 64``, ``0 < p <= 1``, ``1 <= num_samples <= 100``,
``length_penalty`` finite and >= 0.
"""
import tensorflow as tf
import tensorflow_text

from keras_hw2.p2g import decoding
from keras_hw2.p2g.models import Seq2Seq
from keras_hw2.p2g.vocab import SOS, UNK

MAX_BEAMS = 64  # most hypotheses per word a beam search may keep
SOURCE_BUCKET = 8  # with jit_compile, source lengths are padded to a multiple of this (one XLA program per bucket)
MAX_SAMPLES = 100  # most nucleus samples per word

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
    instance weakly).

    Args:
        model: a trained `Seq2Seq` (its vocabularies come with it).
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
    """

    def __init__(self, model: Seq2Seq, jit_compile: bool = False):
        self.model = model
        self.source_table = model.source_vocabulary.table
        self.target_tokens = tf.constant(model.target_vocabulary.tokens)
        self.tokenizer = tensorflow_text.WhitespaceTokenizer()
        self.jit_compile = jit_compile
        self._greedy_ids = tf.function(self._generate_greedy, jit_compile=True) if jit_compile \
            else self._generate_greedy

    def encode(self, phonemes):
        """``(batch_size,)`` UTF-8 phoneme strings -> ``(batch_size, S)`` int32 ids, S >= 1 (steps 1-3)."""
        symbols = self.tokenizer.tokenize(tensorflow_text.normalize_utf8(phonemes, "NFC"))
        ids = symbols.with_flat_values(self.source_table.lookup(symbols.flat_values)).to_tensor()
        return tf.pad(ids, [[0, 0], [0, tf.maximum(1 - tf.shape(ids)[1], 0)]])

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
        return self.model.generate(source_ids, decoding.GreedySampler())

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
        tokens, log_probs = self.model.generate(source_ids, decoding.NucleusSampler(p),
                                                num_samples=num_samples, seed=seed)
        shape = tf.stack([-1, num_samples])
        return {"spellings": tf.reshape(self.detokenize(tokens), shape), "log_probs": tf.reshape(log_probs, shape)}

    @tf.function(input_signature=[PHONEMES, NUM_BEAMS, LENGTH_PENALTY])
    def beam_search(self, phonemes, num_beams=5, length_penalty=1.0):
        """Beam-search spellings ``(batch_size,)`` and their log-probabilities ``(batch_size,)``.

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
        tokens, log_probs = self.model.generate(source_ids, decoding.BeamSampler(num_beams, length_penalty))
        return {"spellings": self.detokenize(tokens), "log_probs": log_probs}

    def attention(self, phonemes, spellings):
        """Attention weights ``(batch_size, T, S)`` of the decoder producing `spellings` (teacher-forced)."""
        source_ids = self.encode(tf.constant(phonemes))
        characters = tf.strings.unicode_split(tensorflow_text.normalize_utf8(tf.constant(spellings), "NFC"), "UTF-8")
        target = self.model.target_vocabulary.lookup(characters)
        decoder_inputs = tf.concat([tf.fill([tf.shape(source_ids)[0], 1], SOS), target], axis=1).to_tensor()
        _, scores = self.model((source_ids, decoder_inputs), training=False, return_attention_scores=True)
        return scores


def _check(lower_ok, upper_ok, message: str, value):
    """An assert op: both conditions hold, else InvalidArgument ``message`` followed by `value`."""
    return tf.debugging.Assert(tf.logical_and(lower_ok, upper_ok), [message, value])
