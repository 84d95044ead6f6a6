"""The one filter translation: a user's :data:`Where` filter -> backend-neutral conditions -> a backend's filter.

:func:`parse_where` validates and normalises a filter once; :func:`to_edge_filter` and
:func:`to_client_filter` are the small final steps into ``qdrant-edge-py`` and ``qdrant-client``
models (as qdrant-client's own ``conversions`` module does between its REST and gRPC models). The
payload helpers here are shared by both backends too.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from recommender.errors import DimensionMismatchError, InvalidFilterError
from recommender.store.base import TrackPoint, Where

RANGE_OPERATORS = ("gt", "gte", "lt", "lte")


@dataclass(frozen=True)
class Match:
    """``key`` equals ``value`` (strings, bools)."""

    key: str
    value: str | bool


@dataclass(frozen=True)
class MatchAnyText:
    """``key`` is one of ``values`` (strings)."""

    key: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Range:
    """``key`` lies in a numeric range; unset bounds are open."""

    key: str
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None


@dataclass(frozen=True)
class AnyOf:
    """At least one of ``conditions`` holds (any-of lists that are not all strings)."""

    conditions: tuple[Condition, ...]


Condition = Match | MatchAnyText | Range | AnyOf


def parse_where(where: Where | None) -> list[Condition]:
    """Normalise a :data:`Where` filter into backend-neutral conditions (all must hold).

    Raises:
        InvalidFilterError: Unknown range operators, empty lists, values of unsupported types.
    """
    if not where:
        return []
    if not isinstance(where, Mapping):
        raise InvalidFilterError(f"a filter is a mapping of payload key -> value, got {type(where).__name__}")
    return [_parse_condition(str(key), value) for key, value in where.items()]


def _parse_condition(key: str, value: Any) -> Condition:
    if not key:
        raise InvalidFilterError("filter keys must be non-empty payload field names")
    if isinstance(value, Mapping):
        unknown = set(value) - set(RANGE_OPERATORS)
        if unknown or not value:
            raise InvalidFilterError(
                f"range filter on {key!r} takes {', '.join(RANGE_OPERATORS)}; got {sorted(map(str, value)) or 'nothing'}"
            )
        bounds = {operator: _number(key, bound) for operator, bound in value.items()}
        return Range(key, **bounds)
    if isinstance(value, (list, tuple, set, frozenset)):
        values = list(value)
        if not values:
            raise InvalidFilterError(f"any-of filter on {key!r} is an empty list (nothing could match)")
        if all(isinstance(item, str) for item in values):
            return MatchAnyText(key, tuple(values))
        return AnyOf(tuple(_equality(key, item) for item in values))
    return _equality(key, value)


def _equality(key: str, value: Any) -> Condition:
    if isinstance(value, (str, bool, np.bool_)):
        return Match(key, value if isinstance(value, str) else bool(value))
    if isinstance(value, (int, float, np.integer, np.floating)):
        # Qdrant matches integers only against integers; a closed range matches 120 and 120.0 alike.
        number = _number(key, value)
        return Range(key, gte=number, lte=number)
    raise InvalidFilterError(f"filter value for {key!r} must be a string, number, bool, list or range; got {value!r}")


def _number(key: str, value: Any) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidFilterError(f"range bound for {key!r} must be a number, got {value!r}")
    if not math.isfinite(float(value)):
        raise InvalidFilterError(f"range bound for {key!r} must be finite, got {value!r}")
    return float(value)


# -- the final step per backend -----------------------------------------------------------------------


def to_edge_filter(where: Where | None, q: ModuleType) -> Any:
    """``where`` as a ``qdrant_edge.Filter`` (None when it sets no condition); ``q`` is the ``qdrant_edge`` module."""

    def condition(c: Condition) -> Any:
        if isinstance(c, Match):
            return q.FieldCondition(c.key, match=q.MatchValue(c.value))
        if isinstance(c, MatchAnyText):
            return q.FieldCondition(c.key, match=q.MatchAny(list(c.values)))
        if isinstance(c, Range):
            return q.FieldCondition(c.key, range=q.RangeFloat(gte=c.gte, gt=c.gt, lte=c.lte, lt=c.lt))
        return q.Filter(should=[condition(inner) for inner in c.conditions])

    return _translate(where, condition, q.Filter)


def to_client_filter(where: Where | None, m: ModuleType) -> Any:
    """``where`` as a ``qdrant_client.models.Filter`` (None when it sets no condition); ``m`` is that models module."""

    def condition(c: Condition) -> Any:
        if isinstance(c, Match):
            return m.FieldCondition(key=c.key, match=m.MatchValue(value=c.value))
        if isinstance(c, MatchAnyText):
            return m.FieldCondition(key=c.key, match=m.MatchAny(any=list(c.values)))
        if isinstance(c, Range):
            return m.FieldCondition(key=c.key, range=m.Range(gte=c.gte, gt=c.gt, lte=c.lte, lt=c.lt))
        return m.Filter(should=[condition(inner) for inner in c.conditions])

    return _translate(where, condition, m.Filter)


def _translate(where: Where | None, condition: Callable[[Condition], Any], filter_type: Callable[..., Any]) -> Any:
    conditions = parse_where(where)
    return filter_type(must=[condition(c) for c in conditions]) if conditions else None


# -- points and payloads ------------------------------------------------------------------------------


def canonical_id(point_id: Any) -> str:
    """Track ids are UUIDs; Qdrant accepts nothing else that is not an integer."""
    try:
        return str(uuid.UUID(str(point_id)))
    except ValueError:
        raise ValueError(f"track id {point_id!r} is not a UUID (see ingest.identity.track_id)") from None


def jsonable(value: Any) -> Any:
    """Payloads go to Qdrant as JSON: turn numpy scalars/arrays, paths and dates into plain values."""
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (Path, os.PathLike)):
        return os.fspath(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def to_track_point(record: Any) -> TrackPoint:
    """A point record of either backend (``id``, ``vector``, ``payload``) as a :class:`TrackPoint`."""
    return TrackPoint(str(record.id), np.asarray(record.vector, dtype=np.float32), dict(record.payload or {}))


def as_vector(vector: np.ndarray, dim: int | None, what: str) -> list[float]:
    """A finite, non-zero vector of ``dim`` floats, as a list.

    Raises:
        DimensionMismatchError: ``vector`` has another size than ``dim``.
        ValueError: It is zero or not finite (cosine similarity is undefined).
    """
    array = np.asarray(vector, dtype=np.float32).reshape(-1)
    if dim is not None and array.size != dim:
        raise DimensionMismatchError(f"{what} has {array.size} dimensions; the collection holds {dim}-d vectors")
    if not np.isfinite(array).all() or not np.any(array):
        raise ValueError(f"{what} must be finite and non-zero (cosine similarity is undefined otherwise)")
    return array.tolist()
