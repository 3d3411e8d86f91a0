"""The report's two presets: ``quick`` (a smoke run of about 90 CPU-seconds) and ``full`` (the homework's settings).

Both run the same steps with the homework's fixed choices (`LEARNING_RATES`,
`CNN_BATCH_SIZE`, `TOP_P`, `NUM_SAMPLES`, `NUM_BEAMS`); a preset only sets how
much data, how many epochs and how big a model. Importing this module imports
no TensorFlow.

Example:
>>> PRESETS["full"].cnn_epochs, PRESETS["full"].p2g_epochs, PRESETS["quick"].p2g_units
(40, 20, 16)
"""
from dataclasses import dataclass, field
from typing import Optional

# The homework's fixed choices (both presets).
LEARNING_RATES = (0.1, 0.01, 0.001)  # the CNN learning-rate grid (plain SGD)
CNN_BATCH_SIZE = 8  # the CNNs' batch size
TOP_P = 0.8  # nucleus sampling's p
NUM_SAMPLES = 3  # nucleus samples per word (WER@3)
NUM_BEAMS = 5  # beam size


@dataclass(frozen=True)
class Preset:
    """How much of each question a report runs.

    Attributes:
        name: ``"quick"`` or ``"full"``.
        hopfield_instances: random instances of the calculus check.
        retrieval: `keras_hw2.hopfield.demo.RetrieveConfig` arguments (seed aside); empty: its defaults.
        capacity: `keras_hw2.hopfield.capacity.CapacityConfig` arguments (seed aside); empty: its defaults.
        cnn_images_per_class: ``{split: images per class}`` drawn from the CNN data; None: all of it.
        lr_search_epochs: epochs of each learning-rate trial.
        cnn_epochs: epochs of the baseline and the BatchNorm CNN.
        p2g_words: ``{split: words}`` drawn from the P2G corpus; None: all of it.
        p2g_units: the speller's hidden size.
        p2g_epochs: epochs of each speller.
        p2g_batch_size: the speller's batch size.
        attention_words: validation words in the attention heatmap.
        show_training: let the training loops print their own per-epoch lines (unless ``--quiet``).
    """
    name: str
    hopfield_instances: int
    retrieval: dict = field(default_factory=dict)
    capacity: dict = field(default_factory=dict)
    cnn_images_per_class: Optional[dict] = None
    lr_search_epochs: int = 40
    cnn_epochs: int = 40
    p2g_words: Optional[dict] = None
    p2g_units: int = 128
    p2g_epochs: int = 20
    p2g_batch_size: int = 64
    attention_words: int = 4
    show_training: bool = True


QUICK = Preset(
    name="quick",
    hopfield_instances=8,  # two per (N, D) shape
    retrieval={"num_patterns": 32, "pattern_size": 8, "num_queries": 16, "betas": (1.0, 8.0, 64.0, 512.0),
               "noise_levels": (1.0, 4.0), "mask_levels": (0.4, 0.8), "max_steps": 10},
    capacity={"dims": (16, 32), "patterns": (2, 8, 32), "betas": (1.0,), "num_queries": 20, "max_steps": 3},
    cnn_images_per_class={"train": 4, "val": 2},  # 24 training and 12 validation images
    lr_search_epochs=2,  # as many as cnn_epochs: the best trial is the baseline's run, as in the full preset
    cnn_epochs=2,
    p2g_words={"train": 300, "valid": 60},
    p2g_units=16,
    p2g_epochs=2,
    p2g_batch_size=32,
    attention_words=3,
    show_training=False,
)

FULL = Preset(name="full", hopfield_instances=120)  # every other field: the homework's settings

PRESETS = {preset.name: preset for preset in (QUICK, FULL)}
