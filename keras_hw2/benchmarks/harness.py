"""The one timing, memory and reporting harness of every benchmark.

- `measure(fn, repeats)` calls ``fn`` once to warm up (tracing, compiling),
  then `repeats` times, and returns the wall-clock and CPU seconds of each
  call (`Timing`); CPU seconds (all threads of this process) move less than
  wall seconds on a machine other processes load, so A/B comparisons quote both.
- `Row` is one benchmark figure: its repeated values, the reference figure
  (the homework's PyTorch code on the same machine type) and the issue's
  target; `Row.summary` gives min / median / max, the ratio to the reference
  and whether the target is met.
- `peak_rss_gb` is this process's peak resident memory.
- `format_table` prints the rows; `write_report` writes them as JSON to
  ``<directory>/<date>-<host>.json``.
"""
import json
import os
import platform
import resource
import socket
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Callable, Optional

from keras_hw2.runs import write_json

QUIET_LOAD = 1.0  # a 1-minute load average above this before a run: other processes share the CPU


@dataclass
class Timing:
    """Seconds of each timed call: wall clock and CPU (every thread of this process)."""
    wall: list
    cpu: list


def measure(fn: Callable[[], object], repeats: int, warmup: int = 1) -> Timing:
    """Call `fn` `warmup` times untimed, then `repeats` times timed.

    `fn` must wait for its results itself (e.g. call ``.numpy()``), since
    TensorFlow may return before a computation ends.

    Example:
    >>> timing = measure(lambda: sum(range(1000)), repeats=3)
    >>> len(timing.wall), len(timing.cpu), min(timing.wall) >= 0
    (3, 3, True)
    """
    if repeats < 1:
        raise ValueError(f"repeats must be a positive integer. Received: repeats={repeats!r}")
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(repeats):
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start_wall)
        cpu.append(time.process_time() - start_cpu)
    return Timing(wall, cpu)


def percentile(values, q: float) -> float:
    """The `q`-th percentile (0-100, nearest rank) of `values`.

    Example:
    >>> percentile([5, 1, 4, 2, 3], 50), percentile([5, 1, 4, 2, 3], 100)
    (3, 5)
    """
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


@dataclass
class Row:
    """One benchmark figure with its reference and target.

    Attributes:
        name: the row's key, e.g. ``"p2g_epoch_attention"``.
        description: what was measured, for the table.
        unit: the values' unit, e.g. ``"s"``, ``"words/s"``, ``"ms"``, ``"GB"``.
        values: one value per repeat.
        higher_is_better: which way the values improve.
        reference: the homework PyTorch code's figure in the same unit, or None.
        target: the issue's bound (``<=`` when lower is better, else ``>=``),
            on the ratio to `reference` when there is one, else on the value.
        target_on_value: the target bounds the value even though there is a
            reference (e.g. "<= 2 ms", the reference being 4.2 ms).
        details: anything else worth keeping in the JSON (CPU seconds, settings).
    """
    name: str
    description: str
    unit: str
    values: list
    higher_is_better: bool
    reference: Optional[float] = None
    target: Optional[float] = None
    target_on_value: bool = False
    details: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """min / median / max, the median's ratio to the reference and whether the target holds.

        Example:
        >>> Row("epoch", "an epoch", "s", [6.0, 5.0, 7.0], higher_is_better=False, reference=10.0,
        ...     target=0.5).summary()["met"]
        False
        """
        median = statistics.median(self.values)
        ratio = median / self.reference if self.reference else None
        measured = median if ratio is None or self.target_on_value else ratio
        met = None
        if self.target is not None:
            met = measured >= self.target if self.higher_is_better else measured <= self.target
        return {"min": min(self.values), "median": median, "max": max(self.values), "ratio": ratio, "met": met}

    def to_json(self) -> dict:
        """The row, its summary and details, as JSON-ready values."""
        return {"name": self.name, "description": self.description, "unit": self.unit, "values": self.values,
                "higher_is_better": self.higher_is_better, "reference": self.reference, "target": self.target,
                "target_on_value": self.target_on_value, **self.summary(), "details": self.details}


def timing_row(name: str, description: str, timing: Timing, per_call: float, unit: str,
               higher_is_better: bool, **kwargs) -> Row:
    """A `Row` of rates (``per_call / seconds``) or durations (``seconds * per_call``) from a `Timing`.

    Args:
        per_call: work per call for a rate (e.g. 1000 words), or the unit's
            scale for a duration (1 for seconds, 1000 for milliseconds).
        higher_is_better: True for a rate, False for a duration.
    """
    convert = (lambda s: per_call / s) if higher_is_better else (lambda s: s * per_call)
    details = {"wall_seconds": timing.wall, "cpu_seconds": timing.cpu, **kwargs.pop("details", {})}
    return Row(name, description, unit, [convert(s) for s in timing.wall], higher_is_better, details=details, **kwargs)


def peak_rss_gb() -> float:
    """This process's peak resident set size so far, in GB (10^9 bytes).

    Linux: ``VmHWM`` of ``/proc/self/status``, the high-water mark of this
    program's own memory; ``ru_maxrss`` would also count the parent's
    resident memory at the time it forked this process. Elsewhere: ``ru_maxrss``.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e9  # kB
    except OSError:
        pass
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 1e9


def load_average() -> float:
    """The 1-minute load average (0.0 where the system has none)."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return 0.0


def _number(value) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def format_table(rows: list) -> str:
    """The rows as a fixed-width text table: values, reference, ratio, target, met.

    Example:
    >>> print(format_table([Row("x", "decode", "words/s", [900.0, 1000.0, 1100.0], True, target=2000)]))
    measure  unit     min  median  max    reference  ratio  target  met
    decode   words/s  900  1,000   1,100  -          -      >= 2000  no
    """
    header = ["measure", "unit", "min", "median", "max", "reference", "ratio", "target", "met"]
    lines = [header]
    for row in rows:
        s = row.summary()
        if row.target is None:
            target = "-"
        else:
            on_ratio = row.reference and not row.target_on_value
            target = f"{'>=' if row.higher_is_better else '<='} {row.target:g}{'x' if on_ratio else ''}"
        met = "-" if s["met"] is None else ("yes" if s["met"] else "no")
        lines.append([row.description, row.unit, _number(s["min"]), _number(s["median"]), _number(s["max"]),
                      _number(row.reference), "-" if s["ratio"] is None else f"{s['ratio']:.2f}", target, met])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in lines)


def environment() -> dict:
    """What the figures depend on: host, CPU count, Python, TensorFlow settings, load average."""
    import tensorflow as tf

    from keras_hw2.devices import device_report
    return {"host": socket.gethostname(), "cpus": os.cpu_count(), "platform": platform.platform(),
            "python": sys.version.split()[0], "tensorflow": tf.__version__, "device": device_report(),
            "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
            "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads()}


def write_report(rows: list, directory, extra: Optional[dict] = None, suffix: str = "") -> Path:
    """Write ``<directory>/<YYYY-MM-DD>-<host><suffix>.json`` (rows, environment, `extra`); returns its path."""
    path = Path(directory) / f"{date.today().isoformat()}-{socket.gethostname()}{suffix}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, {"environment": environment(), "rows": [row.to_json() for row in rows], **(extra or {})})
    return path


def print_json_line(obj) -> None:
    """One JSON line on stdout (how a child benchmark process hands its figures back)."""
    print(json.dumps(obj), flush=True)
