"""The tower interface and its registry.

A tower is a frozen encoder that turns one input (a speech clip, a music track, a text, an emotion
word) into one fixed-size vector. Each tower has a config dataclass; the registry maps
``(modality, name)`` to both, so a model config can say ``{"modality": "music", "name": "musicnn"}``
and :func:`build_tower` does the rest.
"""

from __future__ import annotations

import contextlib
import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np

MODALITIES = ("speech", "music", "text", "tag")

Input = TypeVar("Input")


@dataclass
class TowerConfig:
    """Base of every tower config; subclasses add their own fields (all JSON-serialisable)."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Tower(ABC, Generic[Input]):
    """A frozen encoder returning one ``(dim,)`` float32 vector per input.

    Audio towers take a mono float32 waveform already at :attr:`sample_rate` (see
    :func:`recommender.audio.load_audio`); text towers take a string; the tag tower an emotion word.
    """

    modality: ClassVar[str]
    name: ClassVar[str]
    sample_rate: int | None = None

    def __init__(self, config: TowerConfig) -> None:
        self.config = config

    @property
    @abstractmethod
    def dim(self) -> int:
        """Length of the vectors this tower returns."""

    @abstractmethod
    def embed(self, item: Input) -> np.ndarray:
        """Encode one input to a ``(dim,)`` float32 vector."""

    def embed_many(self, items: Iterable[Input]) -> np.ndarray:
        """Encode several inputs to ``(n, dim)``; towers with real batching override this."""
        vectors = [self.embed(item) for item in items]
        return np.stack(vectors) if vectors else np.zeros((0, self.dim), np.float32)


@dataclass(frozen=True)
class _Entry:
    config_cls: type[TowerConfig]
    tower_cls: type[Tower]


class TowerRegistry:
    """``(modality, name) -> (config dataclass, tower class)``."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], _Entry] = {}

    def register(self, modality: str, name: str, config_cls: type[TowerConfig]) -> Callable[[type[Tower]], type[Tower]]:
        if modality not in MODALITIES:
            raise ValueError(f"unknown modality {modality!r}; expected one of {MODALITIES}")

        def decorator(tower_cls: type[Tower]) -> type[Tower]:
            key = (modality, name)
            if key in self._entries:
                raise ValueError(f"tower {modality}/{name} is registered twice")
            tower_cls.modality, tower_cls.name = modality, name
            self._entries[key] = _Entry(config_cls, tower_cls)
            return tower_cls

        return decorator

    def names(self, modality: str) -> list[str]:
        self._import_builtin_towers()
        return sorted(name for mod, name in self._entries if mod == modality)

    def config_class(self, modality: str, name: str) -> type[TowerConfig]:
        return self._entry(modality, name).config_cls

    def build(self, modality: str, name: str, **options: Any) -> Tower:
        """Instantiate a tower; ``options`` are fields of its config dataclass."""
        entry = self._entry(modality, name)
        known = {f.name for f in dataclasses.fields(entry.config_cls)}
        unknown = set(options) - known
        if unknown:
            raise TypeError(f"tower {modality}/{name} has no option(s) {sorted(unknown)}; it takes {sorted(known)}")
        return entry.tower_cls(entry.config_cls(**options))

    def _entry(self, modality: str, name: str) -> _Entry:
        self._import_builtin_towers()
        try:
            return self._entries[(modality, name)]
        except KeyError:
            raise KeyError(f"no {modality} tower named {name!r}; known: {self.names(modality)}") from None

    @staticmethod
    def _import_builtin_towers() -> None:
        # Tower modules register themselves on import; importing here keeps the registry complete
        # without every caller having to know the module list.
        from recommender import towers  # noqa: F401


TOWERS = TowerRegistry()
register_tower = TOWERS.register


def build_tower(modality: str, name: str, **options: Any) -> Tower:
    """Shorthand for ``TOWERS.build``."""
    return TOWERS.build(modality, name, **options)


def window_starts(num_samples: int, window: int, hop: int) -> list[int]:
    """Start offsets of windows that cover the whole signal; the last window ends at the signal's end.

    A signal shorter than one window gets a single window at 0 (callers pad it).
    """
    if num_samples <= window:
        return [0]
    starts = list(range(0, num_samples - window + 1, hop))
    if starts[-1] + window < num_samples:
        starts.append(num_samples - window)
    return starts


def frame_windows(waveform: np.ndarray, window: int, hop: int) -> np.ndarray:
    """Cut a waveform into ``(n, window)`` overlapping windows covering all of it, zero-padding a short one."""
    if waveform.size < window:
        return np.pad(waveform, (0, window - waveform.size))[None, :]
    return np.stack([waveform[start : start + window] for start in window_starts(waveform.size, window, hop)])


def mean_pool(vectors: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    return np.asarray(vectors, dtype=np.float32).mean(axis=0)


@contextlib.contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run a block with ``count`` torch intra-op threads, then restore the previous setting (None: leave it).

    The builtin towers, the heads and Silero VAD run many small ops, where extra threads cost more in
    synchronisation than they give on a busy machine.
    """
    if count is None:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    if count == previous:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
