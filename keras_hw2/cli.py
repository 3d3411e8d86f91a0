"""Pieces shared by every command-line entry point.

An entry point (``if __name__ == "__main__":`` of a ``__main__`` module or a tool)
calls `entry_point(main)`. That sets TensorFlow's environment before TensorFlow
is first imported (`set_tensorflow_environment`) and runs ``main`` under
`run_main`, which turns bad input into one ``error: ...`` line and exit status 2.
``main`` parses its arguments with `ArgumentParser` (argument errors are one line
too; numbers through `integer` / `number`, i.e. `keras_hw2.checks`), and only then
calls `start_tensorflow`: ``--help`` and argument errors never import TensorFlow.
"""
import argparse
import contextlib
import math
import os
import re
import sys
import tempfile

from keras_hw2 import checks
from keras_hw2.errors import NO_ROOM_ERRNOS, InputError, ResourceError, TrainingError

# Defaults for TensorFlow's environment, applied when a variable is unset or empty:
# - TF_CPP_MIN_LOG_LEVEL=3 hides TensorFlow's C++ INFO, WARNING and ERROR log lines: start-up
#   notices, and oneDNN's "supports DT_INT64 only on platforms with AVX-512. Falling back to
#   the default Eigen-based implementation", logged as an ERROR while the p2g model runs.
#   Real errors still arrive as Python exceptions; TF_CPP_MIN_LOG_LEVEL=0 shows every line.
# - TF_ENABLE_ONEDNN_OPTS=1: TensorFlow turns its oneDNN CPU kernels on by default only on
#   some Intel CPUs; on the project's 2-core AMD machine they train the CNNs about 2.3x
#   faster (docs/performance.md).
TENSORFLOW_ENVIRONMENT = {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "1"}

# Lines TensorFlow's libraries print while loading, before absl logging is initialised.
# absl writes every message to stderr until then, whatever TF_CPP_MIN_LOG_LEVEL says
# (abseil/abseil-cpp#1957, open), so they are dropped here: the absl notice itself and the
# INFO, WARNING and ERROR lines in absl's format (what level 3 hides once logging is set up:
# the CUDA stub and driver probes, the oneDNN and CPU-feature notices).
_STARTUP_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IWE]\d{4} [\d:.]+ +\d+ \S+:\d+\] .*"
    r"|To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags\."
    r"|INFO: Created TensorFlow Lite XNNPACK delegate for CPU\."  # LiteRT's interpreter
    r"|fully_quantize: \d+, inference_type: \d+, input_inference_type: \w+, output_inference_type: \w+)$")
_filter_startup_lines = False  # set by set_tensorflow_environment when it chose the log level


def set_tensorflow_environment(environ=None) -> None:
    """Set `TENSORFLOW_ENVIRONMENT`'s defaults; call it before TensorFlow is first imported.

    A variable the user set keeps its value; an empty one counts as unset.
    When the user set ``TF_CPP_MIN_LOG_LEVEL`` themselves, `start_tensorflow`
    shows TensorFlow's start-up lines unfiltered.

    Args:
        environ: the mapping to change (default `os.environ`).

    Example:
    >>> env = {"TF_CPP_MIN_LOG_LEVEL": "", "TF_ENABLE_ONEDNN_OPTS": "0"}
    >>> set_tensorflow_environment(env)
    >>> env
    {'TF_CPP_MIN_LOG_LEVEL': '3', 'TF_ENABLE_ONEDNN_OPTS': '0'}
    """
    global _filter_startup_lines
    is_process_environment = environ is None
    environ = os.environ if environ is None else environ
    for name, value in TENSORFLOW_ENVIRONMENT.items():
        if not environ.get(name):
            environ[name] = value
            if name == "TF_CPP_MIN_LOG_LEVEL" and is_process_environment:
                _filter_startup_lines = True


def start_tensorflow() -> None:
    """Import TensorFlow and find its devices, without its C++ start-up lines.

    While TensorFlow loads, its native stderr is filtered (`native_lines_filtered`).
    Only filters when `set_tensorflow_environment` chose the log level; does
    nothing once TensorFlow is imported.
    """
    if "tensorflow" in sys.modules:
        return
    with native_lines_filtered():
        import tensorflow as tf
        tf.config.list_physical_devices()  # the CUDA probe happens here


