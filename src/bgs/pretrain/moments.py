"""The moment pooling of per-token agent channels on numpy arrays (for the benchmarks).

The statistics are defined once, in torch, in :mod:`bgs.models.moment_pooling` (its
docstring says what each feature is and why the state is read back per token as
``channel / w``); these functions run them in float64 on numpy inputs and return numpy.
Reading the state back per token (rather than summing each channel over tokens) matters for
a learned read-out: its errors in *how much* of an agent a token holds are correlated within
a clip and do not cancel in a sum, but they cancel in the ratio.
The identity behind the spread, ``Σ_ij w_i w_j |c_i − c_j|² = 2 W Σ w|c|² − 2 |Σ w c|²``,
is what the pooling's test checks against a brute force over token pairs.
"""

from __future__ import annotations

import numpy as np

from bgs.models import moment_pooling as _mp
from bgs.models.moment_pooling import (  # noqa: F401 - re-exported names
    EPS,
    FRAME_MOMENT_NAMES,
    GRID_MOMENT_NAMES,
    GRID_NAMES,
    MIN_WEIGHT,
    MOMENT_CHANNELS,
    MOMENT_NAMES,
    POOLED_NAMES,
)


def _t(x):
    import torch

    return torch.as_tensor(np.asarray(x, dtype=np.float64))


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy()


def frame_moments(w, c, h, s) -> np.ndarray:
    """(N, T, len(FRAME_MOMENT_NAMES)): :func:`bgs.models.moment_pooling.frame_moments`."""
    return _np(_mp.frame_moments(_t(w), _t(c), _t(h), _t(s)))


def token_states(tokens, channel_names, min_weight: float = MIN_WEIGHT) -> tuple:
    """(w, c, h, s): :func:`bgs.models.moment_pooling.token_states`."""
    return tuple(_np(x) for x in _mp.token_states(_t(tokens), channel_names, min_weight))


def moment_features(tokens, channel_names, min_weight: float = MIN_WEIGHT) -> np.ndarray:
    """(N, len(MOMENT_NAMES)): :func:`bgs.models.moment_pooling.moment_features`."""
    return _np(_mp.moment_features(_t(tokens), channel_names, min_weight))


def grid_moments(coverage) -> np.ndarray:
    """(N, T, len(GRID_MOMENT_NAMES)): :func:`bgs.models.moment_pooling.grid_moments`."""
    return _np(_mp.grid_moments(_t(coverage)))


def grid_features(coverage) -> np.ndarray:
    """(N, len(GRID_NAMES)): :func:`bgs.models.moment_pooling.grid_features`."""
    return _np(_mp.grid_features(_t(coverage)))


def pooled_moments(tokens, channel_names) -> np.ndarray:
    """(N, len(POOLED_NAMES)): :func:`bgs.models.moment_pooling.pooled_moments`."""
    return _np(_mp.pooled_moments(_t(tokens), channel_names))
