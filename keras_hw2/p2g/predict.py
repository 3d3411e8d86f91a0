"""Spelling a few phoneme strings for the CLI, with an optional attention heatmap."""
import tensorflow as tf

from keras_hw2.errors import InputError
from keras_hw2.p2g.decoding import MAX_LENGTH
from keras_hw2.p2g.serving import Speller
from keras_hw2.plots import plt


def predict(speller: Speller, phonemes: list, top_p=None, k=3, beam=None, seed=0, attention_png=None) -> list:
    """Lines ``phonemes<TAB>greedy spelling<TAB>log-prob`` (+ beam, samples), one per input.

    Unknown phoneme symbols are decoded as UNK and named in the line; a
    spelling that reached `MAX_LENGTH` characters without EOS is marked truncated.
    """
    greedy = speller.greedy(tf.constant(phonemes))
    spellings = [s.decode("utf-8") for s in greedy["spellings"].numpy()]
    known = set(speller.model.source_vocabulary.tokens)
    extra = {}
    if beam is not None:
        out = speller.beam_search(phonemes, num_beams=beam)
        extra["beam"] = [s.decode("utf-8") for s in out["spellings"].numpy()]
    if top_p is not None:
        out = speller.sample(tf.constant(phonemes), tf.constant(top_p, tf.float32), tf.constant(k, tf.int32),
                             tf.constant(seed, tf.int64))
        extra[f"top-p {top_p} samples"] = [", ".join(s.decode("utf-8") for s in row)
                                           for row in out["spellings"].numpy()]
    lines = []
    for i, (source, spelling) in enumerate(zip(phonemes, spellings)):
        line = f"{source}\t{spelling}\t{greedy['log_probs'][i].numpy():.3f}"
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
