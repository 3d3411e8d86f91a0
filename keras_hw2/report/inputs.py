"""The report's data: what ``--data-cnn`` / ``--data-p2g`` name (or the embedded defaults), validated and sampled.

1. `load_inputs` reads and checks both data sets before anything is written
   or trained (bad data raises `InputError`, one line naming the file). A
   preset that samples (``quick``) keeps a seeded, per-class (CNN) or
   per-split (P2G) sample; the embedded CNN demo set is generated at the
   sample's size directly.
2. `write_samples` stores a sample as ordinary data files under
   ``<runs-dir>/report/data/`` (a homework-format ``.npz``; ``train.tsv`` +
   ``valid.tsv``), so the training runs' ``config.json`` names data that
   reproduces them. Data used whole is named by its own path (None: embedded).
"""
import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from keras_hw2.cnn import data as cnn_data
from keras_hw2.errors import InputError, room_to_write
from keras_hw2.p2g.train import Corpus, load_corpus
from keras_hw2.report.presets import Preset

DATA_DIR = "report/data"  # under --runs-dir: the samples the quick preset trains on


@dataclass(frozen=True)
class Settings:
    """What a report is made from; a report folder holds one report per settings.

    Attributes:
        preset: ``"quick"`` or ``"full"``.
        data_cnn: an absolute path to a homework ``.npz`` or Kaggle folder; None: the synthetic demo set.
        data_p2g: an absolute path to a folder with ``train.tsv`` and ``valid.tsv``; None: the cmudict corpus.
        seed: the seed of every step (weights, shuffling, samples, random instances).
    """
    preset: str
    data_cnn: Optional[str] = None
    data_p2g: Optional[str] = None
    seed: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def digest(config) -> str:
    """A short, stable name for a JSON-ready configuration: 8 hex digits of its SHA-256.

    Example:
    >>> digest({"b": 1, "a": (2, 3)}) == digest({"a": [2, 3], "b": 1})
    True
    >>> len(digest({}))
    8
    """
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


@dataclass
class Inputs:
    """The data every step uses, and how the report names it.

    Attributes:
        images: `keras_hw2.cnn.data.ImageData`, the CNN images (train, val, maybe test).
        images_source: where they came from, for the report.
        images_sampled: True when `images` is a sample to be written by `write_samples`.
        corpus: `keras_hw2.p2g.train.Corpus`, the training and validation words.
        corpus_source: where they came from, for the report.
        corpus_sampled: True when `corpus` is a sample.
        data_cnn: the CNN data path the training configs name (set by `write_samples`).
        data_p2g: the P2G data folder the training configs name (set by `write_samples`).
    """
    images: cnn_data.ImageData
    images_source: str
    images_sampled: bool
    corpus: Corpus
    corpus_source: str
    corpus_sampled: bool
    data_cnn: Optional[str] = None
    data_p2g: Optional[str] = None


def load_inputs(settings: Settings, preset: Preset) -> Inputs:
    """Load, check and (for a sampling preset) sample both data sets; writes nothing.

    Raises:
        InputError: a missing or malformed data path (the message names the file).
    """
    images, images_source = _load_images(settings, preset)
    corpus, corpus_source = _load_corpus(settings, preset)
    return Inputs(images, images_source, preset.cnn_images_per_class is not None,
                  corpus, corpus_source, preset.p2g_words is not None,
                  data_cnn=settings.data_cnn, data_p2g=settings.data_p2g)


def _load_images(settings: Settings, preset: Preset):
    sizes = preset.cnn_images_per_class
    if settings.data_cnn is None:
        if sizes is None:
            data = cnn_data.load_data(None, seed=settings.seed)
            return data, "synthetic demo images (embedded; pass --data-cnn for the homework's Intel images)"
        data = cnn_data.synthetic_data(sizes, seed=settings.seed)
        per_class = " / ".join(f"{n} {split}" for split, n in sizes.items())
        return data, f"synthetic demo images (embedded), {per_class} per class"
    data = cnn_data.load_data(settings.data_cnn, seed=settings.seed)
    if sizes is None:
        return data, settings.data_cnn
    splits = {split: _per_class_sample(*data.splits[split], n, settings.seed) for split, n in sizes.items()}
    per_class = " / ".join(f"{n} {split}" for split, n in sizes.items())
    return cnn_data.ImageData(splits, source=data.source), f"{settings.data_cnn}, sample of {per_class} per class"


def _per_class_sample(images, labels, per_class: int, seed: int):
    """Up to `per_class` images of each class, chosen with `seed`, in a seeded order."""
    rng = np.random.default_rng(seed)
    chosen = np.concatenate([rng.permutation(np.flatnonzero(labels == label))[:per_class]
                             for label in range(len(cnn_data.CLASS_NAMES))])
    chosen = rng.permutation(chosen)
    return images[chosen], labels[chosen]


def _load_corpus(settings: Settings, preset: Preset):
    path = settings.data_p2g
    if path is not None:
        if not Path(path).exists():
            raise InputError(f"{path}: no such directory. Received: --data-p2g={path}")
        if not Path(path).is_dir():
            raise InputError(f"{path}: not a directory (expected one holding train.tsv and valid.tsv). "
                             f"Received: --data-p2g={path}")
    splits, announcement = load_corpus(path)
    source = path or "embedded cmudict corpus (ARPAbet; pass --data-p2g for the homework's WikiPron TSVs)"
    if preset.p2g_words is None:
        return Corpus(splits, announcement), source
    rng = np.random.default_rng(settings.seed)
    sample = {}
    for split, n in preset.p2g_words.items():
        pairs = splits[split]
        sample[split] = [pairs[i] for i in np.sort(rng.permutation(len(pairs))[:n])]
    sizes = " / ".join(f"{len(pairs)} {split}" for split, pairs in sample.items())
    return Corpus(sample, f"{source}: sample of {sizes} words"), f"{source}, sample of {sizes} words"


def write_samples(inputs: Inputs, settings: Settings, runs_dir) -> None:
    """Write the sampled data sets as data files (once) and point `inputs.data_cnn` / `data_p2g` at them."""
    directory = Path(runs_dir) / DATA_DIR
    if inputs.images_sampled:
        sizes = {split: len(labels) for split, (_, labels) in inputs.images.splits.items()}
        path = directory / f"cnn-{digest({'settings': settings.as_dict(), 'sizes': sizes})}.npz"
        if not path.is_file():
            directory.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
            try:
                with room_to_write(path):
                    cnn_data.save_npz(inputs.images, tmp)
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
        inputs.data_cnn = str(path.resolve())
    if inputs.corpus_sampled:
        sizes = {split: len(pairs) for split, pairs in inputs.corpus.splits.items()}
        path = directory / f"p2g-{digest({'settings': settings.as_dict(), 'sizes': sizes})}"
        if not path.is_dir():
            tmp = directory / f".tmp-{os.getpid()}-{path.name}"
            tmp.mkdir(parents=True, exist_ok=True)
            try:
                with room_to_write(path):
                    for split, pairs in inputs.corpus.splits.items():
                        (tmp / f"{split}.tsv").write_text("".join(f"{p.phonemes}\t{p.spelling}\n" for p in pairs),
                                                          encoding="utf-8")
                os.replace(tmp, path)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        inputs.data_p2g = str(path.resolve())
