"""Run directories: one folder per run holding its config, history, plots and logs.

Layout (``tensorboard --logdir runs`` shows every run)::

    runs/<task>/<name>/
        config.json      the run's configuration, written before training
        history.json     per-epoch metrics, rewritten after every epoch
        best.keras       the model of the best validation epoch (what evaluate, predict and export read)
        *.png            plots
        train/ validation/   TensorBoard event files
        backup/          BackupAndRestore state while a run is unfinished

Re-running a command with the same ``--run-name`` resumes that run from its last
finished epoch, provided its configuration is the same; a run directory made with
another configuration is refused rather than silently reused.
"""
import json
import os
import time
from dataclasses import asdict, is_dataclass
from pathlib import Path

import keras

from keras_hw2.errors import InputError

CONFIG_FILE = "config.json"
CHECKPOINT_FILE = "best.keras"  # every task: the model of the best validation epoch
HISTORY_FILE = "history.json"
BACKUP_DIR = "backup"


def write_json(path, obj) -> None:
    """Write `obj` as indented JSON, atomically (temporary file, then rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
    os.replace(tmp, path)


def read_json(path):
    """Read a JSON file; a corrupt one is an `InputError` naming the file."""
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None


def _as_dict(config) -> dict:
    return asdict(config) if is_dataclass(config) else dict(config)


class Run:
    """A run directory. Create it with `open_run`.

    Attributes:
        path: the directory, `runs/<task>/<name>`.
        config: the run's configuration as a JSON-ready dict.
        resumed: True when the directory already held this run (same config).
    """

    def __init__(self, path: Path, config: dict, resumed: bool):
        self.path = path
        self.config = config
        self.resumed = resumed

    def file(self, name: str) -> Path:
        """Path of a file inside the run directory."""
        return self.path / name

    @property
    def backup_dir(self) -> Path:
        return self.path / BACKUP_DIR

    @property
    def history(self) -> dict:
        """The history recorded so far: ``{"epoch": [...], metric: [...]}``."""
        path = self.file(HISTORY_FILE)
        return read_json(path) if path.exists() else {}

    def callbacks(self, backup: bool = True) -> list:
        """Keras callbacks that fill this directory during `model.fit`.

        Returns TensorBoard logging into the run directory, a `HistoryWriter`
        for `history.json` and, with `backup`, `BackupAndRestore` so a killed
        run continues from its last finished epoch when re-run.
        """
        callbacks = [
            keras.callbacks.TensorBoard(log_dir=str(self.path)),
            HistoryWriter(self.file(HISTORY_FILE)),
        ]
        if backup:
            callbacks.append(AtomicBackupAndRestore(str(self.backup_dir)))
        return callbacks


def open_run(task: str, config, name=None, root="runs") -> Run:
    """Create (or reopen, for resuming) the directory of one run.

    Args:
        task: the sub-directory under `root`, e.g. ``"cnn"``.
        config: a dataclass or dict; saved as `config.json`.
        name: the run's name; a timestamp when None.
        root: the directory holding all runs.

    Raises:
        InputError: the directory exists and holds a run with another
            configuration, or something that is not a run.
    """
    config = json.loads(json.dumps(_as_dict(config), default=str))
    if name is None:
        name = time.strftime("%Y%m%d-%H%M%S")
        base, n = name, 1
        while (Path(root) / task / name).exists():
            n += 1
            name = f"{base}-{n}"
    path = Path(root) / task / name
    resumed = False
    if path.exists() and any(path.iterdir()):
        stored_path = path / CONFIG_FILE
        if not stored_path.exists():
            raise InputError(f"{path}: exists but holds no {CONFIG_FILE}; choose another --run-name")
        stored = read_json(stored_path)
        if stored != config:
            keys = sorted(k for k in set(stored) | set(config) if stored.get(k) != config.get(k))
            raise InputError(
                f"{path}: holds a run with another configuration (differs in: {', '.join(keys)}); "
                "refusing to resume it; choose another --run-name")
        resumed = True
    path.mkdir(parents=True, exist_ok=True)
    write_json(path / CONFIG_FILE, config)
    return Run(path, config, resumed)


class HistoryWriter(keras.callbacks.Callback):
    """Rewrites `history.json` after every epoch, continuing across resumes.

    Entries are keyed by epoch, so a run resumed at epoch k keeps epochs
    0..k-1 from before the crash and replaces anything recorded after them.
    """

    def __init__(self, path):
        super().__init__()
        self.path = Path(path)

    def on_epoch_end(self, epoch, logs=None):
        history = read_json(self.path) if self.path.exists() else {}
        epochs = history.get("epoch", [])
        keep = sum(1 for e in epochs if e < epoch)
        history = {k: v[:keep] for k, v in history.items()}
        for key, value in {"epoch": epoch, **(logs or {})}.items():
            history.setdefault(key, [None] * keep).append(_to_number(value))
        write_json(self.path, history)


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` whose saves survive a kill at any instant.

    Keras writes `latest.weights.h5` in place, so a SIGKILL during the write
    leaves a truncated file that the next run cannot load. Here the weights and
    the epoch counter are first written to temporary files, then renamed over
    the old ones: a killed run leaves either the previous backup or the new one.
    """

    def _save_model(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        tmp_weights = os.path.join(self.backup_dir, ".tmp.weights.h5")
        self.model.save_weights(tmp_weights, overwrite=True)
        tmp_metadata = Path(self.backup_dir) / ".tmp-metadata.json"
        tmp_metadata.write_text(json.dumps({"epoch": self._current_epoch, "batch": self._last_batch_seen}))
        os.replace(tmp_weights, self._weights_path)
        os.replace(tmp_metadata, self._training_metadata_path)


def _to_number(value):
    try:
        return float(value) if not isinstance(value, int) else value
    except (TypeError, ValueError):
        return str(value)
