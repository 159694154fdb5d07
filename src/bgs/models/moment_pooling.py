"""Moment pooling of per-token agent channels, in torch: batched over clips, differentiable.

The per-token targets of the physical pre-training spread each agent's state over its pixels
with weights summing to one per frame. So a token's ``agents`` channel is its agent weight
``w``, and its ``x, y``, ``heading_*`` and ``speed`` channels are ``w·c``, ``w·h`` and ``w·s``
for the agent's centre ``c`` (from the arena's centre), heading ``h`` and speed ``s``, read
back per token as ``channel / w`` (tokens with ``w`` at most :data:`MIN_WEIGHT` left out).
Relations between agents are quadratic in ``w``-weighted sums of those states over a frame's
tokens (``W = Σ w``, ``m = Σ w c / W``):

- centre spread ``Σ w|c|²/W − |m|²`` (d²/4 for two agents d apart: closeness);
- speed mean ``Σ w s/W`` (energy) and spread ``Σ w s²/W − (Σ w s/W)²`` (asymmetry);
- heading–centre covariance ``Σ w h·c/W − (Σ w h/W)·m`` (−d/2 × facing for two agents);
- ``|Σ w h/W|²`` ((1 + cos of the heading difference)/2 for two agents: alignment);

with the roots of the spreads and the covariance over the root of the centre spread
(minus facing). :func:`grid_moments` adds the spread of the token centres weighted by the
agent coverage, which needs no position read-out. Each per-frame feature is summarised by
its mean and sd over frames.

Every root is of the value floored at :data:`ROOT_FLOOR` (root 1e-6, not 0), so gradients
stay finite where a spread is zero; the cut at ``MIN_WEIGHT`` and the division by ``w`` are
differentiable everywhere else. ``bgs.pretrain.moments`` is the numpy face of these functions.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

#: The per-token channels the pooling reads (names of ``bgs.pretrain.physical.DENSE_NAMES``).
MOMENT_CHANNELS = ("agents", "x", "y", "heading_x", "heading_y", "speed")
#: The channel :func:`grid_moments` weights the token centres by.
COVERAGE_CHANNEL = "coverage"
#: Per-frame features (:func:`frame_moments`), in this order.
FRAME_MOMENT_NAMES = ("weight", "centre_spread", "centre_sd", "speed_mean", "speed_spread", "speed_sd",
                      "heading_centre_cov", "facing", "heading_mean2")
#: Per-frame features of the token grid (:func:`grid_moments`).
GRID_MOMENT_NAMES = ("coverage", "grid_spread", "grid_sd")
#: Per-clip features: the mean, then the sd over frames of each per-frame feature.
MOMENT_NAMES = (*(f"mean_{n}" for n in FRAME_MOMENT_NAMES), *(f"sd_{n}" for n in FRAME_MOMENT_NAMES))
GRID_NAMES = (*(f"mean_{n}" for n in GRID_MOMENT_NAMES), *(f"sd_{n}" for n in GRID_MOMENT_NAMES))
#: :func:`pooled_moments`: the state moments, then the grid spread.
POOLED_NAMES = (*MOMENT_NAMES, *GRID_NAMES)
#: Tokens whose agent weight is at most this are left out of the pooling: a state read as
#: ``channel / weight`` is noise where the weight is a small prediction error.
MIN_WEIGHT = 0.1
EPS = 1e-6
#: Roots are of ``max(value, ROOT_FLOOR)``: finite gradients at a zero spread.
ROOT_FLOOR = 1e-12
#: The floor of the centre sd that the covariance is divided by (facing).
FACING_SD_FLOOR = 0.05


def _root(x: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(torch.clamp(x, min=ROOT_FLOOR))


def _spread(w: torch.Tensor, c: torch.Tensor, big_w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(weighted mean (..., 2), weighted spread (...)) of centres c (..., K, 2) over the token
    axis K with weights w (..., K) summing to ``big_w`` (...)."""
    m = (w[..., None] * c).sum(dim=-2) / big_w[..., None]
    return m, (w * (c ** 2).sum(dim=-1)).sum(dim=-1) / big_w - (m ** 2).sum(dim=-1)


