"""Checkpoints in, SavedModels out: loading a trained speller and exporting it for TF Serving.

The export saves the `Speller`'s own functions (`keras_hw2.p2g.speller`), so
the served model and the CLI run the same graph, NFC normalisation and
tokenisation included. Three signatures, each with a fixed input signature:

- ``serving_default`` (greedy): ``phonemes`` string ``(batch_size,)`` ->
  ``spellings`` string ``(batch_size,)``, ``log_probs`` float32 ``(batch_size,)``;
- ``nucleus``: ``phonemes``, ``p`` float32, ``num_samples`` int32, ``seed``
  int64 -> ``spellings``, ``log_probs`` ``(batch_size, num_samples)``;
- ``beam_search``: ``phonemes``, ``num_beams`` int32, ``length_penalty``
  float32 -> ``spellings``, ``log_probs`` ``(batch_size,)``.

The graph uses two tensorflow-text ops (``NormalizeUTF8`` and the whitespace
tokenizer), which stock ``tensorflow_model_server`` links; a Python process
loading the export must ``import tensorflow_text`` first.
"""
from pathlib import Path


from keras_hw2 import checkpoints
from keras_hw2.export import export_endpoints
from keras_hw2.p2g.models import Seq2Seq
from keras_hw2.p2g.speller import Speller
from keras_hw2.runs import CHECKPOINT_FILE

__all__ = ["CHECKPOINT_FILE", "Speller", "export_speller", "load_checkpoint"]


def load_checkpoint(run) -> Seq2Seq:
    """The trained `Seq2Seq` (weights and vocabularies) of `run`, a run directory or its ``best.keras``.

    Raises:
        InputError: a missing, truncated, foreign or unsafe file (`keras_hw2.checkpoints.load_model`).
    """
    return checkpoints.load_model(run, task="p2g")


def export_speller(model: Seq2Seq, model_name="p2g", root="saved_models", version=None) -> Path:
    """Export the three signatures (module docstring) as ``root/model_name/version``; returns that directory."""
    speller = Speller(model)
    endpoints = {"serving_default": speller.greedy, "nucleus": speller.sample, "beam_search": speller.beam_search}
    return export_endpoints(endpoints, model_name, root=root, version=version,
                            track=[model, speller.source_table])
