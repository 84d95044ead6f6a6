"""Why a track was chosen: one plain sentence per result, and words for valence-arousal points."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from recommender.model import Analysis
from recommender.visual import explain_visual


def payload_va(payload: Mapping[str, Any]) -> tuple[float, float]:
    """The track's stored (valence, arousal), NaN when missing or not numbers."""
    try:
        return float(payload["valence"]), float(payload["arousal"])
    except (KeyError, TypeError, ValueError):
        return math.nan, math.nan


def describe_va(valence: float, arousal: float) -> str:
    """Words for a VA point, e.g. ``negative, low-arousal``."""
    tone = "negative" if valence < 0.4 else "positive" if valence > 0.6 else "neutral"
    energy = "low-arousal" if arousal < 0.4 else "high-arousal" if arousal > 0.6 else "mid-arousal"
    return f"{tone}, {energy}"


def _top_labels(distribution: Mapping[str, float] | None, n: int = 2) -> str:
    if not distribution:
        return ""
    ranked = sorted(distribution.items(), key=lambda item: -float(item[1]))
    best = float(ranked[0][1])
    # A second label is worth naming only when the model hesitated between the two.
    names = [label for label, p in ranked[:n] if float(p) >= 0.5 * best]
    return "/".join(label.replace("_", " ") for label in names)


def explain(analysis: Analysis, payload: Mapping[str, Any], parts: Mapping[str, float | None], query_kind: str = "query") -> str:
    """One sentence on why a track matches, e.g.
    ``calm (positive, low-arousal) speech -> track predicted tenderness/calmness (V 0.71, A 0.22); cosine 0.83, VA match 0.91``.
    """
    heard = _top_labels(analysis.emotions, 1)
    query = f"{heard} ({describe_va(analysis.valence, analysis.arousal)}) {query_kind}" if heard else f"{describe_va(analysis.valence, analysis.arousal)} {query_kind}"
    moods = _top_labels(payload.get("moods")) or str(payload.get("mood") or "")
    valence, arousal = payload_va(payload)
    track = "track predicted " + (moods or "(no mood stored)")
    if not math.isnan(valence):
        track += f" (V {valence:.2f}, A {arousal:.2f})"
    numbers = f"cosine {parts['cosine']:.2f}"
    if parts.get("va_similarity") is not None:
        numbers += f", VA match {parts['va_similarity']:.2f}"
    return f"{query} -> {track}; {numbers}{explain_visual(analysis.visual)}"
