"""The statistics every part of bgs uses, each defined once.

* correlations: Pearson, Spearman (Pearson of average ranks), Kendall tau-a, by name;
* their frequency-weighted forms, equal to the plain ones on data where element k is
  repeated ``w[k]`` times. Bootstraps use them: a resample re-weights a fixed vector of
  pairs instead of materialising the copies, and ranks come from a precomputed grouping
  of equal values (:class:`RankIndex`), or, against one fixed vector sorted once, from a
  cumulative sum (:class:`WeightedCorrelations`), so a resample costs O(pairs), not a sort;
* percentile confidence intervals and the Spearman–Brown correction;
* the bootstrap draws (stimulus and triplet multiplicities), so that every statistic
  resampled with the same seed sees the same draws.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
from scipy.stats import kendalltau, rankdata

from bgs.errors import ConfigError

CORRELATIONS = ("spearman", "pearson", "kendall_tau_a")


# ---------------------------------------------------------------------- correlations
def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson r; NaN when either vector has zero variance.

    Zero variance means all elements equal, tested exactly: centring equal values can
    leave rounding residue (three copies of 1/3 do), whose tiny "variance" would give an
    arbitrary r where the correlation is undefined."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if _constant(x) or _constant(y):
        return float("nan")
    x = x - x.mean()
    y = y - y.mean()
    denom = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / denom) if denom > 0 else float("nan")


def _constant(v: np.ndarray) -> bool:
    """All elements equal (or none): a variance of exactly zero, free of rounding."""
    return len(v) == 0 or bool((v == v[0]).all())


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rho: Pearson r of the average ranks (ties share their mean rank)."""
    return pearson(rankdata(x), rankdata(y))


