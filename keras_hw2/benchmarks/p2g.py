"""Benchmark rows of the phoneme-to-grapheme speller (issue 12's targets).

- a training epoch with and without attention (default hyperparameters,
  batch 64), run by the training engine on the task ``train`` builds
  (`keras_hw2.p2g.train.make_task`), after
  one untimed epoch that traces the step;
- a whole epoch as ``train`` runs it (validation with its greedy CER, checkpoints:
  `keras_hw2.benchmarks.epochs`), with attention;
- greedy (uncompiled and XLA), nucleus (p=0.8, 3 samples per word) and beam (5) decoding of 1,000
  words in one batch, strings in and strings out through `Speller`;
- the p50 latency of one word, end to end, through `Speller` and through the
  exported SavedModel reloaded in this process.

The decoding rows use the attention model the epoch rows trained (an
untrained one when they do not run, which decodes to the maximum length).
"""
import itertools
import statistics
import tempfile
import time

import tensorflow as tf

from keras_hw2 import training
from keras_hw2.benchmarks.epochs import whole_epoch_timing
from keras_hw2.benchmarks.harness import Row, measure, percentile, timing_row
from keras_hw2.p2g.speller import Speller, export_speller
from keras_hw2.p2g.train import TASK, Corpus, TrainConfig, make_task

# The homework's PyTorch code on this machine type, quiet, torch 2.13 CPU, 2 threads (issue 12).
# Greedy decoding at batch 1 (attention): 239 words/s, 4.2 ms a word; the homework decodes one word at a time.
REFERENCE = {"epoch_attention_s": 11.2, "epoch_no_attention_s": 6.0, "one_word_ms": 4.2, "greedy_words_per_s": 239.0}
TARGET = {"epoch_ratio": 0.5, "greedy_words_per_s": 10_000, "nucleus_samples_per_s": 5_000,
          "beam_words_per_s": 2_000, "one_word_ms": 2.0}
NUCLEUS_P, NUCLEUS_SAMPLES, NUM_BEAMS = 0.8, 3, 5


def _epoch_runner(config: TrainConfig, corpus: dict):
    """``(run_epoch, model)``: each ``run_epoch()`` trains one more epoch of `make_task` (what ``train`` runs)
    with the engine's trainer."""
    trainer = training.build_trainer(config, make_task(config, Corpus(corpus, "benchmark words")))
    epochs = itertools.count()
    return lambda: trainer.train_epoch(training.epoch_seed(config.seed, next(epochs))), trainer.model


def epoch_rows(corpus: dict, repeats: int, config: TrainConfig = None) -> tuple:
    """The two epoch rows and the trained attention model: ``([Row, Row], model)``."""
    config = config or TrainConfig()
    rows, model = [], None
    for use_attention in (True, False):
        run_epoch, trained = _epoch_runner(TrainConfig(**{**vars(config), "use_attention": use_attention}), corpus)
        timing = measure(run_epoch, repeats)
        key = "attention" if use_attention else "no_attention"
        description = f"P2G epoch, {key.replace('_', ' ')}, {len(corpus['train']):,} words"
        rows.append(timing_row(f"p2g_epoch_{key}", description, timing, 1.0, "s", higher_is_better=False,
                               reference=REFERENCE[f"epoch_{key}_s"], target=TARGET["epoch_ratio"],
                               details={"words": len(corpus["train"]), "batch_size": config.batch_size,
                                        "sort_window": config.sort_window}))
        model = trained if use_attention else model
    return rows, model


def whole_epoch_row(corpus: dict, repeats: int, config: TrainConfig = None) -> Row:
    """Seconds of a whole ``train`` epoch with attention: training, validation (loss, greedy CER), checkpoints."""
    config = TrainConfig(**{**vars(config or TrainConfig()), "use_attention": True})
    data = Corpus(corpus, "benchmark words")
    timing = whole_epoch_timing(TASK, config, lambda c: make_task(c, data), repeats)
    return timing_row("p2g_whole_epoch_attention", f"P2G whole epoch as train runs it, attention, "
                      f"{len(corpus['train']):,} words + {len(corpus['valid']):,} validated", timing, 1.0, "s", False,
                      details={"words": len(corpus["train"]), "valid_words": len(corpus["valid"])})


