"""Parameter-free moment pooling: relational clip features from per-token agent channels.

The per-token targets of the physical pre-training (:data:`bgs.pretrain.physical.DENSE_NAMES`)
spread each agent's state over its pixels with weights summing to one per frame. So a
token's ``agents`` channel is its agent weight ``w``, and its ``x, y``, ``heading_*`` and
``speed`` channels are ``w·c``, ``w·h`` and ``w·s`` for the agent's centre ``c`` (from the
arena's centre), heading ``h`` and speed ``s``, read back per token as ``channel / w``.
Relations between agents are quadratic in ``w``-weighted sums of those states over a
frame's tokens (``W = Σ w``, ``m = Σ w c / W``):

- centre spread ``Σ w|c|²/W − |m|²`` (d²/4 for two agents d apart: closeness);
- speed mean ``Σ w s/W`` (energy) and spread ``Σ w s²/W − (Σ w s/W)²`` (asymmetry);
- heading–centre covariance ``Σ w h·c/W − (Σ w h/W)·m`` (−d/2 × facing for two agents);
- ``|Σ w h/W|²`` ((1 + cos of the heading difference)/2 for two agents: alignment);

with the square roots of the spreads and the covariance over the root of the centre spread
(minus facing). Each per-frame feature is then summarised by its mean and sd over frames.
Reading the state back per token (rather than summing each channel over tokens) matters for
a learned read-out: its errors in *how much* of an agent a token holds are correlated within
a clip and do not cancel in a sum, but they cancel in the ratio. :func:`grid_features` adds
the spread of the token centres weighted by the agent coverage, which needs no position
read-out.
The identity behind the spread, ``Σ_ij w_i w_j |c_i − c_j|² = 2 W Σ w|c|² − 2 |Σ w c|²``,
is what the pooling's test checks against a brute force over token pairs.
"""

from __future__ import annotations

import numpy as np

#: The per-token channels the pooling reads (names of ``bgs.pretrain.physical.DENSE_NAMES``).
MOMENT_CHANNELS = ("agents", "x", "y", "heading_x", "heading_y", "speed")
#: Per-frame features (:func:`frame_moments`), in this order.
FRAME_MOMENT_NAMES = ("weight", "centre_spread", "centre_sd", "speed_mean", "speed_spread", "speed_sd",
                      "heading_centre_cov", "facing", "heading_mean2")
#: Per-frame features of the token grid (:func:`grid_moments`).
GRID_MOMENT_NAMES = ("coverage", "grid_spread", "grid_sd")
#: Per-clip features (:func:`moment_features`): the mean, then the sd over frames of each.
MOMENT_NAMES = (*(f"mean_{n}" for n in FRAME_MOMENT_NAMES), *(f"sd_{n}" for n in FRAME_MOMENT_NAMES))
GRID_NAMES = (*(f"mean_{n}" for n in GRID_MOMENT_NAMES), *(f"sd_{n}" for n in GRID_MOMENT_NAMES))
#: Tokens whose agent weight is at most this are left out of the pooling: a state read as
#: ``channel / weight`` is noise where the weight is a small prediction error.
MIN_WEIGHT = 0.1
EPS = 1e-6


def _spread(w: np.ndarray, c: np.ndarray, big_w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(weighted mean (..., 2), weighted spread (...)) of centres c (..., K, 2) over the token
    axis K with weights w (..., K) summing to ``big_w`` (...)."""
    m = (w[..., None] * c).sum(axis=-2) / big_w[..., None]
    return m, (w * (c ** 2).sum(axis=-1)).sum(axis=-1) / big_w - (m ** 2).sum(axis=-1)


def frame_moments(w: np.ndarray, c: np.ndarray, h: np.ndarray, s: np.ndarray) -> np.ndarray:
    """(N, T, len(FRAME_MOMENT_NAMES)) from tokens (N, T, K) of weight ``w``, centre ``c``
    (..., 2), heading ``h`` (..., 2) and speed ``s``. A frame without weight gives zeros."""
    big_w = w.sum(axis=-1)
    present = big_w > EPS
    big_w = np.where(present, big_w, 1.0)
    m, spread = _spread(w, c, big_w)
    speed = (w * s).sum(axis=-1) / big_w
    speed_spread = (w * s * s).sum(axis=-1) / big_w - speed ** 2
    hm = (w[..., None] * h).sum(axis=-2) / big_w[..., None]
    cov = (w * (h * c).sum(axis=-1)).sum(axis=-1) / big_w - (hm * m).sum(axis=-1)
    sd = np.sqrt(np.clip(spread, 0.0, None))
    out = np.stack([w.sum(axis=-1), spread, sd, speed, speed_spread, np.sqrt(np.clip(speed_spread, 0.0, None)),
                    cov, -cov / np.maximum(sd, 0.05), (hm ** 2).sum(axis=-1)], axis=-1)
    return np.where(present[..., None], out, 0.0)


def token_states(tokens: np.ndarray, channel_names, min_weight: float = MIN_WEIGHT) -> tuple:
    """(w, c, h, s) of (N, T, ..., channels) tokens in raw units: the agent weight (0 at or
    below ``min_weight``) and each state as ``channel / weight``; every axis between the
    frame and the channel axis (the token grid, or the agents) becomes one token axis."""
    names = list(channel_names)
    x = tokens[..., [names.index(n) for n in MOMENT_CHANNELS]]
    x = x.reshape(x.shape[0], x.shape[1], -1, len(MOMENT_CHANNELS))
    w = x[..., 0]
    keep = w > min_weight
    w = np.where(keep, w, 0.0)
    state = x[..., 1:] / np.where(keep, w, 1.0)[..., None]
    return w, state[..., 0:2], state[..., 2:4], state[..., 4]


def _summary(per_frame: np.ndarray) -> np.ndarray:
    return np.concatenate([per_frame.mean(axis=1), per_frame.std(axis=1)], axis=1)


def moment_features(tokens: np.ndarray, channel_names, min_weight: float = MIN_WEIGHT) -> np.ndarray:
    """(N, len(MOMENT_NAMES)) clip features: the mean and sd over frames of
    :func:`frame_moments` of the :func:`token_states`."""
    return _summary(frame_moments(*token_states(tokens, channel_names, min_weight)))


def grid_moments(coverage: np.ndarray) -> np.ndarray:
    """(N, T, len(GRID_MOMENT_NAMES)) from per-token agent coverage (N, T, grid, grid): its
    total, and the spread of the token centres (in units of the frame's side, from its
    centre) weighted by it. Needs no per-token position read-out, only where each token is."""
    n, t, g, _ = coverage.shape
    w = np.clip(coverage, 0.0, None).reshape(n, t, g * g)
    axis = (np.arange(g) + 0.5) / g - 0.5
    centres = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(g * g, 2)
    big_w = w.sum(axis=-1)
    present = big_w > EPS
    _, spread = _spread(w, np.broadcast_to(centres, (n, t, g * g, 2)), np.where(present, big_w, 1.0))
    out = np.stack([big_w, spread, np.sqrt(np.clip(spread, 0.0, None))], axis=-1)
    return np.where(present[..., None], out, 0.0)


def grid_features(coverage: np.ndarray) -> np.ndarray:
    """(N, len(GRID_NAMES)) the mean and sd over frames of :func:`grid_moments`."""
    return _summary(grid_moments(coverage))
