"""`python -m keras_hw2.cnn {train,evaluate,predict,export,params}`: the Intel scene classifiers.

With no arguments it runs ``train`` with its defaults: the baseline model on the
embedded SYNTHETIC demo images for 10 epochs (a few minutes on 2 CPU cores),
writing ``runs/cnn/<timestamp>/``. Pass ``--data`` for real data.
``--run`` is a run directory or its best.keras file, or a preset (`python -m
keras_hw2 presets`); ``predict`` without ``--run`` uses the preset intel_batchnorm_48.
"""
import argparse
import json
import sys
from pathlib import Path

from keras_hw2 import cli, presets, train_options
from keras_hw2.checks import Integer
from keras_hw2.deploy import command as deploy_command

EVALUATE_HINT = "make room and re-run the same command"  # a write of `evaluate` without room (exit status 4)
SPLITS = ("train", "val", "test")
VERBS = {
    "train": "train one model; writes runs/cnn/<name>/ (the default verb)",
    "evaluate": "score a run on labelled data: accuracy, per-class accuracy, confusion matrix",
    "predict": "classify image files (JPEG, PNG, BMP, GIF of any size): top-k classes each",
    "export": "write a trained run as a TF Serving SavedModel",
    "params": "print both models' trainable-parameter counts",
}


def build_parser() -> argparse.ArgumentParser:
    """The command-line grammar; building it imports no TensorFlow."""
    parser = cli.ArgumentParser(prog="python -m keras_hw2.cnn", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="{" + ",".join(VERBS) + "}")

    # Training options default to None: `keras_hw2.cnn.train.TrainConfig` holds the defaults and checks the values.
    train = commands.add_parser("train", help=VERBS["train"])
    train.add_argument("--model", help="baseline or batchnorm (default baseline)")
    train.add_argument("--data", help="homework .npz file or Kaggle folder (seg_train/...); "
                                      "default: synthetic demo images")
    train.add_argument("--epochs", type=int, help="default 40 (10 on the synthetic demo data)")
    train.add_argument("--batch-size", type=int, help="global batch size (default 8)")
    train.add_argument("--learning-rate", help="SGD learning rate: a number, 'best' (tuner_results/cnn_lr_<model>/"
                                               "best_lr.json) or the path of a best-lr JSON (default 0.01)")
    cli.add_hidden_alias(train, "--lr", dest="learning_rate")
    train.add_argument("--dropout", type=float, help="dropout rate (default 0.1)")
    train.add_argument("--val-fraction", type=float,
                       help="validation share of seg_train for folder data (default 0.1)")
    train.add_argument("--jit-compile", action=argparse.BooleanOptionalAction,
                       help="XLA-compile the train step (default off: slower on CPU)")
    train.add_argument("--weight-averaging", action=argparse.BooleanOptionalAction,
                       help="validate and save the moving average of the SGD weights, with BatchNorm statistics "
                            "recomputed for it, instead of the weights as trained (default on)")
    train.add_argument("--strategy", help="tf.distribute strategy: default, mirrored or multiworker; "
                                          "--batch-size is the global batch (default: default)")
    cli.add_follow_links_argument(train)
    train.add_argument("--init-from", help="a preset or a run (directory or .keras) whose weights start the "
                                           "training, of the same --model (default: fresh weights)")
    train_options.add_arguments(train, monitor="val_accuracy", augment=True)
    cli.add_run_arguments(train)

    evaluate = commands.add_parser("evaluate", help=VERBS["evaluate"])
    evaluate.add_argument("--run", required=True, help=presets.run_help("cnn"))
    evaluate.add_argument("--data", required=True, help="homework .npz file (any split) or Kaggle folder")
    evaluate.add_argument("--split", choices=SPLITS, help="default: test if present, else val")
    evaluate.add_argument("--batch-size", type=cli.integer("--batch-size", minimum=1), default=64,
                          help="images per forward pass (default 64)")
    evaluate.add_argument("--val-fraction", type=cli.number("--val-fraction", 0, 1, low_open=True, high_open=True),
                          help="folder data: validation share of seg_train (default: the run's)")
    evaluate.add_argument("--seed", type=cli.integer("--seed", minimum=0),
                          help="folder data: seed of the validation split (default: the run's)")
    cli.add_follow_links_argument(evaluate)
    cli.add_quiet_argument(evaluate)

    predict = commands.add_parser("predict", help=VERBS["predict"])
    predict.add_argument("--run", help=presets.run_help("cnn", default=True))
    predict.add_argument("files", nargs="+", metavar="FILE", help="JPEG, PNG, BMP or GIF files of any size")
    predict.add_argument("--top-k", type=cli.integer("--top-k", minimum=1), default=3,
                         help="classes per file, most probable first (default 3)")
    predict.add_argument("--json", action="store_true", help="print one JSON document instead of text lines")
    cli.add_quiet_argument(predict)

    export = commands.add_parser("export", help=VERBS["export"])
    export.add_argument("--run", required=True, help=presets.run_help("cnn"))
    export.add_argument("--name", help="served model name (default cnn_<model>)")
    export.add_argument("--version", type=cli.integer("--version", minimum=1), help="version (default: next free)")
    export.add_argument("--models-dir", default="saved_models", help="model base directory (default saved_models/)")
    cli.add_hidden_alias(export, "--root", dest="models_dir")
    deploy_command.add_arguments(export, "cnn")
    cli.add_quiet_argument(export)

    commands.add_parser("params", help=VERBS["params"])
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv or ["train"])
    cli.start_tensorflow()
    return {"train": _train, "evaluate": _evaluate, "predict": _predict, "export": _export,
            "params": _params}[args.command](args)