@contextlib.contextmanager
def native_lines_filtered():
    """Within it, file descriptor 2 goes to a temporary file; on exit what it caught is written to stderr minus
    TensorFlow's and LiteRT's C++ notices (`without_startup_lines`). Does nothing unless
    `set_tensorflow_environment` chose the log level (``TF_CPP_MIN_LOG_LEVEL`` set by the user: all shown)."""
    if not _filter_startup_lines:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            kept = without_startup_lines(caught.read().decode("utf-8", "replace"))
            if kept:
                print(kept, file=sys.stderr, flush=True)


def without_startup_lines(text: str) -> str:
    """`text` (what TensorFlow printed while loading) without its C++ start-up lines (`_STARTUP_NOISE`).

    Example:
    >>> without_startup_lines("I0000 00:00:1795755193.717507    7458 cudart_stub.cc:31] Could not find cuda "
    ...                       "drivers on your machine, GPU will not be used.\\nsomething else")
    'something else'
    """
    return "\n".join(line for line in text.splitlines() if not _STARTUP_NOISE.match(line))


class ArgumentParser(argparse.ArgumentParser):
    """`argparse.ArgumentParser` whose errors are one line, ``error: <prog>: <what>``, exit status 2."""

    def error(self, message):
        message = re.sub(r"^argument [^:]+: (?=--)", "", message)  # `integer`/`number` name the flag already
        self.exit(2, f"error: {self.prog}: {message} (see --help)\n")


def integer(flag: str, minimum: int = 0, maximum=None):
    """An argparse ``type`` parsing `flag`'s text as an integer in ``[minimum, maximum]`` (`checks.Integer`)."""
    return _argument_type(checks.Integer(minimum, maximum), flag, int)


def number(flag: str, low=-math.inf, high=math.inf, low_open=False, high_open=False):
    """An argparse ``type`` parsing `flag`'s text as a finite number in an interval (`checks.Number`)."""
    return _argument_type(checks.Number(low, high, low_open, high_open), flag, float)


def _argument_type(rule, flag: str, convert):
    """An argparse ``type``: `convert` the text (left as text when it fails), then ``rule.check(flag, value)``."""
    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            value = text
        try:
            rule.check(flag, value)
        except InputError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
        return value
    return parse


def add_seed_argument(parser, text: str = "seed for Python, NumPy and TensorFlow") -> None:
    """``--seed N``: an integer >= 0, default 0."""
    parser.add_argument("--seed", type=integer("--seed", minimum=0), default=0, help=f"{text} (default 0)")


def add_quiet_argument(parser: argparse.ArgumentParser) -> None:
    """``--quiet``: no progress bars and no start-up lines; results and errors are still printed."""
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bars or start-up lines (results and errors are still printed)")


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options every training command takes: seed, run directory, ``--quiet``."""
    group = parser.add_argument_group("run")
    add_seed_argument(group)
    group.add_argument("--deterministic", action="store_true",
                       help="also make TensorFlow ops deterministic (slower on GPU)")
    group.add_argument("--runs-dir", default="runs", help="root of all run directories (default runs/)")
    group.add_argument("--run-name", default=None,
                       help="run directory name (default: a timestamp); re-using a name resumes that run")
    add_quiet_argument(group)


def add_follow_links_argument(parser) -> None:
    """``--follow-links``: read a data folder's files that are symbolic links to files outside it."""
    parser.add_argument("--follow-links", action="store_true",
                        help="folder data: read images that are symbolic links to files outside the folder "
                             "(default: refused, as Keras' image_dataset_from_directory)")


def warn_deprecated(old: str, new: str) -> None:
    """Say on stderr, in one line, that the spelling `old` is deprecated and `new` replaces it."""
    print(f"warning: {old} is deprecated; use {new}", file=sys.stderr)


class DeprecatedAlias(argparse.Action):
    """An argparse action for a deprecated option: stores its value like the option `new`, and says so once.

    Example: ``parser.add_argument("--lrs", dest="learning_rates", nargs="+", action=DeprecatedAlias,
    new="--learning-rates", help=argparse.SUPPRESS)``, or `add_hidden_alias`.
    """

    def __init__(self, option_strings, dest, new=None, **kwargs):
        super().__init__(option_strings, dest, **kwargs)
        self.new = new or "--" + dest.replace("_", "-")

    def __call__(self, parser, namespace, values, option_string=None):
        warn_deprecated(option_string, self.new)
        setattr(namespace, self.dest, values)


