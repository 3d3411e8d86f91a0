"""`python -m keras_hw2.p2g {train,evaluate,predict,export}`: phoneme-to-grapheme seq2seq.

Phoneme strings are symbols separated by spaces, in the alphabet of the data the
run was trained on: ARPAbet for the embedded cmudict corpus ("K AE T"), IPA for
the homework's WikiPron TSVs ("k æ t"). ``--run`` is a run directory or its
best.keras file, or a preset (`python -m keras_hw2 presets`); ``predict``
without ``--run`` uses the preset cmudict_attention (ARPAbet). ``--run A --run B ...``
(repeated) decodes or exports several runs of the same vocabularies as one model,
averaging their next-character log-probabilities at every step
(`keras_hw2.p2g.ensemble.Ensemble`); ``train --seeds 0,1,2`` trains such members
one after another, runs <name>-seed0, ...
"""
import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from keras_hw2 import cli, presets, train_options
from keras_hw2.deploy import command as deploy_command
from keras_hw2.errors import InputError

VERBS = {
    "train": "train one model; writes runs/p2g/<name>/ (best.keras: the best validation CER)",
    "evaluate": "CER / WER (/ WER@k, beam) of a run on labelled words (default: its test split)",
    "predict": "spell phoneme strings",
    "export": "write a run as a TF Serving SavedModel, <models-dir>/<name>/<version>/",
}

def build_parser() -> argparse.ArgumentParser:
    """The command-line grammar; building it imports no TensorFlow."""
    parser = cli.ArgumentParser(prog="python -m keras_hw2.p2g", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="{" + ",".join(VERBS) + "}")

    # Training options default to None: `keras_hw2.p2g.train.TrainConfig` holds the defaults.
    train = commands.add_parser("train", help=VERBS["train"])
    train.add_argument("--data", help="directory with train.tsv and valid.tsv (IPA for the homework's data), or "
                                      "cmudict:full (every cmudict word, ARPAbet); default: the embedded cmudict "
                                      "sample (ARPAbet)")
    cli.add_hidden_alias(train, "--data-dir", dest="data")
    train.add_argument("--model", metavar="{lstm,transformer}",
                       help="lstm: the homework's BiLSTM encoder + LSTM decoder (--attention adds Bahdanau "
                            "attention); transformer: an encoder-decoder of multi-head attention blocks "
                            "(--layers, --heads) (default lstm)")
    train.add_argument("--attention", action="store_true", help="Bahdanau attention (--model lstm)")
    train.add_argument("--untie-embeddings", action="store_true", help="own output projection, not tied")
    train.add_argument("--units", type=int, help="hidden size, even; --model transformer: the model width, "
                                                 "divisible by --heads (default 128)")
    train.add_argument("--layers", type=int, help="--model transformer: encoder blocks, and as many decoder "
                                                  "blocks (default 3)")
    train.add_argument("--heads", type=int, help="--model transformer: attention heads (default 4)")
    train.add_argument("--sort-window", type=int,
                       help="batches whose words are drawn together and sorted by length, so each batch pads "
                            "little (default 20; 0: plain shuffling)")
    train.add_argument("--dropout", type=float, help="dropout rate (default 0.3)")
    train.add_argument("--learning-rate", type=float, help="Adam learning rate (default 0.003)")
    train.add_argument("--batch-size", type=int, help="global batch size (default 64)")
    train.add_argument("--epochs", type=int, help="epochs (default 20)")
    train.add_argument("--jit-compile", action="store_true", help="XLA-compile the train step")
    train.add_argument("--strategy", help="tf.distribute strategy: default, mirrored or multiworker; "
                                          "--batch-size is the global batch (default: default)")
    train.add_argument("--init-from", help="a preset or a run (directory or .keras) whose weights and vocabularies "
                                           "start the training: same --attention and --units; the training words "
                                           "may hold only its symbols (default: fresh weights)")
    train.add_argument("--word-weights", metavar="{none,frequency}",
                       help="weigh each training word's loss: none (every word 1) or frequency (by how often the "
                            "word is used in English, from the wordfreq package: pip install "
                            "'keras_hw2[presets]'; keras_hw2.p2g.word_weights); validation stays unweighted "
                            "(default none)")
    train_options.add_arguments(train, monitor="val_cer", augment=False)
    cli.add_run_arguments(train)
    train.add_argument("--seeds", type=_seeds,
                       help="comma-separated distinct seeds, e.g. 0,1,2: train one ordinary run per seed, one "
                            "after another (ensemble members), named <--run-name or a timestamp>-seed<N>; "
                            "replaces --seed")

    evaluate = commands.add_parser("evaluate", help=VERBS["evaluate"])
    test = commands.add_parser("test")  # evaluate's deprecated old name, not listed
    predict = commands.add_parser("predict", help=VERBS["predict"])
    for sub in (evaluate, test):
        sub.add_argument("--data", help="a TSV file, a data directory holding test.tsv, or an embedded split, "
                                        "cmudict:{sample,full}[:{train,valid,test}]; default: the test "
                                        "split of the corpus the run was trained on")
        sub.add_argument("--batch-size", type=cli.integer("--batch-size", minimum=1), default=1000,
                         help="words per decoding call (default 1000)")
    predict.add_argument("phonemes", nargs="*", metavar="PHONEMES",
                         help='phoneme strings in the run\'s alphabet: "K AE T" (cmudict, ARPAbet) or '
                              '"k æ t" (homework TSVs, IPA); - reads one per line from standard input')
    predict.add_argument("--input", metavar="FILE",
                         help="also spell the phoneme strings of this UTF-8 file, one per line (blank lines "
                              "skipped), after those given as arguments")
    predict.add_argument("--attention-png", help="write the attention weights of the greedy spellings here "
                                                 "(runs trained with --attention)")
    predict.add_argument("--n-best", type=cli.integer("--n-best", minimum=1),
                         help="with --beam, show this many of the beam's hypotheses, best first, with their "
                              "length-normalised log-probabilities (at most --beam; default 1; --json: all)")
    predict.add_argument("--json", action="store_true",
                         help="one JSON object per word (greedy, samples, the beam's n-best list with scores)")
    for sub in (evaluate, test, predict):
        _add_run_argument(sub, required=sub is not predict)
        sub.add_argument("--top-p", type=cli.number("--top-p", 0, 1, low_open=True),
                         help="also draw --k nucleus samples per word with this p, in (0, 1]")
        sub.add_argument("--k", type=cli.integer("--k", minimum=1), default=3,
                         help="samples per word with --top-p (default 3)")
        sub.add_argument("--beam", type=cli.integer("--beam", minimum=1),
                         help="also decode with beam search of this size (evaluate: also its WER@beam)")
        cli.add_seed_argument(sub, "seed of the nucleus samples")
        cli.add_quiet_argument(sub)

    export = commands.add_parser("export", help=VERBS["export"])
    _add_run_argument(export)
    export.add_argument("--name", default="p2g", help="served model name (default p2g)")
    export.add_argument("--version", type=cli.integer("--version", minimum=1), help="version (default: next free)")
    export.add_argument("--models-dir", default="saved_models", help="model base directory (default saved_models/)")
    cli.add_hidden_alias(export, "--root", dest="models_dir")
    deploy_command.add_arguments(export, "p2g")
    cli.add_quiet_argument(export)
    return parser


