"""Phoneme-to-grapheme seq2seq: `python -m keras_hw2.p2g {train,test,predict,export}`."""
from keras_hw2.p2g.attention import BahdanauAttention
from keras_hw2.p2g.decoding import BeamSampler, GreedySampler, NucleusSampler, Sampler
from keras_hw2.p2g.metrics import character_error_rate, word_error_rate, word_error_rate_at_k
from keras_hw2.p2g.models import Decoder, Encoder, Seq2Seq
from keras_hw2.p2g.serving import Speller, export_speller, load_checkpoint
from keras_hw2.p2g.vocab import Vocabulary

__all__ = ["BahdanauAttention", "BeamSampler", "Decoder", "Encoder", "GreedySampler", "NucleusSampler", "Sampler",
           "Seq2Seq", "Speller", "Vocabulary", "character_error_rate", "export_speller", "load_checkpoint",
           "word_error_rate", "word_error_rate_at_k"]
