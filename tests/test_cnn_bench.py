"""tools/bench_cnn.py: one JSON row per model, batch size, jit_compile and steps_per_execution."""
import importlib.util
from pathlib import Path

import pytest


@pytest.mark.slow
def test_benchmark_compares_every_setting():
    path = Path(__file__).resolve().parents[1] / "tools" / "bench_cnn.py"
    spec = importlib.util.spec_from_file_location("bench_cnn", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    results = bench.benchmark(batch_sizes=(8,), steps_per_execution=(1, 4), num_images=64, repeats=1)
    settings = {(r["model"], r["batch_size"], r["jit_compile"], r["steps_per_execution"]) for r in results["results"]}
    assert settings == {(m, 8, j, s) for m in ("baseline", "batchnorm") for j in (False, True) for s in (1, 4)}
    assert all(r["train_images_per_s"] > 0 and r["eval_images_per_s"] > 0 for r in results["results"])
    assert set(results["fastest_training"]) == {"baseline@8", "batchnorm@8"}
    assert "speedup_vs_pytorch_reference" in results["fastest_training"]["baseline@8"]