def _add_run_argument(parser, required: bool = True) -> None:
    """``--run`` (optional: the default preset), repeatable for an ensemble, also accepted under its deprecated
    name ``--checkpoint``."""
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument("--run", action=_RepeatedRun, help=presets.run_help("p2g", default=not required)
                       + "; repeated: an ensemble of runs of the same vocabularies, decoded as one model "
                         "(per-step log-probabilities averaged)")
    cli.add_hidden_alias(group, "--checkpoint", dest="run")
    parser.set_defaults(ensemble=None)


class _RepeatedRun(argparse.Action):
    """``--run``: the first value in ``run``; from the second on, every value in ``ensemble`` too."""

    def __call__(self, parser, namespace, values, option_string=None):
        runs = (namespace.ensemble or ([namespace.run] if namespace.run is not None else [])) + [values]
        namespace.run = runs[0]
        namespace.ensemble = runs if len(runs) > 1 else None


def _as_flags(runs) -> str:
    """``--run=A --run=B ...``: how an error names the runs it received."""
    return " ".join(f"--run={run}" for run in runs)


def _seeds(text: str) -> list:
    """``--seeds``: comma-separated distinct integers >= 0."""
    seeds = [cli.integer("--seeds", minimum=0)(part.strip()) for part in text.split(",")]
    repeated = sorted({seed for seed in seeds if seeds.count(seed) > 1})
    if repeated:
        raise argparse.ArgumentTypeError(f"--seeds must be distinct; {repeated[0]} is repeated. "
                                         f"Received: --seeds={text}")
    return seeds


