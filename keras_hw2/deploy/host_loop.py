"""The host side of an exported speller: phoneme strings -> ids -> the exported greedy graph -> spellings.

`HostSpeller` does, in plain Python and NumPy, the string steps that the
exported graph leaves out (`keras_hw2.deploy.p2g`), as
`keras_hw2.p2g.speller.Speller` does them in TensorFlow:

1. NFC-normalise each phoneme string (`unicodedata.normalize`);
2. split it at whitespace (`str.split`, Unicode whitespace);
3. map each symbol to its id in the source vocabulary (unknown -> UNK) and
   pad with PAD to the longest word, at least one column;
4. run the exported graph: ONNX Runtime takes the whole batch, LiteRT one word
   per call (the loop over words);
5. join the characters of the target tokens above UNK (EOS and PAD dropped).

It imports no TensorFlow: the vocabularies come from the export's
``metadata.json``.
"""
import unicodedata
from pathlib import Path

import numpy as np

from keras_hw2.deploy import formats
from keras_hw2.deploy.runtimes import load

PAD, UNK = 0, 3  # `keras_hw2.p2g.vocab`'s ids (imported there with TensorFlow; fixed by its SPECIAL_TOKENS)


class HostSpeller:
    """Greedy spellings from an exported speller, in its own runtime.

    Args:
        version_dir: an export's version directory (``<models-dir>/<name>/<version>``).

    Example (with an export at hand)::

        speller = HostSpeller("saved_models/p2g_onnx/1")
        speller.spell(["k æ t"])  # -> ["cat"]
    """

    def __init__(self, version_dir, num_threads=None):
        version_dir = Path(version_dir)
        metadata = formats.read_metadata(version_dir)
        self.source_ids = {token: i for i, token in enumerate(metadata["source_tokens"])}
        self.target_tokens = list(metadata["target_tokens"])
        self.batch_size = metadata["batch_size"]
        self.model = load(version_dir / metadata["file"], num_threads=num_threads)

    def encode(self, phonemes) -> np.ndarray:
        """Phoneme strings -> int32 ids ``(len(phonemes), S)``, S >= 1 (steps 1-3)."""
        words = [[self.source_ids.get(symbol, UNK) for symbol in unicodedata.normalize("NFC", text).split()]
                 for text in phonemes]
        ids = np.full((len(words), max([1, *map(len, words)])), PAD, np.int32)
        for row, word in enumerate(words):
            ids[row, :len(word)] = word
        return ids

    def decode(self, source_ids: np.ndarray) -> tuple:
        """Ids ``(batch_size, S)`` -> tokens ``(batch_size, max_length)`` and log-probs ``(batch_size,)`` (step 4)."""
        if self.batch_size is None:
            outputs = self.model(source_ids=source_ids)
            return outputs["tokens"], outputs["log_probs"]
        rows = [self.model(source_ids=source_ids[i:i + 1]) for i in range(len(source_ids))]  # LiteRT: one word a call
        return (np.concatenate([row["tokens"] for row in rows]), np.concatenate([row["log_probs"] for row in rows]))

    def detokenize(self, tokens: np.ndarray) -> list:
        """Token ids ``(batch_size, L)`` -> strings of their characters (step 5)."""
        return ["".join(self.target_tokens[t] for t in row if t > UNK) for row in tokens]

    def spell(self, phonemes) -> list:
        """Greedy spellings of phoneme strings, one string each."""
        phonemes = list(phonemes)
        if not phonemes:
            return []
        tokens, _ = self.decode(self.encode(phonemes))
        return self.detokenize(tokens)
