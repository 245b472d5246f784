"""Checking JSON configurations read from files: types, ranges, known keys, size and depth.

A file's configuration is checked against a schema before anything is built from it, so a
file cannot make lstmkit allocate, loop or misread: `"go_backwards": "false"` is refused (a
string where a bool belongs), not read as True. A schema is built from a handful of specs:

    Int(1, 2**20)   Float(0.0, 1.0, below=1.0)   Bool()   Str(choices=("tanh", "relu"))
    Nullable(Int())   ListOf(Int(), max_items=64)   Fields({"units": Int(1)}, required={"units"})

Every failure is a `ConfigError` (a ValueError) naming where the value sits ("model.layers[0]
.config.units"), what it held and what was expected. `schema_from_signature` derives a schema
from a constructor's annotations, so a layer (or optimizer) plugs in without declaring one.
"""

from __future__ import annotations

import collections.abc
import inspect
import json
import math
import types
import typing
from typing import Any, Callable, Mapping

import numpy as np

MAX_DEPTH = 32  # nesting of JSON containers in a configuration
MAX_STRING = 1024  # characters of a name or choice
MAX_INT = 2**31 - 1


class ConfigError(ValueError):
    """A configuration value that does not fit its schema: `key` (where), `value`, `expected`."""

    def __init__(self, key: str, value: Any, expected: str) -> None:
        self.key, self.value, self.expected = key, value, expected
        super().__init__(f"{key} = {_short(value)}: expected {expected}")


def _short(value: Any) -> str:
    if isinstance(value, str) and value.startswith("<") and value.endswith(">"):
        return value  # a description of the value, e.g. "<3 layers>"
    if isinstance(value, (list, dict)) and len(value) > 8:
        return f"<{type(value).__name__} of {len(value)} items>"
    text = repr(value) if not isinstance(value, (list, dict)) else json.dumps(value)[:200]
    return text if len(text) <= 80 else text[:60] + f"... ({len(text)} characters)"


class Spec:
    """One value's rule; `check(value, key)` returns the value (or raises ConfigError)."""

    def check(self, value: Any, key: str) -> Any:
        raise NotImplementedError


class Anything(Spec):
    """Any JSON value (depth and size are bounded when the text is parsed)."""

    def check(self, value: Any, key: str) -> Any:
        return value


