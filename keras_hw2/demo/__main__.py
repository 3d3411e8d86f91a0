"""`python -m keras_hw2 demo`: the browser page of all three tasks (`keras_hw2.demo`), served on this machine.

``--help``, and a ``--cnn`` or ``--p2g`` that names nothing, import neither TensorFlow nor Gradio.
"""
import time

from keras_hw2 import cli

DESCRIPTION = ("Serve the demo page (Gradio) on this machine: Scenes (the CNN), Spelling (the p2g speller) and "
               "Hopfield (CCCP retrieval). Local only: no share link, no analytics, nothing fetched from the "
               "internet. Ctrl-C ends it.")


def build_parser() -> cli.ArgumentParser:
    parser = cli.ArgumentParser(prog="python -m keras_hw2 demo", description=DESCRIPTION)
    parser.add_argument("--cnn", default=None, metavar="RUN|PRESET",
                        help="the scene classifier: a preset name, a run directory (runs/cnn/<name>) or its "
                             "best.keras (default: the CNN's default preset)")
    parser.add_argument("--p2g", default=None, metavar="RUN|PRESET",
                        help="the speller: a preset name, a run directory (runs/p2g/<name>) or its best.keras "
                             "(default: the speller's default preset)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=cli.integer("--port", minimum=1, maximum=65535), default=7860,
                        help="port to serve on (default 7860)")
    cli.add_quiet_argument(parser)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from keras_hw2.demo.models import load_models

    cnn, p2g = load_models(args.cnn, args.p2g)  # TensorFlow starts once both are found
    from keras_hw2.demo.app import build_app, start

    app = build_app(cnn, p2g)
    url = start(app, args.host, args.port)
    try:
        cli.say(args, f"demo: {url}  (Scenes: {cnn.source}; Spelling: {p2g.source}; Ctrl-C ends it)")
        wait()
    finally:
        app.close(verbose=False)


def wait() -> None:
    """Sleep until Ctrl-C (its `KeyboardInterrupt` ends the command with exit status 130, `keras_hw2.cli.run_main`)."""
    while True:
        time.sleep(60)


if __name__ == "__main__":
    cli.entry_point(main)