def _train(args) -> int:
    """Train one model with `keras_hw2.cnn.train`; flags left out take `TrainConfig`'s defaults."""
    from keras_hw2.cnn.train import DEMO_EPOCHS, TASK, TrainConfig, load_data, resolve_lr, train_and_evaluate
    from keras_hw2.devices import device_report
    from keras_hw2.distribute import get_strategy
    from keras_hw2.runs import check_run_name, open_run

    options = {name: getattr(args, name) for name in ("model", "data", "epochs", "batch_size", "dropout",
                                                       "val_fraction", "jit_compile", "strategy",
                                                       "weight_averaging", "init_from")
               if getattr(args, name) is not None}
    options.update(train_options.options(args, augment=True))
    options.setdefault("epochs", TrainConfig.epochs if args.data else DEMO_EPOCHS)
    if args.learning_rate is not None:
        options["learning_rate"] = resolve_lr(args.learning_rate, options.get("model", TrainConfig.model))
    config = TrainConfig(**options, seed=args.seed, deterministic=args.deterministic)
    check_run_name(args.run_name)
    get_strategy(config.strategy)  # a multi-worker strategy must come before any other TensorFlow op
    data = load_data(config, follow_links=args.follow_links)
    if config.init_from:  # refused before the run directory is written
        from keras_hw2.cnn.models import MODELS, build_model
        from keras_hw2.presets.finetune import check_classifier
        check_classifier(config.init_from, build_model(batch_norm=MODELS[config.model]))
    cli.say(args, device_report(jit_compile=config.jit_compile), data.describe())
    with open_run(TASK, config, name=args.run_name, root=args.runs_dir) as run:
        cli.say_run(args, run, config)
        results = train_and_evaluate(config, run, data, verbose=cli.verbosity(args))
    print(f"best validation accuracy {results['best_val_accuracy']:.4f} at epoch {results['best_epoch']} "
          f"of {results['epochs']}")
    if "stop_reason" in results:
        print(results["stop_reason"])
    split = "test" if "test" in results else "validation"
    print(f"{split} accuracy of best.keras {results[split]['accuracy']:.4f}; per class: "
          + ", ".join(f"{k} {v:.3f}" for k, v in results[split]["per_class_accuracy"].items() if v is not None))
    print(cli.outputs_line(run, ["history.json", "loss.png", "accuracy.png", "best.keras",
                                 f"confusion_matrix.png ({split})"]))
    if config.data is None:
        print(presets.demo_note())
    return 0


