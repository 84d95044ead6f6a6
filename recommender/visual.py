"""Visual cues of a video's emotion, fused with what is heard at a weight the user sets (default 0).

Two-stream video-to-music retrieval listens and watches. The watching half here is the classic,
offline affective video analysis, from the per-frame measurements of :mod:`recommender.shots`:

- **arousal** rises with motion intensity and editing pace (Hanjalic & Xu, 2005: motion activity and
  shot-cut rate as arousal components) and a little with saturation (Valdez & Mehrabian, 1994);
- **valence** rises with brightness and saturation (Valdez & Mehrabian: pleasure ~ .69 brightness +
  .22 saturation) and with warm colour.

The directions come from that literature; the scales are ours (``motion / 0.02`` and ``cuts per minute
/ 15`` through ``1 - exp(-x)``) and uncalibrated: no labelled video is at hand here, so the default
weight is 0 (audio only) until a labelled check says otherwise. Fusion treats the visual VA like a VA
query (:meth:`EmotionModel.analyze_va`) and blends it with the audio's analysis::

    embedding = normalise((1 - w) * heard + w * seen),   VA = (1 - w) * heard + w * seen

and keeps both sides in :attr:`Analysis.visual` for the explanation.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from recommender.errors import UsageError
from recommender.model import Analysis, EmotionModel
from recommender.shots import FrameStats, ShotConfig, detect_cuts, scan_video

MOTION_SCALE = 0.02  # mean absolute pixel change (0-1) of a clearly moving 64x36 picture
PACE_SCALE = 15.0  # cuts per minute of brisk editing (4 s shots)


@dataclass(frozen=True)
class VisualCues:
    """What the picture shows over a stretch of video, and the VA it suggests.

    Attributes:
        motion: Mean absolute pixel change between frames within shots (0-1).
        cuts_per_minute: Editing pace.
        brightness: Mean luma (0-1).
        saturation: Mean HSV saturation (0-1).
        warmth: Mean red minus blue (-1 .. 1).
        valence: Suggested valence (0-1).
        arousal: Suggested arousal (0-1).
    """

    motion: float
    cuts_per_minute: float
    brightness: float
    saturation: float
    warmth: float
    valence: float
    arousal: float

    def describe(self) -> str:
        """Words for the picture, e.g. ``bright, warm, fast cuts, still``."""
        light = "bright" if self.brightness > 0.6 else "dark" if self.brightness < 0.3 else "mid-lit"
        colour = "warm" if self.warmth > 0.1 else "cool" if self.warmth < -0.1 else "neutral-toned"
        pace = "fast cuts" if self.cuts_per_minute > PACE_SCALE else "slow cuts" if self.cuts_per_minute < PACE_SCALE / 3 else "steady cuts"
        movement = "much motion" if self.motion > MOTION_SCALE else "still" if self.motion < MOTION_SCALE / 4 else "some motion"
        return f"{light}, {colour}, {pace}, {movement}"


def visual_cues(stats: FrameStats, cuts: Sequence[float], start: float = 0.0, end: float | None = None) -> VisualCues | None:
    """The cues of the frames in ``[start, end)`` (None when no frame falls there)."""
    end = stats.duration if end is None else end
    inside = (stats.times >= start) & (stats.times < end)
    if not inside.any():
        return None
    # Motion within shots: the frame after a cut changed because of the cut, not because things moved.
    within = inside & ~np.isin(np.round(stats.times, 6), np.round(np.asarray(cuts, dtype=np.float64), 6))
    motion = float(stats.motion[within].mean()) if within.any() else 0.0
    minutes = max(end - start, 1e-6) / 60.0
    pace = sum(1 for cut in cuts if start < cut < end) / minutes
    brightness, saturation, warmth = (float(values[inside].mean()) for values in (stats.brightness, stats.saturation, stats.warmth))
    motion_level = 1.0 - math.exp(-motion / MOTION_SCALE)
    pace_level = 1.0 - math.exp(-pace / PACE_SCALE)
    arousal = 0.1 + 0.45 * motion_level + 0.3 * pace_level + 0.15 * saturation
    valence = 0.69 * brightness + 0.22 * saturation + 0.2 * warmth
    clip = lambda value: float(min(1.0, max(0.0, value)))  # noqa: E731
    return VisualCues(motion, pace, brightness, saturation, warmth, clip(valence), clip(arousal))


def picture_cues(source: Any, shots: ShotConfig | None = None) -> VisualCues | None:
    """The visual cues of a whole video (path, bytes or binary file; raises ``NoVideoStreamError`` without pictures)."""
    if hasattr(source, "seek"):
        source.seek(0)  # the sound track was read from the same file object
    stats = scan_video(source)
    return visual_cues(stats, detect_cuts(stats, shots))


def check_weight(weight: float) -> float:
    if not 0.0 <= float(weight) <= 1.0:
        raise UsageError(f"visual weight must be within [0, 1], got {weight}")
    return float(weight)


def fuse_visual(model: EmotionModel, heard: Analysis, seen: VisualCues | None, weight: float) -> Analysis:
    """``heard`` blended with the picture's VA at ``weight`` (0 keeps ``heard``, but records ``seen``)."""
    weight = check_weight(weight)
    if seen is None:
        return heard
    visual: dict[str, Any] = {**dataclasses.asdict(seen), "weight": weight, "heard_valence": heard.valence, "heard_arousal": heard.arousal}
    if weight == 0.0:
        return dataclasses.replace(heard, visual=visual)
    picture = model.analyze_va(seen.valence, seen.arousal)
    embedding = (1.0 - weight) * heard.embedding + weight * picture.embedding
    return dataclasses.replace(
        heard,
        embedding=(embedding / np.linalg.norm(embedding)).astype(np.float32),
        valence=(1.0 - weight) * heard.valence + weight * seen.valence,
        arousal=(1.0 - weight) * heard.arousal + weight * seen.arousal,
        visual=visual,
    )


def explain_visual(visual: dict[str, Any] | None) -> str:
    """The clause the explanation adds for a video query, e.g.
    ``; picture: bright, warm, fast cuts, still (V 0.71, A 0.55) at weight 0.30 (heard: V 0.20, A 0.80)``."""
    if not visual:
        return ""
    cues = VisualCues(**{field.name: visual[field.name] for field in dataclasses.fields(VisualCues)})
    clause = f"; picture: {cues.describe()} (V {cues.valence:.2f}, A {cues.arousal:.2f})"
    if visual["weight"] == 0.0:
        return clause + " not used (visual weight 0)"
    return clause + f" at weight {visual['weight']:.2f} (heard: V {visual['heard_valence']:.2f}, A {visual['heard_arousal']:.2f})"
