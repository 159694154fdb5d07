"""Seeded resampling statistics: bootstrap confidence intervals and permutation p-values.

Bootstraps resample either *triplets* (the uncertainty of the judgments, stimuli fixed) or
*stimuli* (the uncertainty of generalising to new stimuli): a stimulus drawn twice counts
twice, a triplet counts with the product of its stimuli's multiplicities, and a pair of a
stimulus with its own copy is left out. Permutation tests shuffle the stimulus labels of the
model (its similarity structure stays intact) to ask whether its alignment beats chance.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bgs.data.triplets import TripletSet
from bgs.human.similarity import HumanSimilarity, human_similarity
from bgs.metrics.alignment import correlate, observed_pairs

_CHUNK = 64


def percentile_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float] | None:
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return None
    alpha = (1 - level) / 2
    lo, hi = np.quantile(values, [alpha, 1 - alpha])
    return float(lo), float(hi)


def bootstrap_triplet_mean(scores: np.ndarray, n_bootstrap: int, seed: int = 0) -> np.ndarray:
    """Bootstrap distribution of the mean per-triplet score, resampling triplets."""
    rng = np.random.default_rng(seed)
    n = len(scores)
    out = []
    for start in range(0, n_bootstrap, _CHUNK):
        idx = rng.integers(0, n, size=(min(_CHUNK, n_bootstrap - start), n))
        out.append(scores[idx].mean(axis=1))
    return np.concatenate(out) if out else np.empty(0)


def bootstrap_stimulus_mean(scores: np.ndarray, triplets: TripletSet, n_bootstrap: int,
                            seed: int = 0) -> np.ndarray:
    """Bootstrap distribution of the mean per-triplet score, resampling stimuli."""
    rng = np.random.default_rng(seed)
    n = triplets.n_stimuli
    t = triplets.triads
    out = np.empty(n_bootstrap)
    for k in range(n_bootstrap):
        w = np.bincount(rng.integers(0, n, size=n), minlength=n).astype(float)
        tw = w[t[:, 0]] * w[t[:, 1]] * w[t[:, 2]]
        total = tw.sum()
        out[k] = (tw * scores).sum() / total if total > 0 else np.nan
    return out


def bootstrap_rsa_stimuli(model_dissimilarity: np.ndarray, human: HumanSimilarity, method: str,
                          n_bootstrap: int, seed: int = 0) -> np.ndarray:
    """Bootstrap distribution of RSA, resampling stimuli (self-pairs of copies left out)."""
    rng = np.random.default_rng(seed)
    n = human.n_stimuli
    iu, ju = np.triu_indices(n, k=1)
    hd = human.dissimilarity
    out = np.empty(n_bootstrap)
    for k in range(n_bootstrap):
        draw = rng.integers(0, n, size=n)
        a, b = draw[iu], draw[ju]
        h = hd[a, b]
        keep = (a != b) & ~np.isnan(h)
        out[k] = correlate(model_dissimilarity[a[keep], b[keep]], h[keep], method) \
            if keep.sum() > 2 else np.nan
    return out


def bootstrap_rsa_triplets(model_dissimilarity: np.ndarray, triplets: TripletSet, method: str,
                           n_bootstrap: int, seed: int = 0) -> np.ndarray:
    """Bootstrap distribution of RSA, resampling triplets (human matrix rebuilt each time)."""
    rng = np.random.default_rng(seed)
    n = len(triplets)
    out = np.empty(n_bootstrap)
    for k in range(n_bootstrap):
        weights = np.bincount(rng.integers(0, n, size=n), minlength=n)
        h = human_similarity(triplets, weights=weights)
        i, j = observed_pairs(h)
        out[k] = correlate(model_dissimilarity[i, j], h.dissimilarity[i, j], method) \
            if len(i) > 2 else np.nan
    return out


def permutation_p_value(statistic: Callable[[np.ndarray], float], observed: float, n_stimuli: int,
                        n_permutations: int, seed: int = 0) -> tuple[float, np.ndarray]:
    """One-sided p-value that a stimulus-label permutation scores at least ``observed``.

    ``statistic(perm)`` recomputes the score with the model's stimulus ``k`` relabelled as
    ``perm[k]``. p = (1 + #{null ≥ observed}) / (1 + n_permutations), never 0.
    """
    rng = np.random.default_rng(seed)
    null = np.array([statistic(rng.permutation(n_stimuli)) for _ in range(n_permutations)])
    p = (1 + np.sum(null >= observed - 1e-12)) / (1 + n_permutations)
    return float(p), null
