"""Steps: each piece of the report runs once per configuration, is reused afterwards, and may fail alone.

A step is a key (``"cnn-baseline"``), a title, a JSON-ready configuration and a
function computing a JSON-ready result in a run directory
``<runs-dir>/report/<key>-<digest of the configuration>/`` (`keras_hw2.runs.open_run`:
locked while in use; the same configuration gives the same directory). The
result goes to ``result.json`` there once the function returns; a later call
finds it and reuses the step without running anything. A function that raises
marks the step failed (its error is kept for the report) and the steps after
it still run; a step whose prerequisite failed is not run. Ctrl-C and a write without
room (a `keras_hw2.errors.ResourceError`: exit status 4, the finished steps kept) propagate.
After each step, one progress line says what ran, how long it took and how
many steps remain.
"""
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Optional

from keras_hw2.errors import ResourceError, room_to_write
from keras_hw2.report.inputs import digest
from keras_hw2.runs import open_run, read_json, write_json

TASK = "report"  # runs/report/<key>-<digest>/
RESULT_FILE = "result.json"
RESULT_VERSION = 2  # part of every step's configuration: raise it when a result's layout changes


@dataclass
class Outcome:
    """What became of one step.

    Attributes:
        key: the step's key, e.g. ``"cnn-baseline"``.
        title: what the step does, for people.
        status: ``"finished"``, ``"failed"`` or ``"not run"`` (interrupted before it).
        reused: True when the result was found from an earlier call.
        seconds: wall time of this call's work on the step.
        directory: the step's directory (None when it was not run).
        result: the step's JSON-ready result (empty unless finished).
        error: why it failed.
        trained_epochs: epochs trained by this call (0 when reused).
    """
    key: str
    title: str
    status: str
    reused: bool = False
    seconds: float = 0.0
    directory: Optional[str] = None
    result: dict = field(default_factory=dict)
    error: Optional[str] = None
    trained_epochs: int = 0

    @property
    def finished(self) -> bool:
        return self.status == "finished"

    def as_dict(self) -> dict:
        return asdict(self)


class StepRunner:
    """Runs the report's steps in order, reusing finished ones, and prints a line after each.

    Args:
        root: the runs directory (``--runs-dir``).
        total: how many steps the report has (for "k/n" and "n steps left").
        echo: prints the progress line of a finished step (e.g. `print`; a no-op for ``--quiet``).
        warn: prints the progress line of a failed step (on stderr, also with ``--quiet``).
    """

    def __init__(self, root, total: int, echo: Callable[[str], None], warn: Callable[[str], None]):
        self.root = Path(root)
        self.total = total
        self.echo = echo
        self.warn = warn
        self.outcomes = []
        self.current = None  # the title of the step running now

    def run(self, key: str, title: str, config: dict, compute: Callable, needs=()) -> Outcome:
        """Run (or reuse) one step; returns its `Outcome`.

        Args:
            key: the step's key; with the configuration's digest, its directory name.
            title: what it does.
            config: its JSON-ready configuration (what decides whether a result can be reused).
            compute: ``run -> result dict``; the run is the step's open `keras_hw2.runs.Run`. A result
                may hold ``"trained_epochs"`` (how many epochs this call trained), which the outcome takes.
            needs: outcomes of earlier steps that must have finished.
        """
        self.current = title
        failed = [outcome for outcome in needs if not outcome.finished]
        if failed:
            return self._record(Outcome(key, title, "failed",
                                        error=f"not run: it needs '{failed[0].title}', which failed"))
        config = {**config, "result_version": RESULT_VERSION}
        name = f"{key}-{digest(config)}"
        directory = self.root / TASK / name
        start = time.perf_counter()
        if (directory / RESULT_FILE).is_file():
            return self._record(Outcome(key, title, "finished", reused=True, directory=str(directory),
                                        result=read_json(directory / RESULT_FILE),
                                        seconds=time.perf_counter() - start))
        with open_run(TASK, config, name=name, root=self.root) as run:
            try:
                with room_to_write(directory, also=(Exception,)):  # no room: every later step would fail too
                    result = compute(run)
            except (KeyboardInterrupt, ResourceError):
                raise
            except Exception as e:  # any other failure of a step is reported, not fatal to the report
                message = (str(e).splitlines() or [""])[0]
                return self._record(Outcome(key, title, "failed", directory=str(directory),
                                            seconds=time.perf_counter() - start,
                                            error=f"{type(e).__name__}: {message}"))
            trained = result.pop("trained_epochs", 0)
            write_json(run.file(RESULT_FILE), result)
        return self._record(Outcome(key, title, "finished", directory=str(directory), result=result,
                                    seconds=time.perf_counter() - start, trained_epochs=trained))

    def _record(self, outcome: Outcome) -> Outcome:
        self.current = None
        self.outcomes.append(outcome)
        done = len(self.outcomes)
        left = f"{self.total - done} step{'s' if self.total - done != 1 else ''} left"
        if outcome.finished and outcome.reused:
            what = f"reused {outcome.directory}"
        elif outcome.finished:
            trained = f", {outcome.trained_epochs} epochs trained" if outcome.trained_epochs else ""
            what = f"finished in {outcome.seconds:.1f} s{trained}"
        elif outcome.directory is None:
            what = f"FAILED, {outcome.error}"
        else:
            what = f"FAILED after {outcome.seconds:.1f} s: {outcome.error}"
        line = f"[{done}/{self.total}] {outcome.title}: {what}; {left}"
        (self.echo if outcome.finished else self.warn)(line)
        return outcome
