"""Training: `train_and_evaluate(config, run, data=None)` (scoring a checkpoint: `keras_hw2.p2g.evaluate`).

`make_task(config, data)` hands the engine (`keras_hw2.training`) what is particular
to the speller: the model (``config.model``: the homework's `Seq2Seq`, or a
`keras_hw2.p2g.transformer.TransformerSpeller`) with Adam, the cross-entropy per target token
with padding weighted 0, the teacher-forcing datasets, the greedy validation
CER and WER (`SpellingMetrics`, monitored: ``val_cer``, lower is better) and
the CER plot. With ``word_weights="frequency"`` each training word's tokens
weigh its word-frequency weight (`keras_hw2.p2g.word_weights`); validation
stays unweighted. The run also keeps the vocabularies (vocabulary.json), so a
resumed run refuses training data with other symbols.
"""
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import keras
import tensorflow as tf

from keras_hw2 import training
from keras_hw2.checks import Choice, Flag, Integer, OptionalPath, validate
from keras_hw2.errors import InputError
from keras_hw2.hparams import TRAINING_RULES
from keras_hw2.p2g import cmudict_corpus, metrics, word_weights
from keras_hw2.p2g.data import build_vocabularies, make_dataset, read_tsv
from keras_hw2.p2g.models import Seq2Seq
from keras_hw2.p2g.speller import Speller
from keras_hw2.p2g.transformer import TransformerSpeller, check_heads
from keras_hw2.presets import finetune
from keras_hw2.runs import CHECKPOINT_FILE, Run, opt_in, read_json, write_json
from keras_hw2.schedules import check_schedule, learning_rate

TASK = "p2g"  # runs/p2g/<name>/
VOCABULARY_FILE = "vocabulary.json"
MODELS = ("lstm", "transformer")  # --model: the homework's Seq2Seq, or the Transformer speller


@dataclass
class TrainConfig:
    """Everything that defines a training run; written to the run's config.json."""
    data: Optional[str] = None  # holds train.tsv and valid.tsv; None = the embedded cmudict corpus
    use_attention: bool = False  # Bahdanau attention in the decoder
    tie_embeddings: bool = True  # output projection tied to the decoder embedding (homework)
    units: int = 128  # hidden size (homework)
    dropout: float = 0.3  # homework
    learning_rate: float = 0.003  # Adam (homework)
    batch_size: int = 64  # global batch (homework)
    sort_window: int = 20  # batches of words sorted by length together: less padding (0: plain shuffle)
    epochs: int = 20  # homework
    seed: int = 0  # weights, dropout and shuffling
    deterministic: bool = False  # also make TensorFlow ops deterministic
    jit_compile: bool = False  # XLA for the train step (recompiles per padded shape)
    strategy: str = "default"  # keras_hw2.distribute strategy
    # Opt-in options (issues 21, 23), left out of config.json at their defaults:
    lr_schedule: str = opt_in("constant")  # keras_hw2.schedules: constant, cosine or step
    warmup_epochs: int = opt_in(0)  # linear learning-rate warm-up
    early_stopping: Optional[int] = opt_in(None)  # patience in epochs on val_cer; None: train every epoch
    init_from: Optional[str] = opt_in(None)  # a preset or run whose weights and vocabularies start it
    word_weights: str = opt_in(word_weights.DEFAULT)  # keras_hw2.p2g.word_weights: none or frequency
    # Opt-in options (issue 25): the Transformer speller
    model: str = opt_in("lstm")  # MODELS
    layers: int = opt_in(3)  # transformer: encoder blocks, and as many decoder blocks
    heads: int = opt_in(4)  # transformer: attention heads; units must be divisible by them

    def __post_init__(self):
        validate(self, {**TRAINING_RULES, "data": OptionalPath(), "use_attention": Flag(), "tie_embeddings": Flag(),
                        "units": Integer(minimum=2, even=True), "sort_window": Integer(minimum=0),
                        "init_from": OptionalPath(), "word_weights": Choice(word_weights.SCHEMES),
                        "model": Choice(MODELS), "layers": Integer(minimum=1), "heads": Integer(minimum=1)},
                 flags={"use_attention": "--attention", "tie_embeddings": "--untie-embeddings"})
        check_schedule(self)
        if self.model == "transformer":
            check_heads(self.units, self.heads, flags=("--units", "--heads"))
            if self.use_attention:
                raise InputError("--attention adds Bahdanau attention to the LSTM; a Transformer always attends. "
                                 "Received: --attention with --model=transformer")
        elif (self.layers, self.heads) != (3, 4):
            raise InputError(f"--layers and --heads shape the Transformer; the LSTM takes neither. "
                             f"Received: --layers={self.layers}, --heads={self.heads} with --model={self.model}")

    def settings(self) -> dict:
        """The model's architecture as its ``get_config`` records it (what ``--init-from`` must match)."""
        if self.model == "transformer":
            return {"units": self.units, "layers": self.layers, "heads": self.heads,
                    "tie_embeddings": self.tie_embeddings}
        return {"units": self.units, "use_attention": self.use_attention, "tie_embeddings": self.tie_embeddings}


