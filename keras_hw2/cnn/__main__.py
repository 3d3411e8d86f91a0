"""`python -m keras_hw2.cnn [train|params|export] ...`: the Intel scene classifiers.

With no arguments it runs ``train`` with its defaults: the baseline model on the
embedded SYNTHETIC demo images for 10 epochs (a few minutes on 2 CPU cores),
writing ``runs/cnn/<timestamp>/``. Pass ``--data`` for real data.
"""
import argparse
import sys

from keras_hw2.cli import add_run_arguments, run_main
from keras_hw2.cnn.data import load_data
from keras_hw2.cnn.models import MODELS, build_model, count_trainable_params
from keras_hw2.cnn.serving import export_model
from keras_hw2.cnn.train import (DEMO_EPOCHS, TASK, TrainConfig, load_trained_model, resolve_lr,
                                 train_and_evaluate)
from keras_hw2.devices import device_report
from keras_hw2.distribute import add_strategy_argument
from keras_hw2.runs import open_run, read_json


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m keras_hw2.cnn", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    defaults = TrainConfig()

    train = commands.add_parser("train", help="train one model; writes runs/cnn/<name>/")
    train.add_argument("--model", choices=MODELS, default=defaults.model)
    train.add_argument("--data", default=None,
                       help="homework .npz file or Kaggle folder (seg_train/...); default: synthetic demo images")
    train.add_argument("--epochs", type=int, default=None,
                       help=f"default {defaults.epochs} ({DEMO_EPOCHS} on the synthetic demo data)")
    train.add_argument("--batch-size", type=int, default=defaults.batch_size, help="global batch size (default 8)")
    train.add_argument("--lr", default=str(defaults.learning_rate),
                       help="SGD learning rate: a number, 'best' (tuner_results/cnn_lr_<model>/best_lr.json) "
                            "or the path of a best-lr JSON (default 0.01)")
    train.add_argument("--dropout", type=float, default=defaults.dropout)
    train.add_argument("--val-fraction", type=float, default=defaults.val_fraction,
                       help="validation share of seg_train for folder data (default 0.1)")
    train.add_argument("--jit-compile", action=argparse.BooleanOptionalAction, default=defaults.jit_compile,
                       help="XLA-compile the train step (default off: slower on CPU)")
    add_strategy_argument(train)
    add_run_arguments(train)

    commands.add_parser("params", help="print both models' trainable-parameter counts")

    export = commands.add_parser("export", help="export a trained run as a TF Serving SavedModel")
    export.add_argument("--run", required=True, help="a finished run directory, runs/cnn/<name>")
    export.add_argument("--name", default=None, help="served model name (default cnn_<model>)")
    export.add_argument("--version", type=int, default=None, help="version number (default: next free)")
    export.add_argument("--root", default="saved_models", help="model base directory (default saved_models/)")
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv or ["train"])
    if args.command == "params":
        for name, batch_norm in MODELS.items():
            print(f"{name}: {count_trainable_params(build_model(batch_norm)):,} trainable parameters")
        return 0
    if args.command == "export":
        model = load_trained_model(args.run)
        name = args.name or f"cnn_{read_json(f'{args.run}/config.json')['model']}"
        print(f"exported {export_model(model, name, root=args.root, version=args.version)}")
        return 0
    epochs = args.epochs if args.epochs is not None else (TrainConfig.epochs if args.data else DEMO_EPOCHS)
    from keras_hw2.distribute import get_strategy
    from keras_hw2.runs import check_run_name

    config = TrainConfig(model=args.model, data=args.data, epochs=epochs, batch_size=args.batch_size,
                         learning_rate=resolve_lr(args.lr, args.model), dropout=args.dropout, seed=args.seed,
                         deterministic=args.deterministic, val_fraction=args.val_fraction,
                         strategy=args.strategy, jit_compile=args.jit_compile)
    check_run_name(args.run_name)
    get_strategy(config.strategy)  # a multi-worker strategy must come before any other TensorFlow op
    data = load_data(config.data, seed=config.seed, val_fraction=config.val_fraction)
    print(device_report(jit_compile=config.jit_compile))
    print(data.describe())
    with open_run(TASK, config, name=args.run_name, root=args.runs_dir) as run:
        print(f"run: {run.path}{' (resumed)' if run.resumed else ''} | {config}")
        results = train_and_evaluate(config, run, data)
    print(f"best validation accuracy {results['best_val_accuracy']:.4f} at epoch {results['best_epoch']} "
          f"of {results['epochs']}")
    if "test" in results:
        print(f"test accuracy {results['test']['accuracy']:.4f}; per class: "
              + ", ".join(f"{k} {v:.3f}" for k, v in results["test"]["per_class_accuracy"].items() if v is not None))
    print(f"outputs in {run.path}: history.json, training_loss.png, validation_accuracy.png, best.keras"
          + (", confusion_matrix.png" if "test" in results else "") + f"; tensorboard --logdir {run.path}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
