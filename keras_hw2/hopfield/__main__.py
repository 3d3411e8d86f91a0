"""`python -m keras_hw2.hopfield {check,retrieve,capacity}`: the calculus check, the retrieval demo, the capacity."""
import argparse

from keras_hw2 import cli

VERBS = {
    "check": "closed-form gradients and Hessians vs GradientTape, CCCP, attention; writes check.json",
    "retrieve": "store patterns, corrupt queries, retrieve them by CCCP; accuracy table, plots, report.json",
    "capacity": "retrieval accuracy of random +-1 patterns against N, per D, beta and map; capacity.json, plots",
}

RETRIEVE_OPTIONS = ("data", "num_patterns", "pattern_size", "num_queries", "betas", "noise_levels", "mask_levels",
                    "max_steps", "tol", "seed")  # the `RetrieveConfig` fields set from the command line
CAPACITY_OPTIONS = ("dims", "patterns", "betas", "associations", "flip", "num_queries", "max_steps", "seed")
LISTS = {"dims": int, "patterns": int, "betas": float, "associations": str}  # capacity's comma-separated lists


def build_parser() -> argparse.ArgumentParser:
    """The command-line grammar; building it imports no TensorFlow."""
    parser = cli.ArgumentParser(prog="python -m keras_hw2.hopfield", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="{" + ",".join(VERBS) + "}")
    check = commands.add_parser("check", help=VERBS["check"])
    check.add_argument("--num-instances", type=cli.integer("--num-instances", minimum=1), default=120,
                       help="random instances (default 120)")
    cli.add_run_arguments(check)
    demo = commands.add_parser("retrieve", help=VERBS["retrieve"])
    # Retrieval options default to None: `keras_hw2.hopfield.demo.RetrieveConfig` holds the defaults and checks them.
    demo.add_argument("--data", default=None,
                      help="a .npz with train_images (uint8 (n, H, W, C)), e.g. the CNN data; "
                           "default: random binary patterns")
    demo.add_argument("--num-patterns", type=int, help="stored patterns N (default 256)")
    demo.add_argument("--pattern-size", type=int, help="side of the generated binary patterns (without --data, "
                                                       "default 16)")
    demo.add_argument("--num-queries", type=int, help="queries per corruption and level (default 64)")
    demo.add_argument("--betas", type=float, nargs="+", help="inverse temperatures (default 1 4 16 64 256 1024)")
    demo.add_argument("--noise-levels", type=float, nargs="*",
                      help="additive noise norm / pattern norm (default 1 4 16 64; none: skip noise)")
    demo.add_argument("--mask-levels", type=float, nargs="*",
                      help="fraction of pixels masked, in [0, 1) (default 0.2 0.4 0.6 0.8; none: skip masking)")
    demo.add_argument("--max-steps", type=int, help="most CCCP updates (default 20)")
    demo.add_argument("--tol", type=float, help="stop once no state moves more than this (default 1e-6)")
    cli.add_run_arguments(demo)
    capacity = commands.add_parser("capacity", help=VERBS["capacity"])
    # Defaults None: `keras_hw2.hopfield.capacity.CapacityConfig` holds them and checks every value.
    capacity.add_argument("--dims", nargs="+", help="pattern dims D, comma- or space-separated (default 32,48,64,80)")
    capacity.add_argument("--patterns", nargs="+", help="numbers N of stored patterns (default 2,4,...,32768)")
    capacity.add_argument("--betas", nargs="+", help="inverse temperatures (default 0.01,0.1,1)")
    capacity.add_argument("--association", dest="associations", nargs="+",
                          help="maps compared: softmax, sparsemax, entmax15 (default all three)")
    capacity.add_argument("--flip", type=float, help="fraction of each query's signs flipped, in [0, 0.5) "
                                                     "(default 0.25)")
    capacity.add_argument("--num-queries", type=int, help="queries per (D, N) (default 200)")
    capacity.add_argument("--max-steps", type=int, help="most CCCP updates of the converged retrieval (default 10)")
    cli.add_run_arguments(capacity)
    return parser


def listed(tokens: list, convert) -> tuple:
    """``["64,128", "256"]`` -> ``(64, 128, 256)``; a piece `convert` refuses stays text, for the config's check."""
    values = []
    for piece in ",".join(tokens).split(","):
        try:
            values.append(convert(piece.strip()))
        except ValueError:
            values.append(piece)
    return tuple(values)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    cli.start_tensorflow()
    from keras_hw2.devices import device_report
    from keras_hw2.runs import open_run
    from keras_hw2.seeding import set_seed

    if args.command == "retrieve":
        from keras_hw2.hopfield.demo import RetrieveConfig

        config = RetrieveConfig(**{name: tuple(value) if isinstance(value, list) else value
                                   for name in RETRIEVE_OPTIONS if (value := getattr(args, name)) is not None})
    if args.command == "capacity":
        from keras_hw2.hopfield.capacity import CapacityConfig

        config = CapacityConfig(**{name: listed(value, LISTS[name]) if name in LISTS else value
                                   for name in CAPACITY_OPTIONS if (value := getattr(args, name)) is not None})

    cli.say(args, device_report())
    set_seed(args.seed, args.deterministic)
    if args.command == "check":
        from keras_hw2.hopfield.check import CHECK_FILE, format_report, write_check

        run = open_run("hopfield-check", {"seed": args.seed, "num_instances": args.num_instances},
                       name=args.run_name, root=args.runs_dir)
        report = write_check(run, seed=args.seed, num_instances=args.num_instances)
        print(format_report(report))
        print(f"wrote {run.file(CHECK_FILE)}")
        return 0 if report["all_passed"] else 1
    if args.command == "capacity":
        from keras_hw2.hopfield.capacity import CAPACITY_FILE, format_capacity, write_capacity_run

        run = open_run("hopfield-capacity", config, name=args.run_name, root=args.runs_dir)
        report = write_capacity_run(config, run, verbose=cli.verbosity(args))
        print(format_capacity(report))
        print(f"wrote {run.path}/: " + ", ".join([CAPACITY_FILE, *report["files"].values()]))
        return 0
    from keras_hw2.hopfield.demo import format_results, load_patterns, run_retrieval_demo

    patterns = load_patterns(config)  # bad data stops here, before the run directory exists
    run = open_run("hopfield", config, name=args.run_name, root=args.runs_dir)
    report = run_retrieval_demo(config, patterns, run, verbose=cli.verbosity(args))
    print(format_results(report))
    print(f"wrote {run.path}/: " + ", ".join(["report.json", *report["files"].values()]))
    return 0


if __name__ == "__main__":
    cli.entry_point(main)