def decode_rows(speller: Speller, phonemes: list, repeats: int) -> list:
    """Greedy (uncompiled and XLA), nucleus and beam rows: all of `phonemes` (1,000 words) in one call."""
    batch = tf.constant(phonemes)
    n = len(phonemes)
    p, samples, seed = tf.constant(NUCLEUS_P), tf.constant(NUCLEUS_SAMPLES), tf.constant(0, tf.int64)
    greedy = measure(lambda: speller.greedy(batch)["spellings"].numpy(), repeats)
    compiled = Speller(speller.model, jit_compile=True)
    greedy_xla = measure(lambda: compiled.greedy(batch)["spellings"].numpy(), repeats)
    nucleus = measure(lambda: speller.sample(batch, p, samples, seed)["spellings"].numpy(), repeats)
    beam = measure(lambda: speller.beam_search(batch, NUM_BEAMS, 1.0)["spellings"].numpy(), repeats)
    return [
        timing_row("greedy_batch", f"greedy decoding, {n:,} words in a batch", greedy, n, "words/s", True,
                   reference=REFERENCE["greedy_words_per_s"], target=TARGET["greedy_words_per_s"],
                   target_on_value=True),
        timing_row("greedy_batch_xla", f"greedy decoding, XLA (Speller(jit_compile=True)), {n:,} words", greedy_xla,
                   n, "words/s", True, reference=REFERENCE["greedy_words_per_s"],
                   target=TARGET["greedy_words_per_s"], target_on_value=True),
        timing_row("nucleus_batch", f"nucleus p={NUCLEUS_P} k={NUCLEUS_SAMPLES}, {n:,} words in a batch", nucleus,
                   n * NUCLEUS_SAMPLES, "samples/s", True, target=TARGET["nucleus_samples_per_s"]),
        timing_row("beam_batch", f"beam {NUM_BEAMS}, {n:,} words in a batch", beam, n, "words/s", True,
                   target=TARGET["beam_words_per_s"]),
    ]


def _latencies(call, phonemes: list) -> list:
    """Seconds of ``call(word)`` for each word, one at a time."""
    seconds = []
    for word in phonemes:
        start = time.perf_counter()
        call(word)
        seconds.append(time.perf_counter() - start)
    return seconds


def latency_row(name: str, description: str, call, phonemes: list, repeats: int) -> Row:
    """p50 milliseconds of one word end to end; each repeat is one pass over `phonemes`."""
    _latencies(call, phonemes)  # warm-up: every source length the words have
    passes = [_latencies(call, phonemes) for _ in range(repeats)]
    p50 = [statistics.median(seconds) * 1000 for seconds in passes]
    return Row(name, description, "ms", p50, higher_is_better=False, reference=REFERENCE["one_word_ms"],
               target=TARGET["one_word_ms"], target_on_value=True,
               details={"words_per_pass": len(phonemes), "p90_ms": [percentile(s, 90) * 1000 for s in passes]})


def one_word_rows(speller: Speller, phonemes: list, repeats: int) -> list:
    """p50 latency of one word through `Speller.greedy` (uncompiled and XLA) and through the reloaded export."""
    compiled = Speller(speller.model, jit_compile=True)
    rows = [latency_row("one_word_speller", "one word through Speller, p50", lambda w: (
        speller.greedy(tf.constant([w]))["spellings"].numpy()), phonemes, repeats),
            latency_row("one_word_speller_xla", "one word through Speller(jit_compile=True), p50", lambda w: (
                compiled.greedy(tf.constant([w]))["spellings"].numpy()), phonemes, repeats)]
    with tempfile.TemporaryDirectory() as root:
        export_dir = export_speller(speller.model, "p2g", root=root)
        serve = tf.saved_model.load(str(export_dir)).signatures["serving_default"]
        rows.append(latency_row("one_word_export", "one word through the export, p50", lambda w: (
            serve(phonemes=tf.constant([w]))["spellings"].numpy()), phonemes, repeats))
    return rows

