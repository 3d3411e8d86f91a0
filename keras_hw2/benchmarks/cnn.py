"""Benchmark rows of the CNN scene classifiers: training images/s at batch 8, whole epochs, a profile of one step.

Each model trains with the training engine's step on the task ``train`` builds
(`keras_hw2.cnn.train.make_task`: SGD keeping the weights' moving average, NLL
loss, per-example accuracy), on images held in memory; the speed does not
depend on the pixels, so the synthetic demo images stand in when no data file
is given. One untimed epoch traces the step first. Extra rows time the plain
SGD step (``--no-weight-averaging``) for comparison with the reference.
The whole-epoch rows (`keras_hw2.benchmarks.epochs`) time ``train`` itself:
the steps, validation of the weights' average on held-out images (a ninth as
many as trained on, as in the Intel split) with the BatchNorm model's precise
statistics recomputed first, and the checkpoints.
"""
import dataclasses
import itertools
import tempfile

from keras_hw2 import training
from keras_hw2.benchmarks.epochs import whole_epoch_timing
from keras_hw2.benchmarks.harness import measure, timing_row
from keras_hw2.benchmarks.profile import op_times, profile
from keras_hw2.cnn.data import ImageData
from keras_hw2.cnn.models import MODELS
from keras_hw2.cnn.synthetic import generate_images
from keras_hw2.cnn.train import TASK, TrainConfig, make_task

# The homework's PyTorch code on this machine type, quiet, torch 2.13 CPU, 2 threads (issue 12).
REFERENCE_IMAGES_PER_S = {"baseline": 361.0, "batchnorm": 511.0}
TARGET_RATIO = 1.0


def demo_images(num_images: int, seed: int = 0) -> tuple:
    """``num_images`` synthetic uint8 ``(48, 48, 3)`` images and their labels."""
    images, labels = generate_images(num_images // len(MODELS) // 3 + 1, seed=seed)
    return images[:num_images], labels[:num_images]


def _trainer(model_name: str, images, labels, config: TrainConfig) -> training.Trainer:
    """The engine's trainer of `make_task` for one CNN, training on `images` (which also stand in as the
    validation split the task needs; the benchmarks do not validate)."""
    config = dataclasses.replace(config, model=model_name)
    data = ImageData({"train": (images, labels), "val": (images, labels)}, "benchmark images")
    return training.build_trainer(config, make_task(config, data))


def training_rows(images, labels, repeats: int, config: TrainConfig = None) -> list:
    """Images/s of a training epoch over `images` for the baseline and BatchNorm CNNs (batch 8 by default):
    the step ``train`` runs, then (``_plain_sgd`` rows, no reference) the same without the weights' average."""
    config = config or TrainConfig()
    rows = []
    variants = [(config.weight_averaging, "")] + ([(False, "_plain_sgd")] if config.weight_averaging else [])
    for averaging, suffix in variants:
        for model_name in MODELS:
            trainer = _trainer(model_name, images, labels, dataclasses.replace(config, weight_averaging=averaging))
            seeds = itertools.count()
            timing = measure(lambda: trainer.train_epoch(next(seeds)), repeats)
            what = "" if averaging else ", plain SGD (no weight average)"
            rows.append(timing_row(f"cnn_{model_name}_training{suffix}",
                                   f"CNN {model_name} training, batch {config.batch_size}{what}", timing,
                                   len(labels), "images/s", True,
                                   reference=None if suffix else REFERENCE_IMAGES_PER_S[model_name],
                                   target=None if suffix else TARGET_RATIO,
                                   details={"images": len(labels), "weight_averaging": averaging}))
    return rows


def whole_epoch_rows(images, labels, repeats: int, config: TrainConfig = None) -> list:
    """Images/s of whole ``train`` epochs (`whole_epoch_timing`) of both CNNs: `images` split into training
    images and a ninth as many validation images (the Intel split's proportion)."""
    config = config or TrainConfig()
    num_val = max(1, len(labels) // 10)
    data = ImageData({"train": (images[num_val:], labels[num_val:]), "val": (images[:num_val], labels[:num_val])},
                     "benchmark images")
    rows = []
    for model_name in MODELS:
        model_config = dataclasses.replace(config, model=model_name)
        timing = whole_epoch_timing(TASK, model_config, lambda c: make_task(c, data), repeats)
        rows.append(timing_row(f"cnn_{model_name}_whole_epoch",
                               f"CNN {model_name} whole epoch as train runs it (validation, checkpoints), "
                               f"batch {config.batch_size}", timing, len(labels) - num_val, "images/s", True,
                               details={"train_images": len(labels) - num_val, "val_images": num_val,
                                        "weight_averaging": config.weight_averaging}))
    return rows


def profile_step(model_name: str, images, labels, steps: int = 20, config: TrainConfig = None) -> dict:
    """`keras_hw2.benchmarks.profile.op_times` of `steps` training steps (after 10 untimed ones)."""
    config = config or TrainConfig()
    trainer = _trainer(model_name, images, labels, config)
    dataset = trainer.distribute(trainer.task.train_data(0).repeat().take(10 + steps))
    step = trainer.train_function(dataset.element_spec)
    batches = iter(dataset)
    for _ in range(10):
        step(next(batches))

    def one_step():
        step(next(batches))
        trainer.train_sums.means()

    with tempfile.TemporaryDirectory() as logdir:
        times = op_times(profile(one_step, logdir, calls=steps))
    return {"model": model_name, "batch_size": config.batch_size, "steps": steps, **times}
