"""`python -m keras_hw2`: list the sub-commands, or run one (`python -m keras_hw2 cnn --help`)."""
import importlib
import sys

from keras_hw2.cli import run_main

SUBCOMMANDS = {
    "cnn": "Intel scene classifiers: train, params, export (the main job)",
    "p2g": "phoneme-to-grapheme seq2seq: train, test, predict, export",
    "hopfield": "modern Hopfield networks: calculus check and retrieval demo",
}


def usage() -> str:
    lines = ["usage: python -m keras_hw2.<command> [--help] ...", "", "commands:"]
    lines += [f"  {name:<9} {text}" for name, text in SUBCOMMANDS.items()]
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    command, rest = argv[0], argv[1:]
    if command not in SUBCOMMANDS:
        print(f"error: unknown command {command!r}; choose one of {', '.join(SUBCOMMANDS)}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"keras_hw2.{command}.__main__")
    return run_main(module.main, rest)


if __name__ == "__main__":
    sys.exit(main())
