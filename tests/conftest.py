"""Fixtures shared by the test modules."""
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytest.register_assert_rewrite("layer_contract")  # detailed assertion messages from the shared helper

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def limit_file_size(max_bytes):
    """A ``preexec_fn``: files of the child may not grow past `max_bytes` (``ulimit -f``); writes then fail
    with EFBIG instead of killing the child with SIGXFSZ."""
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))
    return limit


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """Real CNN and P2G SavedModels made from tiny trained models (`serving_standins.make_exports`)."""
    from serving_standins import make_exports
    return make_exports(tmp_path_factory)


@pytest.fixture(scope="module")
def servers(exports):
    """A REST and a gRPC stand-in, both serving cnn_baseline and p2g; ``{"rest": (port, served), "grpc": ...}``."""
    from serving_standins import grpc_server, rest_server
    models = {"cnn_baseline": {1: exports["cnn"]}, "p2g": {1: exports["p2g"]}}
    with rest_server(models) as rest, grpc_server(models) as grpc:
        yield {"rest": rest, "grpc": grpc}


@pytest.fixture
def run_root(tmp_path):
    """A temporary root for run directories (the CLIs' `--runs-dir`)."""
    path = tmp_path / "runs"
    path.mkdir()
    return path


@pytest.fixture
def shared_data():
    """`../shared/data`, the course data; the test is skipped where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is absent (only the project's CI and developers have it)")
    return SHARED_DATA


def _python(*args, cwd=None, timeout=600, env=None):
    """Run `python *args` in a fresh process; returns the CompletedProcess."""
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run([sys.executable, *args], cwd=cwd or REPO, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def python():
    """Run Python in a clean process: `python("-m", "keras_hw2.cnn", "--help")`."""
    return _python
