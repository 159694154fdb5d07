"""Reliability of human similarity judgments: the noise ceilings model scores sit under.

* Split-half reliability (the RSA ceiling): participants are split at random into two
  halves, a similarity matrix is built from each, and the two are correlated over the pairs
  observed in both halves; the Spearman–Brown formula ``2r / (1 + r)`` corrects for each half
  holding half the data. Reported as the mean over splits, with a bootstrap confidence
  interval over stimuli.
* Odd-one-out ceiling from triads answered more than once (same three stimuli, any order):
  how well the majority of the *other* people's choices predicts each response.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bgs import kernels as kn
from bgs.data.triplets import TripletSet
from bgs.human.similarity import PairIndex, SortedTriplets
from bgs.stats import (
    count_ratio_ranks,
    multiplicities,
    pair_weights,
    pearson,
    percentile_ci,
    spearman_brown,
    weighted_pearson,
)


def _halves_counts(index: PairIndex, in_first_row: np.ndarray):
    """(chosen, cooccurrence) per pair of the two halves of the triplet rows."""
    c1, k1 = index.counts(in_first_row.astype(float))
    c_all, k_all = index.totals
    return (c1, k1), (c_all - c1, k_all - k1)


def _correlate_halves(first, second, weights: np.ndarray | None = None):
    """Spearman and Pearson r of the two halves' similarities over the pairs observed in
    both, each pair counted ``weights`` times (a stimulus resample); and the pair count."""
    (c1, k1), (c2, k2) = first, second
    both = (k1 > 0) & (k2 > 0)
    w = both.astype(float) if weights is None else np.where(both, weights, 0.0)
    n = int(both.sum())
    if w.sum() < 3:
        return float("nan"), float("nan"), n
    s1 = np.where(both, c1 / np.where(both, k1, 1), 0.0)
    s2 = np.where(both, c2 / np.where(both, k2, 1), 0.0)
    if weights is None:  # the point estimate: the plain correlations, bit for bit
        a, b = s1[both], s2[both]
        r1, r2 = count_ratio_ranks(c1[both], k1[both]), count_ratio_ranks(c2[both], k2[both])
        return pearson(r1.ranks(), r2.ranks()), pearson(a, b), n
    r1, r2 = count_ratio_ranks(c1, k1, both), count_ratio_ranks(c2, k2, both)
    return weighted_pearson(r1.ranks(w), r2.ranks(w), w), weighted_pearson(s1, s2, w), n


#: Above this many co-occurrences of one pair the (co-occurrence, chosen) table of the
#: compiled split-half and triplet-bootstrap kernels (its square) would be too large; the
#: numpy path runs instead.
TABLE_MAX_COOCCURRENCE = 2000


def table_fits(index: PairIndex) -> bool:
    """Whether the kernels' (co-occurrence, chosen) table fits: no pair co-occurs more than
    :data:`TABLE_MAX_COOCCURRENCE` times."""
    return index.max_cooccurrence <= TABLE_MAX_COOCCURRENCE


#: With ``compiled=None`` the kernel runs from this many observed pairs on; below, the numpy
#: path (a few ms a split there) keeps the point estimate bit for bit what it was.
KERNEL_MIN_PAIRS = 100_000


def _split_correlations(index: PairIndex, triplets: TripletSet, firsts: np.ndarray,
                        by_pair: SortedTriplets | None, compiled: bool | None = None):
    """(Spearman r, Pearson r, pairs observed in both) per split, the first half of split
    k being the participants where ``firsts[k]``."""
    if compiled is None:
        compiled = index.n_pairs >= KERNEL_MIN_PAIRS
    if compiled and table_fits(index) and len(firsts):
        top = index.max_cooccurrence
        by_pair = SortedTriplets(index, triplets) if by_pair is None else by_pair
        table, values = kn.ratio_table(top)
        r, n = kn.split_halves(firsts, by_pair.participant, by_pair.slots, by_pair.odd, by_pair.totals(),
                               table, top + 1, values, min(kn.n_threads(), len(firsts)))
        return r[:, 0], r[:, 1], n
    out = [_correlate_halves(*_halves_counts(index, first[triplets.participant])) for first in firsts]
    return tuple(np.array(v) for v in zip(*out)) if out else (np.empty(0),) * 3


@dataclass
class SplitHalf:
    """Split-half reliability of human similarity, raw and Spearman–Brown corrected."""

    spearman: np.ndarray  # raw r per split
    pearson: np.ndarray
    n_pairs: np.ndarray  # pairs observed in both halves, per split
    n_participants: int
    seed: int
    bootstrap_spearman_brown: dict = field(default_factory=dict)  # method -> bootstrap values
    ci_level: float = 0.95

    @property
    def spearman_brown(self) -> dict[str, float]:
        """Mean over splits of the corrected reliability, per correlation."""
        return {"spearman": float(np.nanmean(spearman_brown(self.spearman))),
                "pearson": float(np.nanmean(spearman_brown(self.pearson)))}

    def ci(self, method: str = "spearman") -> tuple[float, float] | None:
        values = self.bootstrap_spearman_brown.get(method)
        return None if values is None else percentile_ci(values, self.ci_level)

    def to_dict(self) -> dict:
        out = {"n_splits": int(len(self.spearman)), "n_participants": self.n_participants,
               "seed": self.seed, "mean_pairs_per_split": float(np.mean(self.n_pairs)),
               "definition": "random halves of participants; correlation of the halves' "
                             "similarities over pairs observed in both; Spearman-Brown "
                             "corrected 2r/(1+r); mean over splits"}
        for m in ("spearman", "pearson"):
            raw = getattr(self, m)
            out[m] = {"raw": float(np.nanmean(raw)), "spearman_brown": self.spearman_brown[m],
                      "ci": self.ci(m), "ci_level": self.ci_level,
                      "ci_method": "bootstrap over stimuli, a random split per resample" if self.ci(m) else None}
        return out


def _random_halves(rng: np.random.Generator, present: np.ndarray, n_total: int) -> np.ndarray:
    """Boolean over participant codes: True for a random half of the ``present`` codes."""
    perm = rng.permutation(present)
    first = np.zeros(n_total, dtype=bool)
    first[perm[: len(perm) // 2]] = True
    return first


def participant_halves(triplets: TripletSet, n_splits: int = 100, seed: int = 0) -> list[np.ndarray]:
    """The participant ids of the first half of each random split (the rest form the second).

    Split k takes the first ``floor(P/2)`` participants of the k-th permutation drawn by
    ``numpy.random.default_rng(seed)`` of the participants in order of first appearance.
    """
    rng = np.random.default_rng(seed)
    present = np.unique(triplets.participant)
    return [triplets.participant_ids[rng.permutation(present)[: len(present) // 2]]
            for _ in range(n_splits)]


def split_half_reliability(triplets: TripletSet, n_splits: int = 100, seed: int = 0,
                           n_bootstrap: int = 0, ci_level: float = 0.95,
                           index: PairIndex | None = None, by_pair: SortedTriplets | None = None,
                           compiled: bool | None = None) -> SplitHalf:
    """Split-half reliability over participants; bootstrap CI when ``n_bootstrap > 0``.

    The bootstrap resamples *stimuli* with replacement (pairs of a stimulus with its own copy
    are left out) and draws a fresh random split for every resample, so the interval covers
    both the choice of stimuli and the choice of split. Resampling participants instead would
    bias the reliability down: repeated copies of a participant add weight but no new pairs.
    A resample weights each observed pair by its number of copies (:func:`bgs.stats.pair_weights`).
    ``index``: the :class:`PairIndex` of ``triplets``, when already built (``by_pair``: its
    :class:`SortedTriplets`). ``compiled``: True runs the splits through the compiled kernel (equal to the
    numpy path to rounding), False: numpy, None: the kernel from :data:`KERNEL_MIN_PAIRS`
    observed pairs on.
    """
    n_p = len(triplets.participant_ids)
    present = np.unique(triplets.participant)
    if len(present) < 2:
        raise ValueError("split-half reliability needs at least two participants")
    index = PairIndex(triplets) if index is None else index
    code = {p: k for k, p in enumerate(triplets.participant_ids)}
    firsts = np.zeros((n_splits, n_p), dtype=bool)
    for k, half in enumerate(participant_halves(triplets, n_splits, seed)):
        firsts[k, [code[p] for p in half]] = True
    sp, pe, npairs = _split_correlations(index, triplets, firsts, by_pair, compiled)
    result = SplitHalf(np.array(sp), np.array(pe), np.array(npairs), len(present), seed,
                       ci_level=ci_level)
    if n_bootstrap > 0:
        rng = np.random.default_rng([seed, 1])
        boot_s, boot_p = [], []
        for _ in range(n_bootstrap):
            halves = _halves_counts(index, _random_halves(rng, present, n_p)[triplets.participant])
            w = pair_weights(multiplicities(rng, triplets.n_stimuli), index.i, index.j)
            r_s, r_p, _ = _correlate_halves(*halves, weights=w)
            boot_s.append(float(spearman_brown(r_s)))
            boot_p.append(float(spearman_brown(r_p)))
        result.bootstrap_spearman_brown = {"spearman": np.array(boot_s), "pearson": np.array(boot_p)}
    return result


# ---------------------------------------------------------------------- odd-one-out ceiling
OOO_CEILING_DEFINITION = (
    "over triads answered more than once: lower = leave-one-response-out, each response "
    "predicted by the majority choice of the other responses to the same triad; upper = the "
    "majority including the response itself; a tie between k choices counts 1/k when the "
    "response is among them (the expected score of a random tie-break)")


def triad_choice_counts(triplets: TripletSet, chunk: int = 4_000_000) -> tuple[np.ndarray, np.ndarray]:
    """Unique unordered triads (sorted stimulus indices, T×3, in the order of their keys
    :meth:`TripletSet.triad_keys`) and how often each of its three stimuli was chosen as
    odd (T×3), over the rows of ``triplets``.

    The keys and odd positions are made ``chunk`` rows at a time and the triads grouped by
    one stable sort of the keys, with no row-sized temporaries beyond it (a few bytes a
    row: 2 GB at 50 M triplets where ``np.unique`` and the int64 keys took 4)."""
    t = triplets.triads
    s = np.sort(t, axis=1)
    n = np.int64(triplets.n_stimuli)
    keys, pos = np.empty(len(t), np.int64), np.empty(len(t), np.int8)
    for start in range(0, len(t), chunk):
        rows = slice(start, start + chunk)
        sr = s[rows].astype(np.int64)
        keys[rows] = (sr[:, 0] * n + sr[:, 1]) * n + sr[:, 2]
        odd = np.take_along_axis(t[rows], triplets.odd[rows, None].astype(np.intp), axis=1)
        pos[rows] = np.argmax(s[rows] == odd, axis=1)
    order = np.argsort(keys, kind="stable")  # stable: the first row of a triad comes first
    keys = keys[order]
    new = np.ones(len(keys), bool)
    np.not_equal(keys[1:], keys[:-1], out=new[1:])
    del keys
    small = np.int32 if len(t) < 2**31 else np.int64
    first = order[new].astype(small)
    pos = pos[order]
    del order
    group = np.cumsum(new, dtype=small) - 1
    counts = np.zeros((len(first), 3), small)
    for k in range(3):
        counts[:, k] = np.bincount(group[pos == k], minlength=len(first))
    return s[first], counts


def _majority_scores(counts: np.ndarray, leave_one_out: bool) -> np.ndarray:
    """Per triad, the summed score of its responses against the majority rule (T,)."""
    total = np.zeros(len(counts))
    for p in range(3):
        ref = counts.copy()
        if leave_one_out:
            ref[:, p] -= 1
        top = ref.max(axis=1)
        is_mode = ref == top[:, None]
        score = is_mode[:, p] / is_mode.sum(axis=1)
        total += np.where(counts[:, p] > 0, counts[:, p] * score, 0.0)
    return total


@dataclass
class OOOCeiling:
    """Odd-one-out noise ceiling (3-way accuracy) from repeated triads, as lower/upper bounds."""

    lower: float
    upper: float
    n_triads: int
    n_repeated_triads: int
    n_responses: int  # responses to repeated triads
    lower_ci: tuple[float, float] | None = None
    upper_ci: tuple[float, float] | None = None
    ci_level: float = 0.95
    definition: str = OOO_CEILING_DEFINITION

    def to_dict(self) -> dict:
        return {"lower": self.lower, "upper": self.upper, "lower_ci": self.lower_ci,
                "upper_ci": self.upper_ci, "ci_level": self.ci_level,
                "ci_method": "bootstrap over repeated triads" if self.lower_ci else None,
                "n_triads": self.n_triads, "n_repeated_triads": self.n_repeated_triads,
                "n_responses": self.n_responses, "chance": 1 / 3, "definition": self.definition}


def ooo_ceiling(triplets: TripletSet, n_bootstrap: int = 1000, seed: int = 0,
                ci_level: float = 0.95, choice_counts: tuple | None = None) -> OOOCeiling:
    """Lower and upper bound of the 3-way odd-one-out accuracy any model could reach.
    ``choice_counts``: :func:`triad_choice_counts` of ``triplets``, when already computed."""
    _, counts = triad_choice_counts(triplets) if choice_counts is None else choice_counts
    n_resp = counts.sum(axis=1)
    rep = n_resp > 1
    counts, n_resp = counts[rep], n_resp[rep]
    lo_num = _majority_scores(counts, leave_one_out=True)
    up_num = _majority_scores(counts, leave_one_out=False)
    total = n_resp.sum()
    nan = float("nan")
    result = OOOCeiling(lower=float(lo_num.sum() / total) if total else nan,
                        upper=float(up_num.sum() / total) if total else nan,
                        n_triads=int(len(rep)), n_repeated_triads=int(rep.sum()),
                        n_responses=int(total), ci_level=ci_level)
    if n_bootstrap > 0 and rep.sum() > 1:
        rng = np.random.default_rng(seed)
        lows, ups = [], []
        t = len(counts)
        for start in range(0, n_bootstrap, 100):  # chunks bound the memory of the draws
            idx = rng.integers(0, t, size=(min(100, n_bootstrap - start), t))
            den = n_resp[idx].sum(axis=1)
            lows.append(lo_num[idx].sum(axis=1) / den)
            ups.append(up_num[idx].sum(axis=1) / den)
        lows, ups = np.concatenate(lows), np.concatenate(ups)
        result.lower_ci = percentile_ci(lows, ci_level)
        result.upper_ci = percentile_ci(ups, ci_level)
    return result
