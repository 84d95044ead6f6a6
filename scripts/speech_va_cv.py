"""Speech valence/arousal under the leave-actors-out protocol: the VA head against the label distribution.

Issue 11, item 4. Per fold of ``speech_protocol.py`` (RAVDESS + nEMO folds 0-3, over seeds), the speech
tower's recipe is trained on the other folds; then, as ``recommender/training.py`` trains it for the
default model, a VA head (``MLPHead`` + sigmoid, MSE, AdamW, class-balanced anchors from the RAVDESS
training clips) learns VA from the tower's embeddings of the training clips. The held-out clips get
(a) the head's VA and (b) the tower's label distribution through the emotion lexicon; both are scored
against the VA of the true label (Pearson r and MAE per axis, per corpus). The better source per axis
(mean r over both corpora) is what ``ModelConfig.speech_va`` should name.

    python scripts/speech_va_cv.py [--candidate stats-mlp-balanced] [--seeds 2]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import train_speech_tower as training
from speech_protocol import CV_FOLDS, LABELS, SpeechSet

from recommender.data import load_corpus
from recommender.emotion import EmotionSpace
from recommender.heads import HeadConfig, MLPHead
from recommender.towers.speech_builtin import SHIPPED_WEIGHTS
from recommender.towers.speech_features import FeatureConfig, SpeechFeatureExtractor
from recommender.training import TrainConfig as HeadTrainConfig

AXES = ("valence", "arousal")
SOURCES = ("head", "labels")


@torch.inference_mode()
def embed(net, norm, features: list[training.ClipFeatures]) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings and class probabilities of the clean copies (a statistics-only net)."""
    stats = (torch.from_numpy(np.stack([clip.stats[0] for clip in features])) - norm.stats_mean) / norm.stats_std
    embeddings, logits = net(None, None, stats)
    return embeddings.numpy(), torch.softmax(logits, dim=1).numpy()


def train_va_head(embeddings: np.ndarray, labels: np.ndarray, va: np.ndarray, seed: int) -> MLPHead:
    """The default model's speech VA head, trained alone: its parameters get gradients only from the VA loss."""
    cfg = HeadTrainConfig.from_file("default")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    head = MLPHead(embeddings.shape[1], 2, HeadConfig())
    optimiser = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    x, y = torch.from_numpy(embeddings), torch.from_numpy(va.astype(np.float32))
    by_class = [np.flatnonzero(labels == k) for k in np.unique(labels)]
    head.train()
    for _ in range(cfg.steps):
        classes = rng.integers(0, len(by_class), cfg.batch_size)
        rows = torch.from_numpy(np.array([rng.choice(by_class[c]) for c in classes]))
        loss = cfg.va_weight * F.mse_loss(torch.sigmoid(head(x[rows])), y[rows])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return head.eval()


def axis_scores(predicted: np.ndarray, true: np.ndarray) -> dict[str, dict[str, float]]:
    return {
        axis: {"r": float(np.corrcoef(predicted[:, k], true[:, k])[0, 1]), "mae": float(np.abs(predicted[:, k] - true[:, k]).mean())}
        for k, axis in enumerate(AXES)
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidate", default=None, help="speech tower recipe (default: the shipped one)")
    parser.add_argument("--head-corpora", nargs="+", default=["ravdess"], help="corpora the VA head trains on")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--variants", type=int, default=8)
    parser.add_argument("--channel-copies", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "undertone" / "speech_features")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    candidate_name = args.candidate or json.loads(SHIPPED_WEIGHTS.with_suffix(".json").read_text())["training"]["candidate"]

    clips = load_corpus("ravdess") + load_corpus("nemo")
    data = SpeechSet.of(clips)
    extractor = SpeechFeatureExtractor(FeatureConfig())
    features = training.extract_all(clips, args.variants, args.cache_dir, args.workers, training.AugmentConfig(), FeatureConfig(),
                                    args.channel_copies)
    candidate = {c.name: c for c in training.candidates(extractor)}[candidate_name]
    if candidate.net.sequence_channels:
        parser.error("only statistics-only recipes are supported")
    lexicon_va = EmotionSpace.default().va_matrix(LABELS)
    corpora = ("ravdess", "nemo")
    both = ("ravdess", "nemo")
    per_seed: dict[str, dict[str, list[dict]]] = {corpus: {source: [] for source in SOURCES} for corpus in corpora}
    for seed in range(args.seed, args.seed + args.seeds):
        predicted = {source: np.zeros((len(clips), 2)) for source in SOURCES}
        for fold in CV_FOLDS:
            train = data.rows(both, [f for f in CV_FOLDS if f != fold])
            net, norm = training.train_model(candidate, [features[i] for i in train], data.labels[train],
                                             extractor.channel_names, seed * 100 + fold, data.corpus[train])
            head_rows = data.rows(args.head_corpora, [f for f in CV_FOLDS if f != fold])
            head_embeddings, _ = embed(net, norm, [features[i] for i in head_rows])
            head = train_va_head(head_embeddings, data.labels[head_rows], data.va[head_rows], seed * 100 + fold)
            test = data.rows(corpora, [fold])
            embeddings, probabilities = embed(net, norm, [features[i] for i in test])
            with torch.inference_mode():
                predicted["head"][test] = torch.sigmoid(head(torch.from_numpy(embeddings))).numpy()
            predicted["labels"][test] = probabilities @ lexicon_va
            print(f"seed {seed} fold {fold} done", flush=True)
        for corpus in corpora:
            rows = data.rows([corpus], CV_FOLDS)
            for source in SOURCES:
                per_seed[corpus][source].append(axis_scores(predicted[source][rows], data.va[rows]))

    summary: dict = {"candidate": candidate_name, "head_corpora": args.head_corpora, "seeds": args.seeds,
                     "variants": args.variants, "channel_copies": args.channel_copies}
    print(f"\n| corpus | axis | VA head r | labels->lexicon r | VA head MAE | labels->lexicon MAE |  "
          f"({candidate_name}, {args.variants} + {args.channel_copies} copies, head on {args.head_corpora}, {args.seeds} seeds)")
    print("| --- | --- | --- | --- | --- | --- |")
    for corpus in corpora:
        for axis in AXES:
            cells = {}
            for source in SOURCES:
                for metric in ("r", "mae"):
                    values = np.array([run[axis][metric] for run in per_seed[corpus][source]])
                    cells[source, metric] = (float(values.mean()), float(values.std()))
                    summary.setdefault(corpus, {}).setdefault(axis, {}).setdefault(source, {})[metric] = cells[source, metric]
            print(f"| {corpus} | {axis} | " + " | ".join(
                f"{cells[s, m][0]:.3f} +- {cells[s, m][1]:.3f}" for m in ("r", "mae") for s in SOURCES) + " |")
    choice = {}
    for axis in AXES:
        mean_r = {source: np.mean([summary[c][axis][source]["r"][0] for c in corpora]) for source in SOURCES}
        choice[axis] = max(mean_r, key=mean_r.get)
        print(f"{axis}: mean r over both corpora " + ", ".join(f"{s} {v:.3f}" for s, v in mean_r.items()) + f" -> {choice[axis]}")
    summary["choice"] = choice
    if args.out:
        args.out.write_text(json.dumps(summary, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
