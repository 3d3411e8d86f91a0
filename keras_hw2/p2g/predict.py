"""Spelling phoneme strings for the CLI (``python -m keras_hw2.p2g predict``), with an optional attention heatmap."""
import json

from keras_hw2.errors import InputError
from keras_hw2.p2g.decoding import MAX_LENGTH
from keras_hw2.p2g.evaluate import check_alphabet
from keras_hw2.p2g.speller import Speller
from keras_hw2.plots import plt, save_figure


def predict(speller: Speller, phonemes: list, top_p=None, k=3, beam=None, seed=0, n_best=1, as_json=False,
            attention_png=None, verbose=0) -> list:
    """Lines ``phonemes<TAB>greedy spelling<TAB>log-prob`` (+ beam, samples), one per input.

    With `beam`, the line shows the beam's best spelling, or with `n_best` > 1
    its first `n_best` hypotheses ``spelling (score)``, best first (score: the
    length-normalised log-probability). `as_json`: one JSON object per word
    instead, ``{"phonemes", "spelling", "log_prob"}`` plus ``"samples"``
    ``[{"spelling", "log_prob"}, ...]`` and ``"beam"`` (the whole n-best list,
    ``[{"spelling", "log_prob", "score"}, ...]``).

    Each word is checked first by the rule `keras_hw2.p2g.evaluate.check_alphabet`
    applies to evaluation data: more than 5% of its symbols unknown to the
    checkpoint (another alphabet) is an `InputError` naming the word and its
    unknown symbols; fewer are decoded as UNK and named in the line. A spelling
    that reached `MAX_LENGTH` characters without EOS is marked truncated.
    `verbose`: the progress bar of `Speller.decode`, counting words.
    """
    tokens = speller.model.source_vocabulary.tokens
    for word in phonemes:
        check_alphabet([word], tokens, repr(word))
    decoded = speller.decode(phonemes, top_p=top_p, num_samples=k, num_beams=beam, seed=seed, verbose=verbose)
    spellings = decoded["spellings"]
    known = set(tokens)
    extra = {}
    if beam is not None and n_best > 1:
        extra[f"beam {n_best}-best"] = [", ".join(f"{spelling} ({score:.3f})" for spelling, score
                                                  in zip(row[:n_best], scores[:n_best]))
                                        for row, scores in zip(decoded["beam_n_best"], decoded["beam_scores"])]
    elif beam is not None:
        extra["beam"] = decoded["beam"]
    if top_p is not None:
        extra[f"top-p {top_p} samples"] = [", ".join(row) for row in decoded["samples"]]
    lines = []
    for i, (source, spelling) in enumerate(zip(phonemes, spellings)):
        if as_json:
            lines.append(json.dumps(_word_json(decoded, i, source), ensure_ascii=False))
            continue
        line = f"{source}\t{spelling}\t{decoded['log_probs'][i]:.3f}"
        line += "".join(f"\t{name}: {values[i]}" for name, values in extra.items())
        unknown = sorted(set(source.split()) - known)
        if unknown:
            line += f"\tunknown symbols (as <unk>): {' '.join(unknown)}"
        if len(spelling) >= MAX_LENGTH:
            line += f"\t(truncated at {MAX_LENGTH} characters)"
        lines.append(line)
    if attention_png:
        write_attention_png(speller, phonemes, spellings, attention_png)
        lines.append(f"attention heatmap: {attention_png}")
    return lines


def _word_json(decoded: dict, i: int, phonemes: str) -> dict:
    """Word `i` of `Speller.decode`'s result as `predict`'s JSON object."""
    word = {"phonemes": phonemes, "spelling": decoded["spellings"][i], "log_prob": float(decoded["log_probs"][i])}
    if "samples" in decoded:
        word["samples"] = [{"spelling": spelling, "log_prob": float(log_prob)}
                           for spelling, log_prob in zip(decoded["samples"][i], decoded["sample_log_probs"][i])]
    if "beam_n_best" in decoded:
        word["beam"] = [{"spelling": spelling, "log_prob": float(log_prob), "score": float(score)}
                        for spelling, log_prob, score in zip(decoded["beam_n_best"][i],
                                                             decoded["beam_n_best_log_probs"][i],
                                                             decoded["beam_scores"][i])]
    return word


def write_attention_png(speller: Speller, phonemes: list, spellings: list, path) -> None:
    """One heatmap per word (rows: output characters + EOS, columns: phonemes)."""
    if not speller.model.use_attention:
        raise InputError("--attention-png needs a checkpoint trained with --attention")
    scores = speller.attention(phonemes, spellings).numpy()
    fig, axes = plt.subplots(1, len(phonemes), figsize=(4 * len(phonemes), 4), squeeze=False)
    for ax, weights, source, spelling in zip(axes[0], scores, phonemes, spellings):
        columns, rows = source.split(), [*spelling, "</s>"]
        ax.imshow(weights[:len(rows), :len(columns)], cmap="viridis", vmin=0, vmax=1)
        ax.set_xticks(range(len(columns)), columns)
        ax.set_yticks(range(len(rows)), rows)
        ax.set_title(spelling)
    fig.tight_layout()
    save_figure(fig, path)
