"""The models the demo page shows: a preset name or a run directory, resolved in one place (`resolve`)."""
from dataclasses import dataclass
from pathlib import Path

from keras_hw2 import presets
from keras_hw2.errors import InputError

TASKS = ("cnn", "p2g")


@dataclass
class LoadedModel:
    """A model ready for a tab, and what the page says about it.

    Attributes:
        model: the CNN classifier (``task == "cnn"``) or a `keras_hw2.p2g.Speller`.
        source: where it came from, as the page shows it ("preset NAME" or "run PATH").
        figures: its validation figures as one phrase ("" when the run recorded none).
    """
    model: object
    source: str
    figures: str


def load_models(cnn=None, p2g=None) -> tuple:
    """``(LoadedModel of the CNN, LoadedModel of the speller)`` that `cnn` and `p2g` name (`load_model`).

    Both are found before either is loaded: a wrong ``--p2g`` fails at once, before TensorFlow starts.
    """
    found = [resolve("cnn", cnn), resolve("p2g", p2g)]
    return tuple(_load(task, *where) for task, where in zip(TASKS, found))


def load_model(task: str, source=None) -> LoadedModel:
    """Load the model of `task` ("cnn" or "p2g") that `source` names (`resolve`)."""
    return _load(task, *resolve(task, source))


def resolve(task: str, source=None) -> tuple:
    """Where the model of `task` ("cnn" or "p2g") that `source` names lies: a preset, a run directory or a ``.keras``.

    Without `source`, the task's default preset. Imports no TensorFlow.

    Returns:
        ``(path to load, what the page calls it, its validation figures)``: a preset's
        figures come from its model card; a run's are None until it is loaded (`_load`).

    Raises:
        InputError: no such run, preset or checkpoint, or a preset of the other task
            (the message names ``--cnn`` / ``--p2g`` and the value received).
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}. Received: task={task!r}")
    flag = f"--{task}"
    if source is None:
        source = presets.default_preset(task)
    if presets.is_preset(source):
        path = presets.checked_file(source, task, flag=flag)
        return path, f"preset {source}", presets.headline(presets.card(source))
    path = Path(source)
    if not path.exists():
        raise InputError(f"{flag}: no such run directory or checkpoint, nor a preset (presets: "
                         f"{', '.join(presets.list_presets())}). "
                         f"Received: {flag}={source}")
    return path, f"run {path}", None


def _load(task: str, path, source: str, figures) -> LoadedModel:
    """The model at `path` through the task's public loader (a `Speller` for p2g); TensorFlow starts here.

    `figures` None: a run's, read from its ``results.json`` (CNN: best validation
    accuracy; p2g: validation CER and WER), "" when it has none.
    """
    from keras_hw2 import cli

    cli.start_tensorflow()
    from keras_hw2.runs import RESULTS_FILE, read_json

    if figures is None:
        results_file = (path if path.is_dir() else path.parent) / RESULTS_FILE
        figures = _run_figures(task, read_json(results_file) if results_file.is_file() else {})
    if task == "cnn":
        from keras_hw2.cnn import load_classifier
        return LoadedModel(load_classifier(path), source, figures)
    from keras_hw2.p2g import Speller, load_checkpoint
    return LoadedModel(Speller(load_checkpoint(path)), source, figures)


def _run_figures(task: str, results: dict) -> str:
    """A run's validation figures from its ``results.json``, as one phrase.

    Example:
    >>> _run_figures("cnn", {"best_val_accuracy": 0.69722}), _run_figures("p2g", {"val_cer": 0.25, "val_wer": 0.5})
    ('validation accuracy 0.6972', 'validation CER 0.2500, WER 0.5000')
    """
    if task == "cnn" and "best_val_accuracy" in results:
        return f"validation accuracy {results['best_val_accuracy']:.4f}"
    if task == "p2g" and "val_cer" in results:
        return f"validation CER {results['val_cer']:.4f}, WER {results['val_wer']:.4f}"
    return ""
