"""Run directories: one folder per run holding its config, history, checkpoints, plots and logs.

Layout (``tensorboard --logdir runs`` shows every run, and its HParams)::

    runs/<task>/<name>/
        config.json      the run's configuration, written before training
        history.json     per-epoch metrics, rewritten after every epoch
        best.keras       the whole model of the best validation epoch (what evaluate, predict and export read)
        results.json     final figures and "status": "finished" or "failed"
        *.png            plots, redrawn after every epoch
        train/ validation/   TensorBoard event files (the run's HParams in the directory itself)
        resume/          the state of the last finished epoch (`keras_hw2.training`), kept once the run has
                         finished so that it can be continued (its weights and optimizer state: a few times the
                         size of best.keras; delete it to save the space: the run can then no longer be continued)
        .lock            held while a process uses the run (`keras_hw2.locks.DirectoryLock`)

A run name is one path component matching `RUN_NAME_PATTERN`. Re-running a
command with the same ``--run-name`` resumes that run from its last finished
epoch, provided its configuration is the same; a run directory made with
another configuration is refused rather than silently reused (the message names
the keys that differ), and a run that another process is using is refused with
that process's pid. The one difference accepted is a larger ``epochs``: the run
is continued from its last finished epoch to the new count (`Run.continued`),
as if it had been started with that count; fewer epochs than the run already
has are refused.

Fields made with `opt_in` are left out of config.json while they hold their
default, so adding such an option changes neither the config.json of a run that
does not use it nor whether an older run resumes.

With ``--strategy multiworker`` only the chief writes the run directory; every
other worker gets a temporary directory, removed when the run is closed (the
TensorFlow multi-worker guide's rule: all workers save, only the chief's files
are kept).
"""
import json
import math
import os
import re
import shutil
import tempfile
import time
from dataclasses import asdict, field, fields, is_dataclass
from pathlib import Path

import keras

from keras_hw2 import distribute
from keras_hw2.errors import InputError, room_to_write
from keras_hw2.locks import LOCK_FILE, DirectoryLock

CONFIG_FILE = "config.json"
CHECKPOINT_FILE = "best.keras"  # every task: the whole model of the best validation epoch
HISTORY_FILE = "history.json"
RESULTS_FILE = "results.json"
RESUME_DIR = "resume"  # the last finished epoch's state, inside the run directory (`keras_hw2.training`)
RUN_NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]*"  # one path component, like export names


