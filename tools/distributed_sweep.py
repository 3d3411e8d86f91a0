"""Run any keras-tuner sweep as one chief plus W workers on this machine.

    python tools/distributed_sweep.py --workers 2 -- python -m tuners.cnn_lr --data d.npz --epochs 1

The command after ``--`` is started W + 1 times with keras-tuner's distributed-mode
environment: ``KERASTUNER_TUNER_ID`` is ``chief`` for the process holding the
oracle and ``tuner0`` .. ``tuner<W-1>`` for the workers running trials, and
``KERASTUNER_ORACLE_IP`` / ``KERASTUNER_ORACLE_PORT`` name a free port on
``--host``. Every worker line is echoed as it comes, prefixed ``[tuner0]``;
with ``--log-dir`` each process also writes ``<id>.log`` there. The launcher
waits for all of them within ``--timeout`` seconds, stops every process as soon
as one fails (or the time is up), and finally prints the chief's output, which
holds the search summary. Exit status: 0 when all succeeded, 1 otherwise.
"""
import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from keras_hw2.cli import run_main
from keras_hw2.errors import InputError
from tuners.distributed import CHIEF_ID, tuner_environment

_POLL_S = 0.2
_TAIL_LINES = 30


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class _Process:
    """One sweep process: its output is collected, optionally echoed and written to a log file."""

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
        self.close()

    def close(self):
        self._reader.join(timeout=5)
        if self._log:
            self._log.close()
            self._log = None

    def tail(self) -> str:
        return "".join(f"[{self.name}] {line}" for line in self.lines[-_TAIL_LINES:])


def launch(command, num_workers: int = 2, host: str = "127.0.0.1", port=None, timeout_s: float = 3600.0,
           log_dir=None, grace_s: float = 60.0) -> int:
    """Run `command` as a keras-tuner chief plus `num_workers` workers; return 0 when all succeed.

    Args:
        command: the sweep's argument list, e.g. ``["python", "-m", "tuners.cnn_lr", ...]``.
        num_workers: how many workers run trials.
        host: the address the chief's oracle listens on (loopback by default).
        port: the oracle's port; a free one when None.
        timeout_s: the whole sweep's time limit, in seconds.
        log_dir: where each process writes ``<id>.log``; no files when None.
        grace_s: how long workers may keep running after the chief has finished.

    Returns:
        0 when the chief and every worker exited with status 0, else 1; the chief's
        output (the summary) is printed in both cases, the failing process's tail on failure.
    """
    if not command:
        raise InputError("no sweep command given; put it after '--', e.g. -- python -m tuners.cnn_lr ...")
    if num_workers < 1:
        raise InputError(f"--workers must be at least 1. Received: --workers {num_workers}")
    if timeout_s <= 0:
        raise InputError(f"--timeout must be positive. Received: --timeout {timeout_s}")
    port = free_port(host) if port is None else port
    if log_dir:
        Path(log_dir).mkdir(parents=True, exist_ok=True)
    base_env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    print(f"chief oracle at {host}:{port}; {num_workers} workers; command: {' '.join(command)}", flush=True)
    processes = []
    try:
        for name in [CHIEF_ID] + [f"tuner{i}" for i in range(num_workers)]:
            env = {**base_env, **tuner_environment(name, host, port)}
            processes.append(_Process(name, command, env, log_dir, echo=name != CHIEF_ID))
        chief, workers = processes[0], processes[1:]
        failure = _wait(chief, workers, time.monotonic() + timeout_s, grace_s)
    except FileNotFoundError:
        raise InputError(f"{command[0]}: no such command") from None
    finally:  # also on Ctrl-C
        for process in processes:
            process.stop()
    print(f"--- {CHIEF_ID} output ---", flush=True)
    print("".join(chief.lines), end="", flush=True)
    if failure:
        message, culprit = failure
        if culprit is not None and culprit is not chief:
            print(f"--- last lines of {culprit.name} ---\n{culprit.tail()}", end="", file=sys.stderr)
        print(f"error: {message}", file=sys.stderr, flush=True)
        return 1
    print(f"distributed sweep finished: {CHIEF_ID} and {num_workers} workers exited with status 0", flush=True)
    return 0


def _wait(chief, workers, deadline, grace_s):
    """Wait for every process; (message, culprit) on the first failure, None on success."""
    chief_done_at = None
    while True:
        for process in [chief, *workers]:
            code = process.returncode
            if code not in (None, 0):
                return f"{process.name} exited with status {code}; stopped the others", process
        if all(p.returncode == 0 for p in [chief, *workers]):
            return None
        now = time.monotonic()
        if chief.returncode == 0:
            chief_done_at = chief_done_at or now
            if now - chief_done_at > grace_s:
                running = ", ".join(p.name for p in workers if p.returncode is None)
                return f"{running} still running {grace_s:g} s after the chief finished; stopped", None
        if now > deadline:
            running = ", ".join(p.name for p in [chief, *workers] if p.returncode is None)
            return f"time limit reached with {running} still running; stopped all", None
        time.sleep(_POLL_S)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    own, command = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    parser = argparse.ArgumentParser(
        prog="tools/distributed_sweep.py", usage="%(prog)s [options] -- SWEEP_COMMAND ...",
        description="Run a keras-tuner sweep as one chief plus W workers on this machine.")
    parser.add_argument("--workers", type=int, default=2, help="number of workers running trials (default 2)")
    parser.add_argument("--host", default="127.0.0.1", help="address of the chief's oracle (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="the oracle's port (default: a free one)")
    parser.add_argument("--timeout", type=float, default=3600.0,
                        help="seconds before every process is stopped (default 3600)")
    parser.add_argument("--grace", type=float, default=60.0,
                        help="seconds workers may run on after the chief finished (default 60)")
    parser.add_argument("--log-dir", default=None, help="write <id>.log for the chief and each worker here")
    args = parser.parse_args(own)
    return launch(command, args.workers, args.host, args.port, args.timeout, args.log_dir, args.grace)


if __name__ == "__main__":
    sys.exit(run_main(main))
