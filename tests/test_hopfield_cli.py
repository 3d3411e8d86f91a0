"""`python -m keras_hw2.hopfield {check,retrieve,capacity}` and `tools/bench_hopfield.py`."""
import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pytest

from keras_hw2.cli import run_main
from keras_hw2.errors import InputError
from keras_hw2.hopfield.__main__ import main
from keras_hw2.hopfield.check import UPPER_LIMITS
from keras_hw2.hopfield.demo import RetrieveConfig
REPO = Path(__file__).resolve().parents[1]

TINY = ["--num-patterns", "8", "--pattern-size", "4", "--num-queries", "4", "--betas", "0.5", "1000",
        "--noise-levels", "0.5", "--mask-levels", "0.25", "--max-steps", "5"]


def test_check_prints_every_figure_at_machine_precision(run_root, capsys):
    assert main(["check", "--num-instances", "8", "--seed", "1", "--runs-dir", str(run_root), "--run-name", "c"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("devices: ") and lines[1].startswith("modern Hopfield calculus check: 8 random")
    assert lines[-2] == "all checks passed" and lines[-1] == f"wrote {run_root / 'hopfield-check' / 'c' / 'check.json'}"
    figures = {line.split()[0]: line.split()[1] for line in lines[2:-2]}
    for key in [*UPPER_LIMITS, "min_eigenvalue_convex", "min_eigenvalue_concave", "large_beta_finite"]:
        assert any(line.split()[0] == key and line.endswith("PASS") for line in lines[2:-3]), key
    for key in ("gradient_error_concave", "hessian_error_concave", "attention_error_cccp", "lse_bound_violation"):
        assert float(figures[key]) < 1e-12, key
    assert float(figures["min_eigenvalue_convex"]) == 1.0
    saved = json.loads((run_root / "hopfield-check" / "c" / "check.json").read_text())
    assert saved["all_passed"] and saved["figures"]["num_instances"] == 8


def test_a_failed_check_exits_with_status_1(run_root, monkeypatch, capsys):
    monkeypatch.setitem(UPPER_LIMITS, "gradient_error_concave", -1.0)  # no error can be below this
    assert main(["check", "--num-instances", "4", "--runs-dir", str(run_root)]) == 1
    out = capsys.readouterr().out
    assert "gradient_error_concave" in out and "FAIL" in out and "SOME CHECKS FAILED" in out


def test_module_entry_point_reports_bad_input_in_one_line(python, tmp_path):
    result = python("-m", "keras_hw2.hopfield", "retrieve", "--data", str(tmp_path / "missing.npz"),
                    "--runs-dir", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == f"error: {tmp_path / 'missing.npz'}: no such file"
    assert not (tmp_path / "hopfield").exists()


def test_retrieve_writes_report_and_plots_into_the_run_directory(run_root, capsys):
    assert main(["retrieve", *TINY, "--runs-dir", str(run_root), "--run-name", "tiny", "--seed", "3"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("devices: ") and "retrieval accuracy, N=8 D=16" in out
    # the progress bar's line when done: 4 queries for each of 2 corruptions x 2 betas
    assert err.startswith("16/16 - ") and err.endswith("/query\n")
    run_dir = run_root / "hopfield" / "tiny"
    assert {"config.json", "report.json", "accuracy.png", "energy.png", "examples.png"} <= {
        p.name for p in run_dir.iterdir()}
    config = json.loads((run_dir / "config.json").read_text())
    assert config["seed"] == 3 and config["betas"] == [0.5, 1000.0] and config["data"] is None
    report = json.loads((run_dir / "report.json").read_text())
    assert [(r["corruption"], r["level"], r["beta"]) for r in report["results"]] == [
        ("noise", 0.5, 0.5), ("noise", 0.5, 1000.0), ("mask", 0.25, 0.5), ("mask", 0.25, 1000.0)]
    at_large_beta = [r for r in report["results"] if r["beta"] == 1000.0]
    assert all(r["accuracy"] == 1.0 and r["mean_distance_to_target"] < 1e-3 for r in at_large_beta)


def test_retrieve_uses_images_from_an_npz(run_root, tmp_path, capsys):
    rng = np.random.default_rng(0)
    path = tmp_path / "images.npz"
    np.savez(path, train_images=rng.integers(0, 256, size=(10, 12, 12, 3), dtype=np.uint8))
    assert main(["retrieve", *TINY, "--data", str(path), "--runs-dir", str(run_root), "--run-name", "img",
                 "--quiet"]) == 0
    report = json.loads((run_root / "hopfield" / "img" / "report.json").read_text())
    assert report["dim"] == 12 * 12 * 3 and report["image_shape"] == [12, 12, 3]
    out, err = capsys.readouterr()
    assert out.startswith("retrieval accuracy, N=8 D=432") and err == ""  # --quiet: no device line, no progress


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    ({"images": np.zeros((10, 4, 4, 3), np.uint8)}, "no key 'train_images' (keys: images)"),
    ({"train_images": np.zeros((10, 4, 4), np.uint8)}, "train_images must be uint8 of shape (n, H, W, C)"),
    ({"train_images": np.zeros((3, 4, 4, 3), np.uint8)}, "holds 3 images, fewer than --num-patterns 8"),
])
def test_bad_data_is_a_one_line_error_before_any_work(run_root, tmp_path, capsys, content, message):
    path = tmp_path / "data.npz"
    if content is not None:
        np.savez(path, **content)
    code = run_main(main, ["retrieve", *TINY, "--data", str(path), "--runs-dir", str(run_root)])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {path}: ") and message in err[0]


@pytest.mark.parametrize("kwargs, message", [
    ({"betas": (1.0, -1.0)}, "--betas must be a finite number > 0. Received: --betas=-1.0"),
    ({"betas": ()}, "--betas must list at least one inverse temperature"),
    ({"mask_levels": (1.0,)}, "--mask-levels must be a finite number in [0, 1). Received: --mask-levels=1.0"),
    ({"noise_levels": (float("inf"),)}, "--noise-levels must be a finite number >= 0. Received: --noise-levels=inf"),
    ({"noise_levels": (), "mask_levels": ()}, "both empty"),
    ({"num_queries": 300}, "--num-queries must not exceed --num-patterns (256). Received: --num-queries=300"),
    ({"max_steps": 0}, "--max-steps must be an integer >= 1. Received: --max-steps=0"),
    ({"tol": float("nan")}, "--tol must be a finite number >= 0. Received: --tol=nan"),
    ({"seed": -1}, "--seed must be an integer >= 0. Received: --seed=-1"),
])
def test_bad_demo_settings_are_refused(kwargs, message):
    with pytest.raises(InputError) as info:
        RetrieveConfig(**kwargs)
    assert message in str(info.value)


def test_benchmark_prints_json_with_all_four_implementations(run_root, capsys):
    spec = importlib.util.spec_from_file_location("bench_hopfield", REPO / "tools" / "bench_hopfield.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--quick", "--runs-dir", str(run_root), "--run-name", "quick"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["num_patterns"], report["dim"], report["batch_size"], report["steps"]) == (200, 32, 16, 3)
    assert list(report["results"]) == ["numpy", "tf_eager", "tf_function", "tf_function_xla"]
    for entry in report["results"].values():
        assert set(entry) == {"seconds_per_batch", "queries_per_s", "speedup_vs_numpy", "max_abs_diff_vs_numpy"}
        assert entry["queries_per_s"] > 0 and entry["max_abs_diff_vs_numpy"] < 1e-4
    assert report["results"]["numpy"]["speedup_vs_numpy"] == 1.0
    assert json.loads((run_root / "hopfield-bench" / "quick" / "bench.json").read_text()) == report


CAPACITY_TINY = ["--dims", "16,32", "--patterns", "2", "4", "64", "--betas", "0.01,1", "--num-queries", "20",
                 "--max-steps", "3"]


def test_capacity_writes_its_table_json_and_plots_into_the_run_directory(run_root, capsys):
    assert main(["capacity", *CAPACITY_TINY, "--association", "softmax,sparsemax", "--runs-dir", str(run_root),
                 "--run-name", "cap"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[1].startswith("largest N retrieved at >= 99% (grid 2 ... 64")
    assert lines[2].split() == ["association", "beta", "mode", "D=16", "D=32"]
    assert [line.split()[:3] for line in lines[3:-1]] == [
        [a, b, m] for a in ("softmax", "sparsemax") for b in ("0.01", "1") for m in ("one_step", "converged")]
    assert err.startswith("480/480 - ") and err.endswith("/query\n")  # 2 D x 3 N x 2 beta x 2 maps x 20 queries
    run_dir = run_root / "hopfield-capacity" / "cap"
    assert {"config.json", "capacity.json", "accuracy.png", "capacity.png"} <= {p.name for p in run_dir.iterdir()}
    report = json.loads((run_dir / "capacity.json").read_text())
    assert report["config"]["dims"] == [16, 32] and report["config"]["associations"] == ["softmax", "sparsemax"]
    cells = {(r["dim"], r["num_patterns"], r["beta"], r["association"]): r for r in report["results"]}
    # beta=1, D=32: two patterns are told apart at once; the rows skipped after a total failure are absent.
    assert cells[(32, 2, 1.0, "sparsemax")]["accuracy_one_step"] == 1.0
    assert cells[(32, 2, 1.0, "sparsemax")]["error_one_step"] == 0.0  # exactly the stored pattern
    assert all(0.0 <= r["accuracy_one_step"] <= 1.0 for r in report["results"])
    assert len(report["capacity"]) == 2 * 2 * 2 * 2
    assert lines[-1].startswith(f"wrote {run_dir}/: capacity.json, accuracy.png, capacity.png")


def test_capacity_is_the_largest_n_before_the_first_miss():
    from keras_hw2.hopfield.capacity import CapacityConfig, capacities
    config = CapacityConfig(dims=(8,), patterns=(2, 4, 8, 16), betas=(1.0,), associations=("softmax",))
    accuracies = {2: 1.0, 4: 0.995, 8: 0.97, 16: 1.0}  # 16 passes again, after a miss: not counted
    results = [{"dim": 8, "num_patterns": n, "beta": 1.0, "association": "softmax", "accuracy_one_step": a,
                "accuracy_converged": 1.0} for n, a in accuracies.items()]
    one_step, converged = capacities(results, config)
    assert (one_step["largest_n"], one_step["saturated"]) == (4, False)
    assert (converged["largest_n"], converged["saturated"]) == (16, True)
    results[0]["accuracy_one_step"] = 0.5
    assert capacities(results, config)[0]["largest_n"] is None


def test_capacity_queries_have_exactly_the_flipped_signs():
    from keras_hw2.hopfield.capacity import CapacityConfig, make_cell
    stored, queries, targets = make_cell(40, 10, CapacityConfig(flip=0.25, num_queries=30))
    assert set(np.unique(stored)) == {-1.0, 1.0} and queries.shape == (30, 40)
    np.testing.assert_array_equal(np.sum(queries != stored[targets], axis=1), 10)


@pytest.mark.parametrize("arguments, message", [
    (["--dims", "64,0"], "--dims must be an integer >= 1. Received: --dims=0"),
    (["--dims", "64,128,64"], "--dims lists 64 more than once. Received: --dims='64,128,64'"),
    (["--patterns", "4,x"], "--patterns must be an integer >= 1. Received: --patterns='x'"),
    (["--betas", "1,nan"], "--betas must be a finite number > 0. Received: --betas=nan"),
    (["--betas", "-1"], "--betas must be a finite number > 0. Received: --betas=-1.0"),
    (["--betas", "inf"], "--betas must be a finite number > 0. Received: --betas=inf"),
    (["--betas", "0.1", "0.1"], "--betas lists 0.1 more than once. Received: --betas='0.1,0.1'"),
    (["--association", "softmax,sparse"], "--association must be one of softmax, sparsemax, entmax15. "
                                          "Received: --association='sparse'"),
    (["--flip", "0.5"], "--flip must be a finite number in [0, 0.5). Received: --flip=0.5"),
])
def test_bad_capacity_lists_are_one_line_errors_before_any_work(run_root, capsys, arguments, message):
    assert run_main(main, ["capacity", *arguments, "--runs-dir", str(run_root)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {message}"]
    assert not (run_root / "hopfield-capacity").exists()


IMPORTS_AFTER = """
import runpy, sys
target, sys.argv = sys.argv[1], sys.argv[1:]
try:
    runpy.run_path(target, run_name="__main__") if target.endswith(".py") else runpy.run_module(target,
                                                                                              run_name="__main__")
except SystemExit as e:
    print("exit", e.code)
print("tensorflow imported:", "tensorflow" in sys.modules)
"""


@pytest.mark.parametrize("target, argv, code", [
    ("keras_hw2.hopfield", ["capacity", "--help"], 0),
    ("keras_hw2.hopfield", ["capacity", "--num-queries", "x"], 2),
    (str(REPO / "tools" / "bench_hopfield.py"), ["--help"], 0),
    (str(REPO / "tools" / "bench_hopfield.py"), ["--dim", "0"], 2),
])
def test_help_and_argument_errors_import_no_tensorflow(python, target, argv, code):
    result = python("-c", IMPORTS_AFTER, target, *argv, env={"TF_CPP_MIN_LOG_LEVEL": ""})
    assert result.stdout.splitlines()[-2:] == [f"exit {code}", "tensorflow imported: False"], result.stderr


def test_bench_and_capacity_print_no_tensorflow_line(python, tmp_path):
    bench = python(str(REPO / "tools" / "bench_hopfield.py"), "--quick", "--runs-dir", str(tmp_path),
                   env={"TF_CPP_MIN_LOG_LEVEL": ""})
    assert bench.returncode == 0 and bench.stderr.splitlines() == [bench.stderr.splitlines()[0]]
    assert bench.stderr.startswith("devices: ") and json.loads(bench.stdout)["dim"] == 32
    capacity = python("-m", "keras_hw2.hopfield", "capacity", "--dims", "8", "--patterns", "2", "--betas", "1",
                      "--num-queries", "5", "--runs-dir", str(tmp_path), env={"TF_CPP_MIN_LOG_LEVEL": ""})
    assert capacity.returncode == 0 and capacity.stdout.startswith("devices: ")
    assert capacity.stderr.startswith("15/15 - ") and len(capacity.stderr.splitlines()) == 1  # the progress bar only
    bad = python(str(REPO / "tools" / "bench_hopfield.py"), "--steps", "-1", env={"TF_CPP_MIN_LOG_LEVEL": ""})
    assert bad.returncode == 2 and bad.stderr == ("error: python tools/bench_hopfield.py: --steps must be an integer "
                                                  ">= 1. Received: --steps=-1 (see --help)\n")


def test_capacity_help_states_the_config_defaults(capsys):
    from keras_hw2.hopfield.capacity import CapacityConfig
    with pytest.raises(SystemExit):
        main(["capacity", "--help"])
    text = " ".join(capsys.readouterr().out.split("options:", 1)[1].split())  # past the usage lines
    defaults = CapacityConfig()
    for flag, value in (("--dims", defaults.dims), ("--betas", defaults.betas), ("--flip", defaults.flip),
                        ("--num-queries", defaults.num_queries), ("--max-steps", defaults.max_steps)):
        stated = re.search(re.escape(flag) + r" [A-Z_ ]+\.*\s.*?\(default ([^)]+)\)", text).group(1)
        shown = ",".join(f"{v:g}" for v in value) if isinstance(value, tuple) else f"{value:g}"
        assert stated == shown, flag
    assert "(default 2,4,...,32768)" in text and defaults.patterns == tuple(2 ** k for k in range(1, 16))
    assert "(default all three)" in text and defaults.associations == ("softmax", "sparsemax", "entmax15")
