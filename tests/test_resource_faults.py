"""Writes that find no room: a file-size limit (RLIMIT_FSIZE, set in the child process) and a full small tmpfs.

Each ends in one line naming the file (or the export version, the report folder) and the cause, exit status 4
(`keras_hw2.errors.ResourceError`, docs/reliability.md), leaves no half-written export version or report file,
loses nothing finished, and the same command succeeds once there is room. (A limit while ``train`` writes its
checkpoints: `test_reliability.py`.)
"""
import errno
import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import REPO, limit_file_size

CNN_PRESET = "intel_batchnorm_48"  # a shipped model: nothing to train


def _run(*args, cwd, max_bytes=None):
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
                          preexec_fn=None if max_bytes is None else limit_file_size(max_bytes))


def _assert_no_room(result, path, cause="File too large"):
    """Exit status 4 and one line ``error: <path...>: <cause> while writing it; ...``; returns it."""
    assert result.returncode == 4, result.stdout[-2000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {path}"), result.stderr[-3000:]
    assert f"{cause} while writing it" in errors[0] and "make room and re-run the same command" in errors[0]
    return errors[0]


@pytest.fixture(scope="module")
def tiny_npz(tmp_path_factory):
    from keras_hw2.cnn.data import write_synthetic_npz

    return write_synthetic_npz(tmp_path_factory.mktemp("data") / "tiny.npz", num_per_class=4, seed=0)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EFBIG, errno.EDQUOT])
def test_a_json_write_without_room_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch, code):
    from keras_hw2.errors import ResourceError
    from keras_hw2.runs import write_json

    path = tmp_path / "history.json"
    write_json(path, {"epoch": [0]})

    def no_room(fd):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "fsync", no_room)
    with pytest.raises(ResourceError, match=f"^{path}: {os.strerror(code)} while writing it; nothing finished is "
                                            "lost: make room and re-run the same command to resume$"):
        write_json(path, {"epoch": [0, 1]})
    assert json.loads(path.read_text()) == {"epoch": [0]} and sorted(os.listdir(tmp_path)) == ["history.json"]


def test_an_export_without_room_leaves_no_version_and_the_re_run_exports(tmp_path):
    models = tmp_path / "models"
    args = ["-m", "keras_hw2.cnn", "export", "--run", CNN_PRESET, "--models-dir", str(models), "--name", "m"]
    line = _assert_no_room(_run(*args, cwd=tmp_path, max_bytes=500_000), models / "m" / "1")  # < its variables
    assert "no version was written" in line
    assert sorted(p.name for p in models.iterdir()) == [".m.lock"]  # no model directory, no temporary
    again = _run(*args, "--quiet", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert sorted(p.name for p in (models / "m").iterdir()) == ["1"]
    assert (models / "m" / "1" / "saved_model.pb").is_file()


def test_an_evaluation_without_room_names_the_file_and_the_re_run_writes_all(tmp_path, tiny_npz):
    args = ["-m", "keras_hw2.cnn", "evaluate", "--run", CNN_PRESET, "--data", str(tiny_npz), "--split", "train",
            "--quiet"]
    written = os.path.join("runs", "presets", CNN_PRESET)  # where evaluate writes about a preset, from cwd
    out = tmp_path / written
    limited = _run(*args, cwd=tmp_path, max_bytes=8_000)  # < a PNG
    line = _assert_no_room(limited, os.path.join(written, "evaluation-tiny-train"))
    named = line.split(": ")[1]
    assert named.endswith((".json", ".png")), line
    for path in out.glob("*.json"):
        json.loads(path.read_text())  # complete, or not there
    assert not list(out.glob(".*.tmp"))
    again = _run(*args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert sorted(p.name for p in out.glob("evaluation-*")) == [
        "evaluation-tiny-train-errors.png", "evaluation-tiny-train.json", "evaluation-tiny-train.png"]


def _files(folder) -> dict:
    """``{path: bytes}`` of every file in `folder` but its lock (which holds the last user's pid)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != ".lock"}


def test_a_report_without_room_keeps_its_finished_steps_and_its_last_complete_report(tmp_path):
    args = ["-m", "keras_hw2", "report", "--preset", "quick", "--only", "q1", "--out", "report", "--runs-dir", "runs"]
    first = _run(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    report = _files(tmp_path / "report")
    [step] = (tmp_path / "runs" / "report").glob("hopfield-retrieval-*")  # its figures are > 20 kB
    shutil.rmtree(step)

    limited = _run(*args, cwd=tmp_path, max_bytes=20_000)  # the other two steps are reused
    _assert_no_room(limited, os.path.join("runs", "report", step.name))  # the step's run directory
    assert _files(tmp_path / "report") == report  # the last complete report, byte for byte
    again = _run(*args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count(": reused ") == 2  # nothing finished was lost
    report = _files(tmp_path / "report")

    reused = _run(*args, cwd=tmp_path, max_bytes=20_000)  # every step reused: the report's own write fails
    _assert_no_room(reused, "report: ")
    assert _files(tmp_path / "report") == report and not list((tmp_path / "report").glob(".tmp*"))


def _mount(*args):
    return subprocess.run(["mount", *args], capture_output=True, text=True)


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 1 MiB tmpfs (skipped, with mount's own words, where this process may not mount one)."""
    path = tmp_path / "small"
    path.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command on this machine: cannot mount a small tmpfs")
    mounted = _mount("-t", "tmpfs", "-o", "size=1m", "tmpfs", str(path))
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs at {path} (mount exit status {mounted.returncode}): "
                    f"{(mounted.stderr or mounted.stdout).strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def test_a_full_filesystem_while_training_is_one_line_exit_4_and_the_run_resumes_once_there_is_room(small_tmpfs,
                                                                                                     tiny_npz):
    args = ["-m", "keras_hw2.cnn", "train", "--data", str(tiny_npz), "--epochs", "2", "--batch-size", "8",
            "--seed", "0", "--runs-dir", str(small_tmpfs), "--run-name", "r", "--quiet"]
    _assert_no_room(_run(*args, cwd=REPO), small_tmpfs / "cnn" / "r", cause="No space left on device")
    run = small_tmpfs / "cnn" / "r"
    assert json.loads((run / "config.json").read_text())["epochs"] == 2  # nothing finished was lost
    grown = _mount("-o", "remount,size=512m", str(small_tmpfs))  # the resume state alone is 42 MB
    assert grown.returncode == 0, grown.stderr
    again = _run(*args, cwd=REPO)
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads((run / "results.json").read_text())["status"] == "finished"
    assert json.loads((run / "history.json").read_text())["epoch"] == [0, 1]
