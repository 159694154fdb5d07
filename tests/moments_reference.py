"""The moment pooling as it was first written, in numpy: the independent reference that
``bgs.models.moment_pooling`` (torch) is tested against."""

from __future__ import annotations

import numpy as np

MOMENT_CHANNELS = ("agents", "x", "y", "heading_x", "heading_y", "speed")
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
