"""Dataclass configs from JSON-shaped dicts: the one place that knows JSON has lists where configs hold tuples."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def dataclass_from_dict(cls: type[T], data: Mapping[str, Any]) -> T:
    """Build the dataclass ``cls`` from ``data`` (e.g. parsed JSON), following its field types.

    Lists become tuples where a field is a tuple, and mappings become nested dataclasses where a field
    is one (also as the values of a ``dict[str, SomeConfig]``); missing keys take the fields' defaults.

    Raises:
        TypeError: ``data`` has keys that are not fields of ``cls``, or lacks a required one.
    """
    hints = typing.get_type_hints(cls)
    return cls(**{key: _coerce(hints.get(key), value) for key, value in data.items()})


def _coerce(hint: Any, value: Any) -> Any:
    if dataclasses.is_dataclass(hint) and isinstance(value, Mapping):
        return dataclass_from_dict(hint, value)
    origin = typing.get_origin(hint)
    if origin is tuple and isinstance(value, list):
        return tuple(value)
    if origin is dict and isinstance(value, Mapping):
        value_hint = typing.get_args(hint)[1]
        return {key: _coerce(value_hint, item) for key, item in value.items()}
    if origin in (typing.Union, types.UnionType):
        # An optional tuple or config: coerce as the first member the value fits.
        for member in typing.get_args(hint):
            coerced = _coerce(member, value)
            if coerced is not value:
                return coerced
    return value
