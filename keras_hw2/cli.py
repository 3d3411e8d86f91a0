"""Pieces shared by every command-line entry point."""
import argparse
import sys

from keras_hw2.errors import InputError


def non_negative_int(text: str) -> int:
    """argparse type for counts and seeds: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options every training command takes: seed and run directory."""
    group = parser.add_argument_group("run")
    group.add_argument("--seed", type=non_negative_int, default=0, help="seed for Python, NumPy and TensorFlow (default 0)")
    group.add_argument("--deterministic", action="store_true",
                       help="also make TensorFlow ops deterministic (slower on GPU)")
    group.add_argument("--runs-dir", default="runs", help="root of all run directories (default runs/)")
    group.add_argument("--run-name", default=None,
                       help="run directory name (default: a timestamp); re-using a name resumes that run")


def run_main(main, argv=None) -> int:
    """Call `main(argv)`; turn an `InputError` into one line on stderr and exit status 2.

    Ctrl-C (`KeyboardInterrupt`) ends with one line, ``interrupted: <where>``, and
    exit status 130; code that knows where a run can be resumed raises
    ``KeyboardInterrupt("at epoch N; re-run the same command to resume")``.
    """
    try:
        return main(argv) or 0
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        print(f"interrupted{': ' + str(e) if str(e) else ''}", file=sys.stderr)
        return 130
