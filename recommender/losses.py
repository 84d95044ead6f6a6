"""Metric-learning losses of the joint emotion space (Doh et al., ICASSP 2023).

All embeddings are L2-normalised, so cosine similarity is a dot product. A batch pairs speech anchor
``i`` with its positive music ``i`` (music of the most similar emotion); negatives come from the other
items of the batch (see :func:`sample_negatives`). The variants:

- ``triplet``: triplet loss speech -> music, cosine, margin 0.4.
- ``triplet_sp``: structure-preserving: ``0.4 L(speech, music) + 0.3 L(speech, tag) + 0.3 L(music, tag)``,
  where an item's tag is the tag-branch embedding of its label's VA point.
- ``triplet_emosim``: ``L(speech, music) + 0.5 MSE(S M^T, 1 - ||va_s - va_m||)``: the batch's
  speech-music cosine matrix regresses onto the VA similarity of their labels.
- ``triplet_sp_emosim``: both additions.
- ``none``: no retrieval loss (only the regression/classification heads train: the VA-regression baseline).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class LossConfig:
    """Weights and knobs of the retrieval losses.

    Attributes:
        margin: Triplet margin on cosine similarity.
        sp_weights: Weights of (speech-music, speech-tag, music-tag) triplets in ``triplet_sp``.
        emosim_weight: Lambda of the EmoSim regression term.
        negative_temperature: Distance-weighted negative sampling: a candidate is drawn with
            probability proportional to ``exp(cos / temperature)`` (lower = harder negatives).
        min_gap: A candidate can be a negative only if its VA similarity to the anchor is lower than the
            positive's by at least this much (so music of the same emotion is never pushed away).
    """

    margin: float = 0.4
    sp_weights: tuple[float, float, float] = (0.4, 0.3, 0.3)
    emosim_weight: float = 0.5
    negative_temperature: float = 0.1
    min_gap: float = 0.1


@dataclass
class JointBatch:
    """Joint-space outputs of one batch and the VA points of their labels.

    Attributes:
        speech: ``(n, d)`` speech anchors.
        music: ``(n, d)`` music, row ``i`` the positive of anchor ``i``.
        speech_tag: ``(n, d)`` tag embeddings of the speech labels' VA.
        music_tag: ``(n, d)`` tag embeddings of the music VA.
        speech_va: ``(n, 2)`` speech label VA.
        music_va: ``(n, 2)`` music VA.
    """

    speech: torch.Tensor
    music: torch.Tensor
    speech_tag: torch.Tensor
    music_tag: torch.Tensor
    speech_va: torch.Tensor
    music_va: torch.Tensor


def va_similarity_matrix(rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """``1 - euclidean distance`` between every row and column VA point."""
    return 1.0 - torch.cdist(rows, cols)


def triplet_loss(anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor, margin: float) -> torch.Tensor:
    """Mean of ``max(0, margin - cos(a, p) + cos(a, n))`` (inputs L2-normalised)."""
    return F.relu(margin - (anchor * positive).sum(-1) + (anchor * negative).sum(-1)).mean()


def sample_negatives(
    anchor: torch.Tensor,
    candidates: torch.Tensor,
    anchor_va: torch.Tensor,
    candidate_va: torch.Tensor,
    config: LossConfig,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One in-batch negative per anchor, distance-weighted.

    Candidate ``j`` may be the negative of anchor ``i`` when its emotion is farther from the anchor's than
    the positive (candidate ``i``) is; among those, closer embeddings are more likely. An anchor without
    any such candidate gets its least similar-emotion candidate.
    """
    with torch.no_grad():
        emotion = va_similarity_matrix(anchor_va, candidate_va)
        eligible = emotion < emotion.diagonal()[:, None] - config.min_gap
        logits = (anchor @ candidates.T) / config.negative_temperature
        logits = logits.masked_fill(~eligible, float("-inf"))
        fallback = emotion.argmin(dim=1)
        has_any = eligible.any(dim=1)
        safe = torch.where(has_any[:, None], logits, torch.zeros_like(logits))
        drawn = torch.multinomial(torch.softmax(safe, dim=1), 1, generator=generator).squeeze(1)
        return torch.where(has_any, drawn, fallback)


