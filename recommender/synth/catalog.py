"""The demo catalog: tracks spread over the valence-arousal plane with plausible metadata."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from recommender.synth.common import GENERATED_LICENCE, MUSIC_SAMPLE_RATE
from recommender.synth.music import SynthesizedMusic, synthesize_music

_ARTISTS: dict[str, tuple[str, ...]] = {
    "ambient": ("Lumen Drift", "Halcyon Static"),
    "piano": ("Ida Sorensen", "Paper Hours"),
    "folk": ("The Willow Cartographers", "Marta Quill"),
    "synthpop": ("Neon Orchard", "Kiri & the Satellites"),
    "chiptune": ("Bit Meridian", "Pixel Foxes"),
    "electronic": ("Vantablack Youth", "Circuit Tidal"),
    "cinematic": ("Aurelian Ensemble", "North Gate Strings"),
    "soul": ("Velvet Lanterns", "Odell Ray"),
}
_BRIGHT = ("Golden", "Sunlit", "Sweet", "Open", "Bright", "Lucky", "Warm", "Honey")
_DARK = ("Grey", "Hollow", "Broken", "Cold", "Lost", "Bitter", "Ashen", "Fading")
_RESTLESS = ("Runaway", "Wildfire", "Thunder", "Rush", "Voltage", "Riot", "Sprint", "Storm")
_STILL = ("Lullaby", "Harbour", "Meadow", "Drift", "Stillwater", "Snowfall", "Evening", "Candle")


@dataclass(frozen=True)
class CatalogEntry:
    """One generated track's metadata (what a manifest row holds) and the recipe to render it."""

    file_stem: str
    title: str
    artist: str
    album: str
    genre: str
    year: int
    valence: float
    arousal: float
    seed: int
    licence: str = GENERATED_LICENCE

    def render(self, seconds: float, sample_rate: int = MUSIC_SAMPLE_RATE) -> SynthesizedMusic:
        return synthesize_music((self.valence, self.arousal), seconds=seconds, genre=self.genre, seed=self.seed, sample_rate=sample_rate)


def _genre_for(valence: float, arousal: float, rng: np.random.Generator) -> str:
    """Genres lean towards moods they are known for (ambient calm, electronic energetic), not strictly."""
    weights = {
        "ambient": 2.0 * (1 - arousal), "piano": 1.2 * (1 - arousal) + 0.3, "folk": 0.8,
        "synthpop": 1.5 * arousal * valence + 0.2, "chiptune": 0.8 * valence + 0.1,
        "electronic": 1.5 * arousal + 0.1, "cinematic": 1.0 * (1 - valence) + 0.3, "soul": 0.5 + 0.5 * valence,
    }
    names = list(weights)
    probabilities = np.array([weights[n] for n in names])
    return names[int(rng.choice(len(names), p=probabilities / probabilities.sum()))]


def demo_catalog(n_tracks: int, seed: int = 0) -> list[CatalogEntry]:
    """``n_tracks`` tracks spread evenly over the valence-arousal plane, with plausible metadata."""
    if n_tracks < 1:
        raise ValueError("n_tracks must be at least 1")
    rng = np.random.default_rng(seed)
    # Stratified: one point per cell of a near-square grid, jittered inside the cell, so every region
    # of the plane (and so every demo query) has tracks near it.
    columns = int(math.ceil(math.sqrt(n_tracks)))
    rows = int(math.ceil(n_tracks / columns))
    cells = rng.permutation(rows * columns)[:n_tracks]
    entries = []
    used_titles: set[str] = set()
    for number, cell in enumerate(cells, start=1):
        valence = 0.05 + 0.9 * ((cell % columns) + rng.uniform(0.15, 0.85)) / columns
        arousal = 0.05 + 0.9 * ((cell // columns) + rng.uniform(0.15, 0.85)) / rows
        genre = _genre_for(valence, arousal, rng)
        artist = _ARTISTS[genre][int(rng.integers(2))]
        for _attempt in range(50):
            adjective = rng.choice(_BRIGHT if valence >= 0.5 else _DARK)
            noun = rng.choice(_RESTLESS if arousal >= 0.5 else _STILL)
            title = f"{adjective} {noun}" + ("" if rng.random() < 0.7 else f" (Part {int(rng.integers(2, 4))})")
            if title not in used_titles:
                break
        else:  # a big catalog has used up the word pairs of this mood
            title = f"{title} No. {number}"
        used_titles.add(title)
        year = int(rng.integers(1994, 2026))
        album = f"{rng.choice(_STILL + _RESTLESS)} Sessions" if rng.random() < 0.5 else f"Volume {int(rng.integers(1, 5))}"
        slug = re.sub(r"[^a-z0-9]+", "_", f"{artist} {title}".lower()).strip("_")
        entries.append(
            CatalogEntry(f"{number:03d}_{slug}", title, artist, album, genre, year, round(float(valence), 3), round(float(arousal), 3), seed * 100_003 + number)
        )
    return entries
