"""`python -m keras_hw2.hopfield {check,retrieve}` and `tools/bench_hopfield.py`."""
import importlib.util
import json
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
