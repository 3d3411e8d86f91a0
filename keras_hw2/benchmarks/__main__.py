"""``python -m keras_hw2.benchmarks`` (``make bench``): every benchmark of issue 12, one table, one JSON file.

Runs, with ``--repeats`` repeats each (min / median / max): the P2G training
epochs with and without attention; greedy, nucleus and beam decoding of 1,000
words in a batch; the one-word p50 latency through `Speller` and the export;
the CNNs' training images/s at batch 8; whole epochs as ``train`` runs them,
validation and checkpoints included, of both tasks; the peak RSS of P2G and CNN training
(one fresh process per repeat); and a profile of one CNN training step per
model. Prints a table of our figures against the homework PyTorch code's on
the same machine type, with the ratio and the issue's target per row, and
writes everything to ``<output-dir>/<date>-<host>.json``. The figures are only
comparable when the machine is quiet: the 1-minute load average is recorded
before and after (after includes this run's own load), and a warning is printed
when it was above 1.0 before the run.
"""
import argparse
import sys
from pathlib import Path

from keras_hw2 import cli
from keras_hw2.benchmarks import OUTPUT_DIR
from keras_hw2.errors import InputError

GROUPS = {"p2g-epoch": "P2G training epochs, with and without attention",
          "p2g-decode": "greedy, nucleus and beam decoding of a batch",
          "p2g-latency": "one word at a time through Speller and the export",
          "cnn": "CNN training images/s at batch 8",
          "whole-epoch": "whole epochs as train runs them (validation, checkpoints), P2G and both CNNs",
          "cnn-profile": "op times of one CNN training step (tf.profiler)",
          "rss": "peak RSS of a P2G and a CNN training run, and of the imports alone (fresh processes)",
          "deploy": "CNN inference through TF, LiteRT float and int8, ONNX Runtime (batch 1 and 64)"}
QUICK = {"p2g_words": 256, "decode_words": 32, "latency_words": 8, "cnn_images": 64, "profile_steps": 5}
FULL = {"decode_words": 1000, "latency_words": 100, "cnn_images": 2048, "profile_steps": 20}


def build_parser() -> argparse.ArgumentParser:
    parser = cli.ArgumentParser(prog="python -m keras_hw2.benchmarks", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--p2g-data", help="directory with train.tsv and valid.tsv (default: the embedded cmudict "
                                           "corpus; the issue's figures use the homework's 10,000 words)")
    parser.add_argument("--cnn-data", help="images for the RSS run (npz or Kaggle folder; default: synthetic); "
                                           "speed rows always use synthetic images")
    parser.add_argument("--repeats", type=cli.integer("--repeats", minimum=1), default=3,
                        help="timed repeats per row (default 3)")
    parser.add_argument("--only", default=",".join(GROUPS),
                        help="comma-separated groups of rows to run (default: all): "
                             + "; ".join(f"{name}: {text}" for name, text in GROUPS.items()))
    parser.add_argument("--jit-compile", action="store_true",
                        help="XLA-compile the training steps of the epoch rows (a lever; training's default is off)")
    parser.add_argument("--sort-window", type=cli.integer("--sort-window", minimum=0),
                        help="P2G length bucketing for the epoch rows (default: TrainConfig's, 20; 0 = plain shuffle)")
    for kind in ("intra", "inter"):
        parser.add_argument(f"--{kind}-op-threads", type=cli.integer(f"--{kind}-op-threads", minimum=1),
                            help=f"TensorFlow's {kind}-op thread pool size (default: TensorFlow's choice)")
    parser.add_argument("--output-dir", default=OUTPUT_DIR, help=f"where the JSON goes (default {OUTPUT_DIR}/)")
    parser.add_argument("--quick", action="store_true",
                        help=f"tiny sizes and models (units 16), for a smoke test; the figures mean nothing: {QUICK}")
    return parser


def _groups(text: str) -> list:
    chosen = [g.strip() for g in text.split(",") if g.strip()]
    unknown = [g for g in chosen if g not in GROUPS]
    if not chosen or unknown:
        raise InputError(f"--only must name groups of {', '.join(GROUPS)}. Received: --only={text}")
    return chosen


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    groups = _groups(args.only)
    for flag, path in (("--p2g-data", args.p2g_data), ("--cnn-data", args.cnn_data)):
        if path and not Path(path).exists():
            raise InputError(f"{path}: no such file or directory. Received: {flag}={path}")
    cli.start_tensorflow()
    import tensorflow as tf
    if args.intra_op_threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.intra_op_threads)
    if args.inter_op_threads:
        tf.config.threading.set_inter_op_parallelism_threads(args.inter_op_threads)
    from keras_hw2.benchmarks import harness
    sizes = QUICK if args.quick else FULL
    load_before = harness.load_average()
    rows, extra = [], {"load_average_before": load_before, "quick": args.quick, "jit_compile": args.jit_compile,
                       "sort_window": args.sort_window}
    if {"p2g-epoch", "p2g-decode", "p2g-latency"} & set(groups):
        rows += _p2g_rows(args, sizes, groups)
    if {"cnn", "cnn-profile"} & set(groups):
        cnn_rows, extra["cnn_step_profiles"] = _cnn_rows(args, sizes, groups)
        rows += cnn_rows
    if "whole-epoch" in groups:
        rows += _whole_epoch_rows(args, sizes)
    if "rss" in groups:
        from keras_hw2.benchmarks.rss import peak_rss_row
        rows += [peak_rss_row("p2g", args.repeats, args.p2g_data, args.quick),
                 peak_rss_row("cnn", args.repeats, args.cnn_data, args.quick),
                 peak_rss_row("import", args.repeats)]
    if "deploy" in groups:
        from keras_hw2.benchmarks.deploy import deploy_rows
        rows += deploy_rows(quick=args.quick)
    extra["load_average_after"] = harness.load_average()
    print(harness.format_table(rows))
    path = harness.write_report(rows, args.output_dir, extra)
    print(f"written: {path}")
    if load_before > harness.QUIET_LOAD:
        print(f"warning: the 1-minute load average was {load_before:.1f} before the run (> {harness.QUIET_LOAD}; "
              f"{extra['load_average_after']:.1f} after, this run included): other processes shared the CPU; "
              "take the figures again on a quiet machine", file=sys.stderr)
    return 0


