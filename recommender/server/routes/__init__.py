"""The endpoints, by what they serve: queries (:mod:`.query`) and the catalog (:mod:`.catalog`)."""

from __future__ import annotations

import json
from typing import Any

from recommender.errors import UsageError
from recommender.store import parse_where


def where_from_json(text: str | None) -> dict[str, Any] | None:
    """A payload filter sent as JSON (``{"genre": ["rock", "pop"], "year": {"gte": 2000}}``), checked."""
    if not text:
        return None
    try:
        where = json.loads(text)
    except ValueError as error:
        raise UsageError(f"where: not JSON ({error})") from None
    if not isinstance(where, dict):
        raise UsageError('where: a JSON object, e.g. {"genre": "rock"}')
    parse_where(where)
    return where