def _finite_or_none(obj):
    """`obj` with every non-finite float replaced by None (strict JSON has no NaN or Infinity)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {key: _finite_or_none(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_none(value) for value in obj]
    return obj


def write_bytes(path, data: bytes) -> None:
    """Write `data` to `path` atomically: a temporary ``.<name>.tmp`` beside it, fsync, then rename.

    A crash leaves the old file or the new one; a failed write leaves the old file and no temporary, and
    one for lack of room (a full disk, a file-size limit) is a `ResourceError` naming `path`.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with room_to_write(path):
            with open(tmp, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())  # on disk before the rename makes it the file: a power cut leaves old or new
            tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path, text: str) -> None:
    """Write `text` as UTF-8 to `path` atomically (`write_bytes`)."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path, obj) -> None:
    """Write `obj` as indented strict JSON, atomically (`write_text`: temporary file, fsync, then rename).

    NaN and infinities are written as ``null``.

    Example:
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as d:
    ...     write_json(f"{d}/x.json", {"loss": [1.5, float("nan")]})
    ...     pathlib.Path(f"{d}/x.json").read_text().split()
    ['{', '"loss":', '[', '1.5,', 'null', ']', '}']
    """
    write_text(path, json.dumps(_finite_or_none(obj), indent=2, sort_keys=True, default=str, allow_nan=False) + "\n")


def read_json(path):
    """Read a JSON file; a corrupt one (not UTF-8, not JSON) is an `InputError` naming the file."""
    try:
        return json.loads(Path(path).read_bytes().decode("utf-8"))
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not valid JSON (not UTF-8 at byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None


def check_run_name(name) -> None:
    """Refuse a run name that is not one path component matching `RUN_NAME_PATTERN` (None is fine).

    Raises:
        InputError: e.g. for ``""``, ``".."``, ``"a/b"`` or an absolute path.

    Example:
    >>> check_run_name("lr-0.01_seed1")
    >>> check_run_name("../escaped")
    Traceback (most recent call last):
    ...
    keras_hw2.errors.InputError: --run-name must be one name matching [A-Za-z0-9][A-Za-z0-9_.-]* (letters, digits, '_', '.', '-'; no path). Received: --run-name='../escaped'
    """
    if name is not None and not (isinstance(name, str) and re.fullmatch(RUN_NAME_PATTERN, name)):
        raise InputError(f"--run-name must be one name matching {RUN_NAME_PATTERN} (letters, digits, '_', '.', "
                         f"'-'; no path). Received: --run-name={name!r}")


def opt_in(default):
    """A config dataclass field left out of `config_dict` (so of config.json) while it holds `default`.

    Example:
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Config:
    ...     epochs: int = 40
    ...     augment: bool = opt_in(False)
    >>> config_dict(Config()), config_dict(Config(augment=True))
    ({'epochs': 40}, {'epochs': 40, 'augment': True})
    """
    return field(default=default, metadata={"opt_in": True})


def config_dict(config) -> dict:
    """`config` (a dataclass or a dict) as the JSON-ready dict a run's config.json holds (without the
    `opt_in` fields at their defaults)."""
    if is_dataclass(config):
        omitted = {f.name for f in fields(config) if f.metadata.get("opt_in") and getattr(config, f.name) == f.default}
        config = {k: v for k, v in asdict(config).items() if k not in omitted}
    return json.loads(json.dumps(dict(config), default=str))


class Run:
    """A run directory. Create it with `open_run`; close it (or use ``with``) to release it.

    Attributes:
        path: the directory, `runs/<task>/<name>` (a temporary one on a non-chief worker).
        name: the run's name.
        config: the run's configuration as a JSON-ready dict.
        resumed: True when the directory already held this run (same config, or more epochs), unfinished or
            continued: training continues from its last finished epoch.
        finished: True when the directory already held this run, finished: nothing is trained again.
        continued: the number of epochs of a finished run that ``epochs`` now asks to continue (else None).
        is_chief: False on a non-chief multi-worker process, whose directory is temporary.
    """

    def __init__(self, path: Path, name: str, config: dict, resumed: bool, lock=None, is_chief: bool = True):
        self.path = path
        self.name = name
        self.config = config
        results = (self.results or {}) if resumed else {}
        done = results.get("status") == "finished"
        more = done and "stop_reason" not in results and config.get("epochs", 0) > results.get("epochs", 0)
        self.finished = done and not more
        self.continued = results["epochs"] if more else None
        self.resumed = resumed and not self.finished
        self.is_chief = is_chief
        self._lock = lock

    def file(self, name: str) -> Path:
        """Path of a file inside the run directory."""
        return self.path / name

    @property
    def history(self) -> dict:
        """The history recorded so far: ``{"epoch": [...], metric: [...]}``."""
        path = self.file(HISTORY_FILE)
        return read_json(path) if path.exists() else {}

    @property
    def results(self):
        """The contents of results.json, or None before the run has ended."""
        path = self.file(RESULTS_FILE)
        return read_json(path) if path.exists() else None

    def describe(self) -> str:
        """The line a command prints about its run: ``run: <path>``, then ``(resumed)`` or ``(finished: ...)``."""
        if self.finished:
            return f"run: {self.path} (finished: nothing to train; its results follow)"
        if self.continued:
            return f"run: {self.path} (continued: from its {self.continued} finished epochs to {self.config['epochs']})"
        return f"run: {self.path}{' (resumed)' if self.resumed else ''}"

    def close(self) -> None:
        """Release the run: unlock it, or remove a non-chief worker's temporary directory."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        if not self.is_chief:
            shutil.rmtree(self.path, ignore_errors=True)

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def open_run(task: str, config, name=None, root="runs") -> Run:
    """Create (or reopen, for resuming) the directory of one run, and lock it.

    Args:
        task: the sub-directory under `root`, e.g. ``"cnn"``.
        config: a dataclass or dict; saved as `config.json`. With
            ``config["strategy"] == "multiworker"`` only the chief opens the real
            directory; another worker gets a temporary one.
        name: the run's name (`RUN_NAME_PATTERN`); a timestamp when None.
        root: the directory holding all runs.

    Returns:
        The open `Run`, locked until `Run.close` (or the end of the process).

    Raises:
        InputError: a bad name; the directory holds a run with another
            configuration, or something that is not a run; another process
            uses the run (the message names its pid). Nothing is written then.
    """
    check_run_name(name)
    config = config_dict(config)
    if not distribute.is_chief(config.get("strategy")):
        path = Path(tempfile.mkdtemp(prefix=f"keras_hw2-{task}-worker-"))
        write_json(path / CONFIG_FILE, config)
        return Run(path, name or path.name, config, resumed=False, is_chief=False)
    if name is None:
        name = time.strftime("%Y%m%d-%H%M%S")
        base, n = name, 1
        while (Path(root) / task / name).exists():
            n += 1
            name = f"{base}-{n}"
    path = Path(root) / task / name
    _check_stored_config(path, config)  # before locking: a refused run is left as it was
    lock = DirectoryLock(path, what="run").acquire()
    try:
        resumed = _check_stored_config(path, config)  # again, now that no other process can write it
        write_json(path / CONFIG_FILE, config)
    except BaseException:
        lock.release()
        raise
    return Run(path, name, config, resumed, lock=lock)


