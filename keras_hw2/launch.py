"""Running one command as several cooperating processes on this machine (the distributed tools' launcher).

`launch(command, environments)` starts `command` once per entry of
`environments` (``{process name: extra environment variables}``, the chief
first), echoes each process's output lines prefixed ``[name]`` as they come
(the chief's only at the end), optionally writes ``<name>.log`` files, bounds
the whole with a timeout, stops every process as soon as one fails (or the
time is up), and finally prints the chief's output. `free_port` finds the
ports the processes listen on.

`tools/distributed_sweep.py` (keras-tuner's chief and workers) and
`tools/distributed_train.py` (``TF_CONFIG`` workers of
``--strategy multiworker``) are this module plus the environment each needs.
"""
import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from keras_hw2 import cli
from keras_hw2.errors import InputError

_POLL_S = 0.2
_TAIL_LINES = 30


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def launcher_parser(prog: str, command_name: str, description: str, workers_help: str,
                    timeout_s: float) -> argparse.ArgumentParser:
    """The options every launcher takes: ``--workers``, ``--timeout``, ``--log-dir`` (`keras_hw2.cli` parsing)."""
    parser = cli.ArgumentParser(prog=prog, usage=f"%(prog)s [options] -- {command_name} ...",
                                description=description)
    parser.add_argument("--workers", type=cli.integer("--workers", minimum=1), default=2,
                        help=f"{workers_help} (default 2)")
    parser.add_argument("--timeout", type=cli.number("--timeout", 0, low_open=True), default=timeout_s,
                        help=f"seconds before every process is stopped (default {timeout_s:g})")
    parser.add_argument("--log-dir", default=None, help="write <name>.log for each process here")
    return parser


def split_command(argv) -> tuple:
    """Split a launcher's arguments at ``--``: (its own options, the command to launch).

    Example:
    >>> split_command(["--workers", "2", "--", "python", "-m", "x"])
    (['--workers', '2'], ['python', '-m', 'x'])
    """
    argv = list(argv)
    return (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])


def tf_config(addresses, index: int) -> str:
    """The ``TF_CONFIG`` of worker `index` of a cluster of `addresses` (worker 0 is the chief).

    Example:
    >>> tf_config(["127.0.0.1:1234", "127.0.0.1:1235"], 1)
    '{"cluster": {"worker": ["127.0.0.1:1234", "127.0.0.1:1235"]}, "task": {"type": "worker", "index": 1}}'
    """
    return json.dumps({"cluster": {"worker": list(addresses)}, "task": {"type": "worker", "index": index}})


class _Process:
    """One process: its output is collected, optionally echoed and written to a log file."""

    def __init__(self, name, command, env, log_dir, echo):
        self.name = name
        self.lines = []
        self.popen = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True, bufsize=1, start_new_session=True)
        self._log = open(Path(log_dir) / f"{name}.log", "w") if log_dir else None
        self._reader = threading.Thread(target=self._read, args=(echo,), daemon=True)
        self._reader.start()

    def _read(self, echo):
        for line in self.popen.stdout:
            self.lines.append(line)
            if self._log:
                self._log.write(line)
                self._log.flush()
            if echo:
                print(f"[{self.name}] {line}", end="", flush=True)

    @property
    def returncode(self):
        return self.popen.poll()

    def stop(self):
        """Terminate the process and its children (its session), killing them after 5 s."""
        if self.popen.poll() is None:
            for sig, wait_s in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
                try:
                    os.killpg(self.popen.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.popen.wait(wait_s)
                    break
                except subprocess.TimeoutExpired:
                    continue
        self._reader.join(timeout=5)
        if self._log:
            self._log.close()
            self._log = None

    def tail(self) -> str:
        return "".join(f"[{self.name}] {line}" for line in self.lines[-_TAIL_LINES:])


def launch(command, environments: dict, timeout_s: float = 3600.0, log_dir=None, grace_s: float = 60.0,
           what: str = "run") -> int:
    """Run `command` once per entry of `environments`; return 0 when every process exits with status 0.

    Args:
        command: the argument list, e.g. ``["python", "-m", "keras_hw2.cnn", "train", ...]``.
        environments: ``{name: {variable: value}}``, the chief first; each process
            gets this machine's environment plus its own variables.
        timeout_s: the time limit of the whole, in seconds.
        log_dir: where each process writes ``<name>.log``; no files when None.
        grace_s: how long the others may keep running after the chief has finished.
        what: how the closing line names the whole, e.g. ``"distributed sweep"``.

    Returns:
        0 when all exited with status 0, else 1; the chief's output is printed
        in both cases, the failing process's last lines on failure.

    Raises:
        InputError: no command, no process, a non-positive timeout, or a command that does not exist.
    """
    if not command:
        raise InputError("no command given; put it after '--', e.g. -- python -m keras_hw2.cnn train ...")
    if not environments:
        raise InputError("no process to start")
    if not timeout_s > 0:
        raise InputError(f"--timeout must be positive. Received: --timeout={timeout_s}")
    if log_dir:
        Path(log_dir).mkdir(parents=True, exist_ok=True)
    base_env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    chief_name = next(iter(environments))
    processes = []
    try:
        for name, env in environments.items():
            processes.append(_Process(name, command, {**base_env, **env}, log_dir, echo=name != chief_name))
        chief, others = processes[0], processes[1:]
        failure = _wait(chief, others, time.monotonic() + timeout_s, grace_s)
    except FileNotFoundError:
        raise InputError(f"{command[0]}: no such command") from None
    finally:  # also on Ctrl-C
        for process in processes:
            process.stop()
    print(f"--- {chief.name} output ---", flush=True)
    print("".join(chief.lines), end="", flush=True)
    if failure:
        message, culprit = failure
        if culprit is not None and culprit is not chief:
            print(f"--- last lines of {culprit.name} ---\n{culprit.tail()}", end="", file=sys.stderr)
        print(f"error: {message}", file=sys.stderr, flush=True)
        return 1
    print(f"{what} finished: {chief.name} and {len(others)} other process(es) exited with status 0", flush=True)
    return 0


def _wait(chief, others, deadline, grace_s):
    """Wait for every process; (message, culprit) on the first failure, None on success."""
    chief_done_at = None
    while True:
        for process in [chief, *others]:
            code = process.returncode
            if code not in (None, 0):
                return f"{process.name} exited with status {code}; stopped the others", process
        if all(p.returncode == 0 for p in [chief, *others]):
            return None
        now = time.monotonic()
        if chief.returncode == 0:
            chief_done_at = chief_done_at or now
            if now - chief_done_at > grace_s:
                running = ", ".join(p.name for p in others if p.returncode is None)
                return f"{running} still running {grace_s:g} s after the chief finished; stopped", None
        if now > deadline:
            running = ", ".join(p.name for p in [chief, *others] if p.returncode is None)
            return f"time limit reached with {running} still running; stopped all", None
        time.sleep(_POLL_S)
