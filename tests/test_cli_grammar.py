"""One command-line grammar: the same verbs and flag names in every task, hidden deprecated spellings,
help without TensorFlow, TensorFlow's environment set by the entry points, progress bars on stderr."""
import re

import pytest

from keras_hw2 import __main__ as top
from keras_hw2 import cli
from keras_hw2.cnn import __main__ as cnn_cli
from keras_hw2.hopfield import __main__ as hopfield_cli
from keras_hw2.p2g import __main__ as p2g_cli

NO_TENSORFLOW = """
import runpy, sys
sys.argv = [sys.argv[1], *sys.argv[2:]]
try:
    runpy.run_module(sys.argv[0], run_name="__main__")
except SystemExit as e:
    print("exit", e.code)
print("imported:", sorted(m for m in ("tensorflow", "keras", "numpy") if m in sys.modules))
"""


@pytest.mark.parametrize("module, argv", [
    ("keras_hw2", ["--help"]),
    ("keras_hw2.cnn", ["--help"]),
    ("keras_hw2.cnn", ["predict", "--help"]),
    ("keras_hw2.p2g", ["evaluate", "--help"]),
    ("keras_hw2.hopfield", ["retrieve", "--help"]),
    ("keras_hw2.p2g", ["predict", "--run", "r", "--beam", "0", "K AE T"]),  # an argument error
])
def test_help_and_argument_errors_import_no_tensorflow(python, module, argv):
    result = python("-c", NO_TENSORFLOW, module, *argv, env={"TF_CPP_MIN_LOG_LEVEL": ""})
    assert result.stdout.splitlines()[-1] == "imported: []", result.stdout[-1000:] + result.stderr[-1000:]
    assert result.stdout.splitlines()[-2] == f"exit {2 if '--beam' in argv else 0}"


def test_module_help_prints_no_tensorflow_line(python):
    result = python("-m", "keras_hw2.cnn", "--help", env={"TF_CPP_MIN_LOG_LEVEL": ""})
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.startswith("usage: python -m keras_hw2.cnn [-h] {train,evaluate,predict,export,params}")


def test_top_level_lists_every_task_and_verb(capsys):
    assert top.main(["--help"]) == 0
    out = capsys.readouterr().out
    listed = re.findall(r"^ {4}(\w+) ", out, flags=re.MULTILINE)
    assert listed == ["train", "evaluate", "predict", "export", "params", "train", "evaluate", "predict", "export",
                      "check", "retrieve", "capacity"]
    assert re.findall(r"^ {2}(\w+) ", out, flags=re.MULTILINE) == ["cnn", "p2g", "hopfield"]
    assert top.main(["svm"]) == 2


def _parse(module, argv):
    return vars(module.build_parser().parse_args(argv))


@pytest.mark.parametrize("verb, argv, expected", [
    ("train", ["--data", "D", "--learning-rate", "0.5", "--batch-size", "4", "--epochs", "2", "--strategy",
               "mirrored", "--seed", "3", "--runs-dir", "R", "--run-name", "N", "--quiet"],
     {"data": "D", "batch_size": 4, "epochs": 2, "strategy": "mirrored", "seed": 3, "runs_dir": "R",
      "run_name": "N", "quiet": True}),
    ("evaluate", ["--run", "R", "--data", "D", "--batch-size", "5", "--seed", "2", "--quiet"],
     {"run": "R", "data": "D", "batch_size": 5, "seed": 2, "quiet": True}),
    ("export", ["--run", "R", "--name", "n", "--version", "2", "--models-dir", "M", "--quiet"],
     {"run": "R", "name": "n", "version": 2, "models_dir": "M", "quiet": True}),
])
def test_both_tasks_spell_the_same_things_alike(verb, argv, expected):
    for module in (cnn_cli, p2g_cli):
        parsed = _parse(module, [verb, *argv])
        assert {key: parsed[key] for key in expected} == expected, module.__name__
    assert float(_parse(p2g_cli, ["train", "--learning-rate", "0.5"])["learning_rate"]) == 0.5
    assert float(_parse(cnn_cli, ["train", "--learning-rate", "0.5"])["learning_rate"]) == 0.5


