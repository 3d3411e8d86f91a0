"""The kill harness: SIGKILL a command at seeded random moments, re-run it to the end, check what it left.

`killed_until_done` runs one command line (``-m keras_hw2.p2g train ...``, ``-m tuners.cnn_lr ...``,
``-m keras_hw2 report ...``) again and again, SIGKILLing each start at a moment drawn from a seeded
`random.Random`, then runs it once more without a kill to its end. A kill lands

- at a random moment: 0 to `window_s` seconds after `started(stdout)` first held (the command has begun
  its work: epochs, checkpoints, ``best.keras``, ``history.json`` and plot writes lie in that span), sent
  by this process; or
- during a write: this file, run as the command's wrapper (``python tests/kill_harness.py -m ...``), puts
  an audit hook (`sys.addaudithook`) in the command's process that SIGKILLs it at the first write under
  the watched directory once the same random delay has passed since `started` held (this process then
  writes that moment, on the shared monotonic clock, into the file $KERAS_HW2_KILL_ARM): right before a
  rename (``os.replace`` of a temporary into place: the temporary complete, the file not yet replaced)
  or 0-50 ms after a file is opened for writing (while its bytes go out). The command itself runs unchanged (`runpy`, as ``python -m`` does).

After every kill `check_consistent` asserts what a crash may leave in the watched directory: every JSON
file there parses and every ``.keras`` file is a complete zip archive (temporaries aside). The caller then
compares the files of the finished command with an uninterrupted run's (`history`, `weights`).
"""
import io
import json
import os
import random
import runpy
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KILL_ARM = "KERAS_HW2_KILL_ARM"  # the wrapper's settings, in the command's environment
KILL_JITTER = "KERAS_HW2_KILL_JITTER_S"
KILL_WATCH = "KERAS_HW2_KILL_WATCH"
MARK = "kill-harness: "  # the wrapper's line on stderr, naming the write it killed
TEMPORARY_MARKS = (".tmp", "_temp")  # `runs.write_json`'s .<name>.tmp, best.keras's .tmp-best.keras, TF's *_temp


def start(*args, env=None, cwd=REPO):
    """Start `python *args`; its output goes to temporary files (a full pipe would block it)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1", **(env or {})}
    out, err = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
    process = subprocess.Popen([sys.executable, *args], cwd=cwd, env=env, text=True, stdout=out, stderr=err)
    process.outputs = (out, err)
    return process


def finished(process, timeout_s=600):
    """Wait for `process` (killed after `timeout_s`); returns (exit status, stdout, stderr)."""
    try:
        process.wait(timeout=timeout_s)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    texts = []
    for file in process.outputs:
        file.seek(0)
        texts.append(file.read())
        file.close()
    return (process.returncode, *texts)


def kill_when(process, condition, timeout_s=300):
    """SIGKILL `process` as soon as `condition()` holds; True if it was still running then."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        if condition():
            alive = process.poll() is None
            process.send_signal(signal.SIGKILL)
            finished(process)
            return alive
        time.sleep(0.05)
    if process.poll() is None:
        process.kill()
    code, out, err = finished(process)
    raise AssertionError(f"condition never held (exit status {code}):\n{out[-2000:]}\n{err[-3000:]}")


def _output(process) -> str:
    file = process.outputs[0]
    file.seek(0)
    return file.read()


def uninterrupted(args, started, timeout_s=900) -> float:
    """Run ``python *args`` to its end (exit status 0 asserted); returns how long it ran after `started(stdout)`
    first held: the span from which `killed_until_done` can draw its kills."""
    process = start(*args)
    while process.poll() is None and not started(_output(process)):
        time.sleep(0.05)
    begun = time.monotonic()
    code, out, err = finished(process, timeout_s)
    assert code == 0, f"status {code}:\n{out[-2000:]}\n{err[-3000:]}"
    return time.monotonic() - begun