def _present(total: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(frames with weight, the total with 1 where there is none: a safe divisor)."""
    present = total > EPS
    return present, torch.where(present, total, torch.ones_like(total))


def frame_moments(w: torch.Tensor, c: torch.Tensor, h: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """(N, T, len(FRAME_MOMENT_NAMES)) from tokens (N, T, K) of weight ``w``, centre ``c``
    (..., 2), heading ``h`` (..., 2) and speed ``s``. A frame without weight gives zeros."""
    total = w.sum(dim=-1)
    present, big_w = _present(total)
    m, spread = _spread(w, c, big_w)
    speed = (w * s).sum(dim=-1) / big_w
    speed_spread = (w * s * s).sum(dim=-1) / big_w - speed ** 2
    hm = (w[..., None] * h).sum(dim=-2) / big_w[..., None]
    cov = (w * (h * c).sum(dim=-1)).sum(dim=-1) / big_w - (hm * m).sum(dim=-1)
    sd = _root(spread)
    out = torch.stack([total, spread, sd, speed, speed_spread, _root(speed_spread), cov,
                       -cov / torch.clamp(sd, min=FACING_SD_FLOOR), (hm ** 2).sum(dim=-1)], dim=-1)
    return torch.where(present[..., None], out, torch.zeros_like(out))


def token_states(tokens: torch.Tensor, channel_names: Sequence[str], min_weight: float = MIN_WEIGHT) -> tuple:
    """(w, c, h, s) of (N, T, ..., channels) tokens in raw units: the agent weight (0 at or
    below ``min_weight``) and each state as ``channel / weight``; every axis between the
    frame and the channel axis (the token grid, or the agents) becomes one token axis."""
    names = list(channel_names)
    x = tokens[..., [names.index(n) for n in MOMENT_CHANNELS]]
    x = x.reshape(x.shape[0], x.shape[1], -1, len(MOMENT_CHANNELS))
    w = x[..., 0]
    keep = w > min_weight
    w = torch.where(keep, w, torch.zeros_like(w))
    state = x[..., 1:] / torch.where(keep, w, torch.ones_like(w))[..., None]
    return w, state[..., 0:2], state[..., 2:4], state[..., 4]


def summary(per_frame: torch.Tensor) -> torch.Tensor:
    """(N, 2F): the mean, then the sd (floored root of the variance) over frames (axis 1)."""
    mean = per_frame.mean(dim=1)
    var = ((per_frame - mean[:, None]) ** 2).mean(dim=1)
    return torch.cat([mean, _root(var)], dim=1)


def moment_features(tokens: torch.Tensor, channel_names: Sequence[str], min_weight: float = MIN_WEIGHT) -> torch.Tensor:
    """(N, len(MOMENT_NAMES)) clip features: the mean and sd over frames of
    :func:`frame_moments` of the :func:`token_states`."""
    return summary(frame_moments(*token_states(tokens, channel_names, min_weight)))


def grid_moments(coverage: torch.Tensor) -> torch.Tensor:
    """(N, T, len(GRID_MOMENT_NAMES)) from per-token agent coverage (N, T, grid, grid): its
    total, and the spread of the token centres (in units of the frame's side, from its
    centre) weighted by it. Needs no per-token position read-out, only where each token is."""
    n, t, g, _ = coverage.shape
    w = torch.clamp(coverage, min=0.0).reshape(n, t, g * g)
    axis = (torch.arange(g, dtype=coverage.dtype, device=coverage.device) + 0.5) / g - 0.5
    centres = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), dim=-1).reshape(g * g, 2)
    total = w.sum(dim=-1)
    present, big_w = _present(total)
    _, spread = _spread(w, centres.expand(n, t, g * g, 2), big_w)
    out = torch.stack([total, spread, _root(spread)], dim=-1)
    return torch.where(present[..., None], out, torch.zeros_like(out))


def grid_features(coverage: torch.Tensor) -> torch.Tensor:
    """(N, len(GRID_NAMES)) the mean and sd over frames of :func:`grid_moments`."""
    return summary(grid_moments(coverage))


def pooled_moments(tokens: torch.Tensor, channel_names: Sequence[str]) -> torch.Tensor:
    """(N, len(POOLED_NAMES)) of per-token channels (N, T, grid, grid, channels): the states'
    moments (:func:`moment_features`) and the coverage-weighted grid spread (:func:`grid_features`)."""
    coverage = tokens[..., list(channel_names).index(COVERAGE_CHANNEL)]
    return torch.cat([moment_features(tokens, channel_names), grid_features(coverage)], dim=1)