@dataclass
class Corpus:
    """Word pairs per split, ``{"train": [Pair], "valid": [Pair]}``, and where they came from."""
    splits: dict
    source: str

    def describe(self) -> str:
        return self.source


def load_corpus(data_dir, splits=("train", "valid")) -> tuple:
    """``({split: [Pair]}, announcement)`` from `data_dir/<split>.tsv`, or an embedded cmudict corpus
    (None: the sample; ``cmudict:full``: every word, `keras_hw2.p2g.cmudict_corpus.variant_of`)."""
    variant = cmudict_corpus.variant_of(data_dir)  # None, or "cmudict:<variant>": an embedded corpus
    if variant is not None:
        corpus = cmudict_corpus.load_cmudict_corpus(variant)
        chosen = {s: corpus[s] for s in splits}
        return chosen, cmudict_corpus.describe({s: len(corpus[s]) for s in cmudict_corpus.SPLITS}, variant)
    chosen = {s: read_tsv(Path(data_dir) / f"{s}.tsv") for s in splits}
    sizes = ", ".join(f"{len(v):,} {s}" for s, v in chosen.items())
    return chosen, f"data: {data_dir}: {sizes} words"


def load_data(config: TrainConfig) -> Corpus:
    """The training and validation words `config.data` names, validated."""
    return Corpus(*load_corpus(config.data))


class SpellingMetrics(keras.callbacks.Callback):
    """Adds the greedy validation CER and WER (`val_cer`, `val_wer`) to the epoch logs.

    Put it before the callbacks that record logs (history, TensorBoard, progress bar).
    """

    def __init__(self, pairs, speller: Speller):
        super().__init__()
        self.phonemes = [p.phonemes for p in pairs]
        self.references = [p.spelling for p in pairs]
        self.speller = speller

    def on_epoch_end(self, epoch, logs=None):
        predictions = self.speller.spell(self.phonemes)
        logs["val_cer"] = metrics.character_error_rate(predictions, self.references)
        logs["val_wer"] = metrics.word_error_rate(predictions, self.references)


def _check_vocabulary(run: Run, source, target) -> None:
    path = run.file(VOCABULARY_FILE)
    current = {"source": source.tokens, "target": target.tokens}
    if path.exists() and read_json(path) != current:
        raise InputError(f"{path}: the run's vocabulary differs from the one built from this training data; "
                         "its checkpoints do not match this data (choose another --run-name)")
    write_json(path, current)


def build_model(config: TrainConfig, source, target, steps_per_epoch: int = 1):
    """The model ``config.model`` names (a `Seq2Seq` or a `TransformerSpeller`) compiled with its optimizer,
    Adam (the loss is `token_loss`, weighted by `is_token`), at the learning rate of ``config.lr_schedule``
    over `steps_per_epoch` train steps per epoch."""
    if config.model == "transformer":
        model = TransformerSpeller(source.tokens, target.tokens, units=config.units, layers=config.layers,
                                   heads=config.heads, dropout=config.dropout, tie_embeddings=config.tie_embeddings)
    else:
        model = Seq2Seq(source.tokens, target.tokens, units=config.units, dropout=config.dropout,
                        use_attention=config.use_attention, tie_embeddings=config.tie_embeddings)
    model.build(((None, None), (None, None)))
    lr = learning_rate(config.learning_rate, config.lr_schedule, config.warmup_epochs, config.epochs, steps_per_epoch)
    model.compile(optimizer=keras.optimizers.Adam(lr))  # the engine computes the loss
    return model


def describe_model(config: TrainConfig, data: Corpus) -> str:
    """One line naming the model `config` trains on `data`'s vocabularies and its parameter count."""
    model = build_model(config, *vocabularies(config, data))
    if config.model == "transformer":
        shape = f"transformer, {config.layers} layers, {config.units} units, {config.heads} heads"
    else:
        shape = f"lstm, {config.units} units, {'attention' if config.use_attention else 'no attention'}"
    return f"model: {shape}: {model.count_params():,} parameters"


