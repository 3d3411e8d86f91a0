"""Benchmark: modern Hopfield retrieval throughput, NumPy against TensorFlow.

Times ``steps`` CCCP updates ``q <- X^T softmax(beta X q)`` of a batch of queries
over N stored patterns (float32), in one run and on the same data: a plain
NumPy implementation, eager TensorFlow, `tf.function` and
`tf.function(jit_compile=True)` (XLA). Prints JSON (queries per second, the
speed-up over NumPy, the largest difference from NumPy's result) and writes it
to ``<runs-dir>/hopfield-bench/<run-name>/bench.json`` (the timing is
`keras_hw2.benchmarks.hopfield.benchmark`).

    flock /tmp/keras_hw2_heavy.lock python tools/bench_hopfield.py        # N=10,000 D=512 batch 1,024, 3 steps
    python tools/bench_hopfield.py --quick                               # tiny sizes, seconds
"""
import json
import sys

from keras_hw2 import cli  # TensorFlow is imported only once the arguments are parsed

QUICK = {"num_patterns": 200, "dim": 32, "batch_size": 16, "steps": 3, "repeats": 2}


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
    from keras_hw2.benchmarks.hopfield import benchmark
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