def _evaluate(args) -> int:
    """Score a run on one labelled split; print the report and write it next to the run's results."""
    from keras_hw2 import checkpoints
    from keras_hw2.cnn.data import CLASS_NAMES, load_split
    from keras_hw2.cnn.evaluation import evaluate_model, format_report, plot_confusion_matrix, plot_misclassified
    from keras_hw2.cnn.predict import load_classifier
    from keras_hw2.devices import device_report
    from keras_hw2.errors import room_to_write
    from keras_hw2.locks import DirectoryLock
    from keras_hw2.runs import write_json

    checkpoint = checkpoints.checkpoint_path(args.run)
    trained = checkpoints.run_config(args.run) or {}
    seed = args.seed if args.seed is not None else trained.get("seed", 0)
    val_fraction = args.val_fraction if args.val_fraction is not None else trained.get("val_fraction", 0.1)
    images, labels, split = load_split(args.data, args.split, seed=seed, val_fraction=val_fraction,
                                       follow_links=args.follow_links)
    model = load_classifier(checkpoint)
    cli.say(args, device_report())
    report = evaluate_model(model, images, labels, CLASS_NAMES, batch_size=args.batch_size)
    data = Path(args.data)
    name = f"evaluation-{data.name if data.is_dir() else data.stem}-{split}"
    out_dir = presets.output_dir(args.run, checkpoint.parent)  # never into an installed preset's directory
    files = [out_dir / f"{name}.json", out_dir / f"{name}.png", out_dir / f"{name}-errors.png"]
    with DirectoryLock(out_dir, what="run"):
        write_json(files[0], {"checkpoint": str(checkpoint), "data": str(data), "split": split, **report})
        with room_to_write(files[1], hint=EVALUATE_HINT):
            plot_confusion_matrix(report["confusion_matrix"], CLASS_NAMES, files[1],
                                  title=f"{checkpoint.parent.name}: {data.name} ({split})")
        with room_to_write(files[2], hint=EVALUATE_HINT):
            plot_misclassified(images, report["misclassified"], CLASS_NAMES, files[2],
                               title=f"{data.name} ({split})")
    print(f"{checkpoint} on {data} ({split} split, {report['images']} images):")
    print(format_report(report, CLASS_NAMES))
    print(f"wrote {', '.join(map(str, files))}")
    return 0


def _predict(args) -> int:
    """Classify image files (`keras_hw2.cnn.predict.classify_files`): a bad file fails the call before any output."""
    from keras_hw2.cnn.data import CLASS_NAMES
    from keras_hw2.cnn.predict import classify_files, load_classifier
    from keras_hw2.devices import device_report

    Integer(minimum=1, maximum=len(CLASS_NAMES)).check("--top-k", args.top_k)
    args.run = presets.run_or_default(args, "cnn")
    results = classify_files(load_classifier(args.run), args.files, top_k=args.top_k)
    cli.say(args, device_report())
    if args.json:
        print(json.dumps([{"file": result["file"], "classes": [{"class": name, "probability": probability}
                                                               for name, probability in result["classes"]]}
                          for result in results]))
    else:
        for result in results:
            classes = ", ".join(f"{name} {probability:.3f}" for name, probability in result["classes"])
            print(f"{result['file']}: {classes}")
    return 0


def _export(args) -> int:
    """Write a SavedModel of a trained run (`keras_hw2.cnn.serving.export_model`)."""
    from keras_hw2 import checkpoints
    from keras_hw2.cnn.predict import load_classifier
    from keras_hw2.cnn.serving import export_model

    if deploy_command.wanted(args):  # --format litert|onnx, --quantize int8 (issue 28)
        return deploy_command.export(args, "cnn")
    model = load_classifier(args.run)
    name = args.name or f"cnn_{(checkpoints.run_config(args.run) or {}).get('model', 'model')}"
    return cli.export_run(args, lambda: export_model(model, name, root=args.models_dir, version=args.version))


def _params(args) -> int:
    from keras_hw2.cnn.models import MODELS, build_model, count_trainable_params

    for name, batch_norm in MODELS.items():
        print(f"{name}: {count_trainable_params(build_model(batch_norm)):,} trainable parameters")
    return 0


if __name__ == "__main__":
    cli.entry_point(main)
