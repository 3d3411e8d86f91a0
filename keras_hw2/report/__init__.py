"""Reproduce the whole homework in one command: `python -m keras_hw2 report` (`keras_hw2.report.__main__`).

`build_report` runs, or reuses, every step the homework's report needs through
the tasks' own library functions (Hopfield check and retrieval; the CNN
learning-rate search, baseline and BatchNorm; both spellers, greedy, nucleus
and beam decoding) and writes ``report.md``, ``report.json`` and PNG figures.
The names below are imported on first use, so importing this package does not
import TensorFlow.
"""
from keras_hw2.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "build": ("Report", "build_report", "check_out"),
    "inputs": ("Settings",),
    "presets": ("PRESETS", "Preset"),
    "published": ("PUBLISHED",),
})