def _check_stored_config(path: Path, config: dict) -> bool:
    """True when `path` holds a run with `config`, False when it holds nothing (but its lock, or the temporary of
    a config.json whose write was killed); else `InputError`."""
    if not path.exists() or not [p for p in path.iterdir() if p.name not in (LOCK_FILE, f".{CONFIG_FILE}.tmp")]:
        return False
    stored_path = path / CONFIG_FILE
    if not stored_path.exists():
        raise InputError(f"{path}: exists but holds no {CONFIG_FILE}; choose another --run-name")
    stored = read_json(stored_path)
    keys = sorted(k for k in set(stored) | set(config) if stored.get(k) != config.get(k))
    if keys == ["epochs"]:
        _check_continuation(path, stored, config)
    elif keys:
        raise InputError(f"{path}: holds a run with another configuration (differs in: {', '.join(keys)}); "
                         "refusing to resume it; choose another --run-name")
    for name in (HISTORY_FILE, RESULTS_FILE):  # every run file a command reads parses, or is named here
        if (path / name).exists() and not isinstance(read_json(path / name), dict):
            raise InputError(f"{path / name}: not a JSON object; a corrupt run file: remove the run directory "
                             "or choose another --run-name")
    return True


def _check_continuation(path: Path, stored: dict, config: dict) -> None:
    """Refuse to train the run in `path` to another ``epochs`` when it cannot be: fewer epochs than it has,
    a learning-rate schedule spanning the old count, or a finished run whose last state is gone."""
    epochs = config["epochs"]
    results = read_json(path / RESULTS_FILE) if (path / RESULTS_FILE).exists() else {}
    finished = results.get("status") == "finished"
    history = read_json(path / HISTORY_FILE) if (path / HISTORY_FILE).exists() else {}
    done = results["epochs"] if finished else len(history.get("epoch", []))
    if not isinstance(epochs, int) or epochs < done:
        raise InputError(f"{path}: the run already has {done} epochs; --epochs must be at least that to continue "
                         f"it. Received: --epochs={epochs}")
    if stored.get("lr_schedule", "constant") != "constant":
        raise InputError(f"{path}: its --lr-schedule {stored['lr_schedule']} spans its {stored['epochs']} epochs, so "
                         f"it cannot be continued to another count; choose another --run-name. "
                         f"Received: --epochs={epochs}")
    if finished and "stop_reason" not in results and not (path / RESUME_DIR).is_dir():
        raise InputError(f"{path}: holds no {RESUME_DIR}/ state of its last epoch (deleted, or the run finished "
                         f"before runs kept it), so it cannot be continued; choose another --run-name. "
                         f"Received: --epochs={epochs}")


class HistoryWriter(keras.callbacks.Callback):
    """Rewrites `history.json` after every epoch, continuing across resumes.

    Entries are keyed by epoch, so a run resumed at epoch k keeps epochs
    0..k-1 from before the crash and replaces anything recorded after them.
    Non-finite values are recorded as null.
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


def _to_number(value):
    try:
        return float(value) if not isinstance(value, int) else value
    except (TypeError, ValueError):
        return str(value)
