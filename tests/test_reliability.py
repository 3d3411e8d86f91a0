"""Hostile input, faults and load (issue 27; docs/reliability.md): each test is one probe class that must hold.

A write that finds no room ends in one line and exit status 4, and the run resumes; a path that is a file where
a directory belongs, corrupt run files, TSV byte-order marks and control characters, and symbolic links out of
a data folder are one-line errors with exit status 2; the P2G SavedModel refuses empty, over-long and oversized
requests with ``InvalidArgument`` and answers concurrent callers exactly as serial ones.
"""
import json
import resource
import signal
import subprocess
import sys
import os

import pytest

from conftest import REPO


def _limit_file_size(max_bytes):
    """A ``preexec_fn``: files of the child may not grow past `max_bytes` (``ulimit -f``); writes then fail
    with EFBIG instead of killing the child with SIGXFSZ."""
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))
    return limit


def _cli(*args, preexec_fn=None, timeout=300):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout, preexec_fn=preexec_fn)


@pytest.fixture(scope="module")
def tiny_npz(tmp_path_factory):
    from keras_hw2.cnn.data import write_synthetic_npz

    return write_synthetic_npz(tmp_path_factory.mktemp("data") / "tiny.npz", num_per_class=4, seed=0)


def _cnn_train(npz, runs_dir, *extra):
    return ["-m", "keras_hw2.cnn", "train", "--data", str(npz), "--epochs", "2", "--batch-size", "8",
            "--seed", "0", "--runs-dir", str(runs_dir), "--run-name", "r", "--quiet", *extra]


def test_a_file_size_limit_while_checkpointing_is_one_line_exit_4_and_the_run_resumes(tiny_npz, tmp_path):
    limited = _cli(*_cnn_train(tiny_npz, tmp_path), preexec_fn=_limit_file_size(1_000_000))  # < a checkpoint
    assert limited.returncode == 4, limited.stderr[-3000:]
    assert "Traceback" not in limited.stderr
    last = limited.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {tmp_path / 'cnn' / 'r'}") and "File too large" in last, last
    assert "re-run the same command" in last
    run_dir = tmp_path / "cnn" / "r"
    assert json.loads((run_dir / "config.json").read_text())["epochs"] == 2  # nothing finished was lost
    again = _cli(*_cnn_train(tiny_npz, tmp_path))
    assert again.returncode == 0, again.stderr[-3000:]
    results = json.loads((run_dir / "results.json").read_text())
    assert results["status"] == "finished" and results["epochs"] == 2
    assert json.loads((run_dir / "history.json").read_text())["epoch"] == [0, 1]
