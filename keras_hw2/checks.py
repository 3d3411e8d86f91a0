"""Value rules: the one place a number, choice, flag or path given by a user is checked.

A rule (`Integer`, `Number`, `Choice`, `Flag`, `OptionalPath`, `OrNone`,
`Each`) has ``check(flag, value)``, which raises `InputError` with a
Keras-style message naming the command-line flag and the value received, e.g.
``--learning-rate must be a finite number > 0. Received: --learning-rate=nan``.
NaN and infinity are refused wherever a number is expected.

The same rules serve every path a value can take:
- a task's config dataclass calls ``validate(self, rules)`` in ``__post_init__``
  (every field has a rule; `keras_hw2.hparams.TRAINING_RULES` holds the fields
  both training configs share);
- argparse types (`keras_hw2.cli.integer`, `keras_hw2.cli.number`) wrap a rule,
  so a flag no config holds is checked by the same words;
- code that checks one value calls ``rule.check(flag, value)`` directly.

The module imports neither TensorFlow nor Keras: checking arguments costs no
start-up time.
"""
import math
import numbers
from dataclasses import dataclass, fields
from typing import Optional

from keras_hw2.errors import InputError


def received(flag: str, value) -> str:
    """The message's tail, ``Received: --flag=value`` (strings quoted, as Keras does).

    Example:
    >>> received("--model", "resnet"), received("--epochs", 0)
    ("Received: --model='resnet'", 'Received: --epochs=0')
    """
    return f"Received: {flag}={value!r}" if isinstance(value, str) else f"Received: {flag}={value}"


@dataclass(frozen=True)
class Integer:
    """An int (not a bool, not a float) in ``[minimum, maximum]`` (`maximum` None: no upper bound); with
    `even`, also even.

    Example:
    >>> Integer(minimum=1, maximum=6).check("--top-k", 7)
    Traceback (most recent call last):
    ...
    keras_hw2.errors.InputError: --top-k must be an integer between 1 and 6. Received: --top-k=7
    """
    minimum: int = 0
    maximum: Optional[int] = None
    even: bool = False

    def describe(self) -> str:
        kind = "an even integer" if self.even else "an integer"
        if self.maximum is None:
            return f"{kind} >= {self.minimum}"
        return f"{kind} between {self.minimum} and {self.maximum}"

    def check(self, flag: str, value) -> None:
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        ok = ok and value >= self.minimum and (self.maximum is None or value <= self.maximum)
        if not ok or (self.even and value % 2):
            raise InputError(f"{flag} must be {self.describe()}. {received(flag, value)}")


@dataclass(frozen=True)
class Number:
    """A finite real number in the interval from `low` to `high` (open ends where asked).

    Example:
    >>> Number(low=0, high=1, low_open=True).check("--top-p", float("nan"))
    Traceback (most recent call last):
    ...
    keras_hw2.errors.InputError: --top-p must be a finite number in (0, 1]. Received: --top-p=nan
    """
    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False

    def describe(self) -> str:
        if self.high == math.inf:
            return f"{'>' if self.low_open else '>='} {self.low:g}" if self.low > -math.inf else ""
        if self.low == -math.inf:
            return f"{'<' if self.high_open else '<='} {self.high:g}"
        return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"

    def check(self, flag: str, value) -> None:
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
        if ok:
            ok = (value > self.low if self.low_open else value >= self.low) and (
                value < self.high if self.high_open else value <= self.high)
        if not ok:
            wanted = " ".join(filter(None, ["a finite number", self.describe()]))
            raise InputError(f"{flag} must be {wanted}. {received(flag, value)}")


@dataclass(frozen=True)
class Choice:
    """One of `options`."""
    options: tuple

    def check(self, flag: str, value) -> None:
        if value not in self.options:
            raise InputError(f"{flag} must be one of {', '.join(map(str, self.options))}. {received(flag, value)}")


@dataclass(frozen=True)
class Flag:
    """A bool."""

    def check(self, flag: str, value) -> None:
        if not isinstance(value, bool):
            raise InputError(f"{flag} must be true or false. {received(flag, value)}")


@dataclass(frozen=True)
class OptionalPath:
    """None or a non-empty string (whether the file exists is the data loader's check)."""

    def check(self, flag: str, value) -> None:
        if value is not None and (not isinstance(value, str) or not value):
            raise InputError(f"{flag} must be a path. {received(flag, value)}")


@dataclass(frozen=True)
class OrNone:
    """None, or a value `rule` accepts."""
    rule: object

    def check(self, flag: str, value) -> None:
        if value is not None:
            self.rule.check(flag, value)


@dataclass(frozen=True)
class Each:
    """A non-empty tuple or list whose every element `rule` accepts."""
    rule: object

    def check(self, flag: str, value) -> None:
        if not isinstance(value, (tuple, list)) or not value:
            raise InputError(f"{flag} must be one or more values. {received(flag, value)}")
        for element in value:
            self.rule.check(flag, element)


def validate(config, rules: dict, flags: dict = None) -> None:
    """Check every field of the dataclass `config` against its rule.

    Args:
        config: a dataclass instance.
        rules: ``{field name: rule}``; every field must have one.
        flags: ``{field name: flag}`` where the flag is not ``--`` + the name with dashes.

    Raises:
        InputError: a value breaks its rule (the message names the flag and the value).
        TypeError: a field has no rule (a programming error, not bad input).

    Example:
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Config:
    ...     batch_size: int = 8
    ...     def __post_init__(self):
    ...         validate(self, {"batch_size": Integer(minimum=1)})
    >>> Config(batch_size=0)
    Traceback (most recent call last):
    ...
    keras_hw2.errors.InputError: --batch-size must be an integer >= 1. Received: --batch-size=0
    """
    flags = flags or {}
    for field in fields(config):
        if field.name not in rules:
            raise TypeError(f"{type(config).__name__}.{field.name} has no validation rule")
        flag = flags.get(field.name, "--" + field.name.replace("_", "-"))
        rules[field.name].check(flag, getattr(config, field.name))