def token_loss(decoder_targets, logits):
    """Cross-entropy per target token ``(batch_size, T)`` (padding included; `is_token` weights it 0)."""
    return keras.losses.sparse_categorical_crossentropy(decoder_targets, logits, from_logits=True)


def is_token(decoder_targets):
    """``(batch_size, T)`` weights: 1.0 for a target token, 0.0 for padding (PAD = 0)."""
    return tf.cast(decoder_targets != 0, tf.float32)


def weighted_token_loss(targets, logits):
    """`token_loss` of ``targets = (decoder_targets, word_weights)``: ``(batch_size, T)``."""
    return token_loss(targets[0], logits)


def is_weighted_token(targets):
    """``(batch_size, T)`` weights of ``targets = (decoder_targets, word_weights)``: each token its word's
    weight, padding 0."""
    decoder_targets, weights = targets
    return is_token(decoder_targets) * tf.cast(weights, tf.float32)[:, None]


def vocabularies(config: TrainConfig, data: Corpus) -> tuple:
    """``(source, target)`` vocabularies: the training words', or those of ``config.init_from``'s speller
    (a speller keeps its symbols: its embedding rows are them)."""
    if config.init_from:
        return finetune.vocabularies(config.init_from)
    return build_vocabularies(data.splits["train"])


def make_task(config: TrainConfig, data: Corpus) -> training.Task:
    """What the engine trains for `config` on `data`: the task ``train`` and the benchmarks run.

    Args:
        config: the run's configuration.
        data: the words: "train" is trained on (and gives the vocabularies),
            "valid" validates each epoch (loss, greedy CER and WER).

    Returns:
        The `keras_hw2.training.Task`: the `Seq2Seq` model (Adam), the
        cross-entropy per target token with padding weighted 0, the
        teacher-forcing batches, ``val_cer`` monitored (lower is better), the
        plots and the final report.
    """
    corpus = data.splits
    source, target = vocabularies(config, data)
    steps_per_epoch = math.ceil(len(corpus["train"]) / config.batch_size)
    weights = word_weights.word_weights([pair.spelling for pair in corpus["train"]], config.word_weights)
    # weighted: the targets are (decoder_targets, word_weights); validation's weights are all 1
    valid_weights = None if weights is None else [1.0] * len(corpus["valid"])
    return training.Task(
        build_model=lambda: finetune.initialize(build_model(config, source, target, steps_per_epoch),
                                                config.init_from, TASK),
        loss=token_loss if weights is None else weighted_token_loss,
        loss_weights=is_token if weights is None else is_weighted_token,
        train_data=lambda seed: make_dataset(corpus["train"], source, target, config.batch_size, shuffle=True,
                                             seed=seed, sort_window=config.sort_window, weights=weights),
        validation_data=make_dataset(corpus["valid"], source, target, config.batch_size, weights=valid_weights),
        monitor="val_cer", mode="min",
        callbacks=lambda model: [SpellingMetrics(corpus["valid"], Speller(model))],
        plots={"val_cer.png": (["val_cer"], "validation CER (greedy; no training CER is computed)"),
               "loss.png": (["loss", "val_loss"], "cross-entropy per target token")},
        title=_title(config),
        report=lambda run, history, best: {"val_cer": history["val_cer"][best], "val_wer": history["val_wer"][best],
                                           "checkpoint": str(run.file(CHECKPOINT_FILE))})


def _title(config: TrainConfig) -> str:
    """The plots' title: which model was trained."""
    if config.model == "transformer":
        return f"p2g (transformer, {config.layers} layers, {config.units} units, {config.heads} heads)"
    return f"p2g ({'attention' if config.use_attention else 'no attention'})"


def train_and_evaluate(config: TrainConfig, run: Run, data: Optional[Corpus] = None, verbose="auto") -> dict:
    """Train on the training words (`make_task` through `keras_hw2.training.train`), keep the
    best-validation-CER model as the run's best.keras.

    Args:
        config: the run's configuration.
        run: the open run directory (`keras_hw2.runs.open_run`).
        data: the loaded `Corpus`; None loads `config.data`.
        verbose: "auto", 0, 1 or 2, as in Keras.

    Returns:
        ``{"status", "epochs", "best_epoch", "val_cer", "val_wer", "checkpoint"}``
        (CER and WER of the best epoch).
    """
    data = load_data(config) if data is None else data
    # checked also for a finished run: its model must match this data
    _check_vocabulary(run, *vocabularies(config, data))
    return training.train(config, run, lambda: make_task(config, data), verbose)
