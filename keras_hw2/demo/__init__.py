"""The demo page: ``python -m keras_hw2 demo`` serves one Gradio page for all three tasks (``pip install .[demo]``).

- Scenes (`keras_hw2.demo.scenes`): an image of any size, the 48x48 pixels the CNN
  receives, its top-k classes.
- Spelling (`keras_hw2.demo.spelling`): phonemes in the speller's alphabet, greedy,
  beam and nucleus spellings with log-probabilities, the attention heatmap.
- Hopfield (`keras_hw2.demo.retrieval`): corrupt a stored pattern and step the CCCP update.

`keras_hw2.demo.models.load_model` resolves ``--cnn`` / ``--p2g`` (a preset or a run);
`keras_hw2.demo.app` builds and serves the page. Importing this package imports
neither TensorFlow nor Gradio.
"""
