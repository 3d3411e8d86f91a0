"""Trained models on disk: resolving ``--run`` and loading ``.keras`` files with one-line errors.

``--run`` is a run directory (its ``best.keras``, `keras_hw2.runs.CHECKPOINT_FILE`),
a ``.keras`` file, or a preset's name (`keras_hw2.presets`; a directory of that
name is meant only when written as a path, ``./name``). The module knows no
task: each task passes its own `ModelCheck` to `load_model`, which checks, in
this order, and stops at the first problem with its own one-line `InputError`:

1. missing: no such path, or a run directory without a trained model;
2. truncated or corrupt: not a complete ``.keras`` zip archive (never Keras's
   "File not found" for a file that exists);
3. foreign: a model of another class than the task's `ModelCheck` names (a
   p2g ``Seq2Seq`` given to a CNN command, or the reverse), read from the
   archive's ``config.json`` before anything is deserialised, or (the task's
   ``check_model``) a model of the wrong shape;
4. unsafe: Keras safe mode refused it (a ``Lambda`` layer holding Python code);
5. any other loading failure, with the exception's first line.
"""
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from keras_hw2 import presets
from keras_hw2.errors import InputError
from keras_hw2.runs import CHECKPOINT_FILE, CONFIG_FILE, HISTORY_FILE, RESULTS_FILE, read_json

_ARCHIVE_FILES = ("config.json", "model.weights.h5")  # what every Keras 3 `.keras` archive holds


@dataclass(frozen=True)
class ModelCheck:
    """What one task's checkpoints hold; the task defines it and passes it to `load_model`.

    Attributes:
        task: the task's name, as in ``runs/<task>/<name>`` (named in the hint of an error).
        expected: what the task's checkpoints hold, for messages, e.g. ``"a CNN"``.
        class_names: the Keras class names (``config.json``'s ``class_name``) of its models,
            checked before anything is deserialised; importing the task's modules registers them.
        check_model: called with ``(path, model)`` once loaded; raises `InputError` for a model
            of the right class but the wrong shape.
    """
    task: str
    expected: str
    class_names: tuple
    check_model: Optional[Callable] = None


def checkpoint_path(run) -> Path:
    """The ``.keras`` file `run` names: a run directory's `CHECKPOINT_FILE`, or the file itself.

    Raises:
        InputError: nothing at `run`, or a directory without a trained model.
    """
    path = Path(presets.resolve_run(run))  # a preset's name: its shipped file
    if path.is_dir():
        if not (path / CHECKPOINT_FILE).is_file():
            raise InputError(f"{path / CHECKPOINT_FILE}: no trained model here (is the run unfinished?); "
                             f"pass a finished run directory, runs/<task>/<name>, or a .keras file")
        return path / CHECKPOINT_FILE
    if not path.exists():
        raise InputError(f"{path}: no such run directory or .keras file{presets.unknown_hint(run)}")
    return path


def run_config(run):
    """The training configuration (``config.json``) next to `run`'s checkpoint; None when there is none."""
    if presets.is_preset(run):
        return presets.run_config(run)
    path = checkpoint_path(run).parent / CONFIG_FILE
    return read_json(path) if path.is_file() else None


def unfinished(run):
    """A one-line note when `run`'s checkpoint comes from a run that has not finished, else None.

    The run directory's ``results.json`` says whether it finished; ``history.json``
    and ``config.json`` at which epoch of how many it stopped. A ``.keras`` file
    outside a run directory gives None.
    """
    directory = checkpoint_path(run).parent
    if not (directory / CONFIG_FILE).is_file():
        return None
    results = read_json(directory / RESULTS_FILE) if (directory / RESULTS_FILE).is_file() else {}
    if results.get("status") == "finished":
        return None
    epochs = len(read_json(directory / HISTORY_FILE).get("epoch", [])) if (directory / HISTORY_FILE).is_file() else 0
    planned = read_json(directory / CONFIG_FILE).get("epochs")
    state = "failed" if results.get("status") == "failed" else "unfinished"
    stopped = f"it stopped at epoch {epochs}" + (f" of {planned}" if planned else "") if epochs else \
        "its history records no finished epoch"
    return f"{directory} is {state}: {stopped}; its {CHECKPOINT_FILE} is the best of the epochs it finished"


def archive_config(path) -> dict:
    """The ``config.json`` inside a ``.keras`` archive: ``{"class_name", "module", "config", ...}``.

    Raises:
        InputError: `path` is not a complete ``.keras`` archive (truncated, corrupt or another format).
    """
    try:
        with zipfile.ZipFile(path) as archive:
            missing = [name for name in _ARCHIVE_FILES if name not in archive.namelist()]
            if missing:
                raise InputError(f"{path}: a zip archive but not a Keras model file (no {', '.join(missing)})")
            return json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, EOFError, OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: truncated or corrupt, not a readable .keras model file "
                         f"({type(e).__name__}: {e})") from None


def load_model(run, check: ModelCheck):
    """Load the trained model that `run` names, with one-line errors.

    Args:
        run: a run directory or a ``.keras`` file.
        check: the task's `ModelCheck` (e.g. `keras_hw2.cnn.predict.CHECK`).

    Returns:
        The `keras.Model`, not compiled.

    Raises:
        InputError: a missing, truncated, corrupt, foreign or unsafe file (see the module docstring).
    """
    path = checkpoint_path(presets.resolve_run(run, check.task))  # a preset of the other task is refused by name
    class_name = archive_config(path).get("class_name")
    if class_name not in check.class_names:
        raise InputError(f"{path}: holds a Keras {class_name} model, not {check.expected}; pass a "
                         f"runs/{check.task}/<name> run or its {CHECKPOINT_FILE}")
    import keras
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as e:  # Keras raises many types for files it cannot rebuild
        reason = (str(e).splitlines() or [""])[0]
        if "safe_mode" in str(e):
            raise InputError(f"{path}: Keras safe mode refused to load it: it holds Python code (a Lambda "
                             "layer) that would run on loading; load it only if you trust its source") from None
        raise InputError(f"{path}: cannot be loaded, the file may be corrupt ({type(e).__name__}: {reason})") from None
    if check.check_model is not None:
        check.check_model(path, model)
    return model
