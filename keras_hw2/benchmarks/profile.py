"""Where a TensorFlow step's time goes: run it under `tf.profiler` and sum the op times.

`profile(fn, logdir)` traces calls of ``fn`` with ``tf.profiler.experimental``
(the trace also opens in TensorBoard's profile tab, with the profile plugin
installed); `op_times(logdir)` reads the trace's XPlane file back and sums the
duration of every TensorFlow op executed on the host, by op type (``MatMul``,
``Conv2DBackpropFilter``...) and by the model scope that ran it.
"""
import collections
import re
from pathlib import Path

import tensorflow as tf
from tensorflow.tsl.profiler.protobuf import xplane_pb2

_CONTAINER_OPS = {"While", "If", "StatelessWhile", "StatelessIf", "PartitionedCall", "StatefulPartitionedCall"}


def profile(fn, logdir, calls: int = 10) -> Path:
    """Trace `calls` calls of ``fn()`` (already warmed up) into `logdir`; returns `logdir`."""
    logdir = Path(logdir)
    tf.profiler.experimental.start(str(logdir))
    try:
        for _ in range(calls):
            fn()
    finally:
        tf.profiler.experimental.stop()
    return logdir


def _scope(op_name: str, depth: int) -> str:
    """``gradient_tape/model/block1_conv/Conv2D`` -> ``grad/block1_conv`` (numbered suffixes dropped)."""
    parts = [re.sub(r"_\d+$", "", part) for part in op_name.split("/")]
    prefix = "grad/" if parts[0] == "gradient_tape" else ""
    kept = [p for p in parts[:-1] if p not in ("gradient_tape", "while", "body", "cond")]
    return prefix + "/".join(kept[1:1 + depth] or kept[:depth] or ["(top)"])


def op_times(logdir, scope_depth: int = 1) -> dict:
    """Sum the op times of the newest trace in `logdir`.

    Args:
        logdir: the directory `profile` wrote.
        scope_depth: name-scope levels kept below the model's own, for ``by_scope``.

    Returns:
        ``{"total_ms", "num_ops", "by_type": {type: ms}, "by_scope": {scope: ms}}``,
        each mapping sorted by decreasing time (ops nested in a ``While`` or
        function call are counted themselves, the container is not).
    """
    paths = sorted(Path(logdir).glob("**/*.xplane.pb"), key=lambda p: p.stat().st_mtime)
    if not paths:
        raise FileNotFoundError(f"{logdir}: no *.xplane.pb trace")
    space = xplane_pb2.XSpace()
    space.ParseFromString(paths[-1].read_bytes())
    by_type, by_scope = collections.Counter(), collections.Counter()
    num_ops = 0
    for plane in space.planes:
        for line in plane.lines:
            if not line.name.startswith(("tf_Compute", "tf_numa", "tf_inter")):
                continue
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                op_name, _, op_type = name.rpartition(":")
                if not op_name or "::" in name or op_type in _CONTAINER_OPS or " " in op_type:
                    continue  # executor and runtime events, or a container whose ops count themselves
                milliseconds = event.duration_ps / 1e9
                by_type[op_type] += milliseconds
                by_scope[_scope(op_name, scope_depth)] += milliseconds
                num_ops += 1
    return {"total_ms": sum(by_type.values()), "num_ops": num_ops,
            "by_type": dict(by_type.most_common()), "by_scope": dict(by_scope.most_common())}


def format_op_times(times: dict, top: int = 12) -> str:
    """The `top` op types and scopes of `op_times` with their share of the total, as text."""
    total = times["total_ms"] or 1.0
    lines = [f"{times['num_ops']:,} ops, {times['total_ms']:.1f} ms in total"]
    for title, key in (("op type", "by_type"), ("scope", "by_scope")):
        lines.append(f"  by {title}:")
        lines += [f"    {name[:48]:48s} {ms:9.1f} ms {100 * ms / total:5.1f}%"
                  for name, ms in list(times[key].items())[:top]]
    return "\n".join(lines)