def _runs(args) -> list:
    """The runs a command decodes: every ``--run`` given."""
    return args.ensemble or [args.run]


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    command = args.command
    if command == "test":
        cli.warn_deprecated("python -m keras_hw2.p2g test", "python -m keras_hw2.p2g evaluate")
        command = "evaluate"
    cli.start_tensorflow()
    return {"train": _train, "evaluate": _evaluate, "predict": _predict, "export": _export}[command](args)


def _train(args) -> int:
    """Train with `keras_hw2.p2g.train`; options left out take `TrainConfig`'s defaults."""
    from keras_hw2.devices import device_report
    from keras_hw2.distribute import get_strategy
    from keras_hw2.p2g.train import TASK, TrainConfig, describe_model, load_data, train_and_evaluate
    from keras_hw2.runs import check_run_name, open_run

    if args.model != "transformer" and (args.layers is not None or args.heads is not None):
        given = ", ".join(f"--{name}={getattr(args, name)}" for name in ("layers", "heads")
                          if getattr(args, name) is not None)
        raise InputError(f"--layers and --heads shape the Transformer (--model transformer); the LSTM takes "
                         f"neither. Received: {given} with --model={args.model or 'lstm'}")
    options = {name: getattr(args, name) for name in ("units", "dropout", "learning_rate", "batch_size", "epochs",
                                                       "strategy", "sort_window", "init_from", "word_weights",
                                                       "model", "layers", "heads")
               if getattr(args, name) is not None}
    options.update(train_options.options(args, augment=False))
    config = TrainConfig(data=args.data, use_attention=args.attention, tie_embeddings=not args.untie_embeddings,
                         seed=args.seed, deterministic=args.deterministic, jit_compile=args.jit_compile, **options)
    members = [(args.run_name, config)]
    if args.seeds is not None:  # one ordinary run per seed, named <name>-seed<N>
        base = args.run_name or time.strftime("%Y%m%d-%H%M%S")
        members = [(f"{base}-seed{seed}", dataclasses.replace(config, seed=seed)) for seed in args.seeds]
    for name, _ in members:
        check_run_name(name)
    get_strategy(config.strategy)  # a multi-worker strategy must come before any other TensorFlow op
    data = load_data(config)
    if config.init_from:  # refused before the run directory is written
        from keras_hw2.presets.finetune import check_speller
        check_speller(config.init_from, config.settings(), data.splits["train"])
    cli.say(args, data.describe(), device_report(config.jit_compile), describe_model(config, data))
    for name, member in members:
        with open_run(TASK, member, name=name, root=args.runs_dir) as run:
            cli.say_run(args, run, member)
            results = train_and_evaluate(member, run, data, verbose=cli.verbosity(args))
        print(f"best validation CER {results['val_cer']:.4f} (WER {results['val_wer']:.4f}) at epoch "
              f"{results['best_epoch']} of {results['epochs']}")
        print(cli.outputs_line(run, ["history.json", "loss.png", "val_cer.png", "best.keras"]))
    return 0


def _evaluate(args) -> int:
    """Score a run on labelled words (``--data``, else the test split of the run's training corpus); write
    ``evaluation-<data>.json`` and ``errors-<data>.tsv`` beside the run (`keras_hw2.presets.output_dir`)."""
    from keras_hw2 import checkpoints
    from keras_hw2.devices import device_report
    from keras_hw2.locks import DirectoryLock
    from keras_hw2.p2g.evaluate import check_alphabet, data_label, error_rows, errors_tsv, evaluation_data, score
    from keras_hw2.p2g.speller import Speller, load_spellers
    from keras_hw2.runs import write_json, write_text

    runs = _runs(args)
    model = load_spellers(runs)
    config = None if args.data else checkpoints.run_config(runs[0])
    pairs, source = evaluation_data(args.data, config)
    warning = check_alphabet([pair.phonemes for pair in pairs], model.source_vocabulary.tokens, source)
    cli.say(args, device_report(), f"data: {source}")
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    settings = {"top_p": args.top_p, "k": args.k, "beam": args.beam, "seed": args.seed, "batch_size": args.batch_size}
    result, decoded = score(Speller(model), pairs, verbose=cli.verbosity(args), **settings)
    differing = result.pop("differing", [])
    label = data_label(args.data, config) + (f"-ensemble-of-{len(runs)}" if len(runs) > 1 else "")
    out_dir = presets.output_dir(runs[0], checkpoints.checkpoint_path(runs[0]).parent)
    files = [out_dir / f"evaluation-{label}.json", out_dir / f"errors-{label}.tsv"]
    with DirectoryLock(out_dir, what="run"):
        write_text(files[1], errors_tsv(error_rows(pairs, decoded), decoded))
        write_json(files[0], {"runs": [str(run) for run in runs], "data": source, "settings": settings,
                              "errors": files[1].name, **result})
    print(json.dumps(result))
    if not args.quiet:  # --quiet: the one JSON line above, nothing else
        for phonemes, reference, samples in differing:
            print(f"{phonemes}\t{reference}\tsamples: {', '.join(samples)}")
        print(f"wrote {', '.join(map(str, files))}")
    return 0


