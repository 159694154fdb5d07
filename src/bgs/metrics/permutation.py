"""Permutation nulls of one evaluation: the model's stimulus labels relabelled, its four
scores (3-way and 2AFC accuracy, Spearman and Pearson RSA) recomputed per relabelling.

Per relabelling the work is over the *distinct* triads and the observed pairs, never the
triplets:

* a triad's scores depend only on the order of its three pairs' model similarities, one of
  27 sign patterns. Each triad gets its pattern, the patterns' response counts per odd
  position are summed with one ``bincount``, and the scores are read from a 27 × 3 table
  built by the same definitions as the unpermuted scores
  (:func:`~bgs.metrics.alignment.ooo_by_odd_columns`,
  :func:`~bgs.metrics.alignment.two_way_by_odd_columns`);
* with a dense model the comparisons are between *rank groups* of the similarity (int32,
  equal values share a group, so every comparison is the one of the values); where the
  triads and pairs outnumber the N² cells, the group matrix is relabelled once per
  permutation and then read at fixed positions;
* RSA correlates the relabelled model's dissimilarity (and its ranks, from a table of
  rank groups for a dense model) with the fixed human side, centred once.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from bgs import kernels as kn
from bgs.human.similarity import PAIR_COLUMNS, PairIndex, pair_keys
from bgs.metrics import alignment as al
from bgs.metrics.distance import PairSimilarity, to_dissimilarity
from bgs.stats import RankIndex

#: Sign patterns (s01, s02, s12) of a triad's pair similarities: p = 9(s01+1) + 3(s02+1) + (s12+1).
_SIGNS = [np.arange(27) // d % 3 - 1 for d in (9, 3, 1)]


def pattern_tables(ties: str) -> tuple[np.ndarray, np.ndarray]:
    """(27, 3) 3-way and 2AFC scores of each sign pattern had position k been odd (0 for
    the patterns no three numbers can have)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        ooo = np.stack(al.ooo_by_odd_columns(_SIGNS, ties), axis=1)
    return np.nan_to_num(ooo), np.stack(al.two_way_by_odd_columns(_SIGNS), axis=1)


