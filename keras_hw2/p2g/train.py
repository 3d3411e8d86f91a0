"""Training: `train_and_evaluate(config, run)` (scoring a checkpoint: `keras_hw2.p2g.evaluate`)."""
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import keras
import numpy as np

from keras_hw2.distribute import get_strategy
from keras_hw2.errors import InputError
from keras_hw2.p2g import cmudict_corpus, metrics
from keras_hw2.p2g.data import build_vocabularies, make_dataset, read_tsv
from keras_hw2.p2g.evaluate import spell
from keras_hw2.p2g.models import Seq2Seq
from keras_hw2.p2g.serving import CHECKPOINT_FILE, Speller
from keras_hw2.plots import plot_curves
from keras_hw2.runs import Run, read_json, write_json

VOCABULARY_FILE = "vocabulary.json"


@dataclass
class TrainConfig:
    data_dir: Optional[str] = None  # holds train.tsv and valid.tsv; None = the embedded cmudict corpus
    use_attention: bool = False  # Bahdanau attention in the decoder
    tie_embeddings: bool = True  # output projection tied to the decoder embedding (homework)
    units: int = 128  # hidden size (homework)
    dropout: float = 0.3  # homework
    learning_rate: float = 0.003  # Adam (homework)
    batch_size: int = 64  # global batch (homework)
    epochs: int = 20  # homework
    seed: int = 0
    jit_compile: bool = False  # XLA for the train step (recompiles per padded shape)
    strategy: str = "default"  # keras_hw2.distribute strategy


def load_corpus(data_dir, splits=("train", "valid")) -> tuple:
    """``({split: [Pair]}, announcement)`` from `data_dir/<split>.tsv`, or the embedded cmudict corpus."""
    if data_dir is None:
        corpus = cmudict_corpus.load_cmudict_corpus()
        chosen = {s: corpus[s] for s in splits}
        return chosen, cmudict_corpus.describe({s: len(corpus[s]) for s in cmudict_corpus.SPLITS})
    chosen = {s: read_tsv(Path(data_dir) / f"{s}.tsv") for s in splits}
    sizes = ", ".join(f"{len(v):,} {s}" for s, v in chosen.items())
    return chosen, f"data: {data_dir}: {sizes} words"


class SpellingMetrics(keras.callbacks.Callback):
    """Adds greedy validation CER and WER (`val_cer`, `val_wer`) and `epoch_seconds` to the epoch logs.

    Put it before the callbacks that record logs (history, TensorBoard, checkpoints).
    """

    def __init__(self, pairs, speller: Speller):
        super().__init__()
        self.phonemes = [p.phonemes for p in pairs]
        self.references = [p.spelling for p in pairs]
        self.speller = speller

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._start
        predictions = spell(self.speller, self.phonemes)
        logs["epoch_seconds"] = seconds
        logs["val_cer"] = metrics.character_error_rate(predictions, self.references)
        logs["val_wer"] = metrics.word_error_rate(predictions, self.references)
        print(f"epoch {epoch + 1}: loss {logs.get('loss', float('nan')):.4f}  val CER {logs['val_cer']:.4f}  "
              f"val WER {logs['val_wer']:.4f}  ({seconds:.1f} s training)", flush=True)


def _check_vocabulary(run: Run, source, target) -> None:
    path = run.file(VOCABULARY_FILE)
    current = {"source": source.tokens, "target": target.tokens}
    if path.exists() and read_json(path) != current:
        raise InputError(f"{path}: the run's vocabulary differs from the one built from this training data; "
                         "its checkpoints do not match this data (choose another --run-name)")
    write_json(path, current)


def build_model(config: TrainConfig, source, target) -> Seq2Seq:
    """The compiled model: Adam, cross-entropy with PAD (id 0) ignored."""
    model = Seq2Seq(source.tokens, target.tokens, units=config.units, dropout=config.dropout,
                    use_attention=config.use_attention, tie_embeddings=config.tie_embeddings)
    model.build(((None, None), (None, None)))
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0),
                  jit_compile=config.jit_compile)
    return model


def train_and_evaluate(config: TrainConfig, run: Run, corpus: dict) -> dict:
    """Train on `corpus["train"]`, keep the best-validation-CER checkpoint in the run directory.

    Returns:
        ``{"best_epoch", "val_cer", "val_wer", "checkpoint"}`` of the best epoch.
    """
    source, target = build_vocabularies(corpus["train"])
    _check_vocabulary(run, source, target)
    strategy = get_strategy(config.strategy)
    with strategy.scope():
        model = build_model(config, source, target)
    train = make_dataset(corpus["train"], source, target, config.batch_size, shuffle=True, seed=config.seed)
    history = run.history
    best_so_far = min((c for c in history.get("val_cer", []) if c is not None), default=None)
    checkpoint = keras.callbacks.ModelCheckpoint(str(run.file(CHECKPOINT_FILE)), monitor="val_cer", mode="min",
                                                 save_best_only=True, initial_value_threshold=best_so_far)
    title = f"p2g validation CER ({'attention' if config.use_attention else 'no attention'})"
    plot = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: plot_curves(
        {"validation CER": run.history["val_cer"]}, run.file("val_cer.png"), ylabel="CER", title=title))
    callbacks = [SpellingMetrics(corpus["valid"], Speller(model)), checkpoint, *run.callbacks(), plot]
    model.fit(train, epochs=config.epochs, callbacks=callbacks, shuffle=False, verbose=0)  # the dataset shuffles
    history = run.history
    best = int(np.argmin(history["val_cer"]))
    return {"best_epoch": best + 1, "val_cer": history["val_cer"][best], "val_wer": history["val_wer"][best],
            "checkpoint": str(run.file(CHECKPOINT_FILE))}
