"""String-to-string spelling: checkpoints, the `Speller` module and its SavedModel export.

The `Speller` is used by the CLI and is what the export saves, so the served
model and the CLI run the same graph. Its string ops are core TensorFlow
(`tf.strings.split`, `tf.strings.reduce_join`, `StaticHashTable`): the
SavedModel needs no tensorflow-text ops, and inputs are expected NFC (the CLI
normalises them before calling it).
"""
from pathlib import Path

import keras
import tensorflow as tf

from keras_hw2.errors import InputError
from keras_hw2.export import export_saved_model
from keras_hw2.p2g import decoding
from keras_hw2.p2g.data import split_phonemes
from keras_hw2.p2g.models import Seq2Seq
from keras_hw2.p2g.vocab import UNK
from keras_hw2.runs import CHECKPOINT_FILE


def checkpoint_path(path) -> Path:
    """A run directory means its best checkpoint; a file is taken as it is."""
    path = Path(path)
    return path / CHECKPOINT_FILE if path.is_dir() else path


def load_checkpoint(path) -> Seq2Seq:
    """Load a `.keras` checkpoint (weights and vocabularies) as a `Seq2Seq`.

    Raises:
        InputError: a missing file, or one that is not a p2g checkpoint, or
            whose vocabulary does not match its weights.
    """
    path = checkpoint_path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such checkpoint")
    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as e:  # Keras raises many types for foreign or corrupt files
        reason = (str(e).splitlines() or [""])[0]
        raise InputError(f"{path}: not a loadable p2g checkpoint ({type(e).__name__}: {reason})") from None
    if not isinstance(model, Seq2Seq):
        raise InputError(f"{path}: holds a {type(model).__name__}, not a p2g Seq2Seq")
    return model


class Speller(tf.Module):
    """Phoneme strings in, spellings out: tokenise, decode, detokenise, all in TensorFlow.

    Args:
        model: a trained `Seq2Seq` (its vocabularies come with it).
    """

    def __init__(self, model: Seq2Seq):
        super().__init__(name="speller")
        self.model = model
        # The tf.Variables behind the Keras 3 variables, tracked as keras.export.ExportArchive
        # does: without them a session-based loader (TF Serving, saved_model_cli run) cannot
        # restore the weights.
        self.model_variables = [v.value for v in model.variables]
        self.source_table = model.source_vocabulary.table
        self.target_tokens = tf.constant(model.target_vocabulary.tokens)
        self._beam_functions = {}

    def encode(self, phonemes):
        """``(batch_size,)`` phoneme strings -> ``(batch_size, S)`` ids, S >= 1; unknown symbols -> UNK."""
        symbols = split_phonemes(phonemes)
        ids = symbols.with_flat_values(self.source_table.lookup(symbols.flat_values)).to_tensor()
        return tf.pad(ids, [[0, 0], [0, tf.maximum(1 - tf.shape(ids)[1], 0)]])

    def detokenize(self, tokens):
        """``(..., L)`` token ids -> ``(...)`` strings of their characters (special tokens dropped)."""
        characters = tf.ragged.boolean_mask(tf.gather(self.target_tokens, tokens), tokens > UNK)
        return tf.strings.reduce_join(characters, axis=-1)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="phonemes")])
    def greedy(self, phonemes):
        """Greedy spellings ``(batch_size,)`` and their log-probabilities ``(batch_size,)``."""
        tokens, log_probs = self.model.generate(self.encode(phonemes), decoding.GreedySampler())
        return {"spellings": self.detokenize(tokens), "log_probs": log_probs}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="phonemes"),
                                  tf.TensorSpec([], tf.float32, name="p"),
                                  tf.TensorSpec([], tf.int32, name="num_samples"),
                                  tf.TensorSpec([], tf.int64, name="seed")])
    def sample(self, phonemes, p, num_samples, seed):
        """`num_samples` nucleus samples per word: spellings and log-probs ``(batch_size, num_samples)``."""
        tokens, log_probs = self.model.generate(self.encode(phonemes), decoding.NucleusSampler(p),
                                                num_samples=num_samples, seed=seed)
        shape = tf.stack([-1, num_samples])
        return {"spellings": tf.reshape(self.detokenize(tokens), shape), "log_probs": tf.reshape(log_probs, shape)}

    def beam_search(self, phonemes, num_beams=5, length_penalty=1.0):
        """Beam-search spellings and log-probs ``(batch_size,)`` (a `tf.function` per beam setting)."""
        key = (num_beams, length_penalty)
        if key not in self._beam_functions:
            sampler = decoding.BeamSampler(num_beams, length_penalty)

            def beam(phonemes):
                tokens, log_probs = self.model.generate(self.encode(phonemes), sampler)
                return {"spellings": self.detokenize(tokens), "log_probs": log_probs}

            self._beam_functions[key] = tf.function(beam, input_signature=[tf.TensorSpec([None], tf.string)])
        return self._beam_functions[key](tf.constant(phonemes))

    def attention(self, phonemes, spellings):
        """Attention weights ``(batch_size, T, S)`` of the decoder producing `spellings` (teacher-forced)."""
        source_ids = self.encode(tf.constant(phonemes))
        characters = tf.strings.unicode_split(tf.constant(spellings), "UTF-8")
        table = self.model.target_vocabulary.table
        target = characters.with_flat_values(table.lookup(characters.flat_values))
        n = tf.shape(source_ids)[0]
        decoder_inputs = tf.concat([tf.fill([n, 1], 1), target], axis=1).to_tensor()
        _, scores = self.model((source_ids, decoder_inputs), training=False, return_attention_scores=True)
        return scores


def export_speller(model: Seq2Seq, model_name="p2g", root="saved_models", version=None) -> Path:
    """Export `serving_default` (greedy) and `nucleus` signatures in TF Serving's layout.

    `serving_default`: phonemes ``(batch_size,)`` string -> spellings ``(batch_size,)``
    string, log_probs ``(batch_size,)`` float32. `nucleus`: phonemes, p (float32),
    num_samples (int32), seed (int64) -> spellings, log_probs ``(batch_size, num_samples)``.
    """
    speller = Speller(model)

    def write(path):
        tf.saved_model.save(speller, path, signatures={"serving_default": speller.greedy,
                                                       "nucleus": speller.sample})

    return export_saved_model(write, model_name, root=root, version=version)