def sign_pattern(c0: np.ndarray, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    """The sign pattern (0…26) of each triad from its three pairs' similarities (or any
    values in the same order)."""
    pattern = 9 * np.sign(c0 - c1)
    pattern += 3 * np.sign(c0 - c2)
    pattern += np.sign(c1 - c2)
    if pattern.dtype.kind != "i":
        pattern = pattern.astype(np.intp)
    pattern += 13
    return pattern


def value_groups(matrix: np.ndarray) -> tuple[np.ndarray, int]:
    """(int32 number of each cell's group of equal values, in ascending order; the number
    of groups)."""
    _, groups = np.unique(matrix, return_inverse=True)
    return groups.reshape(matrix.shape).astype(np.int32), int(groups.max()) + 1 if groups.size else 0


def _centred(values: np.ndarray) -> tuple[np.ndarray, float]:
    c = np.asarray(values, dtype=float) - np.mean(values)
    return c, float(c @ c)


def _r(x: np.ndarray, yc: np.ndarray, yy: float) -> float:
    """Pearson r of ``x`` with the centred ``yc`` (``yy = yc·yc``)."""
    xc = x - x.mean()
    denom = np.sqrt(float(xc @ xc) * yy)
    return float((xc @ yc) / denom) if denom > 0 else float("nan")


def _correlation(cov: np.ndarray, var_product: np.ndarray) -> np.ndarray:
    """cov / sqrt(var_product), NaN where a variance is 0."""
    ok = var_product > 0
    return np.where(ok, cov / np.sqrt(np.where(ok, var_product, 1.0)), np.nan)


class PermutedScores:
    """``scores(perm)`` -> [3-way accuracy, 2AFC accuracy, Spearman, Pearson] of the model
    with stimulus ``x`` relabelled as ``perm[x]``; the accuracies over the distinct
    ``triads`` (sorted stimulus indices) with their per-position response ``counts``.

    With a dense model and many triads and pairs against the N² cells, the comparisons and
    ranks read int32 tables of rank groups; otherwise the similarities of the relabelled
    observed pairs are gathered and the triads read from them."""

    def __init__(self, model: PairSimilarity, index: PairIndex, triads: np.ndarray, counts: np.ndarray,
                 human: np.ndarray, ties: str):
        self.model, self.index, self.n = model, index, model.n
        self.triads = [np.ascontiguousarray(triads[:, k]) for k in range(3)]
        self.counts = counts
        self.ooo_table, self.two_table = pattern_tables(ties)
        self.n_responses = float(counts.sum())
        nonzero = counts > 0
        single = bool((nonzero.sum(axis=1) == 1).all())
        position = np.argmax(nonzero, axis=1) if single else None
        self.weights = (counts[np.arange(len(counts)), position].astype(float) if single
                        else [np.ascontiguousarray(counts[:, k], dtype=float) for k in range(3)])
        if single and (self.weights == 1).all():
            self.weights = None  # every triad answered once: the histogram needs no weights
        self.position = position.astype(np.int32) if single else None  # bin: 3·pattern + position
        self.human, self.human_sq = _centred(human)
        self.human_ranks, self.human_ranks_sq = _centred(rankdata(human))
        self.tables = model.dense and 3 * len(triads) + index.n_pairs > self.n * self.n // 16
        if self.tables:
            self._build_tables()
        else:
            keys = pair_keys(index.i, index.j, self.n)
            self.slots = [np.searchsorted(keys, pair_keys(triads[:, a], triads[:, b], self.n))
                          for a, b in PAIR_COLUMNS]

    def _build_tables(self) -> None:
        n, model = self.n, self.model
        self.sim_groups, n_sim = value_groups(model.matrix)
        if model.metric in ("dot", "euclidean"):  # d = −s exactly: the same groups, reversed
            self.dis_groups, self.n_dis, self.dis_reversed = self.sim_groups, n_sim, True
        else:
            self.dis_groups, self.n_dis = value_groups(to_dissimilarity(model.matrix, model.metric))
            self.dis_reversed = False
        # relabelling the N×N table once per permutation pays off when it is read more often
        self.relabel = 3 * len(self.triads[0]) > n * n
        if self.relabel:
            dtype = np.int32 if n * n < 2**31 else np.int64
            self.triad_cells = [self.triads[a].astype(dtype) * n + self.triads[b] for a, b in PAIR_COLUMNS]

    def _accuracies(self, pattern: np.ndarray) -> tuple[float, float]:
        if self.position is not None:
            pattern *= 3
            pattern += self.position
            hist = np.bincount(pattern, weights=self.weights, minlength=81).reshape(27, 3)
        else:
            hist = np.stack([np.bincount(pattern, weights=w, minlength=27) for w in self.weights], axis=1)
        return (float((hist * self.ooo_table).sum() / self.n_responses),
                float((hist * self.two_table).sum() / self.n_responses))

    def _table_pattern(self, perm: np.ndarray) -> np.ndarray:
        if self.relabel:
            table = self.sim_groups[np.ix_(perm, perm)].ravel()
            return sign_pattern(*(table[c] for c in self.triad_cells))
        p = [perm[t] for t in self.triads]
        return sign_pattern(*(self.sim_groups[p[a], p[b]] for a, b in PAIR_COLUMNS))

    def _table_rsa(self, i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cells = i.astype(np.int64) * self.n + j
        d = to_dissimilarity(self.model.matrix.ravel()[cells], self.model.metric)
        groups = self.dis_groups.ravel()[cells]
        if self.dis_reversed:
            groups = (self.n_dis - 1) - groups
        return d, RankIndex(groups=groups, n_groups=self.n_dis).ranks()

    def many(self, perms: np.ndarray) -> np.ndarray:
        """(len(perms), 4) scores of the rows of ``perms``, equal to ``[self(p) for p in
        perms]`` to rounding: through the compiled kernel where the rank-group tables are
        built, else one call per permutation."""
        if not self.tables:
            return np.array([self(p) for p in perms]).reshape(len(perms), 4)
        k = _KernelTables(self)
        hists, sums = kn.permuted_scores(perms.astype(np.int32), k.triads, k.position, k.weight, self.sim_groups,
                                         self.dis_groups, self.dis_reversed, self.n_dis, self.model.matrix,
                                         self.model.metric in ("cosine", "correlation"), k.rows, k.j,
                                         self.human_ranks, self.human, k.shift, k.unobserved_i, k.unobserved_j,
                                         k.full_counts, min(kn.n_threads(), max(1, len(perms))))
        hists = hists.reshape(len(perms), 27, 3)
        cov_r, var_r, cov_d, sum_d, var_d = sums.T
        n = self.index.n_pairs
        var_d = np.array([kn.centred_square_sum(v, s, n) for v, s in zip(var_d, sum_d)])
        spearman = _correlation(cov_r, var_r * self.human_ranks_sq)
        pearson = _correlation(cov_d - sum_d / n * k.human_sum, var_d * self.human_sq)
        return np.column_stack([(hists * self.ooo_table).sum(axis=(1, 2)) / self.n_responses,
                                (hists * self.two_table).sum(axis=(1, 2)) / self.n_responses,
                                spearman, pearson])

    def __call__(self, perm: np.ndarray) -> np.ndarray:
        i, j = perm[self.index.i], perm[self.index.j]
        if self.tables:
            d, ranks = self._table_rsa(i, j)
            pattern = self._table_pattern(perm)
        else:
            s = self.model.of(i, j)
            d = to_dissimilarity(s, self.model.metric)
            ranks = rankdata(d)
            pattern = sign_pattern(*(s[k] for k in self.slots))
        ooo, two = self._accuracies(pattern)
        return np.array([ooo, two, _r(ranks, self.human_ranks, self.human_ranks_sq),
                         _r(d, self.human, self.human_sq)])


class _KernelTables:
    """What :func:`bgs.kernels.permuted_scores` reads, built once from a
    :class:`PermutedScores` with rank-group tables: the triads in blocks of 128 stimuli
    (so the three cells a triad reads lie in a few L2-sized tiles), the observed pairs by
    row (their rows' offsets and their second stimuli), and, where the unobserved cells
    u < v are fewer than the observed pairs (and the model's table is symmetric), those
    cells and the number of cells u < v in each group of the model's dissimilarity (the
    ranks then come from the fewer)."""

    def __init__(self, scores: PermutedScores):
        n, index = scores.n, scores.index
        triads = np.stack(scores.triads, axis=1).astype(np.int32)
        tile = (triads // 128).astype(np.int64)
        order = np.argsort((tile[:, 0] * 64 + tile[:, 1]) * 64 + tile[:, 2], kind="stable")
        counts = scores.counts[order]
        row, self.position = np.nonzero(counts)  # one entry per (triad, answered position)
        # narrow types: the pass per permutation streams these (uint16 stimuli: 6 bytes a triad)
        self.triads = np.ascontiguousarray(triads[order][row]).astype(np.uint16 if n < 2**16 else np.int32)
        weight = counts[row, self.position]
        self.weight = weight.astype(np.uint8 if weight.max(initial=0) < 2**8 else np.int32)
        self.position = self.position.astype(np.uint8)
        self.rows = np.searchsorted(index.i, np.arange(n + 1)).astype(np.int64)
        self.j = index.j.astype(np.int32)
        d = to_dissimilarity(scores.model.matrix[index.i, index.j], scores.model.metric)
        self.shift = float(d.mean()) if len(d) else 0.0
        self.human_sum = float(scores.human.sum())
        n_cells = n * (n - 1) // 2
        # the complement needs a symmetric table: a cell then has one group whichever way round
        if n_cells - index.n_pairs < index.n_pairs and np.array_equal(scores.dis_groups, scores.dis_groups.T):
            unobserved = np.ones((n, n), dtype=bool)
            unobserved[index.i, index.j] = False
            self.unobserved_i, self.unobserved_j = (v.astype(np.int32) for v in np.nonzero(np.triu(unobserved, 1)))
            groups = scores.dis_groups.ravel()
            both = np.bincount(groups, minlength=scores.n_dis) - np.bincount(np.diagonal(scores.dis_groups),
                                                                             minlength=scores.n_dis)
            self.full_counts = (both // 2).astype(np.int32)  # each cell u ≠ v appears twice
            if scores.dis_reversed:
                self.full_counts = np.ascontiguousarray(self.full_counts[::-1])
        else:
            self.unobserved_i = self.unobserved_j = np.empty(0, np.int32)
            self.full_counts = np.empty(0, np.int32)
