"""Model similarity and dissimilarity between stimuli, computed once per stimulus set.

| metric | similarity s(x, y) | dissimilarity d(x, y) |
|---|---|---|
| cosine (default) | cos(x, y) | 1 − cos(x, y) |
| correlation | Pearson r of the two vectors | 1 − r |
| euclidean | −‖x − y‖ | ‖x − y‖ |
| dot | x·y | −x·y (a ranking, not a metric) |

Odd-one-out accuracy ranks by similarity, RSA correlates dissimilarities; both orderings
are the same, so every metric gives consistent answers. Matrices are computed in row blocks
so that the temporary memory stays bounded for large N.
"""

from __future__ import annotations

import numpy as np

from bgs.errors import ConfigError

METRICS = ("cosine", "correlation", "euclidean", "dot")


def _check(metric: str) -> None:
    if metric not in METRICS:
        raise ConfigError(f"unknown metric {metric!r}; choose one of: {', '.join(METRICS)}")


def _prepare(x: np.ndarray, metric: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if metric == "correlation":
        x = x - x.mean(axis=1, keepdims=True)
    if metric in ("cosine", "correlation"):
        norm = np.linalg.norm(x, axis=1, keepdims=True)
        x = x / np.where(norm > 0, norm, 1.0)
    return x


def similarity_matrix(x: np.ndarray, metric: str = "cosine", block: int = 4096) -> np.ndarray:
    """N×N model similarity (larger = more similar) of the rows of ``x``."""
    _check(metric)
    x = _prepare(x, metric)
    n = len(x)
    out = np.empty((n, n))
    sq = (x * x).sum(axis=1) if metric == "euclidean" else None
    for start in range(0, n, block):
        rows = slice(start, min(start + block, n))
        g = x[rows] @ x.T
        if metric == "euclidean":
            d2 = np.maximum(sq[rows, None] + sq[None, :] - 2 * g, 0.0)
            g = -np.sqrt(d2)
        out[rows] = g
    if metric == "euclidean":
        np.fill_diagonal(out, 0.0)
    return out


def dissimilarity_matrix(x: np.ndarray, metric: str = "cosine", block: int = 4096) -> np.ndarray:
    """N×N model dissimilarity (the RSA side): see the module table."""
    s = similarity_matrix(x, metric, block)
    d = 1.0 - s if metric in ("cosine", "correlation") else -s
    if metric != "dot":
        np.fill_diagonal(d, 0.0)
    return d


def pair_similarity(x: np.ndarray, i: np.ndarray, j: np.ndarray, metric: str = "cosine",
                    block: int = 1_000_000) -> np.ndarray:
    """Similarity of the row pairs (i[k], j[k]) without an N×N matrix (for very large N)."""
    _check(metric)
    x = _prepare(x, metric)
    out = np.empty(len(i))
    for start in range(0, len(i), block):
        sl = slice(start, start + block)
        a, b = x[i[sl]], x[j[sl]]
        out[sl] = (-np.linalg.norm(a - b, axis=1) if metric == "euclidean"
                   else np.einsum("ij,ij->i", a, b))
    return out
