"""Model similarity and dissimilarity between stimuli, computed once per stimulus set.

| metric | similarity s(x, y) | dissimilarity d(x, y) |
|---|---|---|
| cosine (default) | cos(x, y) | 1 − cos(x, y) |
| correlation | Pearson r of the two vectors | 1 − r |
| euclidean | −‖x − y‖ | ‖x − y‖ |
| dot | x·y | −x·y (a ranking, not a metric) |

Odd-one-out accuracy ranks by similarity, RSA correlates dissimilarities; both orderings
are the same, so every metric gives consistent answers. Matrices are computed in row blocks
so that the temporary memory stays bounded; :class:`PairSimilarity` gives the similarity of
chosen pairs without any N×N array for large N.
"""

from __future__ import annotations

import numpy as np

from bgs.errors import ConfigError

METRICS = ("cosine", "correlation", "euclidean", "dot")

#: Up to this many stimuli a dense N×N model similarity is built (at 4,096 it is 134 MB);
#: above, pair similarities are computed block by block (see :class:`PairSimilarity`).
#: ``benchmarks/sparse_eval.py --switch`` measured the dense side faster at every N up to
#: 8,192 (3–6× with 20 permutations), so memory, not speed, sets the switch.
DENSE_MAX_STIMULI = 4096

#: Memory of one block of rows of the similarity when no N×N matrix is built.
BLOCK_BYTES = 64 * 2**20


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


def to_dissimilarity(similarity: np.ndarray, metric: str, out: np.ndarray | None = None) -> np.ndarray:
    """Model dissimilarity from model similarity (the RSA side): see the module table.
    ``out``: where to write it (``similarity`` itself to convert in place)."""
    if metric in ("cosine", "correlation"):
        return np.subtract(1.0, similarity, out=out)
    return np.negative(similarity, out=out)


def dissimilarity_matrix(x: np.ndarray, metric: str = "cosine", block: int = 4096) -> np.ndarray:
    """N×N model dissimilarity (the RSA side): see the module table."""
    d = to_dissimilarity(similarity_matrix(x, metric, block), metric)
    if metric != "dot":
        np.fill_diagonal(d, 0.0)
    return d


class PairSimilarity:
    """Model similarity of chosen stimulus pairs, with an N×N matrix only for small N.

    ``of(i, j)`` gives the similarity of the pairs (i[k], j[k]). Up to
    :data:`DENSE_MAX_STIMULI` stimuli it reads a dense matrix (the fastest way there, and
    bit for bit :func:`similarity_matrix`). Above, no N×N array exists: for many pairs it
    computes blocks of rows of the similarity with one matrix product each (about
    :data:`BLOCK_BYTES` each) and reads the pairs of those rows; for few pairs it takes the
    dot products of the gathered rows directly.
    """

    def __init__(self, x: np.ndarray, metric: str = "cosine", dense: bool | None = None):
        _check(metric)
        self.metric = metric
        self.n = len(x)
        self.dense = self.n <= DENSE_MAX_STIMULI if dense is None else dense
        if self.dense:
            self.matrix = similarity_matrix(x, metric)
        else:
            self.x = _prepare(x, metric)
            self.sq = (self.x * self.x).sum(axis=1) if metric == "euclidean" else None

    @classmethod
    def from_matrix(cls, similarity: np.ndarray, metric: str = "cosine") -> "PairSimilarity":
        """A precomputed N×N similarity; ``metric`` says how it turns into a dissimilarity."""
        _check(metric)
        out = cls.__new__(cls)
        out.metric, out.n, out.dense, out.matrix = metric, len(similarity), True, similarity
        return out

    def of(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Similarity of the pairs (i[k], j[k])."""
        if self.dense:
            return self.matrix[i, j]
        dots = self._row_blocks(i, j) if len(i) * 32 > self.n * self.n else self._gathered(i, j)
        if self.metric == "euclidean":
            dots = -np.sqrt(np.maximum(self.sq[i] + self.sq[j] - 2 * dots, 0.0))
        return dots

    def _gathered(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        out = np.empty(len(i))
        step = max(1, BLOCK_BYTES // (16 * self.x.shape[1]))
        for start in range(0, len(i), step):
            sl = slice(start, start + step)
            out[sl] = np.einsum("ij,ij->i", self.x[i[sl]], self.x[j[sl]])
        return out

    def _row_blocks(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        rows_per_block = max(1, BLOCK_BYTES // (8 * self.n))
        if len(i) < 2 or bool((i[1:] >= i[:-1]).all()):  # already by row (pairs in key order)
            order, si, sj = None, i, j
        else:
            order = np.argsort(i, kind="stable")
            si, sj = i[order], j[order]
        edges = np.arange(0, self.n + rows_per_block, rows_per_block)
        bounds = np.searchsorted(si, edges)
        out = np.empty(len(i))
        for b, start in enumerate(edges[:-1]):
            lo, hi = bounds[b], bounds[b + 1]
            if lo < hi:
                g = self.x[start:start + rows_per_block] @ self.x.T
                out[slice(lo, hi) if order is None else order[lo:hi]] = g[si[lo:hi] - start, sj[lo:hi]]
        return out

    def dissimilarity(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        return to_dissimilarity(self.of(i, j), self.metric)
