"""Config validation in one place: each config dataclass declares a table of what each field
accepts (in the style of scikit-learn's parameter constraints), and :func:`check` turns every
value outside it into one :class:`~bgs.errors.ConfigError` naming the key, the value and the
allowed values.

    @dataclass
    class OptimConfig(Checked):
        SECTION: ClassVar[str] = "optim"
        CONSTRAINTS: ClassVar[dict] = {"lr": [Interval(float, 0, None, closed="neither")],
                                       "select": [Options("val_rsa", "last")]}
        lr: float = 1e-4
        select: str = "val_rsa"

A field may list several constraints; a value passes when it meets any of them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from numbers import Integral, Real
from typing import ClassVar

from bgs.errors import ConfigError


class Interval:
    """A number of ``kind`` (``int`` or ``float``; a bool is neither) between ``low`` and
    ``high`` (None: unbounded), closed at ``"both"``, ``"left"``, ``"right"`` or ``"neither"``
    end. Floats must be finite; ints are accepted where a float is asked for."""

    def __init__(self, kind: type, low: float | None, high: float | None, closed: str = "both"):
        self.kind, self.low, self.high, self.closed = kind, low, high, closed

    def accepts(self, value) -> bool:
        numeric = Integral if self.kind is int else Real
        if isinstance(value, bool) or not isinstance(value, numeric) or not math.isfinite(value):
            return False
        left_ok = self.low is None or (value >= self.low if self.closed in ("both", "left")
                                       else value > self.low)
        right_ok = self.high is None or (value <= self.high if self.closed in ("both", "right")
                                         else value < self.high)
        return left_ok and right_ok

    def __str__(self) -> str:
        name = "an integer" if self.kind is int else "a number"
        if self.low is None and self.high is None:
            return name
        lo = "(-inf" if self.low is None else ("[" if self.closed in ("both", "left") else "(") + f"{self.low}"
        hi = "inf)" if self.high is None else f"{self.high}" + ("]" if self.closed in ("both", "right") else ")")
        return f"{name} in {lo}, {hi}"


class Options:
    """One of the given values."""

    def __init__(self, *values):
        self.values = values

    def accepts(self, value) -> bool:
        return isinstance(value, (str, int, float)) and not isinstance(value, bool) and value in self.values

    def __str__(self) -> str:
        return "one of " + ", ".join(str(v) for v in self.values)


class OfType:
    """A value of one of ``types`` (``bool`` is told apart from ``int``)."""

    NAMES = {str: "a string", bool: "true or false", list: "a list", tuple: "a list", dict: "a table"}

    def __init__(self, *types: type):
        self.types = types

    def accepts(self, value) -> bool:
        if isinstance(value, bool) and bool not in self.types:
            return False
        return isinstance(value, self.types)

    def __str__(self) -> str:
        return " or ".join(self.NAMES.get(t, t.__name__) for t in self.types)


class ListOf:
    """A list (or tuple) whose every item meets ``constraint``."""

    def __init__(self, constraint):
        self.constraint = constraint

    def accepts(self, value) -> bool:
        return isinstance(value, (list, tuple)) and all(self.constraint.accepts(v) for v in value)

    def __str__(self) -> str:
        return f"a list, each {self.constraint}"


class Pattern:
    """A string matching the regular expression ``regex`` (whole), described as ``what``."""

    def __init__(self, regex: str, what: str):
        import re

        self.regex, self.what = re.compile(regex), what

    def accepts(self, value) -> bool:
        return isinstance(value, str) and self.regex.fullmatch(value) is not None

    def __str__(self) -> str:
        return self.what


TEXT = OfType(str)
FLAG = OfType(bool)
DEVICE = Pattern(r"cpu|cuda(:\d+)?", "cpu, cuda or cuda:N")


def check(obj, section: str | None = None) -> None:
    """Check every field of ``obj`` that its class's ``CONSTRAINTS`` table names."""
    prefix = section if section is not None else getattr(obj, "SECTION", "")
    table: Mapping[str, list] = getattr(type(obj), "CONSTRAINTS", {})
    for key, allowed in table.items():
        value = getattr(obj, key)
        if not any(c.accepts(value) for c in allowed):
            name = f"{prefix}.{key}" if prefix else key
            raise ConfigError(f"{name} = {value!r} is not allowed; it must be "
                              + " or ".join(str(c) for c in allowed))


class Checked:
    """Mixin of config dataclasses: their ``CONSTRAINTS`` are checked when they are made."""

    SECTION: ClassVar[str] = ""
    CONSTRAINTS: ClassVar[dict] = {}

    def __post_init__(self):
        check(self)
