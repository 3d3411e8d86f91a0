"""keras_hw2.checks and keras_hw2.hparams: every field of both training configs is checked, with the flag and value in the message."""
import math
from dataclasses import dataclass, fields

import pytest

from keras_hw2 import checks, hparams
from keras_hw2.cnn.train import TrainConfig as CnnConfig
from keras_hw2.errors import InputError
from keras_hw2.p2g.train import TrainConfig as P2gConfig
from tuners.lr_grid import SweepConfig

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
    ("lr_schedule", "linear", "--lr-schedule must be one of constant, cosine, step. Received: --lr-schedule='linear'"),
    ("warmup_epochs", -1, "--warmup-epochs must be an integer >= 0. Received: --warmup-epochs=-1"),
    ("early_stopping", 0, "--early-stopping must be an integer >= 1. Received: --early-stopping=0"),
    ("early_stopping", -3, "--early-stopping must be an integer >= 1. Received: --early-stopping=-3"),
])
def test_both_configs_refuse_bad_shared_fields(config, field, value, message):
    with pytest.raises(InputError) as error:
        config(**{field: value})
    assert str(error.value) == message


@pytest.mark.parametrize("config, kwargs, message", [
    (CnnConfig, {"model": "resnet"}, "--model must be one of baseline, batchnorm. Received: --model='resnet'"),
    (CnnConfig, {"val_fraction": 1.5}, "--val-fraction must be a finite number in (0, 1). Received: --val-fraction=1.5"),
    (CnnConfig, {"epochs": 3, "warmup_epochs": 3}, "--warmup-epochs must be fewer than --epochs (3). "
                                                   "Received: --warmup-epochs=3"),
    (P2gConfig, {"epochs": 2, "warmup_epochs": 7}, "--warmup-epochs must be fewer than --epochs (2). "
                                                   "Received: --warmup-epochs=7"),
    (CnnConfig, {"augment": 1}, "--augment must be true or false. Received: --augment=1"),
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
def test_the_opt_in_options_stay_out_of_config_json_at_their_defaults(config):
    from keras_hw2.runs import config_dict

    opt_in = {"lr_schedule", "warmup_epochs", "early_stopping", "augment"}
    assert not opt_in & set(config_dict(config(epochs=40)))  # the config.json of runs made before them
    chosen = {"lr_schedule": "step", "warmup_epochs": 2, "early_stopping": 5}
    assert {k: v for k, v in config_dict(config(epochs=40, **chosen)).items() if k in opt_in} == chosen


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
            checks.validate(self, {"epochs": checks.Integer(minimum=1)})

    with pytest.raises(TypeError, match="Config.forgotten has no validation rule"):
        Config()


@pytest.mark.parametrize("rule, good, bad", [
    (checks.Number(low=0, low_open=True), [1e-9, 5], [0, -1, NAN, INF, "1", True]),
    (checks.Number(low=0, high=1, high_open=True), [0, 0.5], [1, 1.5, -math.ulp(0)]),
    (checks.Integer(minimum=1), [1, 10**12], [0, 1.0, "3", None]),
    (checks.Integer(minimum=2, even=True), [2, 128], [3, 1]),
    (checks.OrNone(checks.Integer(minimum=1)), [None, 3], [0]),
    (checks.Each(checks.Number(low=0, low_open=True)), [(0.1,), [1, 2]], [(), (1, -1), 0.1]),
    (checks.Integer(minimum=1, maximum=6), [1, 6], [0, 7]),
    (checks.Number(high=1, high_open=True), [-5, 0.5], [1, NAN]),
])
def test_rules_accept_and_refuse(rule, good, bad):
    for value in good:
        rule.check("--x", value)
    for value in bad:
        with pytest.raises(InputError, match=r"^--x must be .* Received: --x="):
            rule.check("--x", value)


@pytest.mark.parametrize("rule, value, message", [
    (checks.Integer(minimum=1, maximum=6), 7, "--x must be an integer between 1 and 6. Received: --x=7"),
    (checks.Integer(minimum=2, even=True), "abc", "--x must be an even integer >= 2. Received: --x='abc'"),
    (checks.Number(), INF, "--x must be a finite number. Received: --x=inf"),
    (checks.Number(high=1, high_open=True), 1, "--x must be a finite number < 1. Received: --x=1"),
])
def test_rule_messages_describe_the_bounds(rule, value, message):
    with pytest.raises(InputError) as error:
        rule.check("--x", value)
    assert str(error.value) == message


def test_argparse_types_use_the_same_rules(capsys):
    from keras_hw2 import cli

    parser = cli.ArgumentParser(prog="prog")
    parser.add_argument("--k", type=cli.integer("--k", minimum=1))
    assert parser.parse_args(["--k", "3"]).k == 3
    with pytest.raises(SystemExit) as error:
        parser.parse_args(["--k", "x"])
    assert error.value.code == 2
    assert capsys.readouterr().err == "error: prog: --k must be an integer >= 1. Received: --k='x' (see --help)\n"
