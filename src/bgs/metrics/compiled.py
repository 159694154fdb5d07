"""The resampling of one evaluation through the compiled kernels (:mod:`bgs.kernels`).

Each function returns what its numpy reference returns (:func:`~bgs.metrics.resampling.bootstrap_over_triplets`,
:func:`~bgs.metrics.resampling.bootstrap_over_stimuli`, :meth:`PermutedScores.__call__`
over :func:`~bgs.metrics.resampling.permutation_nulls`' permutations) from the same
definitions. The draws are the reference's (numpy's, same seeds) for the stimulus bootstrap
and the permutations; the triplet bootstrap draws its multiplicities inside the kernel
(:func:`~bgs.kernels.triplet_multiplicities`, same seed, other draws).

The per-triplet scores enter as *codes*: a mean score has few distinct per-triplet values
(the 3-way score is 0, 1/3, 1/2 or 1, the 2AFC mean 0, 1/4, …, 1), so a resample's mean is
the count of drawn copies per distinct row of scores times its values: integer sums, one
byte per triplet.
"""

from __future__ import annotations

import numpy as np

from bgs import kernels as kn
from bgs.human.similarity import SortedTriplets
from bgs.metrics.resampling import RSAData, resamples


def score_codes(scores, chunk: int = 4_000_000) -> tuple[np.ndarray, np.ndarray]:
    """(code of each row of the scores: uint8 where it fits; (codes, k) the distinct rows).
    ``scores``: an (n, k) array or k columns of length n. Coded ``chunk`` rows at a time
    (distinct values, then their positions), so nothing row-sized but the codes is made."""
    cols = [scores[:, k] for k in range(scores.shape[1])] if isinstance(scores, np.ndarray) else list(scores)
    n = len(cols[0])
    chunks = [slice(start, start + chunk) for start in range(0, n, chunk)] or [slice(0, 0)]
    values = [np.unique(np.concatenate([np.unique(c[rows]) for rows in chunks])) for c in cols]

    def combined(rows):  # the row's code over all columns, its values' positions in mixed radix
        code = np.zeros(len(cols[0][rows]), np.int64)
        for v, c in zip(values, cols):
            code = code * len(v) + np.searchsorted(v, c[rows])
        return code

    present = np.unique(np.concatenate([np.unique(combined(rows)) for rows in chunks]))
    code = np.empty(n, np.uint8 if len(present) <= 256 else np.int32)
    for rows in chunks:
        code[rows] = np.searchsorted(present, combined(rows))
    table = np.empty((len(present), len(cols)))
    rest = present.copy()
    for k in reversed(range(len(cols))):
        table[:, k] = values[k][rest % len(values[k])]
        rest //= len(values[k])
    return code, table


def point_correlations(rsa: RSAData) -> dict[str, float]:
    """Spearman, Pearson and Kendall tau-a of the model dissimilarity against the human one
    over the observed pairs, every pair once, from what the resampling holds (the model
    side sorted, the human side as groups of equal values): the definitions of
    :func:`bgs.stats.correlate` with no pair-sized temporaries (no rank vectors, no
    copies for scipy). Equal to it up to the rounding of the sums; NaN where ``x`` has a
    NaN, as there."""
    x, groups, values = rsa.correlations.x, rsa.human_groups, rsa.human_values
    if len(x) and np.isnan(x[-1]):  # NaN sorts last
        return {m: float("nan") for m in ("spearman", "pearson", "kendall_tau_a")}
    spearman, pearson = kn.point_correlations(rsa.index.n_stimuli, rsa.i, rsa.j, x, groups, values)
    return {"spearman": float(spearman), "pearson": float(pearson),
            "kendall_tau_a": float(kn.kendall_tau_a_sorted(x, groups, len(values)))}


def _corr(corr: np.ndarray, with_rsa: bool) -> dict[str, np.ndarray]:
    return {"spearman": corr[:, 0], "pearson": corr[:, 1]} if with_rsa else {}


def bootstrap_over_triplets(codes: np.ndarray, values: np.ndarray, by_pair: SortedTriplets,
                            rsa: RSAData | None, n_bootstrap: int, seed: int = 0,
                            packed: bool = True) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(B, k) means of the scores given by ``codes`` (in ``by_pair`` order) and ``values``,
    and the RSA distributions, per triplet resample. ``packed``: the pair counts in one
    int32 a pair (16 bits each); if a resample's counts overflow them, the whole bootstrap
    runs again with two int32 columns (the same draws, so the same result)."""
    n = len(by_pair.odd)
    order = rsa.correlations.order if rsa is not None else np.empty(0, np.int64)
    x = rsa.correlations.x if rsa is not None else np.empty(0)
    n_pairs = by_pair.n_pairs if rsa is not None else 0
    cc, corr, overflow = kn.triplet_bootstrap(seed, n_bootstrap, by_pair.slots, by_pair.odd, codes, len(values),
                                              n_pairs, order, x, min(kn.n_threads(), max(1, n_bootstrap)),
                                              packed)
    if overflow.any():
        return bootstrap_over_triplets(codes, values, by_pair, rsa, n_bootstrap, seed, packed=False)
    return (cc @ values) / n, _corr(corr, rsa is not None)


def bootstrap_over_stimuli(codes: np.ndarray, values: np.ndarray, triads: np.ndarray,
                           rsa: RSAData | None, n_stimuli: int, n_bootstrap: int,
                           seed: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(B, k) weighted means and RSA per stimulus resample, with the reference's draws
    (``codes`` in the order of ``triads``)."""
    mult = np.array(list(resamples(n_stimuli, n_bootstrap, seed)), dtype=np.int32).reshape(n_bootstrap, n_stimuli)
    index_type = np.uint16 if n_stimuli <= 2**16 else np.int32  # the passes stream these
    a, b, c = (triads[:, k].astype(index_type) for k in range(3))
    if rsa is not None:
        pi, pj, x = rsa.i.astype(index_type, copy=False), rsa.j.astype(index_type, copy=False), rsa.correlations.x
        groups, hv = rsa.human_groups, rsa.human_values
    else:
        pi = pj = np.empty(0, index_type)
        x, groups, hv = np.empty(0), np.empty(0, np.int64), np.empty(0)
    cc, corr = kn.stimulus_bootstrap(mult, a, b, c, codes, len(values), pi, pj, x, groups, hv,
                                     min(kn.n_threads(), max(1, n_bootstrap)))
    totals = cc.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(totals[:, None] > 0, (cc @ values) / totals[:, None], np.nan)
    return means, _corr(corr, rsa is not None)
