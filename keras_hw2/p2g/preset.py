"""``keras_hw2.p2g.from_preset(name)``: a shipped, trained speller (`keras_hw2.presets`)."""
from keras_hw2 import presets
from keras_hw2.p2g.speller import Speller, load_checkpoint


def from_preset(name: str = presets.default_preset("p2g"), jit_compile: bool = False) -> Speller:
    """A `Speller` around the trained `Seq2Seq` of preset `name` (default ``cmudict_attention``).

    ``cmudict_attention`` reads ARPAbet without stress (``"K AE T"``),
    ``wikipron_attention`` IPA (``"k æ t"``).

    Raises:
        InputError: an unknown name, a CNN preset, a missing or corrupt file.
    """
    return Speller(load_checkpoint(presets.checked_file(name, task="p2g")), jit_compile=jit_compile)
