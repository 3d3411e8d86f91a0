"""Trained models on disk: resolving ``--run`` and loading ``.keras`` files with one-line errors.

``--run`` is a run directory (its ``best.keras``, `keras_hw2.runs.CHECKPOINT_FILE`),
a ``.keras`` file, or a preset's name (`keras_hw2.presets`; a directory of that
name is meant only when written as a path, ``./name``). `load_model` checks, in
this order, and stops at the first problem with its own one-line `InputError`:

1. missing: no such path, or a run directory without a trained model;
2. truncated or corrupt: not a complete ``.keras`` zip archive (never Keras's
   "File not found" for a file that exists);
3. foreign: the model of the other task (a p2g ``Seq2Seq`` given to a CNN
   command, or the reverse), read from the archive's ``config.json`` before
   anything is deserialised, or a model of the wrong shape;
4. unsafe: Keras safe mode refused it (a ``Lambda`` layer holding Python code);
5. any other loading failure, with the exception's first line.
"""
import json
import zipfile
from pathlib import Path

from keras_hw2 import presets
from keras_hw2.errors import InputError
from keras_hw2.runs import CHECKPOINT_FILE, CONFIG_FILE, read_json

TASKS = ("cnn", "p2g")
P2G_CLASS = "Seq2Seq"  # `keras_hw2.p2g.models.Seq2Seq`, the class of every p2g checkpoint
_ARCHIVE_FILES = ("config.json", "model.weights.h5")  # what every Keras 3 `.keras` archive holds


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


def load_model(run, task: str):
    """Load the trained model of `task` ("cnn" or "p2g") that `run` names, with one-line errors.

    Args:
        run: a run directory or a ``.keras`` file.
        task: the task whose model is expected.

    Returns:
        The `keras.Model` (not compiled): a CNN mapping uint8 ``(batch_size, 48, 48, 3)``
        to log-probabilities ``(batch_size, 6)``, or a p2g `Seq2Seq`.

    Raises:
        InputError: a missing, truncated, corrupt, foreign or unsafe file (see the module docstring).
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}. Received: task={task!r}")
    path = checkpoint_path(presets.resolve_run(run, task))  # a preset of the other task is refused by name
    class_name = archive_config(path).get("class_name")
    if (class_name == P2G_CLASS) != (task == "p2g"):
        holds, wanted = (("a p2g Seq2Seq checkpoint", "a CNN") if task == "cnn"
                         else (f"a Keras {class_name} model", "a p2g Seq2Seq checkpoint"))
        raise InputError(f"{path}: holds {holds}, not {wanted}; pass a runs/{task}/<name> run or its {CHECKPOINT_FILE}")
    import keras
    if task == "p2g":
        import keras_hw2.p2g.models  # noqa: F401  registers Seq2Seq and its layers for deserialisation
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as e:  # Keras raises many types for files it cannot rebuild
        reason = (str(e).splitlines() or [""])[0]
        if "safe_mode" in str(e):
            raise InputError(f"{path}: Keras safe mode refused to load it: it holds Python code (a Lambda "
                             "layer) that would run on loading; load it only if you trust its source") from None
        raise InputError(f"{path}: cannot be loaded, the file may be corrupt ({type(e).__name__}: {reason})") from None
    _check_shape(model, path, task)
    return model


def _check_shape(model, path, task: str) -> None:
    """Refuse a model of the right class but the wrong inputs or outputs for `task`."""
    if task == "p2g":
        return
    from keras_hw2.cnn.data import CLASS_NAMES
    from keras_hw2.cnn.images import IMAGE_SHAPE
    if len(model.inputs) != 1 or tuple(model.input_shape[1:]) != IMAGE_SHAPE \
            or tuple(model.output_shape[1:]) != (len(CLASS_NAMES),):
        raise InputError(f"{path}: holds a model mapping {model.input_shape} to {model.output_shape}, not a "
                         f"CNN scene classifier (48x48x3 images to {len(CLASS_NAMES)} classes)")
