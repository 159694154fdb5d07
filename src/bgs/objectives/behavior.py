"""Receiver-behavior losses (the Behavior-LLaVA idea on bgs backbones) and their heads.

Each loss takes the model's outputs for the batch's unique stimuli and targets in the same
row order; rows whose target is missing (NaN, no comments) are left out, and a batch with no
usable row gives a zero still connected to the graph (so ``backward`` works unchanged).

* :func:`engagement_loss` — mean squared error between the predicted and the standardised
  like log-ratio (:mod:`bgs.behavior.normalise`), the prediction coming from a small head on
  the clip embedding.
* :func:`replay_loss` — mean squared error between the predicted and the observed replay
  score per temporal token, over the observed (non-NaN) bins; a linear head shared by all
  temporal positions reads each temporal token.
* :func:`comment_infonce` — symmetric InfoNCE between projected clip embeddings and the
  frozen text encoder's comment embeddings: with ``a`` and ``b`` unit vectors,
  ``logits = a·bᵀ / τ`` and ``L = ½ [CE(logits, I) + CE(logitsᵀ, I)]``, each stimulus's own
  comments the positive and the other stimuli's comments in the batch the negatives.
"""

from __future__ import annotations

import torch
from torch import nn

from bgs.objectives.triplet import zero_loss

__all__ = ["BehaviorHeads", "comment_infonce", "engagement_loss", "replay_loss"]


def engagement_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean of ``(pred − target)²`` over the rows with a finite target. (B,) and (B,)."""
    pred = pred.reshape(-1)
    target = target.to(device=pred.device, dtype=pred.dtype).reshape(-1)
    ok = torch.isfinite(target)
    if not bool(ok.any()):
        return zero_loss(pred)
    return ((pred[ok] - target[ok]) ** 2).mean()


def replay_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean of ``(pred − target)²`` over the finite entries of (B, T) ``target``."""
    if pred.shape != target.shape:
        raise ValueError(f"replay prediction {tuple(pred.shape)} and target {tuple(target.shape)} "
                         f"differ; resample the replay graphs to the model's temporal tokens")
    target = target.to(device=pred.device, dtype=pred.dtype)
    ok = torch.isfinite(target)
    if not bool(ok.any()):
        return zero_loss(pred)
    return ((pred[ok] - target[ok]) ** 2).mean()


def comment_infonce(video: torch.Tensor, text: torch.Tensor, temperature: float = 0.07,
                    mask: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric InfoNCE between row-matched ``video`` (B, D) and ``text`` (B, D).

    Both are L2-normalised here. ``mask`` (B,) keeps the rows that have comments; fewer
    than two kept rows give a connected zero (no negatives, nothing to contrast).
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    if mask is not None:
        keep = mask.to(device=video.device, dtype=torch.bool)
        if int(keep.sum()) < 2:
            return zero_loss(video)
        video, text = video[keep], text[keep]
    elif video.shape[0] < 2:
        return zero_loss(video)
    a = nn.functional.normalize(video, dim=-1)
    b = nn.functional.normalize(text.to(device=video.device, dtype=video.dtype), dim=-1)
    logits = a @ b.T / temperature
    labels = torch.arange(len(a), device=a.device)
    return 0.5 * (nn.functional.cross_entropy(logits, labels)
                  + nn.functional.cross_entropy(logits.T, labels))


class BehaviorHeads(nn.Module):
    """The trainable read-outs of the behavior losses (only those with a weight are built).

    * ``engagement``: Linear(d, hidden) → ReLU → Linear(hidden, 1) on the clip embedding;
    * ``replay``: Linear(token_dim, 1) on every temporal token (one score per position);
    * ``comments``: Linear(d, text_dim) from the clip embedding into the text space.
    """

    def __init__(self, embed_dim: int, token_dim: int | None = None, text_dim: int | None = None,
                 engagement: bool = True, hidden: int = 64):
        super().__init__()
        self.engagement = (nn.Sequential(nn.Linear(embed_dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))
                           if engagement else None)
        self.replay = nn.Linear(token_dim, 1) if token_dim else None
        self.comments = nn.Linear(embed_dim, text_dim) if text_dim else None

    def predict_engagement(self, z: torch.Tensor) -> torch.Tensor:
        return self.engagement(z).squeeze(-1)

    def predict_replay(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.replay(tokens).squeeze(-1)

    def project_comments(self, z: torch.Tensor) -> torch.Tensor:
        return self.comments(z)
