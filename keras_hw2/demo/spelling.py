"""The Spelling tab: phonemes in the model's alphabet -> greedy, beam or nucleus spellings, and attention.

Every spelling comes from the `Speller`'s own functions (`greedy`, `beam_search`,
`sample`, `attention`) and the heatmap from `keras_hw2.p2g.predict.write_attention_png`.
The beam table is beam search's n-best list (every hypothesis of the beam, best
first, with its total log-probability).
"""
import tempfile
import threading

from keras_hw2.checks import Choice, Integer, Number
from keras_hw2.errors import InputError
from keras_hw2.p2g.data import normalize
from keras_hw2.p2g.vocab import SPECIAL_TOKENS

METHODS = ("greedy", "beam", "nucleus")
MAX_BEAMS = 10  # widest beam the tab offers
MAX_SAMPLES = 20  # most nucleus samples the tab draws
# Words to try, in each alphabet; the tab offers those whose symbols all are in the model's alphabet.
EXAMPLE_WORDS = ("K AE T", "D AO G", "HH AW S", "W AO T ER", "S K UW L", "F OW N IY M",
                 "k æ t", "d ɔ ɡ", "h aʊ s", "w ɔ t ɚ", "s k u l", "f oʊ n i m")
_PLOT_LOCK = threading.Lock()  # matplotlib's pyplot is not thread-safe; the server answers in threads


def alphabet(speller) -> list:
    """The model's phoneme symbols (its source vocabulary without the special tokens)."""
    return [token for token in speller.model.source_vocabulary.tokens if token not in SPECIAL_TOKENS]


def examples(speller) -> list:
    """The `EXAMPLE_WORDS` written in the model's alphabet."""
    known = set(alphabet(speller))
    return [word for word in EXAMPLE_WORDS if set(word.split()) <= known]


def unknown_symbols(speller, phonemes: str) -> list:
    """The symbols of `phonemes` that are not in the model's alphabet, in order of appearance.

    Example:
    >>> class Vocabulary: tokens = [*SPECIAL_TOKENS, "K", "AE", "T"]
    >>> class Model: source_vocabulary = Vocabulary()
    >>> class Speller: model = Model()
    >>> unknown_symbols(Speller(), "K AE T ZZ AE QQ ZZ")
    ['ZZ', 'QQ']
    """
    known = set(alphabet(speller))
    return list(dict.fromkeys(symbol for symbol in normalize(phonemes).split() if symbol not in known))


def spell(speller, phonemes: str, method: str = "greedy", num_beams: int = 5, p: float = 0.9,
          num_samples: int = 5, seed: int = 0) -> dict:
    """The tab's main function: spell one phoneme string with `method`.

    Args:
        speller: a `keras_hw2.p2g.Speller`.
        phonemes: symbols of the model's alphabet separated by spaces.
        method: "greedy", "beam" (the n-best list of a beam of `num_beams`) or "nucleus" (`num_samples`
            samples with top-p `p`, drawn with `seed`).

    Returns:
        ``{"spelling": the chosen spelling (greedy, the beam's best or the first sample),
        "rows": [[what, spelling, log-probability (4 decimals)], ...]}``.

    Raises:
        InputError: empty phonemes, symbols outside the alphabet, or a bad setting
            (the message names it and the value received).
    """
    Choice(METHODS).check("method", method)
    phonemes = normalize(phonemes or "")
    if not phonemes:
        raise InputError("no phonemes: type symbols of the model's alphabet separated by spaces, "
                         "or click the alphabet or an example")
    unknown = unknown_symbols(speller, phonemes)
    if unknown:
        raise InputError(f"not in the model's alphabet: {' '.join(unknown)} (the alphabet is listed above the box). "
                         f"Received: {phonemes!r}")
    if method == "greedy":
        out = speller.greedy([phonemes])
        rows = [["greedy", _text(out["spellings"][0]), round(float(out["log_probs"][0]), 4)]]
    elif method == "beam":
        Integer(1, MAX_BEAMS).check("beam width", num_beams)
        out = speller.beam_search([phonemes], num_beams)  # the n-best list, best (the chosen spelling) first
        rows = [[f"beam {num_beams}, #{rank + 1}", _text(spelling), round(float(log_prob), 4)]
                for rank, (spelling, log_prob) in enumerate(zip(out["spellings"][0], out["log_probs"][0]))]
    else:
        Number(0, 1, low_open=True).check("p", p)
        Integer(1, MAX_SAMPLES).check("samples", num_samples)
        Integer(0).check("seed", seed)
        out = speller.sample([phonemes], p, num_samples, seed)
        rows = [[f"sample {i + 1}", _text(spelling), round(float(log_prob), 4)]
                for i, (spelling, log_prob) in enumerate(zip(out["spellings"][0], out["log_probs"][0]))]
    return {"spelling": rows[0][1], "rows": rows}


def attention_png(speller, phonemes: str, spelling: str, directory):
    """The attention heatmap of `spelling` as a PNG in `directory`; None when the model has no attention."""
    if not speller.model.use_attention:
        return None
    from keras_hw2.p2g.predict import write_attention_png
    from keras_hw2.plots import plt

    path = tempfile.NamedTemporaryFile(suffix=".png", prefix="attention_", dir=directory, delete=False).name
    with _PLOT_LOCK:
        write_attention_png(speller, [normalize(phonemes)], [spelling], path)
        plt.close("all")
    return path


def _text(value) -> str:
    return value.numpy().decode("utf-8") if hasattr(value, "numpy") else value.decode("utf-8")
