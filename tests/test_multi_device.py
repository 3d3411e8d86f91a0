"""`--strategy mirrored` on 2 logical CPU devices trains like one device.

Logical devices must be configured before TensorFlow initialises, so the check
runs in a fresh process: a small driver splits the CPU in two, then trains the
CNN for one epoch through its library function `train_and_evaluate` under the
default strategy and under `MirroredStrategy`, from the same seed and data, through the
same training loop (`keras_hw2.training`).
"""
import json

import pytest

DRIVER = """
import json, sys
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from keras_hw2.cnn.data import load_npz, write_synthetic_npz
from keras_hw2.cnn.train import TrainConfig, train_and_evaluate
from keras_hw2.distribute import get_strategy
from keras_hw2.runs import open_run

npz, root = sys.argv[1], sys.argv[2]
data = load_npz(write_synthetic_npz(npz, num_per_class=4, seed=0))  # 24 training images
result = {"logical_cpus": len(tf.config.list_logical_devices("CPU")),
          "replicas": get_strategy("mirrored").num_replicas_in_sync}
for strategy in ("default", "mirrored"):
    # Three global batches of 8 (4 per replica), in the same shuffled order. No dropout: its masks
    # are drawn per replica.
    config = TrainConfig(data=npz, epochs=1, batch_size=8, learning_rate=0.05, dropout=0.0, seed=0,
                         strategy=strategy)
    with open_run("cnn", config, name=strategy, root=root) as run:
        train_and_evaluate(config, run, data, verbose=0)
        result[strategy] = {key: run.history[key][0] for key in ("loss", "val_loss", "val_accuracy")}
print("RESULT " + json.dumps(result))
"""


@pytest.fixture(scope="module")
def losses(tmp_path_factory):
    from conftest import _python

    tmp = tmp_path_factory.mktemp("multi_device")
    driver = tmp / "driver.py"
    driver.write_text(DRIVER)
    done = _python(str(driver), str(tmp / "tiny.npz"), str(tmp / "runs"), timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def test_mirrored_strategy_uses_both_logical_cpus(losses):
    assert losses["logical_cpus"] == 2 and losses["replicas"] == 2


def test_one_mirrored_epoch_gives_the_single_device_loss(losses):
    """`loss` checks the forward pass; `val_loss`, after the SGD step, checks the gradient all-reduce."""
    single, mirrored = losses["default"], losses["mirrored"]
    assert single["loss"] > 0 and single["val_loss"] != pytest.approx(single["loss"], rel=1e-3)
    assert mirrored["loss"] == pytest.approx(single["loss"], rel=1e-4)
    assert mirrored["val_loss"] == pytest.approx(single["val_loss"], rel=1e-4)
    assert mirrored["val_accuracy"] == pytest.approx(single["val_accuracy"], abs=1e-6)
