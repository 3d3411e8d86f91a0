"""The kill harness itself (`kill_harness`): it catches a write that is not atomic, and passes one that is.

The command is a few lines of Python (no TensorFlow: each start takes milliseconds) that rewrites one JSON
file in a loop, pausing half-way through each write, so that nearly every kill lands inside a write.
"""
import json
import os

import pytest

import kill_harness
from conftest import REPO

COMMAND = '''
import json, os, sys, time
directory, atomic = sys.argv[1], sys.argv[2] == "atomic"
os.makedirs(directory, exist_ok=True)
print("run: started", flush=True)
for i in range(int(sys.argv[3])):
    text = json.dumps({"i": i, "padding": "x" * 1000})
    path = os.path.join(directory, "state.json")
    target = os.path.join(directory, ".state.json.tmp") if atomic else path
    with open(target, "w") as file:
        file.write(text[:500])
        file.flush()
        time.sleep(0.02)  # half-way through the write
        file.write(text[500:])
    if atomic:
        os.replace(target, path)
print("done", flush=True)
'''


@pytest.fixture
def command(tmp_path):
    (tmp_path / "module").mkdir()
    (tmp_path / "module" / "rewrites_json.py").write_text(COMMAND)
    return {"PYTHONPATH": os.pathsep.join([str(tmp_path / "module"), str(REPO)])}


def _kills(tmp_path, env, how):
    return kill_harness.killed_until_done(lambda root: ["-m", "rewrites_json", str(root), how, "25"], kills=6, seed=0,
                                          root=tmp_path / how, started=lambda out: "run: " in out, window_s=0.4,
                                          env=env)


def test_the_harness_passes_an_atomic_writer(tmp_path, command):
    record = _kills(tmp_path, command, "atomic")
    assert record.hits == 6 and record.writes  # some kills were inside a write, some at a random time
    for root in record.roots:
        assert json.loads((root / "state.json").read_text())["i"] == 24


def test_the_harness_catches_a_writer_that_is_not_atomic(tmp_path, command):
    with pytest.raises(AssertionError, match="state.json: left unparsable by a kill"):
        _kills(tmp_path, command, "in-place")


def test_the_wrapper_runs_the_module_as_python_dash_m_does(tmp_path, command):
    process = kill_harness.start(kill_harness.__file__, "-m", "rewrites_json", str(tmp_path / "w"), "atomic", "1",
                                 env={**command, kill_harness.KILL_ARM: str(tmp_path / "never-armed"),
                                      kill_harness.KILL_JITTER: "0", kill_harness.KILL_WATCH: str(tmp_path / "w")})
    code, out, err = kill_harness.finished(process, timeout_s=60)
    assert (code, out) == (0, "run: started\ndone\n"), err  # never armed (no arm file): it runs to the end