def add_hidden_alias(parser: argparse.ArgumentParser, old: str, dest: str, new=None, **kwargs) -> None:
    """Accept the deprecated spelling `old` of an option (stored in `dest`) without listing it in --help.

    Using it prints one line naming the new spelling: `new`, by default ``--`` + `dest` with dashes
    (`DeprecatedAlias`). `kwargs` go to ``add_argument`` (``type``, ``nargs``, ...).
    """
    parser.add_argument(old, dest=dest, default=argparse.SUPPRESS, help=argparse.SUPPRESS,
                        action=DeprecatedAlias, new=new, **kwargs)


def say(args, *lines) -> None:
    """Print start-up lines (devices, data, run directory): none under ``--quiet``, on stderr under ``--json``."""
    if not getattr(args, "quiet", False):
        print(*lines, sep="\n", file=sys.stderr if getattr(args, "json", False) else sys.stdout)


def say_run(args, run, config) -> None:
    """The start-up line of a training command: `Run.describe` (``run: <directory>`` and whether it resumes or
    is finished), then ``| <config>`` (`say`)."""
    say(args, f"{run.describe()} | {config}")


def outputs_line(run, files) -> str:
    """A training command's last line: ``outputs in <run>: <files>; tensorboard --logdir <run>``."""
    return f"outputs in {run.path}: {', '.join(files)}; tensorboard --logdir {run.path}"


def export_run(args, write) -> int:
    """What every task's ``export`` prints after ``write()`` (which exports ``--run``, returning the version
    directory) succeeded: the devices line (`say`), ``exported <directory>``, and a one-line warning on stderr
    when the run had not finished (`keras_hw2.checkpoints.unfinished`). Bad input stops `write` first, so
    nothing is printed but its error line."""
    from keras_hw2 import checkpoints
    from keras_hw2.devices import device_report

    directory = write()
    say(args, device_report())
    print(f"exported {directory}")
    note = checkpoints.unfinished(args.run)
    if note:
        print(f"warning: {note}", file=sys.stderr)
    return 0


def verbosity(args) -> object:
    """Keras-style ``verbose`` for a command's progress bars: 0 with ``--quiet``, else "auto"."""
    return 0 if getattr(args, "quiet", False) else "auto"


def run_main(main, argv=None) -> int:
    """Call `main(argv)`; turn an `InputError` into one line on stderr and exit status 2.

    A `TrainingError` (a training that started but could not go on) is one line too, exit status 3.
    A write that found no room (a `ResourceError`, or any `OSError` of a full disk, a quota or a
    file-size limit) is one line naming the file, exit status 4 (docs/reliability.md).

    Output cut short by its reader (a closed pipe) ends quietly with exit status 1.

    Ctrl-C (`KeyboardInterrupt`) ends with one line, ``interrupted: <where>``, and
    exit status 130; code that knows where a run can be resumed raises
    ``KeyboardInterrupt("at epoch N; re-run the same command to resume")``.
    """
    try:
        return main(argv) or 0
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except TrainingError as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    except ResourceError as e:
        print(f"error: {e}", file=sys.stderr)
        return 4
    except BrokenPipeError:
        # the reader of our output went away (`... | head`): stop quietly, as Unix tools do; stdout now goes
        # nowhere, so that flushing it at exit raises nothing more (the recipe of Python's `signal` docs)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as e:
        if e.errno not in NO_ROOM_ERRNOS:
            raise
        print(f"error: {e.filename or 'a file'}: {os.strerror(e.errno)} while writing it; make room and re-run "
              "the same command", file=sys.stderr)
        return 4
    except KeyboardInterrupt as e:
        print(f"interrupted{': ' + str(e) if str(e) else ''}", file=sys.stderr)
        return 130


def entry_point(main) -> None:
    """What ``if __name__ == "__main__":`` calls: set TensorFlow's environment, run `main`, exit."""
    set_tensorflow_environment()
    sys.exit(run_main(main))
