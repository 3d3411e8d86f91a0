"""``python tools/gpu_check.py`` (``make bench-gpu``): the GPU checks of `keras_hw2.benchmarks.gpu` as a command.

Prints the device line; where TensorFlow sees a GPU, runs the checks on it,
prints their table and verdicts and writes ``<output-dir>/<date>-<host>-gpu.json``
(exit status 1 when a check fails); where none is visible, says so and exits 0.
Parsing the arguments imports no TensorFlow.
"""
import argparse
import sys

from keras_hw2 import cli
from keras_hw2.benchmarks import OUTPUT_DIR


def build_parser() -> argparse.ArgumentParser:
    parser = cli.ArgumentParser(prog="python tools/gpu_check.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=cli.integer("--repeats", minimum=1), default=3,
                        help="timed repeats per row (default 3)")
    parser.add_argument("--p2g-data", help="directory with train.tsv and valid.tsv (default: embedded cmudict)")
    parser.add_argument("--output-dir", default=OUTPUT_DIR, help=f"where the JSON goes (default {OUTPUT_DIR}/)")
    return parser


def main(argv=None) -> int:
    """Print the device line, then run the checks on the GPU (or say there is none); 0 when all pass."""
    args = build_parser().parse_args(argv)
    cli.start_tensorflow()
    from keras_hw2.benchmarks import cnn, gpu, harness
    from keras_hw2.devices import device_report
    from keras_hw2.p2g.train import load_corpus

    print(device_report())
    name = gpu.gpu_name()
    if name is None:
        print("no GPU visible to TensorFlow: the GPU checks did not run")
        return 0
    corpus, announcement = load_corpus(args.p2g_data)
    print(announcement, file=sys.stderr)
    images, labels = cnn.demo_images(2048)
    rows, checks = gpu.run_checks(f"/{name}", args.repeats, corpus, images, labels, decode_words=1000)
    print(harness.format_table(rows))
    print("checks: " + ", ".join(f"{key}={value}" for key, value in checks.items()))
    path = harness.write_report(rows, args.output_dir, {"checks": checks}, suffix="-gpu")
    print(f"written: {path}")
    return 0 if all(value is not False for value in checks.values()) else 1
