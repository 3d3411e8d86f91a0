"""Benchmark rows of the CNN scene classifiers: training images/s at batch 8, and a profile of one step.

Each model trains with the training engine's step, as ``train`` runs it (plain
SGD, NLL loss, per-example accuracy), on images held in memory; the speed
does not depend on the pixels, so the synthetic demo images stand in when no
data file is given. One untimed epoch traces the step first.
"""
import itertools
import tempfile

from keras_hw2 import training
from keras_hw2.benchmarks.harness import measure, timing_row
from keras_hw2.benchmarks.profile import op_times, profile
from keras_hw2.cnn.data import make_dataset
from keras_hw2.cnn.models import MODELS, build_model, compile_model, nll_loss
from keras_hw2.cnn.synthetic import generate_images
from keras_hw2.cnn.train import TrainConfig, accuracy

# The homework's PyTorch code on this machine type, quiet, torch 2.13 CPU, 2 threads (issue 12).
REFERENCE_IMAGES_PER_S = {"baseline": 361.0, "batchnorm": 511.0}
TARGET_RATIO = 1.0


def demo_images(num_images: int, seed: int = 0) -> tuple:
    """``num_images`` synthetic uint8 ``(48, 48, 3)`` images and their labels."""
    images, labels = generate_images(num_images // len(MODELS) // 3 + 1, seed=seed)
    return images[:num_images], labels[:num_images]


def _trainer(model_name: str, images, labels, config: TrainConfig) -> training.Trainer:
    """The engine's trainer of one CNN, with the model, loss, metric and batches `keras_hw2.cnn.train` uses."""
    task = training.Task(build_model=lambda: compile_model(build_model(batch_norm=MODELS[model_name],
                                                                      dropout=config.dropout), config.learning_rate),
                         loss=nll_loss, metrics={"accuracy": accuracy},
                         train_data=lambda seed: make_dataset(images, labels, config.batch_size, shuffle=True,
                                                              seed=seed),
                         monitor="val_accuracy", mode="max")
    return training.build_trainer(config, task)


def training_rows(images, labels, repeats: int, config: TrainConfig = None) -> list:
    """Images/s of a training epoch over `images` for the baseline and BatchNorm CNNs (batch 8 by default)."""
    config = config or TrainConfig()
    rows = []
    for model_name in MODELS:
        trainer = _trainer(model_name, images, labels, config)
        seeds = itertools.count()
        timing = measure(lambda: trainer.train_epoch(next(seeds)), repeats)
        rows.append(timing_row(f"cnn_{model_name}_training", f"CNN {model_name} training, batch {config.batch_size}",
                               timing, len(labels), "images/s", True, reference=REFERENCE_IMAGES_PER_S[model_name],
                               target=TARGET_RATIO, details={"images": len(labels)}))
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
