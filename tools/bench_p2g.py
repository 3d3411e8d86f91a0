"""Benchmark of the p2g seq2seq on this machine; prints (and optionally writes) JSON.

Measures, in one run:
- seconds per training epoch (Keras `fit`, default hyperparameters) without and
  with attention, after a short warm-up fit that traces the train step;
- decoding throughput in words/s of the id-level decode function (encoder +
  batched `tf.while_loop`; string I/O excluded) for greedy, nucleus (p=0.8) and
  beam (5) search, at batch 1 and batch 1,000, without and with `jit_compile`,
  each after a warm-up pass over the same words (so tracing/XLA compilation is
  excluded); source ids are padded to a multiple of 16 columns (masked).

Usage:
    flock /tmp/keras_hw2_heavy.lock python tools/bench_p2g.py --data-dir ../shared/data/p2g --output bench.json
"""
import argparse
import json
import sys
import time

import tensorflow as tf

from keras_hw2.devices import device_report
from keras_hw2.p2g import decoding
from keras_hw2.p2g.data import build_vocabularies, encode_phonemes, make_dataset
from keras_hw2.p2g.serving import load_checkpoint
from keras_hw2.p2g.train import TrainConfig, build_model, load_corpus
from keras_hw2.runs import write_json
from keras_hw2.seeding import set_seed


def time_epoch(config: TrainConfig, corpus: dict):
    """Seconds of one full training epoch after a 5-batch warm-up; returns (seconds, model)."""
    source, target = build_vocabularies(corpus["train"])
    model = build_model(config, source, target)
    train = make_dataset(corpus["train"], source, target, config.batch_size, shuffle=True, seed=config.seed)
    model.fit(train.take(5), epochs=1, shuffle=False, verbose=0)
    start = time.perf_counter()
    model.fit(train, epochs=1, shuffle=False, verbose=0)
    return time.perf_counter() - start, model


def _pad_columns(ids, multiple=16):
    """Pad source ids to a multiple of 16 columns (masked), so XLA compiles a few shapes, not one per length."""
    return tf.pad(ids, [[0, 0], [0, -ids.shape[1] % multiple]])


def words_per_second(model, phonemes, sampler, batch_size, jit_compile):
    """Throughput of `model.generate` on `phonemes` in batches of `batch_size`, after a warm-up pass."""
    generate = tf.function(lambda ids, seed: model.generate(ids, sampler, seed=seed), jit_compile=jit_compile)
    batches = [_pad_columns(encode_phonemes(tf.constant(phonemes[i:i + batch_size]), model.source_vocabulary))
               for i in range(0, len(phonemes), batch_size)]
    seed = tf.constant(0, tf.int64)
    for ids in batches:
        generate(ids, seed)[0].numpy()
    start = time.perf_counter()
    for ids in batches:
        generate(ids, seed)[0].numpy()
    return len(phonemes) / (time.perf_counter() - start)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="train.tsv/valid.tsv directory (default: embedded cmudict corpus)")
    parser.add_argument("--checkpoint", help="decode with this model (default: the attention model timed here)")
    parser.add_argument("--batch1-words", type=int, default=100, help="words decoded one at a time (default 100)")
    parser.add_argument("--output", help="also write the JSON here")
    args = parser.parse_args(argv)
    set_seed(0)
    corpus, announcement = load_corpus(args.data_dir)
    print(announcement, file=sys.stderr)
    print(device_report(), file=sys.stderr)
    result = {"device": device_report(), "data": args.data_dir or "cmudict", "epoch_seconds": {},
              "words_per_second": {}}
    model = None
    for use_attention in (False, True):
        seconds, model = time_epoch(TrainConfig(use_attention=use_attention), corpus)
        result["epoch_seconds"]["attention" if use_attention else "no_attention"] = round(seconds, 2)
        print(result["epoch_seconds"], file=sys.stderr)
    if args.checkpoint:
        model = load_checkpoint(args.checkpoint)
    result["decode_model"] = args.checkpoint or "attention model after one timed epoch"
    phonemes = [p.phonemes for p in corpus["valid"]][:1000]
    samplers = {"greedy": decoding.GreedySampler(), "nucleus_p0.8": decoding.NucleusSampler(0.8),
                "beam5": decoding.BeamSampler(5)}
    for name, sampler in samplers.items():
        for batch_size, words in [(1, phonemes[:args.batch1_words]), (1000, phonemes)]:
            for jit in (False, True):
                key = f"{name}/batch{batch_size}/{'jit' if jit else 'nojit'}"
                result["words_per_second"][key] = round(words_per_second(model, words, sampler, batch_size, jit), 1)
                print(key, result["words_per_second"][key], file=sys.stderr)
    print(json.dumps(result, indent=2))
    if args.output:
        write_json(args.output, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
