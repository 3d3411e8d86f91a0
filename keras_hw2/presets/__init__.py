"""Trained models shipped inside the package: ``from_preset(name)``, and ``--run NAME`` on every command.

>>> from keras_hw2 import presets
>>> presets.list_presets()
['intel_batchnorm_48', 'wikipron_attention', 'cmudict_attention']
>>> presets.list_presets("cnn")
['intel_batchnorm_48']

``keras_hw2.cnn.from_preset(name)`` returns the classifier (what ``--run`` loads),
``keras_hw2.p2g.from_preset(name)`` a `keras_hw2.p2g.Speller`. Each preset is ``<name>.keras`` (no optimizer state) and its model card
``<name>.json`` in this package's directory; ``python -m keras_hw2 presets``
lists them, ``python -m keras_hw2.presets build`` retrains them
(`keras_hw2.presets.build`).

On the command line, a ``--run`` value that is a preset's name is that preset,
even where a directory of that name exists: write the directory as a path
(``./intel_batchnorm_48``) to mean it. Importing this module imports no TensorFlow.
"""
import hashlib
import json
from pathlib import Path

from keras_hw2.errors import InputError
from keras_hw2.presets.registry import DEFAULTS, PRESETS

DIRECTORY = Path(__file__).resolve().parent  # where the shipped .keras files and cards lie


def list_presets(task=None) -> list:
    """The presets' names, optionally only those of `task` ("cnn" or "p2g")."""
    return [name for name, preset in PRESETS.items() if task is None or preset.task == task]


def default_preset(task: str) -> str:
    """The preset `predict` uses without ``--run``."""
    return DEFAULTS[task]


def is_preset(run) -> bool:
    """Whether a ``--run`` value names a preset: exactly a preset's name, not written as a path."""
    return isinstance(run, str) and run in PRESETS


def file_path(name: str) -> Path:
    """Where preset `name`'s ``.keras`` file is installed (whether or not it is there)."""
    return DIRECTORY / f"{_known(name)}.keras"


def card_path(name: str) -> Path:
    """Where preset `name`'s model card is installed."""
    return DIRECTORY / f"{_known(name)}.json"


def card(name: str) -> dict:
    """The model card of preset `name` (see `keras_hw2.presets.build.write_preset`).

    Raises:
        InputError: an unknown name (the message lists the known ones), or a missing or unreadable card.
    """
    path = card_path(name)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"preset {name}: its model card {path} is missing from the installation "
                         "(reinstall keras_hw2)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"preset {name}: its model card {path} is unreadable ({type(e).__name__}: {e}); "
                         "reinstall keras_hw2") from None


def checked_file(name: str, task=None, flag: str = "--run") -> Path:
    """Preset `name`'s ``.keras`` file, checked: the task (when given), present, its sha256 the card's.

    Raises:
        InputError: an unknown name, a preset of another task, a missing file,
            or a file whose bytes differ from the card's sha256 (corrupt).
    """
    preset = PRESETS[_known(name)]
    if task is not None and preset.task != task:
        raise InputError(f"preset {name} is a {preset.task} model, not a {task} one; {task} presets: "
                         f"{', '.join(list_presets(task))}. Received: {flag}={name}")
    path = file_path(name)
    expected = card(name)["file"]["sha256"]
    try:
        digest = sha256(path)
    except FileNotFoundError:
        raise InputError(f"preset {name}: {path} is missing from the installation (reinstall keras_hw2)") from None
    if digest != expected:
        raise InputError(f"preset {name}: {path} is corrupt: its sha256 {digest[:12]}... differs from its model "
                         f"card's {expected[:12]}... (reinstall keras_hw2)")
    return path


def resolve_run(run, task=None):
    """A ``--run`` value with a preset's name replaced by its checked file (`checked_file`); else `run` itself."""
    return checked_file(run, task) if is_preset(run) else run


def run_config(run):
    """The training configuration recorded in a preset's card; None when `run` is not a preset."""
    return card(run)["config"] if is_preset(run) else None


def unknown_hint(run) -> str:
    """For an error about a ``--run`` that does not exist: the presets, when it was written as a bare name."""
    if isinstance(run, str) and "/" not in run and not run.endswith(".keras"):
        return f", nor a preset (presets: {', '.join(list_presets())})"
    return ""


def run_help(task: str, default: bool = False) -> str:
    """The ``--help`` text of a ``--run`` option of `task`'s commands."""
    text = (f"a run directory (runs/{task}/<name>), its best.keras, or a preset: {', '.join(list_presets(task))} "
            "(a directory of a preset's name: write ./NAME)")
    return text + (f"; default: the preset {default_preset(task)}" if default else "")


def run_or_default(args, task: str):
    """``args.run``, or else `task`'s default preset, which a line on stdout names (none under ``--quiet``)."""
    if args.run is not None:
        return args.run
    from keras_hw2 import cli

    name = default_preset(task)
    cli.say(args, f"no --run given: using the preset {name} ({card(name)['summary']})")
    return name


def demo_note() -> str:
    """The closing lines of a CNN trained on the synthetic demo images: use the preset for real photos."""
    name = default_preset("cnn")
    try:
        figures = f" ({headline(card(name))})"
    except InputError:  # a broken installation: the run itself is fine, say it without the figures
        figures = ""
    return (f"note: this model learned the SYNTHETIC demo images, not photos; for a real photo use the trained "
            f"preset {name}{figures}:\n"
            f"  python -m keras_hw2.cnn predict photo.jpg      (all presets: python -m keras_hw2 presets)")


def output_dir(run, run_dir) -> Path:
    """Where a command writes files about a model: `run_dir`, or ``runs/presets/<name>/`` for a preset."""
    if not is_preset(run):
        return Path(run_dir)
    path = Path("runs") / "presets" / run
    path.mkdir(parents=True, exist_ok=True)
    return path


def headline(card: dict) -> str:
    """A card's headline validation figures, as one phrase.

    Example:
    >>> headline({"task": "p2g", "validation": {"cer": 0.12345, "wer": 0.5, "beam5_wer": 0.45}})
    'validation CER 0.1235, WER 0.5000, beam-5 WER 0.4500'
    """
    figures = card["validation"]
    if card["task"] == "cnn":
        return f"validation accuracy {figures['accuracy']:.4f}"
    return f"validation CER {figures['cer']:.4f}, WER {figures['wer']:.4f}, beam-5 WER {figures['beam5_wer']:.4f}"


def sha256(path) -> str:
    """The hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _known(name: str) -> str:
    if not is_preset(name):
        raise InputError(f"unknown preset {name!r}; presets: {', '.join(list_presets())}. Received: {name}")
    return name
