"""Phoneme-to-grapheme seq2seq: `python -m keras_hw2.p2g {train,evaluate,predict,export}`.

The names below are imported on first use, so importing this package does not import TensorFlow.
"""
from keras_hw2.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "attention": ("BahdanauAttention",),
    "decoding": ("BeamSampler", "GreedySampler", "NucleusSampler", "Sampler", "generate"),
    "ensemble": ("Ensemble",),
    "metrics": ("character_error_rate", "word_error_rate", "word_error_rate_at_k"),
    "preset": ("from_preset",),
    "models": ("Decoder", "Encoder", "Seq2Seq"),
    "speller": ("Speller", "export_speller", "load_checkpoint", "load_spellers"),
    "transformer": ("TransformerSpeller",),
    "vocab": ("Vocabulary",),
})
