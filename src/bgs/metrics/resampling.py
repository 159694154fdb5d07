"""Seeded resampling statistics on the compact (observed-pair) representation.

Bootstraps resample either *triplets* (the uncertainty of the judgments, stimuli fixed) or
*stimuli* (the uncertainty of generalising to new stimuli). Both are drawn as
multiplicities (:func:`bgs.stats.multiplicities`), never as copies:

* a triplet resample counts triplet t ``w[t]`` times: the mean scores are weighted means and
  the human similarity is re-counted over the same pair index (O(triplets));
* a stimulus resample counts stimulus x ``m[x]`` times: a triplet then counts with the
  product of its stimuli's multiplicities, a pair (x, y) with ``m[x]·m[y]`` (a pair of a
  stimulus with its own copy is left out), and RSA is a weighted correlation over the
  observed pairs (O(pairs)).

Every statistic resampled with one seed sees the same draws, which are the draws of the
earlier implementation that materialised the copies: ``rng.integers(0, n, size=n)`` per
resample. Permutation tests shuffle the stimulus labels of the model (its similarity
structure stays intact) to ask whether its alignment beats chance; all the scores of one
evaluation share the permutations.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from bgs.human.similarity import PairIndex
from bgs.stats import WeightedCorrelations, multiplicities, pair_weights, ratio_groups

RESAMPLED_CORRELATIONS = ("spearman", "pearson")


def resamples(n: int, n_bootstrap: int, seed: int = 0) -> Iterator[np.ndarray]:
    """The ``n_bootstrap`` multiplicity vectors of a bootstrap over ``n`` items."""
    rng = np.random.default_rng(seed)
    for _ in range(n_bootstrap):
        yield multiplicities(rng, n)


class RSAData:
    """What RSA resampling needs, built once: the pair index of the triplets, the model
    dissimilarity over the observed pairs sorted for :class:`~bgs.stats.WeightedCorrelations`,
    the pairs' stimuli in that order, and the human dissimilarity's groups of equal values."""

    def __init__(self, index: PairIndex, model_dissimilarity: np.ndarray, overwrite: bool = False,
                 release: bool = False):
        """``overwrite``: sort ``model_dissimilarity`` in place (the caller is done with it);
        ``release``: free the index's counts and pairs once read (:meth:`PairIndex.release_counts`,
        :meth:`PairIndex.release_pairs`; the compiled resampling reads neither)."""
        self.index = index
        # the human side's groups first, in pair order, so the counts can go before the sort
        groups, self.human_values = ratio_groups(*index.totals, complement=True)
        if release:
            index.release_counts()
        self.correlations = WeightedCorrelations(model_dissimilarity, overwrite)
        order = self.correlations.order
        self.human_groups = groups[order].astype(np.int32, copy=False)
        del groups
        # the pairs' stimuli in x order, uint16 below 65,536 stimuli (what the kernels stream)
        narrow = np.uint16 if index.n_stimuli <= 2**16 else np.int32
        self.i, self.j = (v[order].astype(narrow, copy=False) for v in (index.i, index.j))
        if release:
            index.release_pairs()

    def after_stimulus_resample(self, m: np.ndarray) -> dict[str, float]:
        """RSA over the observed pairs, each weighted by its copies under stimulus
        multiplicities ``m``."""
        return self.correlations(pair_weights(m, self.i, self.j), self.human_groups, self.human_values)

    def after_triplet_resample(self, w: np.ndarray) -> dict[str, float]:
        """RSA with the human similarity re-counted under triplet multiplicities ``w``
        (integers): the pairs no resampled triplet holds carry weight 0."""
        chosen, cooc = self.index.counts(w)
        order = self.correlations.order
        chosen, cooc = chosen[order], cooc[order]
        keep = cooc > 0
        groups, values = ratio_groups(chosen, np.where(keep, cooc, 1.0), complement=True, integral=True)
        return self.correlations(keep.astype(float), groups, values)


def triplet_weights(m: np.ndarray, first: np.ndarray, second: np.ndarray, third: np.ndarray) -> np.ndarray:
    """Weight of each triplet in a stimulus resample with multiplicities ``m``: the product
    of its stimuli's multiplicities (in exact integer arithmetic, then as floats)."""
    dtype = np.int32 if int(m.max(initial=0)) ** 3 < 2**31 else np.int64
    m = m.astype(dtype)
    tw = np.take(m, first)
    tw *= np.take(m, second)
    tw *= np.take(m, third)
    return tw.astype(float)


def bootstrap_over_triplets(scores: np.ndarray, rsa: RSAData | None, n_bootstrap: int,
                            seed: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Bootstrap over triplets: (B, k) means of the (n, k) per-triplet ``scores``, and the
    RSA distributions per correlation (empty without ``rsa``)."""
    n = len(scores)
    scores = np.ascontiguousarray(scores, dtype=float)
    means = np.empty((n_bootstrap, scores.shape[1]))
    corr = {m: np.empty(n_bootstrap) for m in RESAMPLED_CORRELATIONS} if rsa is not None else {}
    for b, w in enumerate(resamples(n, n_bootstrap, seed)):
        w = w.astype(float)
        means[b] = (w @ scores) / n
        if rsa is not None:
            for m, v in rsa.after_triplet_resample(w).items():
                corr[m][b] = v
    return means, corr


def bootstrap_over_stimuli(scores: np.ndarray, triads: np.ndarray, rsa: RSAData | None,
                           n_stimuli: int, n_bootstrap: int,
                           seed: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Bootstrap over stimuli: (B, k) weighted means of the (n, k) per-triplet ``scores``
    (triplet weight: the product of its stimuli's multiplicities), and RSA per correlation
    over the observed pairs weighted by their number of copies."""
    scores = np.ascontiguousarray(scores, dtype=float)
    means = np.full((n_bootstrap, scores.shape[1]), np.nan)
    corr = {m: np.empty(n_bootstrap) for m in RESAMPLED_CORRELATIONS} if rsa is not None else {}
    first, second, third = (np.ascontiguousarray(triads[:, k]) for k in range(3))
    for b, m in enumerate(resamples(n_stimuli, n_bootstrap, seed)):
        tw = triplet_weights(m, first, second, third)
        total = tw.sum()
        if total > 0:
            means[b] = (tw @ scores) / total
        if rsa is not None:
            for name, v in rsa.after_stimulus_resample(m).items():
                corr[name][b] = v
    return means, corr


def permutation_nulls(statistics: Callable[[np.ndarray], np.ndarray], n_stimuli: int,
                      n_permutations: int, seed: int = 0) -> np.ndarray:
    """(n_permutations, k) null values of ``statistics(perm)``, which recomputes k scores
    with the model's stimulus ``x`` relabelled as ``perm[x]``."""
    return np.array([statistics(p) for p in permutations(n_stimuli, n_permutations, seed)])


def permutations(n_stimuli: int, n_permutations: int, seed: int = 0) -> np.ndarray:
    """(n_permutations, n_stimuli) int32: the permutation tests' relabellings,
    ``rng.permutation(n_stimuli)`` in turn from ``numpy.random.default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    out = np.empty((n_permutations, n_stimuli), dtype=np.int32)
    for k in range(n_permutations):
        out[k] = rng.permutation(n_stimuli)
    return out


def permutation_p_value(null: np.ndarray, observed: float) -> float:
    """One-sided p = (1 + #{null ≥ observed}) / (1 + n_permutations), never 0."""
    return float((1 + np.sum(null >= observed - 1e-12)) / (1 + len(null)))
