"""Receiver-behavior losses (the Behavior-LLaVA idea on bgs backbones) and their heads.

Each loss takes the model's outputs for the batch's unique stimuli and targets in the same
row order; rows whose target is missing (NaN, no comments) are left out, and a batch with no
usable row gives a zero still connected to the graph (so ``backward`` works unchanged). The
losses are masked sums rather than boolean indexing, so nothing is read back to the host
(a training step on a GPU never waits).

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

__all__ = ["BehaviorHeads", "comment_infonce", "engagement_loss", "replay_loss"]


def _masked_mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean of ``(pred − target)²`` over the finite targets; 0 (connected) when there are none."""
    target = target.to(device=pred.device, dtype=pred.dtype)
    ok = torch.isfinite(target)
    sq = (pred - torch.where(ok, target, pred.detach())) ** 2  # 0 where unobserved, finite grads
    return (sq * ok).sum() / ok.sum().clamp(min=1)


def engagement_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean of ``(pred − target)²`` over the rows with a finite target. (B,) and (B,)."""
    return _masked_mse(pred.reshape(-1), target.reshape(-1))


def replay_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean of ``(pred − target)²`` over the finite entries of (B, T) ``target``."""
    if pred.shape != target.shape:
        raise ValueError(f"replay prediction {tuple(pred.shape)} and target {tuple(target.shape)} "
                         f"differ; resample the replay graphs to the model's temporal tokens")
    return _masked_mse(pred, target)


def comment_infonce(video: torch.Tensor, text: torch.Tensor, temperature: float = 0.07,
                    mask: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric InfoNCE between row-matched ``video`` (B, D) and ``text`` (B, D).

    Both are L2-normalised here. ``mask`` (B,) keeps the rows that have comments: the loss
    is the InfoNCE of the kept rows among themselves. Fewer than two kept rows give a
    connected zero (no negatives, nothing to contrast). Computed with masked log-sum-exps
    instead of indexing, so the number of kept rows is never read back to the host.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    a = nn.functional.normalize(video, dim=-1)
    b = nn.functional.normalize(text.to(device=video.device, dtype=video.dtype), dim=-1)
    logits = a @ b.T / temperature
    keep = (torch.ones(len(a), dtype=torch.bool, device=a.device) if mask is None
            else mask.to(device=a.device, dtype=torch.bool))
    pairs = keep[:, None] & keep[None, :]
    masked = logits.masked_fill(~pairs, torch.finfo(logits.dtype).min / 4)  # finite: 0·x stays 0
    diag = logits.diagonal()
    w = keep.to(logits.dtype)
    rows = (torch.logsumexp(masked, dim=1) - diag) * w
    cols = (torch.logsumexp(masked, dim=0) - diag) * w
    return 0.5 * (rows.sum() + cols.sum()) / w.sum().clamp(min=1)


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
