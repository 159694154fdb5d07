"""The BGS objective and its variants, selected by name in :class:`ObjectiveConfig`.

With ``L_triplet`` from :mod:`bgs.objectives.triplet`, ``L_rsa`` from
:mod:`bgs.objectives.rsa` and ``β(epoch) = min(beta_max, beta_start + beta_step·epoch)``
(epoch counted from 0; paper: 0.3, 0.4, …, capped at 0.7):

* ``hybrid`` (BGS, the default) — ``α·L_triplet + β(epoch)·L_rsa``, α = 0.7.
* ``triplet`` — ``α·L_triplet`` only (the α weight is kept so the scale matches hybrid).
* ``rsa`` — ``β(epoch)·L_rsa`` only.
* ``budget_matched`` — ``α·L_triplet + β(epoch)·L_mined``: the RSA term is replaced by a
  triplet loss over hard-negative triplets mined in the batch from the *same* target, at
  most as many as the RSA term's observed pairs (see :func:`mine_hard_negatives`). It
  controls for "more pairwise supervision" versus "global geometry".

**Language distillation** needs no class of its own: it is any of these objectives with the
trainer passing a language target — the caption-embedding dissimilarity ``1 − cos`` of a
text model among the batch's stimuli — instead of the human ``D = 1 − S``.

Every objective is called once per step on the embeddings of the batch's unique stimuli
(``z``, (U, D), L2-normalised), the batch's triplets as indices into those rows, and the
(U, U) target dissimilarity (NaN where unobserved). The model's distance matrix is computed
once and shared by all terms.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import ClassVar

import torch

from bgs.constraints import FLAG, Interval, Options, check
from bgs.errors import ConfigError
from bgs.objectives.rsa import (
    _check_target,
    observed_pair_count,
    rsa_loss_masked,
)
from bgs.objectives.triplet import cosine_distances, triplet_loss_from_distances, zero_loss

__all__ = ["OBJECTIVES", "Objective", "ObjectiveConfig", "mine_hard_negatives",
           "mined_triplet_loss"]

#: Names accepted by :attr:`ObjectiveConfig.name`.
OBJECTIVES = ("hybrid", "triplet", "rsa", "budget_matched", "none")

_NUMERIC = ("alpha", "beta_start", "beta_step", "beta_max", "margin")


@dataclass
class ObjectiveConfig:
    """Which objective and its weights (defaults: the paper's hybrid).

    ``alpha`` weighs the human-triplet term; the second term (RSA or mined triplets) is
    weighed by ``beta(epoch) = min(beta_max, beta_start + beta_step·epoch)``; ``margin``
    is the triplet margin (also used for mined triplets); ``symmetric`` scores each human
    triplet with both members of the chosen pair as anchor.
    """

    name: str = "hybrid"
    alpha: float = 0.7
    beta_start: float = 0.3
    beta_step: float = 0.1
    beta_max: float = 0.7
    margin: float = 0.2
    symmetric: bool = True

    SECTION: ClassVar[str] = "objective"
    CONSTRAINTS: ClassVar[dict] = {"name": [Options(*OBJECTIVES)],
                                   **{k: [Interval(float, 0, None)] for k in _NUMERIC},
                                   "symmetric": [FLAG]}

    def __post_init__(self):
        check(self)
        for key in _NUMERIC:
            setattr(self, key, float(getattr(self, key)))
        if self.beta_start > self.beta_max:
            raise ConfigError(f"objective beta_start ({self.beta_start}) exceeds beta_max "
                              f"({self.beta_max}); raise beta_max or lower beta_start")

    def beta(self, epoch: int) -> float:
        """``min(beta_max, beta_start + beta_step·epoch)``, epoch counted from 0."""
        if epoch < 0:
            raise ValueError(f"epoch is counted from 0, got {epoch}")
        return min(self.beta_max, self.beta_start + self.beta_step * epoch)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ObjectiveConfig:
        """Inverse of :meth:`to_dict`; unknown keys are a :class:`ConfigError`."""
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ConfigError(f"unknown objective option(s) {', '.join(map(repr, unknown))}; "
                              f"known: {', '.join(known)}")
        return cls(**data)


# ---------------------------------------------------------------------- budget-matched
def _symmetric_target(target: torch.Tensor) -> torch.Tensor:
    """The target read from its upper triangle, mirrored, with a NaN diagonal."""
    u = target.shape[0]
    r = torch.arange(u, device=target.device)
    upper = r[:, None] < r[None, :]
    full = torch.where(upper, target, target.T)
    return full.masked_fill(r[:, None] == r[None, :], float("nan"))


def mine_hard_negatives(dist: torch.Tensor, target: torch.Tensor, margin: float = 0.2,
                        budget: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Hard-negative triplets (anchor, positive, negative) mined from the target.

    For every observed pair (i, j), i ≠ j, in both orientations (anchor i, positive j), the
    negative is the k ∉ {i, j} with ``target[i, k]`` observed and
    ``target[i, k] > target[i, j]`` that has the smallest current model distance
    ``dist[i, k]`` (ties: smallest k). Pairs without such a k are skipped. Of the mined
    triplets at most ``budget`` are kept (default: the number of observed pairs i < j, the
    RSA term's pair budget): the hardest by margin violation
    ``dist[i, j] − dist[i, k] + margin``, ties broken by the row-major index of (i, j).

    The choice uses ``dist`` detached: only the chosen triplets' distances carry gradient
    (see :func:`mined_triplet_loss`). Returned index tensors are in row-major (i, j) order.
    Vectorised in O(U² log U): per anchor the candidates are sorted by distance once, and
    the first one whose target exceeds ``target[i, j]`` is found by binary search on the
    running maximum of the targets in that order.
    """
    _check_target(target, dist.shape[0])
    u = dist.shape[0]
    d = dist.detach()
    t = _symmetric_target(target.to(device=d.device, dtype=d.dtype))
    observed = ~torch.isnan(t)
    if budget is None:
        budget = int(observed.sum()) // 2
    neg_inf = torch.tensor(float("-inf"), dtype=d.dtype, device=d.device)
    order = torch.argsort(d, dim=1, stable=True)                     # candidates, nearest first
    t_sorted = torch.where(observed, t, neg_inf).gather(1, order)   # unobserved/diagonal: -inf
    running_max = torch.cummax(t_sorted, dim=1).values              # non-decreasing per row
    thresholds = torch.where(observed, t, torch.full_like(t, float("inf"))).contiguous()
    rank = torch.searchsorted(running_max.contiguous(), thresholds, right=True)  # first > t[i,j]
    found = observed & (rank < u)
    anchor, positive = found.nonzero(as_tuple=True)
    negative = order[anchor, rank[anchor, positive]]
    if len(anchor) > budget:
        violation = d[anchor, positive] - d[anchor, negative] + margin
        keep = torch.sort(violation, descending=True, stable=True).indices[:budget]
        keep = torch.sort(keep).values
        anchor, positive, negative = anchor[keep], positive[keep], negative[keep]
    return anchor, positive, negative


def mined_triplet_loss(dist: torch.Tensor, target: torch.Tensor, margin: float = 0.2,
                       budget: int | None = None) -> tuple[torch.Tensor, int]:
    """(L_mined, n_mined): the single-anchor triplet loss over :func:`mine_hard_negatives`.

    No triplet mined → a zero connected to the graph.
    """
    a, p, n = mine_hard_negatives(dist, target, margin=margin, budget=budget)
    return triplet_loss_from_distances(dist, a, p, n, margin=margin, symmetric=False), len(a)


# ---------------------------------------------------------------------- objective
class Objective:
    """The configured objective; call it once per step.

    ``objective(z, anchor, positive, negative, target, epoch) -> (loss, parts)``, where
    ``parts`` holds plain floats for logging: ``loss``, ``alpha``, ``beta``, ``n_triplets``,
    ``n_pairs`` (observed target pairs i < j), ``n_mined`` (0 unless budget-matched), and
    for every term that enters the loss its raw value and weighted value —
    ``triplet``/``triplet_weighted``, ``rsa``/``rsa_weighted``, ``mined``/``mined_weighted``.
    ``target`` may be None only for the ``triplet`` objective.
    """

    def __init__(self, config: ObjectiveConfig | dict | None = None):
        if config is None:
            config = ObjectiveConfig()
        elif isinstance(config, dict):
            config = ObjectiveConfig.from_dict(config)
        self.config = config

    @property
    def name(self) -> str:
        return self.config.name

    def __repr__(self) -> str:
        return f"Objective({self.config!r})"

    def __call__(self, z: torch.Tensor, anchor: torch.Tensor, positive: torch.Tensor,
                 negative: torch.Tensor, target: torch.Tensor | None,
                 epoch: int) -> tuple[torch.Tensor, dict]:
        """(loss, parts). ``parts`` holds detached 0-d tensors (the loss terms, the observed
        pairs) and floats (the weights, the batch's triplets); the RSA term is computed
        without reading anything back to the host (:func:`~bgs.objectives.rsa.rsa_loss_masked`),
        so a training step never waits for a GPU. The budget-matched objective still needs
        its pair budget on the host."""
        cfg = self.config
        beta = cfg.beta(epoch)
        dist = cosine_distances(z)
        rsa_term = None
        if target is None:
            if cfg.name not in ("triplet", "none"):
                raise ValueError(f"the {cfg.name!r} objective needs a target dissimilarity")
            n_pairs = 0
        elif cfg.name in ("hybrid", "rsa"):
            rsa_term, n_pairs = rsa_loss_masked(dist, target)
        else:
            _check_target(target, dist.shape[0])
            target = target.to(device=dist.device, dtype=dist.dtype)
            n_pairs = observed_pair_count(target) if cfg.name == "budget_matched" else (
                torch.ones_like(target, dtype=torch.bool).triu(1) & ~torch.isnan(target)).sum()
        scalar = (lambda v: v.detach().float() if torch.is_tensor(v)  # no copy
                  else torch.full((), float(v), device=dist.device))  # to the device
        parts: dict = {"alpha": cfg.alpha, "beta": beta,
                       "n_triplets": float(len(torch.as_tensor(anchor).reshape(-1))),
                       "n_pairs": scalar(n_pairs), "n_mined": 0.0}
        terms = []
        if cfg.name in ("hybrid", "triplet", "budget_matched"):
            raw = triplet_loss_from_distances(dist, anchor, positive, negative, margin=cfg.margin,
                                              symmetric=cfg.symmetric)
            terms.append(("triplet", cfg.alpha, raw))
        if rsa_term is not None:
            terms.append(("rsa", beta, rsa_term))
        if cfg.name == "budget_matched":
            raw, n_mined = mined_triplet_loss(dist, target, margin=cfg.margin, budget=n_pairs)
            parts["n_mined"] = float(n_mined)
            terms.append(("mined", beta, raw))
        loss = zero_loss(z) if not terms else None
        for key, weight, raw in terms:
            weighted = weight * raw
            loss = weighted if loss is None else loss + weighted
            parts[key] = scalar(raw.detach())
            parts[f"{key}_weighted"] = scalar(weighted.detach())
        parts["loss"] = scalar(loss.detach())
        return loss, parts