def _predict(args) -> int:
    """Spell phoneme strings (arguments, standard input, --input): greedy, plus beam and samples on request."""
    from keras_hw2.devices import device_report
    from keras_hw2.p2g.decoding import MAX_LENGTH
    from keras_hw2.p2g.predict import predict
    from keras_hw2.p2g.speller import Speller, load_spellers

    phonemes = _predict_inputs(args)
    if args.n_best is not None and (args.beam is None or args.n_best > args.beam):
        raise InputError(f"--n-best must be at most --beam (the hypotheses the beam keeps). "
                         f"Received: --n-best={args.n_best} with --beam={args.beam}")
    args.run = presets.run_or_default(args, "p2g")
    runs = _runs(args)
    if args.attention_png and len(runs) > 1:
        raise InputError(f"--attention-png draws one model's attention; give one --run. "
                         f"Received: {_as_flags(runs)}")
    if args.attention_png and not Path(args.attention_png).resolve().parent.is_dir():
        raise InputError(f"{args.attention_png}: no such directory to write into. "
                         f"Received: --attention-png={args.attention_png}")
    model = load_spellers(runs)
    if args.attention_png and not model.use_attention:
        raise InputError(f"--attention-png needs a run trained with --attention. Received: --run={args.run}")
    lines = predict(Speller(model), phonemes, top_p=args.top_p, k=args.k, beam=args.beam, seed=args.seed,
                    n_best=args.n_best or 1, as_json=args.json, attention_png=args.attention_png,
                    verbose=cli.verbosity(args))
    cli.say(args, device_report())  # after the words' checks: a refused word prints its error line alone
    print(*lines, sep="\n")
    if any(len(p.split()) > MAX_LENGTH for p in phonemes):
        print(f"note: inputs longer than {MAX_LENGTH} phonemes are encoded whole; "
              f"spellings stop at {MAX_LENGTH} characters", file=sys.stderr)
    return 0


def _predict_inputs(args) -> list:
    """The phoneme strings `predict` spells, normalised: the arguments (``-``: standard input's lines), then
    ``--input``'s lines; blank lines of a file are skipped, a blank argument is an `InputError`."""
    from keras_hw2.p2g.data import normalize, read_lines

    phonemes = []
    for given in args.phonemes:
        if given == "-":
            phonemes += [normalize(line) for _, line in read_lines("<stdin>", sys.stdin.buffer.read())
                         if line.strip()]
        elif not normalize(given):
            raise InputError(f"an empty phoneme string was given. Received: {given!r}")
        else:
            phonemes.append(normalize(given))
    if args.input is not None:
        phonemes += [normalize(line) for _, line in read_lines(args.input) if line.strip()]
    if not phonemes:
        raise InputError("no phoneme strings to spell: give them as arguments, - (standard input) or --input FILE. "
                         f"Received: {' '.join(args.phonemes) or 'no arguments'}"
                         + (f" and --input={args.input}" if args.input is not None else ""))
    return phonemes


def _export(args) -> int:
    """Write the run's speller as a SavedModel (`keras_hw2.p2g.speller.export_speller`)."""
    from keras_hw2.p2g.speller import export_speller, load_spellers

    runs = _runs(args)
    if deploy_command.wanted(args):  # --format litert|onnx (issue 28)
        if args.ensemble:
            raise InputError(f"--format {args.format} exports one run; an ensemble exports as a SavedModel only. "
                             f"Received: {_as_flags(runs)}")
        return deploy_command.export(args, "p2g")
    model = load_spellers(runs)
    args.run = runs[0]  # `cli.export_run` notes whether it had finished
    return cli.export_run(args, lambda: export_speller(model, args.name, root=args.models_dir, version=args.version))


if __name__ == "__main__":
    cli.entry_point(main)