@pytest.mark.parametrize("module, old, new", [
    (cnn_cli, ["train", "--lr", "0.2"], ["train", "--learning-rate", "0.2"]),
    (cnn_cli, ["export", "--run", "R", "--root", "M"], ["export", "--run", "R", "--models-dir", "M"]),
    (p2g_cli, ["train", "--data-dir", "D"], ["train", "--data", "D"]),
    (p2g_cli, ["export", "--checkpoint", "R", "--root", "M"], ["export", "--run", "R", "--models-dir", "M"]),
    (p2g_cli, ["predict", "--checkpoint", "R", "K AE T"], ["predict", "--run", "R", "K AE T"]),
    (p2g_cli, ["test", "--checkpoint", "R", "--data", "D"], ["evaluate", "--run", "R", "--data", "D"]),
])
def test_deprecated_spellings_parse_as_the_new_ones_and_stay_out_of_help(module, old, new, capsys):
    parsed, expected = _parse(module, old), _parse(module, new)
    assert {**parsed, "command": expected["command"]} == expected
    spelled = {"--lr": "--learning-rate", "--root": "--models-dir", "--data-dir": "--data", "--checkpoint": "--run"}
    assert capsys.readouterr().err.splitlines() == [f"warning: {flag} is deprecated; use {spelled[flag]}"
                                                    for flag in old if flag in spelled]
    with pytest.raises(SystemExit):
        module.build_parser().parse_args([new[0], "--help"])
    shown = capsys.readouterr().out
    assert not {"--lr", "--root", "--data-dir", "--checkpoint"} & set(re.findall(r"--[\w-]+", shown))
    with pytest.raises(SystemExit):
        module.build_parser().parse_args(["--help"])
    listed = re.findall(r"^ {4}(\w+) ", capsys.readouterr().out, flags=re.MULTILINE)
    assert listed == list(module.VERBS) and "test" not in listed