@dataclass
class Kills:
    """What `killed_until_done` did: the kills that hit a running command, the writes they interrupted (file
    names), the starts that ended by themselves before their kill, and the directory of each round."""
    hits: int = 0
    writes: list = field(default_factory=list)
    missed: int = 0
    roots: list = field(default_factory=list)

    def line(self) -> str:
        """One line of figures, for the test's output and docs/reliability.md."""
        return (f"{self.hits} kills of a running command in {len(self.roots)} round(s) ({self.missed} more landed "
                f"after it had finished), {len(self.writes)} during a write ({', '.join(sorted(set(self.writes)))})")


def killed_until_done(args_of, kills: int, seed: int, root, started, window_s: float,
                      timeout_s: float = 900, env=None) -> Kills:
    """Run a command until `kills` starts of it have been SIGKILLed at seeded random moments.

    One round runs ``python *args_of(root / "round-<r>")`` again and again, each start killed, until a start
    ends by itself before its kill (it had finished); that round's command then runs once more to its end
    (exit status 0 asserted), and the next round begins in a fresh directory, until `kills` kills have hit.

    Args:
        args_of: ``directory -> [-m, module, args...]``, the command writing everything under `directory`.
        kills: how many kills must hit a running command.
        seed: seeds the moments (and which of the two kinds each kill is).
        root: where the rounds' directories go.
        started: ``stdout -> bool``: the command has begun the work the kills aim at.
        window_s: kills land up to this long after `started` held (e.g. the span of an uninterrupted run).
        env: more environment variables for the command.
    """
    rng = random.Random(seed)
    record = Kills()
    while record.hits < kills:
        directory = Path(root) / f"round-{len(record.roots)}"
        record.roots.append(directory)
        args = args_of(directory)
        assert args[0] == "-m", args
        while record.hits < kills and _kill_once(args, directory, rng, started, window_s, timeout_s, record, env):
            check_consistent(directory)
        code, out, err = finished(start(*args, env=env), timeout_s)
        assert code == 0, f"the run after the kills ended with status {code}:\n{out[-2000:]}\n{err[-3000:]}"
    return record


def _kill_once(args, directory, rng, started, window_s, timeout_s, record, env) -> bool:
    """Start the command and SIGKILL it at a random moment; False if it ended by itself first."""
    at_write, delay = rng.random() < 0.5, rng.uniform(0, window_s)
    arm = Path(directory).parent / f".{Path(directory).name}.arm"  # outside the watched directory
    arm.parent.mkdir(parents=True, exist_ok=True)  # the command may not have made anything yet
    arm.unlink(missing_ok=True)
    if at_write:
        hook = {KILL_ARM: str(arm), KILL_JITTER: str(rng.uniform(0, 0.05)), KILL_WATCH: str(directory)}
        process = start(__file__, *args, env={**(env or {}), **hook})
    else:
        process = start(*args, env=env)
    deadline = time.monotonic() + timeout_s
    while process.poll() is None and time.monotonic() < deadline and not started(_output(process)):
        time.sleep(0.05)
    if at_write and process.poll() is None:
        arm.write_text(str(time.monotonic() + delay))  # arms its hook: the delay counts from now
        try:
            process.wait(timeout=max(1.0, deadline - time.monotonic()))  # it kills itself, or ends
        except subprocess.TimeoutExpired:
            pass
    elif not at_write:
        time.sleep(delay)
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    code, out, err = finished(process)
    if code != -signal.SIGKILL:
        assert code == 0, f"a start ended with status {code} before its kill:\n{out[-2000:]}\n{err[-3000:]}"
        record.missed += 1
        print(f"{MARK}round {len(record.roots)}: the start ended by itself ({record.line()})", flush=True)
        return False
    record.hits += 1
    record.writes += [Path(line[len(MARK):].split(" ", 1)[1]).name for line in err.splitlines()
                      if line.startswith(MARK)]
    print(f"{MARK}round {len(record.roots)}: killed {'at a write' if at_write else f'after {delay:.1f} s'} "
          f"({record.line()})", flush=True)
    return True


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_END = b"IEND\xaeB`\x82"  # the IEND chunk's type and CRC: the last 8 bytes of every PNG


