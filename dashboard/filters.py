"""Search filters built from what the catalog actually holds.

The catalog's payloads decide which filters the Search page offers: text fields with a handful of
distinct values (genre, licence, mood ...) become multiselects, numeric fields (duration, year ...)
become range sliders. A user's choices turn into the shared ``Where`` filter of the search contract.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# Bookkeeping fields nobody filters on, and the VA coordinates (the query already decides those).
HIDDEN_FIELDS = frozenset({"path", "content_hash", "model", "ingested_at", "moods", "title", "valence", "arousal", "source", "job_id"})
# Fields shown first, in this order; any other facet follows alphabetically.
PREFERRED_ORDER = ("genre", "mood", "licence", "artist", "album", "year", "duration")
MAX_CHOICES = 60


@dataclass(frozen=True)
class Facet:
    """One filterable payload field.

    Attributes:
        field: Payload key.
        kind: ``choice`` (any-of among ``choices``) or ``range`` (between ``low`` and ``high``).
        choices: Distinct values, most common first (``choice`` facets).
        low: Smallest value (``range`` facets).
        high: Largest value (``range`` facets).
        integer: Whether a range facet only holds whole numbers (years).
    """

    field: str
    kind: str
    choices: tuple[str, ...] = ()
    low: float = 0.0
    high: float = 0.0
    integer: bool = False

    @property
    def label(self) -> str:
        return "duration (s)" if self.field == "duration" else self.field.replace("_", " ")


def catalog_facets(payloads: Iterable[Mapping[str, Any]]) -> list[Facet]:
    """Facets worth offering for these payloads (a field needs at least two distinct values)."""
    texts: dict[str, Counter[str]] = {}
    numbers: dict[str, list[float]] = {}
    for payload in payloads:
        for key, value in payload.items():
            if key in HIDDEN_FIELDS or value is None or value == "":
                continue
            if isinstance(value, bool):
                texts.setdefault(key, Counter())[str(value).lower()] += 1
            elif isinstance(value, (int, float)):
                if math.isfinite(value):
                    numbers.setdefault(key, []).append(float(value))
            elif isinstance(value, str):
                texts.setdefault(key, Counter())[value] += 1
    facets = [
        Facet(key, "choice", choices=tuple(value for value, _ in counts.most_common()))
        for key, counts in texts.items()
        if 2 <= len(counts) <= MAX_CHOICES and key not in numbers
    ]
    facets += [
        Facet(key, "range", low=min(values), high=max(values), integer=all(v.is_integer() for v in values))
        for key, values in numbers.items()
        if max(values) > min(values) and key not in texts
    ]
    return sorted(facets, key=_facet_order)


def _facet_order(facet: Facet) -> tuple[int, str]:
    try:
        return PREFERRED_ORDER.index(facet.field), facet.field
    except ValueError:
        return len(PREFERRED_ORDER), facet.field


@dataclass
class FilterChoice:
    """What a user picked for each facet: selected values or a (low, high) range."""

    selected: dict[str, list[str]] = field(default_factory=dict)
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)


def build_where(facets: Iterable[Facet], choice: FilterChoice) -> dict[str, Any] | None:
    """The ``Where`` filter for a choice; facets left at "everything" add no condition."""
    where: dict[str, Any] = {}
    for facet in facets:
        if facet.kind == "choice":
            values = choice.selected.get(facet.field) or []
            if values and set(values) != set(facet.choices):
                where[facet.field] = list(values)
        elif facet.field in choice.ranges:
            low, high = choice.ranges[facet.field]
            condition = {}
            if low > facet.low:
                condition["gte"] = low
            if high < facet.high:
                condition["lte"] = high
            if condition:
                where[facet.field] = condition
    return where or None


def describe_where(where: Mapping[str, Any] | None) -> str:
    """A short human reading of a filter, for captions ("genre: rock or pop; duration ≤ 300")."""
    if not where:
        return "no filters"
    parts = []
    symbols = {"gte": "≥", "gt": ">", "lte": "≤", "lt": "<"}
    for key, condition in where.items():
        if isinstance(condition, Mapping):
            parts.append(", ".join(f"{key} {symbols[op]} {_number(bound)}" for op, bound in condition.items()))
        elif isinstance(condition, (list, tuple)):
            parts.append(f"{key}: {' or '.join(map(str, condition))}")
        else:
            parts.append(f"{key}: {condition}")
    return "; ".join(parts)


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
