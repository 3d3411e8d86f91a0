"""Benchmarks of issue 12: one harness (`harness`), one module per task, ``python -m keras_hw2.benchmarks``.

`harness` times calls and formats the rows; `p2g` and `cnn` hold each task's
rows; `rss` measures peak memory in fresh processes; `profile` sums the op
times of a `tf.profiler` trace; `gpu` runs the GPU checks
(``tools/gpu_check.py``). docs/performance.md holds the figures and the levers tried.
"""
