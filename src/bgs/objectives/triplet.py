"""Triplet loss with cosine distance on L2-normalised embeddings.

For a human triplet the *chosen pair* (the two stimuli not picked as odd one out) gives the
anchor and the positive, and the odd one out is the negative (Garcia & Isik 2025):

    l(a, p, n) = relu(d(a, p) − d(a, n) + margin),   d(x, y) = 1 − cos(x, y)

The pair's order of presentation is arbitrary, so by default each triplet is scored with
both members of the pair as anchor and the two terms are averaged (``symmetric=True``);
``symmetric=False`` is the paper's single anchor (the first member of the pair).

Embeddings are the rows of ``z`` (U, D), the batch's *unique* stimuli, already
L2-normalised; triplets are index tensors into those rows.
"""

from __future__ import annotations

import torch

__all__ = ["cosine_distances", "triplet_loss", "triplet_loss_from_distances", "zero_loss"]


def zero_loss(x: torch.Tensor) -> torch.Tensor:
    """A scalar zero that is still connected to the graph of ``x`` (``x.sum() * 0``).

    Returned for degenerate batches so that ``loss.backward()`` works unchanged and yields
    zero gradients instead of failing on a tensor without ``grad_fn``.
    """
    return x.sum() * 0


def cosine_distances(z: torch.Tensor) -> torch.Tensor:
    """(U, U) cosine distances ``1 − z zᵀ`` between the rows of ``z`` (U, D).

    ``z`` must already be L2-normalised (the projection head ends with it); the function
    does not normalise, so on unnormalised rows the result is ``1 − dot`` and not a cosine
    distance. The diagonal is ≈ 0 up to rounding. Half-precision products (bf16/fp16
    autocast) are returned in float32, so the losses' reductions run in float32.
    """
    if z.dim() != 2:
        raise ValueError(f"z must be (U, D), got shape {tuple(z.shape)}")
    sim = z @ z.T
    if sim.dtype in (torch.float16, torch.bfloat16):
        sim = sim.float()
    return 1 - sim


def _check_indices(anchor, positive, negative) -> tuple[torch.Tensor, ...]:
    idx = tuple(torch.as_tensor(t).reshape(-1).long() for t in (anchor, positive, negative))
    if not (len(idx[0]) == len(idx[1]) == len(idx[2])):
        raise ValueError("anchor, positive and negative must have the same length, got "
                         f"{len(idx[0])}, {len(idx[1])}, {len(idx[2])}")
    return idx


def triplet_loss_from_distances(dist: torch.Tensor, anchor: torch.Tensor, positive: torch.Tensor,
                                negative: torch.Tensor, margin: float = 0.2,
                                symmetric: bool = True) -> torch.Tensor:
    """:func:`triplet_loss` on a precomputed (U, U) distance matrix (shared with other terms).

    Empty index tensors give :func:`zero_loss` of ``dist``.
    """
    a, p, n = _check_indices(anchor, positive, negative)
    if len(a) == 0:
        return zero_loss(dist)
    a, p, n = (t.to(dist.device) for t in (a, p, n))
    loss = torch.relu(dist[a, p] - dist[a, n] + margin)
    if symmetric:
        loss = (loss + torch.relu(dist[p, a] - dist[p, n] + margin)) / 2
    return loss.mean()


def triplet_loss(z: torch.Tensor, anchor: torch.Tensor, positive: torch.Tensor,
                 negative: torch.Tensor, margin: float = 0.2, symmetric: bool = True) -> torch.Tensor:
    """Mean over triplets of ``relu(d(a, p) − d(a, n) + margin)``, d = cosine distance.

    ``anchor``/``positive`` are the chosen pair (in presentation order) and ``negative`` the
    odd one out, as indices into the rows of the unit-norm ``z`` (U, D). With
    ``symmetric=True`` each triplet's loss is the mean of the terms anchored on either
    member of the pair, ``(relu(d(a,p) − d(a,n) + m) + relu(d(p,a) − d(p,n) + m)) / 2``;
    with ``symmetric=False`` only the first term (the paper's single anchor).

    Empty index tensors return a zero connected to the graph (:func:`zero_loss`).
    """
    return triplet_loss_from_distances(cosine_distances(z), anchor, positive, negative,
                                       margin=margin, symmetric=symmetric)
