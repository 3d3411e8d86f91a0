"""`python -m keras_hw2`: list the tasks and their verbs, or run one (`python -m keras_hw2 cnn predict --help`).

`python -m keras_hw2 report` reproduces the whole homework (`keras_hw2.report`).
"""
import importlib
import sys

from keras_hw2 import cli

TASKS = {
    "cnn": "Intel scene classifiers (the main job)",
    "p2g": "phoneme-to-grapheme seq2seq",
    "hopfield": "modern Hopfield networks: calculus check and retrieval demo",
}
COMMANDS = {"report": "reproducing the whole homework (report.md, report.json, figures)",  # commands without verbs
            "demo": "the local browser page of all three tasks (pip install .[demo])",
            "presets": "the trained models shipped in the package (list, --json cards, build)"}


def verbs(task: str) -> dict:
    """``{verb: what it does}`` of one task's command line (importing it imports no TensorFlow)."""
    return importlib.import_module(f"keras_hw2.{task}.__main__").VERBS


def usage() -> str:
    lines = ["usage: python -m keras_hw2 <task> <verb> [options]   (= python -m keras_hw2.<task> <verb> ...)",
             "       python -m keras_hw2 <task> <verb> --help",
             "       python -m keras_hw2 report [--preset quick|full] [options]",
             "", "tasks and their verbs:"]
    for task, text in TASKS.items():
        lines.append(f"  {task:<9} {text}")
        lines += [f"    {verb:<9} {help}" for verb, help in verbs(task).items()]
    lines += ["", *[f"{text}: python -m keras_hw2 {command} --help" for command, text in COMMANDS.items()]]
    lines += ["serving an export: python -m keras_hw2.serving {config,metadata,predict} --help"]
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    task, rest = argv[0], argv[1:]
    if task not in TASKS and task not in COMMANDS:
        print(f"error: unknown command {task!r}; choose one of {', '.join([*TASKS, *COMMANDS])}", file=sys.stderr)
        return 2
    return cli.run_main(importlib.import_module(f"keras_hw2.{task}.__main__").main, rest)


if __name__ == "__main__":
    cli.entry_point(main)