def _p2g_rows(args, sizes: dict, groups: list) -> list:
    from keras_hw2.benchmarks import p2g
    from keras_hw2.p2g.data import build_vocabularies
    from keras_hw2.p2g.speller import Speller
    from keras_hw2.p2g.train import TrainConfig, build_model, load_corpus
    corpus, announcement = load_corpus(args.p2g_data)
    print(announcement, file=sys.stderr)
    options = {"jit_compile": args.jit_compile, **({} if args.sort_window is None else
                                                   {"sort_window": args.sort_window})}
    config = TrainConfig(**options)
    if args.quick:
        corpus = {split: pairs[:sizes["p2g_words"]] for split, pairs in corpus.items()}
        config = TrainConfig(units=16, **options)
    rows = []
    if "p2g-epoch" in groups:
        rows, model = p2g.epoch_rows(corpus, args.repeats, config)
    else:
        attention = TrainConfig(**{**vars(config), "use_attention": True})
        model = build_model(attention, *build_vocabularies(corpus["train"]))
    speller = Speller(model)
    phonemes = [pair.phonemes for pair in corpus["valid"]]
    if "p2g-decode" in groups:
        batch = (phonemes * (sizes["decode_words"] // len(phonemes) + 1))[:sizes["decode_words"]]
        rows += p2g.decode_rows(speller, batch, args.repeats)
    if "p2g-latency" in groups:
        rows += p2g.one_word_rows(speller, phonemes[:sizes["latency_words"]], args.repeats)
    return rows


def _cnn_rows(args, sizes: dict, groups: list) -> tuple:
    from keras_hw2.benchmarks import cnn
    from keras_hw2.benchmarks.profile import format_op_times
    from keras_hw2.cnn.models import MODELS
    images, labels = cnn.demo_images(sizes["cnn_images"])
    from keras_hw2.cnn.train import TrainConfig
    config = TrainConfig(jit_compile=args.jit_compile)
    rows = cnn.training_rows(images, labels, args.repeats, config) if "cnn" in groups else []
    profiles = []
    for model_name in MODELS if "cnn-profile" in groups else ():
        times = cnn.profile_step(model_name, images, labels, steps=sizes["profile_steps"], config=config)
        print(f"profile of a CNN {model_name} training step (batch 8): {format_op_times(times, top=8)}",
              file=sys.stderr)
        profiles.append(times)
    return rows, profiles


def _whole_epoch_rows(args, sizes: dict) -> list:
    from keras_hw2.benchmarks import cnn, p2g
    from keras_hw2.cnn.train import TrainConfig as CNNConfig
    from keras_hw2.p2g.train import TrainConfig, load_corpus
    corpus, _ = load_corpus(args.p2g_data)
    config = TrainConfig(units=16) if args.quick else TrainConfig()
    if args.quick:
        corpus = {split: pairs[:sizes["p2g_words"]] for split, pairs in corpus.items()}
    images, labels = cnn.demo_images(sizes["cnn_images"])
    return [p2g.whole_epoch_row(corpus, args.repeats, config),
            *cnn.whole_epoch_rows(images, labels, args.repeats, CNNConfig())]


if __name__ == "__main__":
    cli.entry_point(main)
