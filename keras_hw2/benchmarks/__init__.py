"""Benchmarks of issue 12: one harness (`harness`), one module per task, ``python -m keras_hw2.benchmarks``.

`harness` times calls and formats the rows; `p2g` and `cnn` hold each task's
rows; `rss` measures peak memory in fresh processes; `profile` sums the op
times of a `tf.profiler` trace; `gpu` runs the GPU checks (``tools/gpu_check.py``,
`gpu_command`); `hopfield` times CCCP retrieval for ``tools/bench_hopfield.py``. The commands write their JSON under `OUTPUT_DIR` (git-ignored, like
every run output); the figures committed in ``benchmarks/`` were copied there by hand.
docs/performance.md holds the figures and the levers tried.
"""
OUTPUT_DIR = "runs/bench"  # default --output-dir of the benchmark commands
