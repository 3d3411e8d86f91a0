"""keras_hw2: three deep-learning exercises as installable, testable software.

Sub-packages:
    keras_hw2.hopfield  modern Hopfield networks (energy, CCCP retrieval, Keras layers)
    keras_hw2.cnn       Intel scene classifiers (baseline and BatchNorm+GAP)
    keras_hw2.p2g       phoneme-to-grapheme seq2seq with Bahdanau attention

Shared run conventions live in `seeding`, `runs`, `export`, `devices` and `cli`.
"""
import os

# TensorFlow prints CUDA probing noise at import on machines without a GPU.
# Only a default: a user who sets TF_CPP_MIN_LOG_LEVEL keeps their value.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# TensorFlow turns its oneDNN CPU kernels on by default only on some Intel CPUs; on the
# project's 2-core AMD machine they train the CNNs about 2.3x faster (tools/bench_cnn.py).
# Only effective when TensorFlow is not imported yet; a user's own setting wins.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

__version__ = "0.1.0"
