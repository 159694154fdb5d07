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
from scipy.stats import rankdata

from bgs.data.triplets import TripletSet
from bgs.human.similarity import human_similarity


def spearman_brown(r):
    """Reliability of the full data from the correlation ``r`` between two halves."""
    r = np.asarray(r, dtype=float)
    return 2.0 * r / (1.0 + r)


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    x = x - x.mean()
    y = y - y.mean()
    denom = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / denom) if denom > 0 else float("nan")


def _half_similarities(triplets: TripletSet, in_first: np.ndarray):
    """Similarity matrices of the two participant halves (NaN where a half has no data)."""
    rows_first = in_first[triplets.participant]
    h1 = human_similarity(triplets.select(rows_first))
    h2 = human_similarity(triplets.select(~rows_first))
    return h1.similarity, h2.similarity


def _correlate_halves(s1: np.ndarray, s2: np.ndarray, i: np.ndarray, j: np.ndarray):
    """Spearman and Pearson r of two similarity matrices over pairs (i, j) observed in both."""
    a, b = s1[i, j], s2[i, j]
    both = ~np.isnan(a) & ~np.isnan(b)
    a, b = a[both], b[both]
    if len(a) < 3:
        return float("nan"), float("nan"), int(len(a))
    return _pearson(rankdata(a), rankdata(b)), _pearson(a, b), int(len(a))


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
        if values is None or len(values) == 0:
            return None
        alpha = (1 - self.ci_level) / 2
        lo, hi = np.nanquantile(values, [alpha, 1 - alpha])
        return float(lo), float(hi)

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
                           n_bootstrap: int = 0, ci_level: float = 0.95) -> SplitHalf:
    """Split-half reliability over participants; bootstrap CI when ``n_bootstrap > 0``.

    The bootstrap resamples *stimuli* with replacement (pairs of a stimulus with its own copy
    are left out) and draws a fresh random split for every resample, so the interval covers
    both the choice of stimuli and the choice of split. Resampling participants instead would
    bias the reliability down: repeated copies of a participant add weight but no new pairs.
    """
    n_p = len(triplets.participant_ids)
    present = np.unique(triplets.participant)
    if len(present) < 2:
        raise ValueError("split-half reliability needs at least two participants")
    iu, ju = np.triu_indices(triplets.n_stimuli, k=1)
    code = {p: k for k, p in enumerate(triplets.participant_ids)}
    sp, pe, npairs = [], [], []
    for half in participant_halves(triplets, n_splits, seed):
        first = np.zeros(n_p, dtype=bool)
        first[[code[p] for p in half]] = True
        s1, s2 = _half_similarities(triplets, first)
        r_s, r_p, k = _correlate_halves(s1, s2, iu, ju)
        sp.append(r_s)
        pe.append(r_p)
        npairs.append(k)
    result = SplitHalf(np.array(sp), np.array(pe), np.array(npairs), len(present), seed,
                       ci_level=ci_level)
    if n_bootstrap > 0:
        rng = np.random.default_rng([seed, 1])
        boot_s, boot_p = [], []
        n = triplets.n_stimuli
        for _ in range(n_bootstrap):
            s1, s2 = _half_similarities(triplets, _random_halves(rng, present, n_p))
            draw = rng.integers(0, n, size=n)
            i, j = draw[iu], draw[ju]
            distinct = i != j
            r_s, r_p, _ = _correlate_halves(s1, s2, i[distinct], j[distinct])
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


def triad_choice_counts(triplets: TripletSet) -> tuple[np.ndarray, np.ndarray]:
    """Unique unordered triads (sorted stimulus indices, T×3) and how often each of its
    three stimuli was chosen as odd (T×3), over the rows of ``triplets``."""
    s = np.sort(triplets.triads.astype(np.int64), axis=1)
    n = np.int64(max(triplets.n_stimuli, 1))
    keys = (s[:, 0] * n + s[:, 1]) * n + s[:, 2]
    uniq, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    pos = np.argmax(s == triplets.odd_index[:, None], axis=1)
    counts = np.bincount(inverse * 3 + pos, minlength=3 * len(uniq)).reshape(len(uniq), 3)
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
                ci_level: float = 0.95) -> OOOCeiling:
    """Lower and upper bound of the 3-way odd-one-out accuracy any model could reach."""
    _, counts = triad_choice_counts(triplets)
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
        alpha = (1 - ci_level) / 2
        lows, ups = [], []
        t = len(counts)
        for start in range(0, n_bootstrap, 100):  # chunks bound the memory of the draws
            idx = rng.integers(0, t, size=(min(100, n_bootstrap - start), t))
            den = n_resp[idx].sum(axis=1)
            lows.append(lo_num[idx].sum(axis=1) / den)
            ups.append(up_num[idx].sum(axis=1) / den)
        lows, ups = np.concatenate(lows), np.concatenate(ups)
        result.lower_ci = tuple(float(v) for v in np.quantile(lows, [alpha, 1 - alpha]))
        result.upper_ci = tuple(float(v) for v in np.quantile(ups, [alpha, 1 - alpha]))
    return result
