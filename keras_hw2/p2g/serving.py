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

import keras

from keras_hw2.errors import InputError
from keras_hw2.export import export_endpoints
from keras_hw2.p2g.models import Seq2Seq
from keras_hw2.p2g.speller import Speller
from keras_hw2.runs import CHECKPOINT_FILE

__all__ = ["CHECKPOINT_FILE", "Speller", "checkpoint_path", "export_speller", "load_checkpoint"]


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


def export_speller(model: Seq2Seq, model_name="p2g", root="saved_models", version=None) -> Path:
    """Export the three signatures (module docstring) as ``root/model_name/version``; returns that directory."""
    speller = Speller(model)
    endpoints = {"serving_default": speller.greedy, "nucleus": speller.sample, "beam_search": speller.beam_search}
    return export_endpoints(endpoints, model_name, root=root, version=version,
                            track=[model, speller.source_table])
