"""SavedModel export in TF Serving's layout: ``saved_models/<model_name>/<version>/``.

A version is written into a temporary sibling directory and renamed into place
only once complete, so a crash or a failing export never leaves a half-written
version behind, and an existing version is never touched.
"""
import os
import re
import shutil
import uuid
from pathlib import Path

from keras_hw2.errors import InputError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def existing_versions(model_dir) -> list:
    """The integer versions present in `model_dir`, ascending."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())


def export_saved_model(write, model_name: str, root="saved_models", version=None) -> Path:
    """Export a SavedModel as `root/model_name/version`, atomically.

    Args:
        write: a callable taking a directory path and writing a SavedModel
            there, e.g. ``lambda path: tf.saved_model.save(module, path, signatures=...)``
            or a Keras `model.export`.
        model_name: the served model's name (letters, digits, `_`, `-`, `.`).
        root: the model base directory that TF Serving is pointed at.
        version: a positive integer; the next free version when None.

    Returns:
        The directory of the new version.

    Raises:
        InputError: a bad name or version, or a version that already exists.
    """
    if not _NAME.match(model_name or ""):
        raise InputError(f"model name must be letters, digits, '_', '-' or '.'. Received: {model_name!r}")
    model_dir = Path(root) / model_name
    if version is None:
        version = (existing_versions(model_dir) or [0])[-1] + 1
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise InputError(f"version must be a positive integer. Received: version={version!r}")
    target = model_dir / str(version)
    if target.exists():
        raise InputError(f"{target} already exists; exported versions are never overwritten "
                         "(omit --version to take the next free one)")
    model_dir.mkdir(parents=True, exist_ok=True)
    tmp = model_dir / f".tmp-{version}-{uuid.uuid4().hex[:8]}"
    try:
        write(str(tmp))
        if not (tmp / "saved_model.pb").exists():
            raise RuntimeError(f"the export function wrote no saved_model.pb into {tmp}")
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
