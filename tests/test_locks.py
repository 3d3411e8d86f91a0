"""Directory locks: one process per run, tuner or export directory."""
import subprocess
import sys
import textwrap

import pytest

from keras_hw2.errors import InputError
from keras_hw2.locks import DirectoryLock


def test_second_process_is_refused_with_the_holders_pid(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from keras_hw2.locks import DirectoryLock
        with DirectoryLock({str(tmp_path)!r}, what="run"):
            print("locked", flush=True)
            sys.stdin.readline()
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(InputError, match=rf"this run is in use by another process \(pid {holder.pid}\)"):
            DirectoryLock(tmp_path, what="run").acquire()
    finally:
        holder.communicate("\n", timeout=60)
    with DirectoryLock(tmp_path) as lock:  # released at the holder's exit
        assert lock.held


def test_lock_dies_with_a_killed_process(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from keras_hw2.locks import DirectoryLock
        DirectoryLock({str(tmp_path)!r}).acquire()
        print("locked", flush=True)
        time.sleep(600)
        """)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    holder.kill()
    holder.wait(timeout=60)
    with DirectoryLock(tmp_path) as lock:
        assert lock.held


def test_release_allows_reacquiring_in_the_same_process(tmp_path):
    lock = DirectoryLock(tmp_path / "new")
    lock.acquire()
    assert (tmp_path / "new" / ".lock").read_text().strip().isdigit()
    lock.release()
    assert not lock.held
    with DirectoryLock(tmp_path / "new"):
        pass
