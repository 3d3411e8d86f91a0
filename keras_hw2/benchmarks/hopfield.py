"""Modern Hopfield retrieval throughput, NumPy against TensorFlow (``tools/bench_hopfield.py``).

`benchmark` times ``steps`` CCCP updates ``q <- X^T softmax(beta X q)`` of a
batch of queries over N stored patterns (float32), in one run and on the same
data: a plain NumPy implementation, eager TensorFlow, `tf.function` and
`tf.function(jit_compile=True)` (XLA); TensorFlow is imported when it runs.
"""
import math
import statistics
import time

import numpy as np


def numpy_retrieve(queries: np.ndarray, stored: np.ndarray, beta: float, steps: int) -> np.ndarray:
    """``steps`` CCCP updates in NumPy with a max-subtracted softmax."""
    for _ in range(steps):
        scores = beta * (queries @ stored.T)
        scores -= scores.max(axis=1, keepdims=True)
        weights = np.exp(scores)
        weights /= weights.sum(axis=1, keepdims=True)
        queries = weights @ stored
    return queries


def tf_retrieve(queries, stored, beta, steps: int):
    """``steps`` CCCP updates with `keras_hw2.hopfield.cccp_step`."""
    from keras_hw2.hopfield import cccp_step
    for _ in range(steps):
        queries = cccp_step(queries, stored, beta)
    return queries


def time_calls(fn, repeats: int) -> tuple:
    """Call ``fn`` once to warm up (tracing, compiling), then ``repeats`` times; (median seconds, result)."""
    result = np.asarray(fn())
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = np.asarray(fn())  # np.asarray waits for the device
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), result


def benchmark(num_patterns: int, dim: int, batch_size: int, steps: int, repeats: int, seed: int) -> dict:
    """Time the four implementations on the same random data; returns the JSON-ready report."""
    import tensorflow as tf

    from keras_hw2.devices import device_report
    rng = np.random.default_rng(seed)
    stored_np = rng.normal(size=(num_patterns, dim)).astype("float32")
    queries_np = (stored_np[rng.integers(num_patterns, size=batch_size)]
                  + rng.normal(size=(batch_size, dim)).astype("float32"))
    beta = 1.0 / math.sqrt(dim)
    stored, queries = tf.constant(stored_np), tf.constant(queries_np)
    graph = tf.function(lambda q: tf_retrieve(q, stored, beta, steps))
    xla = tf.function(lambda q: tf_retrieve(q, stored, beta, steps), jit_compile=True)
    variants = {
        "numpy": lambda: numpy_retrieve(queries_np, stored_np, beta, steps),
        "tf_eager": lambda: tf_retrieve(queries, stored, beta, steps),
        "tf_function": lambda: graph(queries),
        "tf_function_xla": lambda: xla(queries),
    }
    results, reference = {}, None
    for name, fn in variants.items():
        seconds, output = time_calls(fn, repeats)
        reference = output if reference is None else reference
        results[name] = {"seconds_per_batch": seconds, "queries_per_s": batch_size / seconds,
                         "max_abs_diff_vs_numpy": float(np.abs(output - reference).max())}
    for entry in results.values():
        entry["speedup_vs_numpy"] = entry["queries_per_s"] / results["numpy"]["queries_per_s"]
    return {"num_patterns": num_patterns, "dim": dim, "batch_size": batch_size, "steps": steps,
            "repeats": repeats, "beta": beta, "dtype": "float32", "device": device_report(),
            "results": results}
