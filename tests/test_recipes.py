"""The README's training recipes ("Training better than the homework") are commands a user can paste.

Each recipe command parses with its task's own `train` grammar (no flag that does not exist, a warm-up
shorter than the run), and the shipped presets' recorded commands are among them, with the figures their
cards measured.
"""
import re
import shlex
from pathlib import Path

import pytest

from keras_hw2 import presets
from keras_hw2.presets.registry import PRESETS

README = Path(__file__).resolve().parents[1] / "README.md"
SECTION = "## Training better than the homework"


def _section() -> str:
    return README.read_text(encoding="utf-8").split(SECTION, 1)[1].split("\n## ", 1)[0]


def _commands() -> list:
    """Every ``python -m keras_hw2.<task> train ...`` line of the section's code blocks, as argv lists."""
    blocks = re.findall(r"```\n(.*?)```", _section(), flags=re.DOTALL)
    lines = [line.split("#", 1)[0].strip() for block in blocks for line in block.splitlines()]
    commands = [shlex.split(line) for line in lines if line.startswith("python -m keras_hw2.")]
    return [argv for argv in commands if argv[3] == "train"]


def test_the_section_shows_recipes_for_both_cnn_models_and_the_speller():
    commands = _commands()
    tasks = [(argv[2], argv[argv.index("--model") + 1] if "--model" in argv else None) for argv in commands]
    assert ("keras_hw2.cnn", "batchnorm") in tasks and ("keras_hw2.cnn", "baseline") in tasks
    assert ("keras_hw2.p2g", None) in tasks


@pytest.mark.parametrize("argv", _commands(), ids=lambda argv: " ".join(argv[2:6]))
def test_every_recipe_command_parses_with_its_tasks_train_grammar(argv):
    from keras_hw2.cnn.__main__ import build_parser as cnn_parser
    from keras_hw2.p2g.__main__ import build_parser as p2g_parser

    assert argv[:2] == ["python", "-m"], argv
    args = {"keras_hw2.cnn": cnn_parser, "keras_hw2.p2g": p2g_parser}[argv[2]]().parse_args(argv[3:])
    assert args.data and args.data.startswith("../shared/data/")
    assert args.epochs and (args.warmup_epochs or 0) < args.epochs


@pytest.mark.parametrize("name", ["intel_batchnorm_48", "wikipron_attention"])
def test_the_presets_recipes_are_in_the_section_with_their_cards_figures(name):
    section = _section()
    assert PRESETS[name].command in " ".join(section.split())  # the card's command, as the registry has it
    validation = presets.card(name)["validation"]
    figures = [validation["accuracy"]] if "accuracy" in validation else [validation["cer"], validation["wer"]]
    for figure in figures:
        assert f"{figure:.4f}" in section, (name, figure)
