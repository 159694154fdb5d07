"""RSA loss: 1 − Pearson correlation between model and target dissimilarity.

The target is a (U, U) dissimilarity among the batch's unique stimuli — human
``D = 1 − S`` from the training triplets, or a language model's ``1 − cos`` for language
distillation — with NaN where a pair is unobserved. Only the upper triangle (i < j) is
read: the target is symmetric and its diagonal is ignored. Unobserved pairs are masked
out, never treated as 0.
"""

from __future__ import annotations

import torch

from bgs.objectives.triplet import cosine_distances, zero_loss

__all__ = ["MIN_PAIRS", "observed_pair_count", "observed_pair_indices", "rsa_loss",
           "rsa_loss_from_distances", "rsa_loss_masked"]

#: Fewer observed pairs than this and the RSA loss is a (connected) zero: a correlation
#: over two points is ±1 whatever the geometry, so it carries no signal.
MIN_PAIRS = 3


def _check_target(target: torch.Tensor, n_rows: int | None = None) -> None:
    if target.dim() != 2 or target.shape[0] != target.shape[1]:
        raise ValueError(f"target must be a square (U, U) matrix, got shape {tuple(target.shape)}")
    if n_rows is not None and target.shape[0] != n_rows:
        raise ValueError(f"target is {target.shape[0]}×{target.shape[0]} but z has {n_rows} rows; "
                         "both must index the batch's unique stimuli")


def observed_pair_indices(target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Index tensors (i, j), i < j, of the pairs whose target is observed (not NaN)."""
    _check_target(target)
    u = target.shape[0]
    i, j = torch.triu_indices(u, u, offset=1, device=target.device)
    keep = ~torch.isnan(target[i, j])
    return i[keep], j[keep]


def observed_pair_count(target: torch.Tensor) -> int:
    """Number of observed (non-NaN) pairs i < j in the (U, U) target."""
    return int(len(observed_pair_indices(target)[0]))


def _pearson(x: torch.Tensor, y: torch.Tensor, ok: torch.Tensor,
             w: torch.Tensor | None = None) -> torch.Tensor:
    """Pearson r of two vectors where ``ok`` (a 0-d bool tensor), else 0 with a zero
    gradient (no NaN leaks through the masked branch). ``w``: a 0/1 mask of the entries
    that count (the others must be 0 in ``x`` and ``y``)."""
    if w is None:
        xc, yc = x - x.mean(), y - y.mean()
    else:
        n = torch.clamp(w.sum(), min=1)
        xc, yc = (x - x.sum() / n) * w, (y - y.sum() / n) * w
    denom2 = (xc * xc).sum() * (yc * yc).sum()
    denom = torch.sqrt(torch.where(ok, denom2, torch.ones_like(denom2)))
    return torch.where(ok, (xc * yc).sum() / denom, torch.zeros_like(denom))


def rsa_loss_from_distances(dist: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """:func:`rsa_loss` on a precomputed (U, U) model distance matrix."""
    _check_target(target, dist.shape[0])
    target = target.to(device=dist.device, dtype=dist.dtype)
    i, j = observed_pair_indices(target)
    if len(i) < MIN_PAIRS:
        return zero_loss(dist)
    x, y = dist[i, j], target[i, j]
    # "zero variance" means all values exactly equal: Pearson is undefined there
    ok = (x.max() > x.min()) & (y.max() > y.min())
    return torch.where(ok, 1 - _pearson(x, y, ok), zero_loss(dist))


def rsa_loss(z: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``1 − pearson(model cosine distances, target)`` over the observed pairs i < j.

    ``z`` (U, D) are the unit-norm embeddings of the batch's unique stimuli and ``target``
    (U, U) their target dissimilarity, NaN where unobserved. The loss lies in [0, 2]
    (0: perfectly linearly related geometry).

    Degenerate batches return a zero connected to the graph (backward works and gives zero
    gradients): fewer than :data:`MIN_PAIRS` (3) observed pairs, or zero variance (all
    values equal) in either the model distances or the target over those pairs — Pearson is
    undefined there.
    """
    return rsa_loss_from_distances(cosine_distances(z), target)


def rsa_loss_masked(dist: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, n_pairs): :func:`rsa_loss_from_distances` without a device-to-host sync.

    The observed pairs enter through a 0/1 mask over the (U, U) upper triangle instead of
    being gathered by index (which needs their count on the host), and the degenerate cases
    are selected with ``torch.where``, so a training step on a GPU never waits for the
    device. Equal to :func:`rsa_loss_from_distances` up to float rounding (the sums run
    in another order); ``n_pairs`` is the observed-pair count as a 0-d tensor.
    """
    _check_target(target, dist.shape[0])
    target = target.to(device=dist.device, dtype=dist.dtype)
    u = target.shape[0]
    r = torch.arange(u, device=dist.device)
    mask = (r[:, None] < r[None, :]) & ~torch.isnan(target)
    w = mask.to(dist.dtype)
    n = w.sum()
    x = torch.where(mask, dist, torch.zeros_like(dist))
    y = torch.where(mask, target, torch.zeros_like(target))
    inf = torch.tensor(float("inf"), device=dist.device, dtype=dist.dtype)
    spread = lambda v: torch.where(mask, v, -inf).amax() > torch.where(mask, v, inf).amin()  # noqa: E731
    ok = (n >= MIN_PAIRS) & spread(dist.detach()) & spread(target)
    return torch.where(ok, 1 - _pearson(x, y, ok, w), zero_loss(dist)), n
