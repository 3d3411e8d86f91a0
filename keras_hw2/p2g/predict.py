"""Spelling phoneme strings for the CLI (``python -m keras_hw2.p2g predict``), with an optional attention heatmap."""
from keras_hw2.errors import InputError
from keras_hw2.p2g import evaluate
from keras_hw2.p2g.decoding import MAX_LENGTH
from keras_hw2.p2g.serving import Speller
from keras_hw2.plots import plt
from keras_hw2.progress import Progress


def predict(speller: Speller, phonemes: list, top_p=None, k=3, beam=None, seed=0, attention_png=None,
            verbose=0) -> list:
    """Lines ``phonemes<TAB>greedy spelling<TAB>log-prob`` (+ beam, samples), one per input.

    Unknown phoneme symbols are decoded as UNK and named in the line; a
    spelling that reached `MAX_LENGTH` characters without EOS is marked truncated.
    `verbose` (`keras_hw2.progress.Progress`) shows a progress bar over the
    decoding passes above 100 words or with beam search.
    """
    passes = 1 + (beam is not None) + (top_p is not None)
    shown = len(phonemes) > evaluate.PROGRESS_MIN_WORDS or beam is not None
    progress = Progress(passes * len(phonemes), "word", verbose) if shown else None
    greedy = evaluate.greedy(speller, phonemes, progress=progress)
    spellings = greedy["spellings"]
    known = set(speller.model.source_vocabulary.tokens)
    extra = {}
    if beam is not None:
        extra["beam"] = evaluate.beam_search(speller, phonemes, beam, progress=progress)["spellings"]
    if top_p is not None:
        drawn = evaluate.sample(speller, phonemes, top_p, k, seed, progress=progress)["spellings"]
        extra[f"top-p {top_p} samples"] = [", ".join(row) for row in drawn]
    lines = []
    for i, (source, spelling) in enumerate(zip(phonemes, spellings)):
        line = f"{source}\t{spelling}\t{greedy['log_probs'][i]:.3f}"
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
    fig.savefig(path)
    plt.close(fig)
