"""The speller's LiteRT and ONNX exports: the greedy decoder on token ids, one graph each.

What converts (measured on TF 2.21 / Keras 3.15, tf2onnx 1.17; README "Deployment"):

- The whole `keras_hw2.p2g.speller.Speller.greedy` graph (strings in,
  strings out) does not. LiteRT with builtin ops stops at
  ``tf.TensorListReserve`` (the encoder's BiLSTM over a batch of unknown
  size); with Select TF ops it converts only by moving
  ``NormalizeUTF8``, ``TFText>WhitespaceTokenizeWithOffsetsV2``, the string
  lookup table and ``UnsortedSegmentJoin`` into the Flex delegate, which the
  LiteRT runtime does not ship (it refuses the file). tf2onnx fails on the
  whitespace tokenizer's binary config constant (UnicodeDecodeError) and has
  no converter for those tensorflow-text ops.
- The greedy decoder on ids does, as ONE graph with its ``tf.while_loop``:
  ``source_ids`` int32 ``(batch_size, S)`` -> ``tokens`` int32
  ``(batch_size, MAX_LENGTH)`` (EOS, then PAD) and ``log_probs`` float32
  ``(batch_size,)``. ONNX takes any batch size; LiteRT takes one word per
  call (``(1, S)``), the size that makes the BiLSTM's tensor lists static.

So the string steps, NFC normalisation, whitespace split, vocabulary
lookup and the join, run on the host (`keras_hw2.deploy.host_loop`), with
the vocabularies from the export's ``metadata.json``.
"""
from pathlib import Path

import keras
import tensorflow as tf

from keras_hw2.deploy import formats
from keras_hw2.p2g import decoding
from keras_hw2.p2g.models import Seq2Seq

# LiteRT: one word per call (a static batch keeps the encoder's tensor lists builtin); ONNX: any batch.
BATCH_SIZE = {"litert": 1, "onnx": None}


class GreedyDecoder(keras.Model):
    """A trained `Seq2Seq`'s greedy decoding on ids, as a model to export.

    Call arguments:
        source_ids: int32 ``(batch_size, S)``, 0 = PAD.

    Returns:
        ``{"tokens": int32 (batch_size, MAX_LENGTH), "log_probs": float32
        (batch_size,)}``, as `Seq2Seq.generate` with `GreedySampler` (the
        Speller's greedy decoding) gives them.
    """

    def __init__(self, seq2seq: Seq2Seq, **kwargs):
        super().__init__(**kwargs)
        self.seq2seq = seq2seq
        self.built = True  # no weights of its own: the trained Seq2Seq's

    def call(self, source_ids, training=False):
        tokens, log_probs = self.seq2seq.generate(source_ids, decoding.GreedySampler())
        return {"tokens": tokens, "log_probs": log_probs}


def input_signature(fmt: str) -> list:
    """The exported graph's input spec for `fmt` (`BATCH_SIZE`)."""
    return [tf.TensorSpec((BATCH_SIZE[fmt], None), tf.int32, name="source_ids")]


def export_p2g(model: Seq2Seq, fmt: str, model_name: str, root="saved_models", version=None, source=None) -> Path:
    """Export the greedy decoder as ``root/model_name/version/model.{tflite,onnx}`` plus ``metadata.json``.

    The metadata carries what the host needs: both vocabularies, the batch
    size the file takes and the maximum spelling length.

    Raises:
        InputError: a conversion failure naming the op (nothing is written).
    """
    formats.check_format(fmt, quantizable=())
    decoder = GreedyDecoder(model, name="p2g_greedy")
    metadata = {"task": "p2g", "source": None if source is None else str(source),
                "inputs": {"source_ids": f"int32 ({BATCH_SIZE[fmt] or 'batch_size'}, source_length), 0 = PAD"},
                "outputs": {"tokens": f"int32 (batch_size, {decoding.MAX_LENGTH}), EOS then PAD after the spelling",
                            "log_probs": "float32 (batch_size,)"},
                "batch_size": BATCH_SIZE[fmt], "max_length": decoding.MAX_LENGTH,
                "source_tokens": model.source_vocabulary.tokens, "target_tokens": model.target_vocabulary.tokens,
                "host": "keras_hw2.deploy.host_loop.HostSpeller", "keras": keras.__version__,
                "tensorflow": tf.__version__}
    return formats.export_file(lambda path: formats.convert(decoder, fmt, path, input_signature(fmt)), fmt,
                               model_name, root=root, version=version, metadata=metadata)