class Bool(Spec):
    def check(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            raise ConfigError(key, value, "true or false")
        return value


class Int(Spec):
    def __init__(self, minimum: int = -MAX_INT, maximum: int = MAX_INT) -> None:
        self.minimum, self.maximum = minimum, maximum

    def check(self, value: Any, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not self.minimum <= value <= self.maximum:
            raise ConfigError(key, value, f"an integer in [{self.minimum}, {self.maximum}]")
        return value


class Float(Spec):
    """A finite number in [minimum, maximum] (and < `below` when given); ints are accepted.
    With `allow_nan`, NaN too (a missing value); never inf."""

    def __init__(self, minimum: float = -math.inf, maximum: float = math.inf, below: float | None = None,
                 allow_nan: bool = False) -> None:
        self.minimum, self.maximum, self.below, self.allow_nan = minimum, maximum, below, allow_nan

    def check(self, value: Any, key: str) -> float:
        fine = not isinstance(value, bool) and isinstance(value, (int, float))
        if fine and not (self.allow_nan and value != value):
            fine = math.isfinite(value) and self.minimum <= value <= self.maximum
            fine = fine and (self.below is None or value < self.below)
        if not fine:
            upper = f"{self.maximum}]" if self.below is None else f"{self.below})"
            raise ConfigError(key, value, f"a finite number in [{self.minimum}, {upper}"
                                          + (" or NaN" if self.allow_nan else ""))
        return value


class Str(Spec):
    def __init__(self, choices: typing.Iterable[str] | None = None, max_length: int = MAX_STRING) -> None:
        self.choices = None if choices is None else tuple(choices)
        self.max_length = max_length

    def check(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or len(value) > self.max_length:
            raise ConfigError(key, value, f"a string of at most {self.max_length} characters")
        if self.choices is not None and value not in self.choices:
            raise ConfigError(key, value, f"one of {list(self.choices)}")
        return value


class Nullable(Spec):
    def __init__(self, spec: Spec) -> None:
        self.spec = spec

    def check(self, value: Any, key: str) -> Any:
        return None if value is None else self.spec.check(value, key)


class OneOf(Spec):
    """The first of `specs` that accepts the value."""

    def __init__(self, *specs: Spec, expected: str) -> None:
        self.specs, self.expected = specs, expected

    def check(self, value: Any, key: str) -> Any:
        for spec in self.specs:
            try:
                return spec.check(value, key)
            except ConfigError:
                continue
        raise ConfigError(key, value, self.expected)


class ListOf(Spec):
    def __init__(self, item: Spec, max_items: int = 64, min_items: int = 0) -> None:
        self.item, self.max_items, self.min_items = item, max_items, min_items

    def check(self, value: Any, key: str) -> list:
        if not isinstance(value, list) or not self.min_items <= len(value) <= self.max_items:
            raise ConfigError(key, value, f"a list of {self.min_items} to {self.max_items} items")
        return [self.item.check(entry, f"{key}[{index}]") for index, entry in enumerate(value)]


class MapOf(Spec):
    """An object whose keys are free (strings) and whose values share one spec."""

    def __init__(self, value: Spec, max_items: int = 64) -> None:
        self.value, self.max_items = value, max_items

    def check(self, value: Any, key: str) -> dict:
        if not isinstance(value, dict) or len(value) > self.max_items:
            raise ConfigError(key, value, f"an object of at most {self.max_items} entries")
        return {name: self.value.check(entry, f"{key}.{name}") for name, entry in value.items()}


class Fields(Spec):
    """An object with known keys only; `required` must be present."""

    def __init__(self, fields: Mapping[str, Spec], required: typing.Iterable[str] = ()) -> None:
        self.fields, self.required = dict(fields), set(required)

    def check(self, value: Any, key: str) -> dict:
        if not isinstance(value, dict):
            raise ConfigError(key, value, "an object")
        unknown = [name for name in value if name not in self.fields]
        if unknown:
            raise ConfigError(f"{key}.{unknown[0]}", value[unknown[0]], f"no such key (known: {sorted(self.fields)})")
        missing = sorted(self.required - set(value))
        if missing:
            raise ConfigError(f"{key}.{missing[0]}", None, "a value (the key is required)")
        return {name: self.fields[name].check(entry, f"{key}.{name}") for name, entry in value.items()}


class Custom(Spec):
    """A spec given by a function `check(value, key)`, e.g. one that looks up a registry."""

    def __init__(self, check: Callable[[Any, str], Any]) -> None:
        self.check = check  # type: ignore[method-assign]


def parse_json(text: Any, key: str, max_bytes: int) -> Any:
    """Parse JSON `text` of at most `max_bytes`, nested at most MAX_DEPTH deep."""
    if not isinstance(text, str):
        raise ConfigError(key, text, "a JSON string")
    if len(text) > max_bytes:
        raise ConfigError(key, f"<{len(text)} characters>", f"at most {max_bytes} characters")
    if json_depth(text) > MAX_DEPTH:
        raise ConfigError(key, f"<{len(text)} characters>", f"JSON nested at most {MAX_DEPTH} deep")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as err:
        raise ConfigError(key, f"<{len(text)} characters>", f"valid JSON ({err})") from None


_BRACKETS = np.zeros(256, dtype=np.int8)
_BRACKETS[[ord("["), ord("{")]], _BRACKETS[[ord("]"), ord("}")]] = 1, -1


def json_depth(text: str) -> int:
    """How deep the brackets of JSON `text` nest, outside strings. Vectorized over the few special
    characters (quotes, backslashes, brackets), so a few ms a MB; no recursion."""
    data = np.frombuffer(text.encode("utf-8", "surrogatepass"), dtype=np.uint8)
    quotes = np.flatnonzero(data == ord('"'))
    backslashes = np.flatnonzero(data == ord("\\"))
    if backslashes.size and quotes.size:  # a quote after an odd run of backslashes is escaped
        breaks = np.flatnonzero(np.diff(backslashes) != 1)
        run_ends = np.append(backslashes[breaks], backslashes[-1])
        run_starts = np.insert(backslashes[breaks + 1], 0, backslashes[0])
        run = np.searchsorted(run_ends, quotes - 1)
        ends_here = (run < run_ends.size) & (run_ends[np.minimum(run, run_ends.size - 1)] == quotes - 1)
        lengths = np.where(ends_here, quotes - run_starts[np.minimum(run, run_ends.size - 1)], 0)
        quotes = quotes[lengths % 2 == 0]
    steps = _BRACKETS[data]
    brackets = np.flatnonzero(steps)
    outside = np.searchsorted(quotes, brackets) % 2 == 0  # an even number of quotes before it
    return int(np.cumsum(steps[brackets[outside]], dtype=np.int64).max(initial=0))


def check_round_trip(given: Any, kept: Any, key: str) -> None:
    """Refuse a configuration that would not load as what it says: every value `given` (read from
    a file) must be what the object built from it reports (`kept`, its get_config()). Keys the
    file leaves out take their defaults."""
    if isinstance(given, dict) and isinstance(kept, dict):
        for name, value in given.items():
            check_round_trip(value, kept.get(name, "<absent>"), f"{key}.{name}")
    elif isinstance(given, (list, tuple)) and isinstance(kept, (list, tuple)) and len(given) == len(kept):
        for index, (value, other) in enumerate(zip(given, kept)):
            check_round_trip(value, other, f"{key}[{index}]")
    elif given != kept or isinstance(given, bool) != isinstance(kept, bool):
        raise ConfigError(key, given, f"a value the model keeps as given (it would load as {_short(kept)})")


_PLAIN = {bool: Bool(), int: Int(), float: Float(), str: Str()}


def spec_from_annotation(annotation: Any, nested: Callable[[type], Spec | None] = lambda cls: None) -> Spec:
    """The spec of a constructor argument from its type annotation: bool, int, float, str, their
    unions with None, sequences of them; `nested(cls)` gives the spec of other classes (e.g. a
    layer wrapped by another). Anything else accepts any JSON value."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation in _PLAIN:
        return _PLAIN[annotation]
    if origin in (typing.Union, types.UnionType):
        others = [a for a in args if a is not type(None)]
        inner = [spec_from_annotation(a, nested) for a in others]
        spec = inner[0] if len(inner) == 1 else OneOf(*inner, expected=" or ".join(map(_name, others)))
        return Nullable(spec) if len(others) < len(args) else spec
    if origin in (list, tuple, collections.abc.Sequence):
        item = args[0] if args else Any
        return ListOf(spec_from_annotation(item, nested))
    if isinstance(annotation, type):
        found = nested(annotation)
        if found is not None:
            return found
    return Anything()


def _name(annotation: Any) -> str:
    return getattr(annotation, "__name__", str(annotation))


def schema_from_signature(cls: type, nested: Callable[[type], Spec | None] = lambda cls: None,
                          skip: typing.Iterable[str] = ()) -> Fields:
    """Fields for the arguments of `cls.__init__` (no key is required: defaults fill in)."""
    try:
        hints = typing.get_type_hints(cls.__init__)
    except (NameError, TypeError):
        hints = {}
    fields = {}
    for name, parameter in inspect.signature(cls.__init__).parameters.items():
        if name == "self" or name in skip or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        fields[name] = spec_from_annotation(hints.get(name, Any), nested)
    return Fields(fields)