def test_argument_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cnn_cli.build_parser().parse_args(["predict", "--run", "R", "a.jpg", "--top-k", "x"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == ("error: python -m keras_hw2.cnn predict: --top-k must be an integer >= 1. "
                                       "Received: --top-k='x' (see --help)\n")
    with pytest.raises(SystemExit):
        p2g_cli.build_parser().parse_args(["export"])
    assert capsys.readouterr().err == ("error: python -m keras_hw2.p2g export: one of the arguments --run is "
                                       "required (see --help)\n")


def _help_blocks(text) -> dict:
    """``{flag: its help text}`` from a ``--help`` output, wrapped lines joined."""
    blocks, flag = {}, None
    for line in text.splitlines():
        match = re.match(r"^  (--[\w-]+)(.*?)(?:\s{2,}(.*))?$", line)
        if match:
            flag = match.group(1)
            blocks[flag] = match.group(3) or ""
        elif flag and line.startswith("   "):
            blocks[flag] += " " + line.strip()
        else:
            flag = None
    return blocks


@pytest.mark.parametrize("module, verb, config", [
    (cnn_cli, "train", "keras_hw2.cnn.train.TrainConfig"),
    (p2g_cli, "train", "keras_hw2.p2g.train.TrainConfig"),
    (hopfield_cli, "retrieve", "keras_hw2.hopfield.demo.RetrieveConfig"),
])
def test_defaults_in_help_are_the_configs(module, verb, config, capsys):
    """The training flags default to None and the config fills them in; their help states the config's value."""
    import importlib

    module_name, class_name = config.rsplit(".", 1)
    defaults = getattr(importlib.import_module(module_name), class_name)()
    with pytest.raises(SystemExit):
        module.build_parser().parse_args([verb, "--help"])
    checked = 0
    for flag, text in _help_blocks(capsys.readouterr().out).items():
        match = re.search(r"\(default:? ([^);]+)", text)
        field = flag[2:].replace("-", "_")
        if not match or not hasattr(defaults, field) or field == "seed":
            continue
        value, stated = getattr(defaults, field), match.group(1).split(" (")[0].strip()
        if isinstance(value, tuple):
            assert [float(v) for v in stated.split()] == list(value), flag
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            assert float(stated) == value, flag
        elif isinstance(value, str):
            assert stated == value, flag
        checked += 1
    assert checked >= 5


def test_tensorflow_environment_defaults_yield_to_the_users_values():
    env = {"TF_CPP_MIN_LOG_LEVEL": "0"}
    cli.set_tensorflow_environment(env)
    assert env == {"TF_CPP_MIN_LOG_LEVEL": "0", "TF_ENABLE_ONEDNN_OPTS": "1"}
    env = {"TF_CPP_MIN_LOG_LEVEL": "", "TF_ENABLE_ONEDNN_OPTS": ""}
    cli.set_tensorflow_environment(env)
    assert env == {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "1"}


def test_importing_the_package_sets_no_environment(python):
    result = python("-c", "import os, keras_hw2, keras_hw2.cnn, keras_hw2.p2g, keras_hw2.hopfield; "
                          "print(os.environ.get('TF_ENABLE_ONEDNN_OPTS'))", env={"TF_ENABLE_ONEDNN_OPTS": ""})
    assert result.stdout.strip() == ""


def test_start_up_lines_are_dropped_and_anything_else_kept():
    startup = """WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
I0000 00:00:1795755193.717123    7458 port.cc:153] oneDNN custom operations are on. You may see slightly different.
I0000 00:00:1795755193.717507    7458 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will
W0000 00:00:1795755193.7 7458 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use available CPU.
To enable the following instructions: AVX2 FMA, rebuild TensorFlow with the appropriate compiler flags.
E0000 00:00:1795755198.411407    7458 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: (303)
F0000 00:00:1795755198.411407    7458 some_op.cc:52] a fatal error
a Python warning"""
    assert cli.without_startup_lines(startup) == ("F0000 00:00:1795755198.411407    7458 some_op.cc:52] a fatal error\n"
                                                  "a Python warning")


def test_progress_goes_to_stderr_and_is_silent_when_quiet(capsys):
    from keras_hw2.progress import Progress

    bar = Progress(3, "word", verbose=2)
    bar.add(2)
    bar.add(1)
    out, err = capsys.readouterr()
    assert out == "" and re.fullmatch(r"3/3 - \d+s - \S+/word\n", err)
    quiet = Progress(3, "word", verbose=0)
    quiet.add(3)
    assert capsys.readouterr() == ("", "")


def test_output_cut_short_by_a_closed_pipe_ends_quietly(python):
    # `python -m keras_hw2 | head -1` closes the pipe while the usage is written: no traceback, exit status 1
    code = ("import sys\nfrom keras_hw2 import cli\n"
            "def main(argv):\n    print('partial output')\n    raise BrokenPipeError(32, 'Broken pipe')\n"
            "sys.exit(cli.run_main(main))")
    result = python("-c", code)
    assert (result.returncode, result.stderr) == (1, "")


# Every entry point: `--help` imports no TensorFlow, and neither `--help` nor one real command prints a line of
# TensorFlow's C++ start-up (absl's notice, `I0000 ... cudart_stub.cc:31] ...`, the CPU-feature notice).
TENSORFLOW_LINE = re.compile(r"^(WARNING: All log messages before absl|[IWEF]\d{4} \d\d:\d\d:[\d.]+ +\d+ \S+:\d+\]"
                             r"|To enable the following instructions)", re.MULTILINE)
RUN_ANY = """
import runpy, sys
target, sys.argv = sys.argv[1], sys.argv[1:]
try:
    run = runpy.run_path if target.endswith(".py") else runpy.run_module
    run(target, run_name="__main__")
except SystemExit as e:
    print("exit", e.code)
print("imported:", sorted(m for m in ("tensorflow", "keras") if m in sys.modules))
"""
# (entry point, a real cheap command: `TMP` is a fresh directory, `PYTHON` this interpreter)
ENTRY_POINTS = [
    ("keras_hw2", ["p2g", "predict", "--run", "TMP/nowhere", "K AE T"]),
    ("keras_hw2.cnn", ["params"]),
    ("keras_hw2.p2g", ["predict", "--run", "TMP/nowhere", "K AE T"]),
    ("keras_hw2.hopfield", ["check", "--num-instances", "1", "--runs-dir", "TMP", "--quiet"]),
    ("keras_hw2.serving", ["config", "--models-dir", "TMP"]),
    ("keras_hw2.benchmarks", ["--only", "nothing", "--output-dir", "TMP"]),
    ("keras_hw2 report", ["--data-cnn", "TMP/nowhere.npz", "--out", "TMP/report"]),
    ("tuners.cnn_lr", ["--data", "TMP/nowhere.npz", "--directory", "TMP"]),
    ("tools/intel_folder_to_npz.py", ["--input", "TMP/nowhere", "--output", "TMP/x.npz"]),
    ("tools/distributed_train.py", ["--workers", "1", "--", "PYTHON", "-c", "print('--strategy multiworker')"]),
    ("tools/distributed_sweep.py", ["--workers", "1", "--", "PYTHON", "-c", "pass"]),
    ("tools/gpu_check.py", ["--output-dir", "TMP"]),
    ("tools/bench_hopfield.py", ["--quick", "--repeats", "1", "--runs-dir", "TMP", "--quiet"]),
]


def _entry_point_cases(kind):
    for entry, argv in ENTRY_POINTS:
        yield pytest.param(entry, argv, id=f"{entry} {kind}")


@pytest.mark.parametrize("entry, argv", list(_entry_point_cases("--help")))
def test_every_entry_points_help_imports_no_tensorflow(python, entry, argv):
    target, *first = entry.split()
    result = python("-c", RUN_ANY, target, *first, "--help", env={"TF_CPP_MIN_LOG_LEVEL": ""})
    assert result.stdout.splitlines()[-2:] == ["exit 0", "imported: []"], result.stdout[-500:] + result.stderr[-1500:]
    assert "usage:" in result.stdout and not TENSORFLOW_LINE.search(result.stderr), result.stderr[-1500:]


@pytest.mark.parametrize("entry, argv", list(_entry_point_cases("real command")))
def test_every_entry_points_real_command_prints_no_tensorflow_line(python, entry, argv, tmp_path):
    import sys

    target, *first = entry.split()
    argv = [sys.executable if a == "PYTHON" else a.replace("TMP", str(tmp_path)) for a in argv]
    command = [target] if target.endswith(".py") else ["-m", target]
    result = python(*command, *first, *argv, env={"TF_CPP_MIN_LOG_LEVEL": ""}, timeout=300)
    assert result.returncode in (0, 2), result.stderr[-1500:]
    assert result.returncode == 0 or result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, \
        result.stderr[-1500:]
    assert not TENSORFLOW_LINE.search(result.stderr), result.stderr[-1500:]
