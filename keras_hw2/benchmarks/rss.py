"""Peak resident memory of one training run, measured in a fresh process.

`peak_rss_row` runs ``python -m keras_hw2.benchmarks.rss <task>`` once per
repeat: that child trains the task for one epoch with its command's defaults
(``train_and_evaluate``, validation, checkpoint, plots and TensorBoard logs
included) in a temporary runs directory and prints its own peak RSS as one
JSON line; a fresh process counts everything training holds, TensorFlow's
own libraries included, and nothing from the benchmark around it. The
``import`` child only imports TensorFlow, Keras and tensorflow-text (what every
P2G process loads before it builds anything): the floor under both figures.
"""
import json
import subprocess
import sys
import tempfile

from keras_hw2 import cli
from keras_hw2.benchmarks.harness import Row, peak_rss_gb, print_json_line

# The homework's PyTorch code on this machine type (issue 12): peak RSS of training, GB.
REFERENCE_GB = {"p2g": 0.61, "cnn": 0.95}
TASKS = ("cnn", "import", "p2g")
TARGET_RATIO = 1.0
QUICK_SIZES = {"p2g_words": 256, "cnn_images": 64}  # --quick: a few words or images, for smoke tests


def peak_rss_row(task: str, repeats: int, data=None, quick: bool = False) -> Row:
    """The peak RSS (GB) of `repeats` one-epoch training runs of `task` ("p2g" or "cnn"), each in a new process;
    ``"import"``: of importing TensorFlow, Keras and tensorflow-text alone (no reference, no target)."""
    command = [sys.executable, "-m", "keras_hw2.benchmarks.rss", task, *(["--data", str(data)] if data else []),
               *(["--quick"] if quick else [])]
    values = []
    for _ in range(repeats):
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode:
            raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
        values.append(json.loads(done.stdout.strip().splitlines()[-1])["peak_rss_gb"])
    if task == "import":
        return Row("import_peak_rss", "peak RSS of importing TensorFlow, Keras and tensorflow-text alone", "GB",
                   values, higher_is_better=False)
    what = "P2G (attention)" if task == "p2g" else "CNN (baseline)"
    return Row(f"{task}_training_peak_rss", f"peak RSS of {what} training", "GB", values, higher_is_better=False,
               reference=REFERENCE_GB[task], target=TARGET_RATIO, details={"data": str(data) if data else None,
                                                                          "quick": quick})


def _train_p2g(root: str, data, quick: bool) -> None:
    from keras_hw2.p2g import train
    from keras_hw2.runs import open_run
    config = train.TrainConfig(data=data, use_attention=True, epochs=1)
    corpus = train.load_data(config)
    if quick:
        corpus.splits = {split: pairs[:QUICK_SIZES["p2g_words"]] for split, pairs in corpus.splits.items()}
    with open_run(train.TASK, config, root=root) as run:
        train.train_and_evaluate(config, run, corpus, verbose=0)


def _train_cnn(root: str, data, quick: bool) -> None:
    from keras_hw2.cnn import train
    from keras_hw2.cnn.data import ImageData
    from keras_hw2.runs import open_run
    config = train.TrainConfig(data=data, epochs=1)
    images = train.load_data(config)
    if quick:
        images = ImageData({split: (x[:QUICK_SIZES["cnn_images"]], y[:QUICK_SIZES["cnn_images"]])
                            for split, (x, y) in images.splits.items()}, images.source)
    with open_run(train.TASK, config, root=root) as run:
        train.train_and_evaluate(config, run, images, verbose=0)


def main(argv=None) -> int:
    parser = cli.ArgumentParser(prog="python -m keras_hw2.benchmarks.rss", description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=TASKS)
    parser.add_argument("--data", help="the task's --data (default: its embedded data)")
    parser.add_argument("--quick", action="store_true", help=f"train on a few examples only: {QUICK_SIZES}")
    args = parser.parse_args(argv)
    if args.task == "import":
        import keras  # noqa: F401 (what is measured is the import)
        import tensorflow  # noqa: F401
        import tensorflow_text  # noqa: F401
    else:
        with tempfile.TemporaryDirectory() as root:
            (_train_p2g if args.task == "p2g" else _train_cnn)(root, args.data, args.quick)
    print_json_line({"task": args.task, "peak_rss_gb": peak_rss_gb()})
    return 0


if __name__ == "__main__":
    cli.entry_point(main)
