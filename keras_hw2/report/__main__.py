"""`python -m keras_hw2 report`: run (or reuse) every step of the homework and write its report.

Writes ``<out>/report.md`` (one section per question; each table with our
figure, the homework's published figure and the data each came from),
``<out>/report.json`` (every number) and ``<out>/figures/*.png``. Runs go to
``--runs-dir``; a second call reuses every finished step, and an interrupted
one resumes where it stopped. ``--preset quick`` is a smoke run of about 90
CPU-seconds on the embedded demo data; ``--preset full`` uses the homework's
settings (hours on a CPU). Without ``--data-cnn`` / ``--data-p2g`` the embedded
data is used (the synthetic demo images, the cmudict corpus).
"""
import argparse
import logging
import os
import shlex
import sys

from keras_hw2 import cli
from keras_hw2.checks import received

PRESET_NAMES = ("quick", "full")  # keras_hw2.report.presets.PRESETS, named here without importing TensorFlow
QUESTION_NAMES = ("q1", "q2", "q3")  # keras_hw2.report.build.QUESTIONS


def build_parser() -> argparse.ArgumentParser:
    """The command-line grammar; building it imports no TensorFlow."""
    parser = cli.ArgumentParser(prog="python -m keras_hw2 report", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=PRESET_NAMES, default="quick",
                        help="quick: a smoke run of about 90 CPU-seconds (default); "
                             "full: the homework's settings (hours)")
    parser.add_argument("--data-cnn", metavar="PATH",
                        help="the homework's Intel .npz or a Kaggle folder (default: the synthetic demo images)")
    parser.add_argument("--data-p2g", metavar="DIR",
                        help="a folder holding train.tsv and valid.tsv (default: the embedded cmudict corpus)")
    parser.add_argument("--only", metavar="Q[,Q]", type=questions,
                        help="run and report only these questions, e.g. q1,q3 (default: q1,q2,q3)")
    parser.add_argument("--out", metavar="DIR", help="the report folder (default reports/<preset>)")
    parser.add_argument("--runs-dir", default="runs", help="root of all run directories (default runs/)")
    cli.add_seed_argument(parser)
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a report made with other settings in --out")
    parser.add_argument("--quiet", action="store_true",
                        help="print only errors and the final line (the path of report.md)")
    return parser


def questions(text: str) -> tuple:
    """``--only``'s argparse type: ``"q3,q1"`` → ``("q1", "q3")``; anything but one or more of `QUESTION_NAMES`
    is an error (`argparse.ArgumentTypeError`).

    Example:
    >>> questions("q3, Q1")
    ('q1', 'q3')
    """
    names = {name.strip().lower() for name in text.split(",")}
    if not names <= set(QUESTION_NAMES) or names == {""} or "" in names:
        raise argparse.ArgumentTypeError(f"--only must name one or more of {', '.join(QUESTION_NAMES)}, separated by commas. "
                         f"{received('--only', text)}")
    return tuple(sorted(names))


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    cli.start_tensorflow()
    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # no retracing notices between the progress lines
    from keras_hw2.devices import device_report
    from keras_hw2.report.build import build_report
    from keras_hw2.report.inputs import Settings

    cli.say(args, device_report())

    settings = Settings(preset=args.preset, seed=args.seed,
                        data_cnn=args.data_cnn and os.path.abspath(args.data_cnn),
                        data_p2g=args.data_p2g and os.path.abspath(args.data_p2g))
    report = build_report(settings, args.out or os.path.join("reports", args.preset), runs_dir=args.runs_dir,
                          overwrite=args.overwrite, quiet=args.quiet,
                          command=" ".join(["python -m keras_hw2 report", shlex.join(argv)]).strip(), only=args.only)
    print(f"report: {report.path}" + ("" if report.status == "finished" else " (some steps failed)"))
    return 0 if report.status == "finished" else 1


if __name__ == "__main__":
    cli.entry_point(main)