def kendall_tau_a(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-a: (concordant − discordant) / (n(n−1)/2), ties counted as neither.

    Unlike tau-b it does not forgive ties, so a model predicting many tied dissimilarities
    (e.g. a categorical model) is not rewarded for them (Nili et al. 2014). Computed in
    O(n log n) from scipy's tau-b and the tie counts.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    n = len(x)
    n0 = n * (n - 1) / 2
    if n < 2:
        return float("nan")

    def tied_pairs(v):
        _, counts = np.unique(v, return_counts=True)
        return float((counts * (counts - 1) / 2).sum())

    n1, n2 = tied_pairs(x), tied_pairs(y)
    if n1 == n0 or n2 == n0:
        return 0.0
    tau_b = kendalltau(x, y, variant="b").statistic
    return float(tau_b * np.sqrt((n0 - n1) * (n0 - n2)) / n0)


def correlate(x: np.ndarray, y: np.ndarray, method: str = "spearman") -> float:
    """Correlation of two vectors by name: spearman, pearson or kendall_tau_a."""
    if method == "spearman":
        return spearman(x, y)
    if method == "pearson":
        return pearson(x, y)
    if method == "kendall_tau_a":
        return kendall_tau_a(x, y)
    raise ConfigError(f"unknown correlation {method!r}; choose one of {', '.join(CORRELATIONS)}")


def weighted_pearson(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    """Pearson r with frequency weights ``w`` (≥ 0); NaN when a weighted variance is 0
    (all weighted elements equal, tested exactly as in :func:`pearson`)."""
    total = w.sum()
    if total <= 0:
        return float("nan")
    mx, my = weighted_sum(w, x) / total, weighted_sum(w, y) / total
    xc, yc = x - mx, y - my
    wx = w * xc
    vx, vy = weighted_sum(wx, xc), weighted_sum(w * yc, yc)
    if _rounding_only(vx, mx, total, x, w) or _rounding_only(vy, my, total, y, w):
        return float("nan")
    return float(weighted_sum(wx, yc) / np.sqrt(vx * vy))


def _rounding_only(var: float, mean: float, total: float, v: np.ndarray, w: np.ndarray) -> bool:
    """Whether a weighted sum of squares ``var`` is zero or centring residue of equal values.

    The exact test (and its copy of the weighted elements) runs only when ``var`` is
    within rounding of zero, so a bootstrap's resamples do not pay for it."""
    if var <= 0:
        return True
    return var <= 1e-16 * total * mean * mean and _constant(v[w > 0])


def weighted_sum(w: np.ndarray, x: np.ndarray) -> float:
    """``Σ w·x`` of two vectors, by numpy's pairwise sum: steadier than a BLAS dot when the
    cores are shared, and as exact."""
    return float(np.multiply(w, x).sum())


class RankIndex:
    """Equal values of a fixed vector grouped once, for weighted average ranks in O(n).

    ``ranks(w)`` is what ``rankdata`` gives on the data with element k repeated ``w[k]``
    times (each copy of k gets the same average rank); with ``w`` all ones it is
    ``rankdata(values)``. Elements of weight 0 get a rank too, which weighted sums ignore.
    """

    def __init__(self, values: np.ndarray | None = None, *, groups: np.ndarray | None = None,
                 n_groups: int | None = None):
        if groups is None:
            _, groups = np.unique(np.asarray(values), return_inverse=True)
            n_groups = int(groups.max()) + 1 if len(groups) else 0
        self.groups = groups.ravel()
        self.n_groups = int(n_groups)

    def ranks(self, weights: np.ndarray | None = None) -> np.ndarray:
        size = np.bincount(self.groups, weights=weights, minlength=self.n_groups)
        before = np.cumsum(size) - size
        return (before + (size + 1) / 2)[self.groups]


def ratio_groups(chosen: np.ndarray, cooccur: np.ndarray, complement: bool = False,
                 integral: bool | None = None, order: np.ndarray | None = None,
                 chunk: int = 4_000_000) -> tuple[np.ndarray, np.ndarray]:
    """(group of each element, ascending distinct values) of ``chosen / cooccur`` (``1 −``
    that when ``complement``), without sorting the elements when the counts are small
    integers: a ratio of two small counts takes few distinct values, grouped through a
    table over (chosen, cooccur). ``integral``: whether the counts are known to be whole
    numbers (checked when None). ``order``: the elements taken in that order (as of
    ``chosen[order]``, without the copies). The table path works ``chunk`` elements at a
    time and gives int32 groups: no element-sized int64 temporaries."""
    c, k = chosen, cooccur
    if not _small_counts(c, k, integral):
        if order is not None:
            c, k = c[order], k[order]
        values, groups = np.unique(1 - c / k if complement else c / k, return_inverse=True)
        return groups.ravel(), values
    top = int(k.max()) + 1 if len(k) else 1
    n = len(k) if order is None else len(order)
    chunks = [slice(start, start + chunk) for start in range(0, n, chunk)]

    def cells(rows):  # the (cooccur, chosen) table cell of the elements ``rows``
        at = rows if order is None else order[rows]
        return k[at].astype(np.int64) * top + c[at].astype(np.int64)

    seen = np.zeros(top * top, bool)
    for rows in chunks:
        seen[cells(rows)] = True
    present = np.flatnonzero(seen)
    ratio = (present % top) / (present // top)
    values, value_group = np.unique(1 - ratio if complement else ratio, return_inverse=True)
    lookup = np.zeros(top * top, dtype=np.int32)
    lookup[present] = value_group.ravel()
    groups = np.empty(n, np.int32)
    for rows in chunks:
        groups[rows] = lookup[cells(rows)]
    return groups, values


def _small_counts(c: np.ndarray, k: np.ndarray, integral: bool | None) -> bool:
    """Whether ``c / k`` can be grouped through a (cooccur, chosen) table: whole counts
    (``integral``, checked when None) whose table has at most 4 M cells."""
    top = int(k.max()) + 1 if len(k) else 1
    if top * top > 4_000_000:
        return False
    if integral is None:
        integral = all(np.issubdtype(v.dtype, np.integer) or np.array_equal(v, np.floor(v)) for v in (k, c))
    return bool(integral)


def count_ratio_ranks(chosen: np.ndarray, cooccur: np.ndarray, keep: np.ndarray | None = None,
                      complement: bool = False) -> RankIndex:
    """:class:`RankIndex` of ``chosen / cooccur`` (``1 −`` that when ``complement``) over the
    elements in ``keep``, grouped by :func:`ratio_groups` (no sort per resample).
    Elements outside ``keep`` fall in a group of their own at the end."""
    c, k = (chosen, cooccur) if keep is None else (chosen[keep], cooccur[keep])
    groups, values = ratio_groups(c, k, complement)
    if keep is None:
        return RankIndex(groups=groups, n_groups=len(values))
    full = np.full(len(keep), len(values), dtype=np.int64)
    full[keep] = groups
    return RankIndex(groups=full, n_groups=len(values) + 1)


def weighted_spearman(x: RankIndex, y: RankIndex, w: np.ndarray) -> float:
    """Spearman rho with frequency weights ``w``: weighted Pearson of weighted ranks."""
    return weighted_pearson(x.ranks(w), y.ranks(w), w)


class WeightedCorrelations:
    """Frequency-weighted Spearman and Pearson r of one fixed vector ``x`` against vectors
    ``y`` of few distinct values (human dissimilarities: ratios of small counts), many
    times over, as a bootstrap needs them.

    ``x`` is sorted once, so its weighted average ranks are a cumulative sum in that order
    (a sum per run of ties where ``x`` has ties). ``y`` comes as the group of equal values
    of each element (in ``x``-sorted order, see :attr:`order`) with the ascending group
    values, so every ``y``-side sum is over the groups. Equal to :func:`weighted_spearman`
    and :func:`weighted_pearson` up to the rounding of the sums; each call is a few passes
    over the elements, with no sort and no scatter into ``x``'s groups.
    """

    def __init__(self, x: np.ndarray, overwrite: bool = False):
        """``overwrite``: sort ``x`` (float64) in place and keep it, rather than a sorted
        copy (the caller no longer reads it in its own order)."""
        x = np.asarray(x, dtype=float)
        order = np.argsort(x, kind="stable")
        self.order = order.astype(np.int32) if len(order) < 2**31 else order  # 4 bytes a pair
        del order
        if overwrite:
            x.sort(kind="stable")  # the same sequence as x[order]: both keep equal values in place
            xs = x
        else:
            xs = x[self.order]
        self.x = xs
        self.ties = bool(np.any(xs[1:] == xs[:-1]))  # NaN != NaN: each NaN a run of its own

    # the runs of ties, built only for the numpy path and only where there are any (two
    # pair-sized int64 arrays: 1.7 GB at 106 M pairs; the kernels find the runs in x)
    @cached_property
    def starts(self) -> np.ndarray | None:
        return np.concatenate([[0], np.flatnonzero(self.x[1:] != self.x[:-1]) + 1]) if self.ties else None

    @cached_property
    def lengths(self) -> np.ndarray | None:
        return np.diff(np.append(self.starts, len(self.x))) if self.ties else None

    def _ranks(self, w: np.ndarray) -> np.ndarray:
        """Weighted average ranks of the sorted ``x`` (element k repeated ``w[k]`` times)."""
        if not self.ties:
            return np.cumsum(w) - 0.5 * w + 0.5
        size = np.add.reduceat(w, self.starts)
        return np.repeat(np.cumsum(size) - 0.5 * size + 0.5, self.lengths)

    def __call__(self, w: np.ndarray, y_groups: np.ndarray, y_values: np.ndarray) -> dict[str, float]:
        """{"spearman", "pearson"} under weights ``w`` (x-sorted order) of ``x`` against the
        y given by ``y_groups`` (x-sorted order) and ``y_values`` (ascending); NaN when
        fewer than three copies carry weight or a weighted variance is 0."""
        total = float(w.sum())
        if total <= 2:
            return {"spearman": float("nan"), "pearson": float("nan")}
        g = len(y_values)
        size = np.bincount(y_groups, weights=w, minlength=g)
        mid = (total + 1) / 2  # the weighted mean rank, on both sides
        y_ranks = np.cumsum(size) - 0.5 * size + 0.5 - mid
        rx = self._ranks(w) - mid
        wr = w * rx
        spearman = _ratio_of(y_ranks @ np.bincount(y_groups, weights=wr, minlength=g),
                             float(wr @ rx), float(size @ (y_ranks * y_ranks)))
        y = y_values - (size @ y_values) / total
        x = self.x - float(w @ self.x) / total  # centred by the weighted mean: nothing cancels
        wx = w * x
        pearson = _ratio_of(y @ np.bincount(y_groups, weights=wx, minlength=g), float(wx @ x),
                            float(size @ (y * y)))
        # a side with one weighted value has variance 0, though its centred values may be a
        # rounding error away from 0 (x is sorted, so its first and last weighted values tell)
        carried = np.flatnonzero(w)
        if np.count_nonzero(size) < 2 or self.x[carried[0]] == self.x[carried[-1]]:
            pearson = float("nan")
        return {"spearman": spearman, "pearson": pearson}


def _ratio_of(cov: float, var_x: float, var_y: float) -> float:
    denom = np.sqrt(var_x * var_y) if var_x > 0 and var_y > 0 else 0.0
    return float(cov / denom) if denom > 0 else float("nan")


# ---------------------------------------------------------------------- intervals
def percentile_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float] | None:
    """Percentile interval of a bootstrap distribution (NaNs dropped); None when empty."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return None
    alpha = (1 - level) / 2
    lo, hi = np.quantile(values, [alpha, 1 - alpha])
    return float(lo), float(hi)


def spearman_brown(r):
    """Reliability of the full data from the correlation ``r`` between two halves; NaN at
    ``r = −1``, where the formula has no value (the halves' noise cancels nothing)."""
    r = np.asarray(r, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(r == -1.0, np.nan, 2.0 * r / (1.0 + r))


# ---------------------------------------------------------------------- bootstrap draws
def multiplicities(rng: np.random.Generator, n: int) -> np.ndarray:
    """How often each of ``n`` items is drawn in one bootstrap resample (n draws with
    replacement, ``rng.integers(0, n, size=n)``): the one bootstrap draw of bgs, over
    stimuli or over triplets."""
    return np.bincount(rng.integers(0, n, size=n), minlength=n)


def pair_weights(m: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Weight of pair (i, j), i ≠ j, in a stimulus resample with multiplicities ``m``: the
    number of copies of the pair, ``m[i]·m[j]`` (a pair of a stimulus with its own copy is
    left out)."""
    return m[i].astype(float) * m[j]
