"""``keras_hw2.cnn.from_preset(name)``: a shipped, trained scene classifier (`keras_hw2.presets`)."""
from keras_hw2 import presets
from keras_hw2.cnn.predict import load_classifier


def from_preset(name: str = presets.default_preset("cnn")):
    """The trained CNN of preset `name` (default ``intel_batchnorm_48``), as `load_classifier` returns it.

    The model maps uint8 images ``(batch_size, 48, 48, 3)`` to log-probabilities
    ``(batch_size, 6)`` of `keras_hw2.cnn.data.CLASS_NAMES`; `keras_hw2.cnn.predict.classify` names them.

    Raises:
        InputError: an unknown name, a p2g preset, a missing or corrupt file.
    """
    return load_classifier(presets.checked_file(name, task="cnn"))