def in_batch_triplet(
    anchor: torch.Tensor, positive: torch.Tensor, anchor_va: torch.Tensor, positive_va: torch.Tensor,
    config: LossConfig, generator: torch.Generator | None,
) -> torch.Tensor:
    negatives = sample_negatives(anchor, positive, anchor_va, positive_va, config, generator)
    return triplet_loss(anchor, positive, positive[negatives], config.margin)


def emosim_loss(speech: torch.Tensor, music: torch.Tensor, speech_va: torch.Tensor, music_va: torch.Tensor) -> torch.Tensor:
    """MSE between the speech-music cosine matrix and the VA similarity of their labels."""
    return F.mse_loss(speech @ music.T, va_similarity_matrix(speech_va, music_va))


LossFn = Callable[[JointBatch, LossConfig, "torch.Generator | None"], dict[str, torch.Tensor]]
LOSSES: dict[str, LossFn] = {}


def register_loss(name: str) -> Callable[[LossFn], LossFn]:
    def decorator(fn: LossFn) -> LossFn:
        LOSSES[name] = fn
        return fn

    return decorator


def retrieval_loss(name: str, batch: JointBatch, config: LossConfig, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """The named variant's terms; ``total`` is what to minimise."""
    try:
        fn = LOSSES[name]
    except KeyError:
        raise KeyError(f"unknown loss {name!r}; known: {sorted(LOSSES)}") from None
    return fn(batch, config, generator)


def _speech_music(batch: JointBatch, config: LossConfig, generator: torch.Generator | None) -> torch.Tensor:
    return in_batch_triplet(batch.speech, batch.music, batch.speech_va, batch.music_va, config, generator)


def _structure_terms(batch: JointBatch, config: LossConfig, generator: torch.Generator | None) -> dict[str, torch.Tensor]:
    return {
        "speech_music": _speech_music(batch, config, generator),
        "speech_tag": in_batch_triplet(batch.speech, batch.speech_tag, batch.speech_va, batch.speech_va, config, generator),
        "music_tag": in_batch_triplet(batch.music, batch.music_tag, batch.music_va, batch.music_va, config, generator),
    }


def _weighted_structure(terms: dict[str, torch.Tensor], config: LossConfig) -> torch.Tensor:
    w_sm, w_st, w_mt = config.sp_weights
    return w_sm * terms["speech_music"] + w_st * terms["speech_tag"] + w_mt * terms["music_tag"]


@register_loss("none")
def _no_retrieval(batch: JointBatch, config: LossConfig, generator: torch.Generator | None) -> dict[str, torch.Tensor]:
    return {"total": batch.speech.new_zeros(())}


@register_loss("triplet")
def _triplet(batch: JointBatch, config: LossConfig, generator: torch.Generator | None) -> dict[str, torch.Tensor]:
    term = _speech_music(batch, config, generator)
    return {"speech_music": term, "total": term}


@register_loss("triplet_sp")
def _triplet_sp(batch: JointBatch, config: LossConfig, generator: torch.Generator | None) -> dict[str, torch.Tensor]:
    terms = _structure_terms(batch, config, generator)
    return {**terms, "total": _weighted_structure(terms, config)}


@register_loss("triplet_emosim")
def _triplet_emosim(batch: JointBatch, config: LossConfig, generator: torch.Generator | None) -> dict[str, torch.Tensor]:
    triplet = _speech_music(batch, config, generator)
    emosim = emosim_loss(batch.speech, batch.music, batch.speech_va, batch.music_va)
    return {"speech_music": triplet, "emosim": emosim, "total": triplet + config.emosim_weight * emosim}


@register_loss("triplet_sp_emosim")
def _triplet_sp_emosim(batch: JointBatch, config: LossConfig, generator: torch.Generator | None) -> dict[str, torch.Tensor]:
    terms = _structure_terms(batch, config, generator)
    emosim = emosim_loss(batch.speech, batch.music, batch.speech_va, batch.music_va)
    return {**terms, "emosim": emosim, "total": _weighted_structure(terms, config) + config.emosim_weight * emosim}
