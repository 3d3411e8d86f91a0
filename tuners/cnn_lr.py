"""Learning-rate grid search for the CNN scene classifiers with keras-tuner.

`python -m tuners.cnn_lr [--model baseline] [--data PATH] [--learning-rates 0.1,0.01,0.001] [--epochs 10]`

One trial per learning rate, each an ordinary training run, trained exactly as
``python -m keras_hw2.cnn train --learning-rate <lr>`` with the same options and
seed trains it (so the trials differ only in the learning rate), in
``<runs-dir>/tuner/<project-name>/trial-<n>/`` (default
``runs/tuner/cnn_lr_<model>/``; ``cnn evaluate``, ``predict``, ``export`` and
``tensorboard --logdir runs`` read them like any run). Objective: the run's best
validation accuracy. keras-tuner's state, ``best_lr.json`` (which ``train
--learning-rate best`` reads) and ``val_accuracy_by_lr.png`` (all trials
overlaid) go to ``<directory>/<project-name>/`` (default
``tuner_results/cnn_lr_<model>/``). Re-running the same command continues a
partial search: finished trials are not re-run, a trial killed mid-way resumes
from its last finished epoch. keras-tuner's distributed mode
(``KERASTUNER_TUNER_ID``, ``KERASTUNER_ORACLE_IP``, ``KERASTUNER_ORACLE_PORT``)
works unchanged. The project directory is locked while a search uses it (by the
chief only in distributed mode, whose workers share it): a second search on it
is refused with the holder's pid. ``--lrs`` is a deprecated spelling of
``--learning-rates``.
"""
import argparse
from pathlib import Path

from keras_hw2 import checks, cli
from keras_hw2.errors import InputError

PROG = "python -m tuners.cnn_lr"
DEFAULT_LEARNING_RATES = "0.1,0.01,0.001"  # tuners.lr_grid.SweepConfig's grid, named here without importing it


def learning_rates(text: str) -> tuple:
    """The argparse ``type`` of ``--learning-rates``: comma-separated finite numbers > 0."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError("--learning-rates must be comma-separated numbers, e.g. 0.1,0.01,0.001. "
                                         f"Received: --learning-rates={text!r}") from None
    try:
        checks.Each(checks.Number(low=0, low_open=True)).check("--learning-rates", values)
    except InputError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return values


def build_parser() -> argparse.ArgumentParser:
    """The command-line grammar; building it imports no TensorFlow."""
    parser = cli.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="baseline", help="baseline or batchnorm (default baseline)")
    parser.add_argument("--data", default=None, help="homework .npz or Kaggle folder (default: synthetic demo images)")
    parser.add_argument("--learning-rates", type=learning_rates, default=learning_rates(DEFAULT_LEARNING_RATES),
                        help=f"the grid (default {DEFAULT_LEARNING_RATES})")
    cli.add_hidden_alias(parser, "--lrs", dest="learning_rates", type=learning_rates)
    parser.add_argument("--epochs", type=cli.integer("--epochs", minimum=1), default=10,
                        help="epochs per trial (default 10)")
    parser.add_argument("--batch-size", type=cli.integer("--batch-size", minimum=1), default=8,
                        help="global batch size (default 8)")
    parser.add_argument("--dropout", type=cli.number("--dropout", 0, 1, high_open=True), default=0.1,
                        help="dropout rate (default 0.1)")
    cli.add_seed_argument(parser, "seed of every trial: the same initial weights and shuffling")
    parser.add_argument("--directory", default="tuner_results",
                        help="keras-tuner's directory: its state, best_lr.json, the overlay plot (default tuner_results/)")
    parser.add_argument("--project-name", default=None, help="default cnn_lr_<model>")
    parser.add_argument("--runs-dir", default="runs",
                        help="root of all run directories; trials go to <runs-dir>/tuner/<project-name>/trial-<n>/ "
                             "(default runs/)")
    parser.add_argument("--max-trials", type=cli.integer("--max-trials", minimum=1), default=None,
                        help="stop after this many trials in total; re-running without it does the rest")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    cli.start_tensorflow()
    from keras_hw2.cnn.train import BEST_LR_FILE, load_data
    from keras_hw2.devices import device_report
    from tuners.lr_grid import SweepConfig, format_table, search_learning_rate, worker_line

    config = SweepConfig(model=args.model, data=args.data, learning_rates=args.learning_rates, epochs=args.epochs,
                         batch_size=args.batch_size, dropout=args.dropout, seed=args.seed, directory=args.directory,
                         project_name=args.project_name, max_trials=args.max_trials, runs_dir=args.runs_dir)
    train_config = config.train_config(config.learning_rates[0])
    data = load_data(train_config)
    print(device_report(jit_compile=train_config.jit_compile))
    print(data.describe())
    summary = search_learning_rate(config, data)
    if summary is None:
        print(worker_line())
        return 0
    print(format_table(summary))
    print(f"best learning rate {summary['learning_rate']:g} (trial {summary['trial']}, val accuracy "
          f"{summary['val_accuracy']:.4f}): run {summary['run']}; written to {config.project_dir / BEST_LR_FILE}; "
          f"overlay plot {config.project_dir / 'val_accuracy_by_lr.png'}; tensorboard --logdir "
          f"{Path(summary['run']).parent}")
    return 0


if __name__ == "__main__":
    cli.entry_point(main)
