"""`python -m keras_hw2 presets`: the shipped presets; `python -m keras_hw2.presets build`: retrain them.

    python -m keras_hw2 presets [--json]                  one line per preset (--json: the model cards)
    python -m keras_hw2.presets build --out DIR [--only NAME] [--runs-dir DIR]

``build`` runs each preset's recorded training command (from the repository
root: the commands read ``../shared/data``), then writes ``DIR/<name>.keras``
(no optimizer state) and ``DIR/<name>.json`` (its card with the measured
validation figures); ``make presets`` writes them into the package.
"""
import argparse
import json

from keras_hw2 import cli, presets


def build_parser() -> argparse.ArgumentParser:
    """The command-line grammar; building it imports no TensorFlow."""
    parser = cli.ArgumentParser(prog="python -m keras_hw2 presets", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print the model cards as one JSON document")
    commands = parser.add_subparsers(dest="command", metavar="{list,build}")
    commands.add_parser("list", help="the presets and their headline figures (the default)")
    build = commands.add_parser("build", help="retrain presets with their recorded commands; write .keras + card")
    build.add_argument("--out", required=True, help="directory for <name>.keras and <name>.json "
                                                    "(keras_hw2/presets: the shipped files)")
    build.add_argument("--only", choices=presets.list_presets(), metavar="NAME",
                       help=f"one preset: {', '.join(presets.list_presets())} (default: all, in this order)")
    build.add_argument("--runs-dir", default="runs", help="root of the training runs (default runs/); a finished "
                                                          "run runs/<task>/<name> is reused, an unfinished one resumed")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "build":
        cli.start_tensorflow()
        from keras_hw2.presets.build import build
        build([args.only] if args.only else presets.list_presets(), args.out, args.runs_dir)
        return 0
    cards = {name: presets.card(name) for name in presets.list_presets()}
    if args.json:
        print(json.dumps(cards, indent=2))
        return 0
    for name, card in cards.items():
        default = " (default)" if presets.default_preset(card["task"]) == name else ""
        print(f"{name}  [{card['task']}{default}]  {card['parameters']:,} parameters, "
              f"{card['file']['bytes'] / 1e6:.1f} MB; {presets.headline(card)}")
        print(f"    {card['summary']}")
    print("use one: --run NAME on any evaluate / predict / export command, or from_preset(NAME) in Python "
          "(keras_hw2.cnn, keras_hw2.p2g)")
    return 0


if __name__ == "__main__":
    cli.entry_point(main)
