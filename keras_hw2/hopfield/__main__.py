"""`python -m keras_hw2.hopfield {check,retrieve}`: the calculus check and the retrieval demo."""
import argparse
import sys

from keras_hw2.cli import add_run_arguments, run_main
from keras_hw2.devices import device_report
from keras_hw2.errors import InputError
from keras_hw2.hopfield.check import format_report, run_checks
from keras_hw2.hopfield.demo import RetrieveConfig, format_results, load_patterns, run_retrieval_demo
from keras_hw2.runs import open_run, write_json
from keras_hw2.seeding import set_seed


def build_parser() -> argparse.ArgumentParser:
    defaults = RetrieveConfig()
    parser = argparse.ArgumentParser(prog="python -m keras_hw2.hopfield", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="closed-form gradients/Hessians vs GradientTape, CCCP, attention; "
                                              "prints the report and writes <runs-dir>/hopfield-check/<name>/"
                                              "check.json")
    check.add_argument("--num-instances", type=int, default=120, help="random instances (default 120)")
    add_run_arguments(check)
    demo = commands.add_parser("retrieve", help="store patterns, corrupt queries, retrieve; plots + report.json")
    demo.add_argument("--data", default=None,
                      help="a .npz with train_images (uint8 (n, H, W, C)), e.g. the CNN data; "
                           "default: random binary patterns")
    demo.add_argument("--num-patterns", type=int, default=defaults.num_patterns, help="stored patterns N")
    demo.add_argument("--pattern-size", type=int, default=defaults.pattern_size,
                      help="side of the generated binary patterns (without --data)")
    demo.add_argument("--num-queries", type=int, default=defaults.num_queries,
                      help="queries per corruption and level")
    demo.add_argument("--betas", type=float, nargs="+", default=list(defaults.betas), help="inverse temperatures")
    demo.add_argument("--noise-levels", type=float, nargs="*", default=list(defaults.noise_levels),
                      help="additive noise norm / pattern norm (none: skip noise)")
    demo.add_argument("--mask-levels", type=float, nargs="*", default=list(defaults.mask_levels),
                      help="fraction of pixels masked, in [0, 1) (none: skip masking)")
    demo.add_argument("--max-steps", type=int, default=defaults.max_steps, help="most CCCP updates")
    demo.add_argument("--tol", type=float, default=defaults.tol, help="stop once no state moves more than this")
    add_run_arguments(demo)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    print(device_report(), flush=True)
    set_seed(args.seed, args.deterministic)
    if args.command == "check":
        if args.num_instances < 1:
            raise InputError(f"--num-instances must be a positive integer; got {args.num_instances}")
        run = open_run("hopfield-check", {"seed": args.seed, "num_instances": args.num_instances},
                       name=args.run_name, root=args.runs_dir)
        report = run_checks(seed=args.seed, num_instances=args.num_instances)
        write_json(run.file("check.json"), report)
        print(format_report(report))
        print(f"wrote {run.file('check.json')}")
        return 0 if report["all_passed"] else 1
    config = RetrieveConfig(data=args.data, num_patterns=args.num_patterns, pattern_size=args.pattern_size,
                            num_queries=args.num_queries, betas=tuple(args.betas),
                            noise_levels=tuple(args.noise_levels), mask_levels=tuple(args.mask_levels),
                            max_steps=args.max_steps, tol=args.tol, seed=args.seed)
    patterns = load_patterns(config)  # bad data stops here, before the run directory exists
    run = open_run("hopfield", config, name=args.run_name, root=args.runs_dir)
    report = run_retrieval_demo(config, patterns, run)
    print(format_results(report))
    print(f"wrote {run.path}/: " + ", ".join(["report.json", *report["files"].values()]))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
