"""SavedModel export in TF Serving's layout: ``saved_models/<model_name>/<version>/``.

Both tasks export through `export_endpoints`, one `keras.export.ExportArchive`
with a fixed input signature per endpoint (the CNN's image signatures, the
P2G speller's greedy/nucleus/beam signatures, whose `tf.while_loop` decoders,
string inputs and lookup tables the archive carries like any other function).

`export_saved_model` makes every export safe to run beside others:

1. It holds a `DirectoryLock` (the file ``<root>/.<model_name>.lock``) while it
   works: a second export of the same model refuses, naming the holder's pid.
   The lock lives beside the model directory, not in it, so a refused or
   failed first export of a model leaves no model directory behind.
2. Under that lock it removes the ``.tmp-*`` directories that a killed
   export left behind (no other export of the model can be writing them).
3. It writes the version into a temporary sibling and renames it into place
   only once complete, so a crash, a failing export, Ctrl-C or SIGTERM never
   leaves a half-written version, and an existing version is never touched. A
   write without room (a full disk, a file-size limit) is a `ResourceError`
   naming the version (exit status 4).
"""
import os
import re
import shutil
import signal
import threading
import uuid
from contextlib import contextmanager
from pathlib import Path

from keras_hw2.checks import Integer, OrNone
from keras_hw2.errors import InputError, room_to_write
from keras_hw2.locks import DirectoryLock

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
TEMPORARY_PREFIX = ".tmp-"


def check_model_name(model_name: str) -> str:
    """`model_name` if it can name a served model (a directory and a URL path component).

    Raises:
        InputError: anything but letters, digits, ``_``, ``-`` and ``.``, not starting with ``_-.``.
    """
    if not isinstance(model_name, str) or not _NAME.match(model_name):
        raise InputError("--name must be a model name of letters, digits, '_', '-' or '.'. "
                         f"Received: --name={model_name}")
    return model_name


def check_models_dir(root) -> None:
    """Refuse a `root` (``--models-dir``) that is, or lies under, something other than a directory.

    Raises:
        InputError: naming the file in the way.
    """
    for path in (Path(root), *Path(root).parents):
        if path.exists() or path.is_symlink():
            if not path.is_dir():
                raise InputError(f"--models-dir must be a directory (or a path to create one); {path} is a file. "
                                 f"Received: --models-dir={root}")
            return


def existing_versions(model_dir) -> list:
    """The integer versions present in `model_dir`, ascending."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())


def export_saved_model(write, model_name: str, root="saved_models", version=None,
                       expect: str = "saved_model.pb") -> Path:
    """Export a SavedModel as `root/model_name/version`, atomically and under a lock.

    Args:
        write: a callable taking a directory path and writing a SavedModel
            there, e.g. ``lambda path: tf.saved_model.save(module, path, signatures=...)``.
        model_name: the served model's name (letters, digits, `_`, `-`, `.`).
        root: the model base directory that TF Serving is pointed at.
        version: a positive integer; the next free version when None.
        expect: the file `write` must have written for the version to count as
            complete (another format's file: `keras_hw2.deploy.formats`).

    Returns:
        The directory of the new version.

    Raises:
        InputError: a bad name or version, a `root` that is a file, a version that
            already exists, or another process exporting the same model (its pid is named).
        KeyboardInterrupt: Ctrl-C or SIGTERM during the write; the temporary
            directory is removed first.
    """
    check_model_name(model_name)
    OrNone(Integer(minimum=1)).check("version", version)
    check_models_dir(root)
    model_dir = Path(root) / model_name
    with DirectoryLock(root, what=f"export of {model_name}", lock_file=f".{model_name}.lock"):
        remove_temporaries(model_dir)
        if version is None:
            version = (existing_versions(model_dir) or [0])[-1] + 1
        target = model_dir / str(version)
        if target.exists():
            raise InputError(f"{target} already exists; exported versions are never overwritten "
                             "(omit --version to take the next free one)")
        tmp = model_dir / f"{TEMPORARY_PREFIX}{version}-{uuid.uuid4().hex[:8]}"
        new_model_dir = not model_dir.exists()
        model_dir.mkdir(parents=True, exist_ok=True)
        try:
            with _signals_interrupt(f"export to {target} stopped; nothing was written"), \
                    room_to_write(target, also=(Exception,), hint="no version was written: make room and re-run "
                                  "the same command"):  # TensorFlow's and LiteRT's writers raise their own types
                write(str(tmp))
            if not (tmp / expect).exists():
                raise RuntimeError(f"the export function wrote no {expect} into {tmp}")
            os.rename(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            if new_model_dir:
                shutil.rmtree(model_dir, ignore_errors=True)  # only this export's temporary was in it
            raise
    return target


def export_endpoints(endpoints: dict, model_name: str, root="saved_models", version=None, track=()) -> Path:
    """Export `tf.function` endpoints through one `keras.export.ExportArchive` (see `export_saved_model`).

    Args:
        endpoints: ``{signature name: tf.function}``, each function with a
            fixed ``input_signature`` whose `tf.TensorSpec` names become the
            signature's input names; include ``"serving_default"``.
        model_name, root, version: as in `export_saved_model`.
        track: Keras models/layers whose variables, and TensorFlow resources
            (lookup tables) the endpoints use.

    Returns:
        The directory of the new version.
    """
    import keras

    def write(path):
        archive = keras.export.ExportArchive()
        for resource in track:
            archive.track(resource)
        for name, function in endpoints.items():  # traced once, here (not the caller's traces, saved again)
            archive.add_endpoint(name, function.python_function, input_signature=function.input_signature)
        archive.write_out(path, verbose=False)

    return export_saved_model(write, model_name, root=root, version=version)


def remove_temporaries(model_dir) -> list:
    """Remove the ``.tmp-*`` directories in `model_dir` (call it holding the model's lock); returns them."""
    model_dir = Path(model_dir)
    stale = sorted(p for p in model_dir.glob(f"{TEMPORARY_PREFIX}*") if p.is_dir()) if model_dir.is_dir() else []
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return stale


@contextmanager
def _signals_interrupt(message: str):
    """Within the block, SIGINT and SIGTERM raise ``KeyboardInterrupt(message)`` (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"{message} ({signal.Signals(signum).name})")

    previous = {s: signal.signal(s, interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
