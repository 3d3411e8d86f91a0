"""keras_hw2.hparams: every field of both training configs is checked, with the flag and value in the message."""
import math
from dataclasses import dataclass, fields

import pytest

from keras_hw2 import hparams
from keras_hw2.cnn.train import TrainConfig as CnnConfig
from keras_hw2.errors import InputError
from keras_hw2.p2g.train import TrainConfig as P2gConfig
from tuners.cnn_lr import SweepConfig

NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize("config", [CnnConfig, P2gConfig])
@pytest.mark.parametrize("field, value, message", [
    ("learning_rate", NAN, "--learning-rate must be a finite number > 0. Received: --learning-rate=nan"),
    ("learning_rate", INF, "--learning-rate must be a finite number > 0. Received: --learning-rate=inf"),
    ("learning_rate", -1.0, "--learning-rate must be a finite number > 0. Received: --learning-rate=-1.0"),
    ("learning_rate", 0, "--learning-rate must be a finite number > 0. Received: --learning-rate=0"),
    ("epochs", 0, "--epochs must be an integer >= 1. Received: --epochs=0"),
    ("epochs", 1.5, "--epochs must be an integer >= 1. Received: --epochs=1.5"),
    ("epochs", True, "--epochs must be an integer >= 1. Received: --epochs=True"),
    ("batch_size", 0, "--batch-size must be an integer >= 1. Received: --batch-size=0"),
    ("dropout", -0.5, "--dropout must be a finite number in [0, 1). Received: --dropout=-0.5"),
    ("dropout", 1.0, "--dropout must be a finite number in [0, 1). Received: --dropout=1.0"),
    ("dropout", NAN, "--dropout must be a finite number in [0, 1). Received: --dropout=nan"),
    ("seed", -5, "--seed must be an integer >= 0. Received: --seed=-5"),
    ("strategy", "tpu", "--strategy must be one of default, mirrored, multiworker. Received: --strategy='tpu'"),
    ("jit_compile", "yes", "--jit-compile must be true or false. Received: --jit-compile='yes'"),
    ("data", "", "--data must be a path. Received: --data=''"),
])
def test_both_configs_refuse_bad_shared_fields(config, field, value, message):
    with pytest.raises(InputError) as error:
        config(**{field: value})
    assert str(error.value) == message


@pytest.mark.parametrize("config, kwargs, message", [
    (CnnConfig, {"model": "resnet"}, "--model must be one of baseline, batchnorm. Received: --model='resnet'"),
    (CnnConfig, {"val_fraction": 1.5}, "--val-fraction must be a finite number in (0, 1). Received: --val-fraction=1.5"),
    (P2gConfig, {"units": 7}, "--units must be an even integer >= 2. Received: --units=7"),
    (P2gConfig, {"units": 0}, "--units must be an even integer >= 2. Received: --units=0"),
    (P2gConfig, {"use_attention": 1}, "--attention must be true or false. Received: --attention=1"),
    (SweepConfig, {"learning_rates": ()}, "--learning-rates must be one or more values. Received: --learning-rates=()"),
    (SweepConfig, {"learning_rates": (0.1, NAN)}, "--learning-rates must be a finite number > 0. Received: "
                                                  "--learning-rates=nan"),
    (SweepConfig, {"max_trials": 0}, "--max-trials must be an integer >= 1. Received: --max-trials=0"),
])
def test_task_specific_fields_are_checked(config, kwargs, message):
    with pytest.raises(InputError) as error:
        config(**kwargs)
    assert str(error.value) == message


@pytest.mark.parametrize("config", [CnnConfig, P2gConfig])
def test_the_defaults_are_valid_and_every_field_has_a_rule(config):
    defaults = config()
    assert {f.name for f in fields(defaults)} >= set(hparams.TRAINING_RULES)


def test_a_field_without_a_rule_is_a_programming_error():
    @dataclass
    class Config:
        epochs: int = 1
        forgotten: int = 0

        def __post_init__(self):
            hparams.validate(self, {"epochs": hparams.Integer(minimum=1)})

    with pytest.raises(TypeError, match="Config.forgotten has no validation rule"):
        Config()


@pytest.mark.parametrize("rule, good, bad", [
    (hparams.Number(low=0, low_open=True), [1e-9, 5], [0, -1, NAN, INF, "1", True]),
    (hparams.Number(low=0, high=1, high_open=True), [0, 0.5], [1, 1.5, -math.ulp(0)]),
    (hparams.Integer(minimum=1), [1, 10**12], [0, 1.0, "3", None]),
    (hparams.Integer(minimum=2, even=True), [2, 128], [3, 1]),
    (hparams.OrNone(hparams.Integer(minimum=1)), [None, 3], [0]),
    (hparams.Each(hparams.Number(low=0, low_open=True)), [(0.1,), [1, 2]], [(), (1, -1), 0.1]),
])
def test_rules_accept_and_refuse(rule, good, bad):
    for value in good:
        rule.check("--x", value)
    for value in bad:
        with pytest.raises(InputError, match=r"^--x must be .* Received: --x="):
            rule.check("--x", value)
