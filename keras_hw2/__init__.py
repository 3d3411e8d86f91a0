"""keras_hw2: three deep-learning exercises as installable, testable software.

Sub-packages:
    keras_hw2.hopfield  modern Hopfield networks (energy, CCCP retrieval, Keras layers)
    keras_hw2.cnn       Intel scene classifiers (baseline and BatchNorm+GAP)
    keras_hw2.p2g       phoneme-to-grapheme seq2seq with Bahdanau attention

Shared run conventions live in `seeding`, `runs`, `export`, `devices`, `checkpoints`
and `cli`. Importing the package has no side effects and does not import
TensorFlow; the command-line entry points set TensorFlow's environment
(`keras_hw2.cli.set_tensorflow_environment`) before they import it.
"""
__version__ = "0.1.0"
