"""`python -m keras_hw2.p2g {train,test,predict,export}`: phoneme-to-grapheme seq2seq."""
import argparse
import json
import sys
from dataclasses import asdict

from keras_hw2.cli import add_run_arguments, run_main
from keras_hw2.devices import device_report
from keras_hw2.distribute import add_strategy_argument
from keras_hw2.errors import InputError
from keras_hw2.p2g.decoding import MAX_LENGTH


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m keras_hw2.p2g", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train; best-CER checkpoint in runs/p2g/<name>/best.keras")
    train.add_argument("--data-dir", help="directory with train.tsv and valid.tsv (default: embedded cmudict corpus)")
    train.add_argument("--attention", action="store_true", help="Bahdanau attention")
    train.add_argument("--untie-embeddings", action="store_true", help="own output projection, not tied")
    train.add_argument("--units", type=int, default=128, help="hidden size (default 128)")
    train.add_argument("--dropout", type=float, default=0.3, help="dropout rate (default 0.3)")
    train.add_argument("--learning-rate", type=float, default=0.003, help="Adam learning rate (default 0.003)")
    train.add_argument("--batch-size", type=int, default=64, help="global batch size (default 64)")
    train.add_argument("--epochs", type=int, default=20, help="epochs (default 20)")
    train.add_argument("--jit-compile", action="store_true", help="XLA-compile the train step")
    add_strategy_argument(train)
    add_run_arguments(train)

    for name, text in [("test", "CER / WER (/ WER@k, beam) of a checkpoint on a TSV"),
                       ("predict", "spell phoneme strings")]:
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--checkpoint", required=True, help="a best.keras file or its run directory")
        sub.add_argument("--top-p", type=float, help="also draw --k nucleus samples with this p")
        sub.add_argument("--k", type=int, default=3, help="samples per word with --top-p (default 3)")
        sub.add_argument("--beam", type=int, help="also decode with beam search of this size")
        sub.add_argument("--seed", type=int, default=0, help="seed of the nucleus samples (default 0)")
        if name == "test":
            sub.add_argument("--data", help="TSV file (default: the embedded cmudict corpus' test split)")
        else:
            sub.add_argument("phonemes", nargs="+", help='phoneme strings, e.g. "t͡ʃ æ p l ə t"')
            sub.add_argument("--attention-png", help="write the attention weights of the greedy spellings here")

    export = commands.add_parser("export", help="SavedModel in <models-dir>/<name>/<version>/")
    export.add_argument("--checkpoint", required=True, help="a best.keras file or its run directory")
    export.add_argument("--name", default="p2g", help="model name (default p2g)")
    export.add_argument("--version", type=int, help="version (default: next free)")
    export.add_argument("--models-dir", default="saved_models", help="model base directory (default saved_models)")
    return parser


def _validate(args) -> None:
    if getattr(args, "top_p", None) is not None and not 0.0 < args.top_p <= 1.0:
        raise InputError(f"--top-p must be in (0, 1]. Received: {args.top_p}")
    if getattr(args, "k", 1) < 1 or (getattr(args, "beam", None) or 1) < 1:
        raise InputError("--k and --beam must be positive integers")
    if args.command == "train" and (args.units < 2 or args.units % 2):
        raise InputError(f"--units must be an even integer >= 2. Received: {args.units}")


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    _validate(args)
    if args.command == "train":
        from keras_hw2.distribute import get_strategy
        from keras_hw2.p2g.train import TASK, TrainConfig, load_data, train_and_evaluate
        from keras_hw2.runs import check_run_name, open_run

        config = TrainConfig(data=args.data_dir, use_attention=args.attention,
                             tie_embeddings=not args.untie_embeddings, units=args.units, dropout=args.dropout,
                             learning_rate=args.learning_rate, batch_size=args.batch_size, epochs=args.epochs,
                             seed=args.seed, deterministic=args.deterministic, jit_compile=args.jit_compile,
                             strategy=args.strategy)
        check_run_name(args.run_name)
        get_strategy(config.strategy)  # a multi-worker strategy must come before any other TensorFlow op
        data = load_data(config)
        print(data.describe())
        print(device_report(config.jit_compile))
        with open_run(TASK, config, name=args.run_name, root=args.runs_dir) as run:
            print(f"run: {run.path}{' (resumed)' if run.resumed else ''}")
            print(json.dumps(train_and_evaluate(config, run, data)))
        return 0

    from keras_hw2.p2g.serving import Speller, export_speller, load_checkpoint

    model = load_checkpoint(args.checkpoint)
    if args.command == "export":
        print(export_speller(model, args.name, root=args.models_dir, version=args.version))
        return 0
    print(device_report())
    speller = Speller(model)
    if args.command == "test":
        from keras_hw2.p2g.train import evaluate, load_corpus

        if args.data:
            from keras_hw2.p2g.data import read_tsv
            pairs = read_tsv(args.data)
        else:
            corpus, announcement = load_corpus(None, splits=("test",))
            print(announcement)
            pairs = corpus["test"]
        result = evaluate(speller, pairs, top_p=args.top_p, k=args.k, beam=args.beam, seed=args.seed)
        differing = result.pop("differing", [])
        print(json.dumps(result))
        for phonemes, reference, samples in differing:
            print(f"{phonemes}\t{reference}\tsamples: {', '.join(samples)}")
        return 0

    from keras_hw2.p2g.data import normalize
    from keras_hw2.p2g.predict import predict

    phonemes = [normalize(p) for p in args.phonemes]
    if not all(phonemes):
        raise InputError("an empty phoneme string was given")
    for line in predict(speller, phonemes, top_p=args.top_p, k=args.k, beam=args.beam, seed=args.seed,
                        attention_png=args.attention_png):
        print(line)
    if any(len(p.split()) > MAX_LENGTH for p in phonemes):
        print(f"note: inputs longer than {MAX_LENGTH} phonemes are encoded whole; "
              f"spellings stop at {MAX_LENGTH} characters", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
