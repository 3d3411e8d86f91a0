"""Exclusive directory locks: one process at a time per run, tuner or export directory.

A lock is an ``fcntl.flock`` on a file inside the directory, held for as long as
the process uses it. The kernel drops the lock when the process dies, however it
dies, so a crashed run never leaves a stale lock behind; the pid written into the
file only serves the message a second process prints.
"""
import fcntl
import os
from pathlib import Path

from keras_hw2.errors import InputError

LOCK_FILE = ".lock"


class DirectoryLock:
    """An exclusive, non-blocking lock on `directory` (created if missing).

    Use it as a context manager, or call `acquire` / `release`.

    Args:
        directory: the directory to lock.
        what: how the refusal names the directory, e.g. ``"run"``.
        lock_file: the lock file's name inside `directory`; several locks can
            share one directory under different names (e.g. one per exported model).

    Raises:
        InputError: on `acquire`, when another process holds the lock; the
            message names the directory and the holder's pid.

    Example:
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d, DirectoryLock(d) as lock:
    ...     lock.held
    True
    """

    def __init__(self, directory, what: str = "directory", lock_file: str = LOCK_FILE):
        self.directory = Path(directory)
        self.what = what
        self.lock_file = lock_file
        self._file = None

    @property
    def path(self) -> Path:
        return self.directory / self.lock_file

    @property
    def held(self) -> bool:
        return self._file is not None

    def acquire(self) -> "DirectoryLock":
        if self.held:
            return self
        self.directory.mkdir(parents=True, exist_ok=True)
        file = open(self.path, "a+")
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.seek(0)
            holder = file.read().strip() or "unknown"
            file.close()
            raise InputError(f"{self.directory}: this {self.what} is in use by another process (pid {holder}); "
                             "wait for it to finish or stop it") from None
        file.seek(0)
        file.truncate()
        file.write(f"{os.getpid()}\n")
        file.flush()
        self._file = file
        return self

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def __enter__(self) -> "DirectoryLock":
        return self.acquire()

    def __exit__(self, *exc_info) -> None:
        self.release()