def is_temporary(path) -> bool:
    """A file that a writer renames into place once complete (a crash may leave it; nothing reads it)."""
    return any(mark in part for part in Path(path).parts for mark in TEMPORARY_MARKS)


def check_consistent(directory) -> None:
    """What a crash may leave under `directory`: every JSON file parses, every ``.keras`` file and every PNG is
    complete (a PNG ends with its IEND chunk)."""
    for path in Path(directory).rglob("*"):
        if not path.is_file() or is_temporary(path.relative_to(directory)):
            continue
        if path.suffix == ".json":
            try:
                json.loads(path.read_bytes())
            except ValueError as e:
                raise AssertionError(f"{path}: left unparsable by a kill ({e}): {path.read_bytes()[:200]!r}")
        elif path.suffix == ".keras":
            with zipfile.ZipFile(path) as archive:  # BadZipFile: left half-written by a kill
                assert archive.testzip() is None, path
        elif path.suffix == ".png":
            data = path.read_bytes()
            assert data.startswith(PNG_SIGNATURE) and data.endswith(PNG_END), f"{path}: left half-written by a kill"


def history(run_dir) -> dict:
    """A run's history.json without its timings (the one entry that differs between two equal runs)."""
    return {k: v for k, v in json.loads((Path(run_dir) / "history.json").read_text()).items() if k != "epoch_seconds"}


def weights(keras_file) -> dict:
    """``{h5 path: array}`` of every variable a ``.keras`` file holds (model and optimizer), read with h5py."""
    import h5py

    arrays = {}
    with zipfile.ZipFile(keras_file) as archive, h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r") as f:
        f.visititems(lambda name, obj: arrays.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return arrays


def assert_same_weights(a, b) -> None:
    """The two ``.keras`` files hold the same variables, bit for bit."""
    import numpy as np

    first, second = weights(a), weights(b)
    assert sorted(first) == sorted(second)
    for name in first:
        np.testing.assert_array_equal(first[name], second[name], err_msg=f"{a} vs {b}: {name}")


def _writes_under(watch: str, event: str, args) -> str:
    """The path `event` writes under `watch`, or None."""
    if event == "open":
        path, mode, flags = args
        writing = any(c in mode for c in "wax+") if isinstance(mode, str) else (
            isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR))
    elif event == "os.rename":  # os.rename and os.replace
        path, writing = args[1], True
    else:
        return None
    if not writing or not isinstance(path, (str, bytes, os.PathLike)):
        return None
    path = os.path.abspath(os.fsdecode(path))
    return path if path.startswith(watch + os.sep) else None


def _wrap() -> None:
    """``python tests/kill_harness.py -m <module> <args>``: run the module, SIGKILLing itself at the first
    write under $KERAS_HW2_KILL_WATCH once the moment written into the file $KERAS_HW2_KILL_ARM has passed
    (a rename at once, an opened file $KERAS_HW2_KILL_JITTER_S later)."""
    arm, jitter = os.environ.pop(KILL_ARM), float(os.environ.pop(KILL_JITTER))
    watch = os.path.abspath(os.environ.pop(KILL_WATCH))
    armed_at = []  # the moment read from the arm file; [None] once the kill is on its way

    def due() -> bool:
        if not armed_at:
            try:
                armed_at.append(float(Path(arm).read_text()))
            except (FileNotFoundError, ValueError):  # not armed yet (or being written)
                return False
        return armed_at[0] is not None and time.monotonic() >= armed_at[0]

    def hook(event, args):
        path = _writes_under(watch, event, args) if event in ("open", "os.rename") else None
        if path is None or not due():
            return
        armed_at[0] = None
        os.write(2, f"{MARK}{event} {path}\n".encode())
        if event == "os.rename":
            os.kill(os.getpid(), signal.SIGKILL)  # before the rename: the temporary complete, the file old
        threading.Timer(jitter, os.kill, (os.getpid(), signal.SIGKILL)).start()

    module, sys.argv = sys.argv[2], [sys.argv[2], *sys.argv[3:]]
    sys.path[0] = os.getcwd()  # as `python -m` has it
    sys.addaudithook(hook)
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    _wrap()
