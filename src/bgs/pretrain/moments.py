"""Parameter-free moment pooling: relational clip features from per-token agent channels.

The per-token targets of the physical pre-training (:data:`bgs.pretrain.physical.DENSE_NAMES`)
spread each agent's state over its pixels with weights summing to one per frame. So a
token's ``agents`` channel is its agent weight ``w``, and its ``x, y``, ``r2``, ``heading_*``,
``heading_centre``, ``speed`` and ``speed2`` channels are ``w·c``, ``w·|c|²``, ``w·h``,
``w·h·c``, ``w·s`` and ``w·s²`` for the agent's centre ``c`` (from the arena's centre),
heading ``h`` and speed ``s``. Relations between agents are quadratic in the per-frame
token sums of these channels (``W = Σ w``, ``m = Σ w c / W``):

- centre spread ``Σ w|c|²/W − |m|²`` (d²/4 for two agents d apart: closeness);
- speed mean ``Σ w s/W`` (energy) and spread ``Σ w s²/W − (Σ w s/W)²`` (asymmetry);
- heading–centre covariance ``Σ w h·c/W − (Σ w h/W)·m`` (−d/2 × facing for two agents);
- ``|Σ w h/W|²`` ((1 + cos of the heading difference)/2 for two agents: alignment);

with the square roots of the spreads and the covariance over the root of the centre spread
(minus facing). Each per-frame feature is then summarised by its mean and sd over frames.
The identity behind the spread, ``Σ_ij w_i w_j |c_i − c_j|² = 2 W Σ w|c|² − 2 |Σ w c|²``,
is what the pooling's test checks against a brute force over token pairs.
"""

from __future__ import annotations

import numpy as np

#: The per-token channels the pooling reads (names of ``bgs.pretrain.physical.DENSE_NAMES``).
MOMENT_CHANNELS = ("agents", "x", "y", "r2", "heading_x", "heading_y", "heading_centre", "speed", "speed2")
#: Per-frame features (:func:`frame_moments`), in this order.
FRAME_MOMENT_NAMES = ("weight", "centre_spread", "centre_sd", "speed_mean", "speed_spread", "speed_sd",
                      "heading_centre_cov", "facing", "heading_mean2")
#: Per-clip features (:func:`moment_features`): the mean, then the sd over frames of each.
MOMENT_NAMES = (*(f"mean_{n}" for n in FRAME_MOMENT_NAMES), *(f"sd_{n}" for n in FRAME_MOMENT_NAMES))
EPS = 1e-6


def frame_moments(sums: np.ndarray) -> np.ndarray:
    """(..., len(FRAME_MOMENT_NAMES)) from per-frame token sums (..., len(MOMENT_CHANNELS)).

    A frame whose weight is not positive (no agent predicted) gives weight 0 and the other
    features 0."""
    s = {name: sums[..., i] for i, name in enumerate(MOMENT_CHANNELS)}
    w = s["agents"]
    safe = np.where(w > EPS, w, 1.0)
    mx, my = s["x"] / safe, s["y"] / safe
    hx, hy = s["heading_x"] / safe, s["heading_y"] / safe
    spread = s["r2"] / safe - mx ** 2 - my ** 2
    speed = s["speed"] / safe
    speed_spread = s["speed2"] / safe - speed ** 2
    cov = s["heading_centre"] / safe - (hx * mx + hy * my)
    sd = np.sqrt(np.clip(spread, 0.0, None))
    out = np.stack([w, spread, sd, speed, speed_spread, np.sqrt(np.clip(speed_spread, 0.0, None)), cov,
                    -cov / np.maximum(sd, 1e-3), hx ** 2 + hy ** 2], axis=-1)
    return np.where((w > EPS)[..., None], out, 0.0)


def frame_sums(tokens: np.ndarray, channel_names) -> np.ndarray:
    """(N, T, len(MOMENT_CHANNELS)): per clip and frame, the sums over the frame's tokens of
    the channels the pooling reads. ``tokens`` is (N, T, ..., channels) in the channels' raw
    units (not standardised), with ``channel_names`` naming its last axis; every axis between
    the frame and the channel axis (the token grid, or the agents) is summed over."""
    names = list(channel_names)
    idx = [names.index(n) for n in MOMENT_CHANNELS]
    x = tokens[..., idx]
    return x.reshape(x.shape[0], x.shape[1], -1, len(idx)).sum(axis=2)


def moment_features(tokens: np.ndarray, channel_names) -> np.ndarray:
    """(N, len(MOMENT_NAMES)) clip features: the mean and sd over frames of
    :func:`frame_moments` of the per-frame token sums (:func:`frame_sums`)."""
    per_frame = frame_moments(frame_sums(tokens, channel_names))
    return np.concatenate([per_frame.mean(axis=1), per_frame.std(axis=1)], axis=1)
