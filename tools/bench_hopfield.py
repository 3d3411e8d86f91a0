"""Benchmark: modern Hopfield retrieval throughput, NumPy against TensorFlow.

Times ``steps`` CCCP updates ``q <- X^T softmax(beta X q)`` of a batch of queries
over N stored patterns (float32), in one run and on the same data: a plain
NumPy implementation, eager TensorFlow, `tf.function` and
`tf.function(jit_compile=True)` (XLA). Prints JSON (queries per second, the
speed-up over NumPy, the largest difference from NumPy's result) and writes it
to ``<runs-dir>/hopfield-bench/<run-name>/bench.json``.

    flock /tmp/keras_hw2_heavy.lock python tools/bench_hopfield.py        # N=10,000 D=512 batch 1,024, 3 steps
    python tools/bench_hopfield.py --quick                               # tiny sizes, seconds
"""
import json
import math
import statistics
import sys
import time

import numpy as np

from keras_hw2 import cli  # TensorFlow is imported only once the arguments are parsed

QUICK = {"num_patterns": 200, "dim": 32, "batch_size": 16, "steps": 3, "repeats": 2}


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


def build_parser() -> cli.ArgumentParser:
    """The command-line grammar; building it imports no TensorFlow."""
    parser = cli.ArgumentParser(prog="python tools/bench_hopfield.py", description=__doc__.splitlines()[0])
    for flag, default, text in (("--num-patterns", 10_000, "stored patterns N (default 10,000)"),
                                ("--dim", 512, "pattern dimension D (default 512)"),
                                ("--batch-size", 1024, "queries per batch (default 1,024)"),
                                ("--steps", 3, "CCCP updates per retrieval (default 3)"),
                                ("--repeats", 5, "timed calls per variant, median reported (default 5)")):
        parser.add_argument(flag, type=cli.integer(flag, minimum=1), default=default, help=text)
    parser.add_argument("--quick", action="store_true", help=f"tiny sizes for a smoke test: {QUICK}")
    cli.add_run_arguments(parser)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    sizes = QUICK if args.quick else {key: getattr(args, key) for key in QUICK}
    cli.start_tensorflow()
    from keras_hw2.devices import device_report
    from keras_hw2.runs import open_run, write_json
    from keras_hw2.seeding import set_seed

    if not args.quiet:
        print(device_report(), file=sys.stderr, flush=True)  # stdout is the JSON
    set_seed(args.seed, args.deterministic)
    report = benchmark(**sizes, seed=args.seed)
    run = open_run("hopfield-bench", {**sizes, "seed": args.seed}, name=args.run_name, root=args.runs_dir)
    write_json(run.file("bench.json"), report)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    cli.entry_point(main)
