"""Human similarity and noise ceilings from anchor triplets ``(head, close, far)``.

**Human similarity (one definition).** An anchor triplet compares two pairs that share the
head: ``{head, close}`` won over ``{head, far}``; the pair ``{close, far}`` was not judged.
So ``S[x, y] = n({x, y} judged the closer pair) / n({x, y} compared as (head, comparison))``,
counting both roles (x as head and y as comparison, or the reverse); ``D = 1 − S``. A pair
that was never compared is unobserved (NaN) and masked out of every statistic. It is a
:class:`~bgs.human.similarity.HumanSimilarity`, so RSA applies to it unchanged (Spearman
between model dissimilarity and ``D`` over the observed pairs).

**Ceilings.** Two-way accuracy: leave-one-response-out majority agreement over repeats of the
same ``(head, {close, far})`` (each repeated answer predicted by the majority of the others;
a tie scores 1/2). With no repeats no ceiling can be estimated, and none is reported. RSA:
split-half reliability over participants (Spearman–Brown), which needs participant ids; the
ceiling for r is √ρ.
"""

from __future__ import annotations

import numpy as np

from bgs.data.anchor import AnchorTripletSet
from bgs.human.similarity import HumanSimilarity


def _keys(i: np.ndarray, j: np.ndarray, n: int) -> np.ndarray:
    lo, hi = np.minimum(i, j).astype(np.int64), np.maximum(i, j).astype(np.int64)
    return lo * n + hi


def anchor_similarity(triplets: AnchorTripletSet, weights: np.ndarray | None = None) -> HumanSimilarity:
    """Pair counts: ``chosen`` = times the pair was the closer one, ``cooccurrence`` = times it
    was compared (see the module docstring); symmetric, zero diagonal, no loop over rows."""
    n = triplets.n_stimuli
    h, c, f = triplets.head, triplets.close, triplets.far
    w = None if weights is None else np.asarray(weights, dtype=float)
    won = np.bincount(_keys(h, c, n), weights=w, minlength=n * n).reshape(n, n)
    lost = np.bincount(_keys(h, f, n), weights=w, minlength=n * n).reshape(n, n)
    chosen = won + won.T
    compared = won + lost
    return HumanSimilarity.from_matrices(triplets.stimulus_ids, chosen, compared + compared.T)


def repeat_agreement_ceiling(triplets: AnchorTripletSet) -> dict:
    """Leave-one-response-out majority agreement over repeated ``(head, {close, far})``."""
    n = np.int64(triplets.n_stimuli)
    h, c, f = (x.astype(np.int64) for x in (triplets.head, triplets.close, triplets.far))
    key = (h * n + np.minimum(c, f)) * n + np.maximum(c, f)
    first = c < f  # which of the two comparisons won, as a side of the unordered pair
    _, group, size = np.unique(key, return_inverse=True, return_counts=True)
    same = np.bincount(group * 2 + first, minlength=2 * len(size))
    agree = same[group * 2 + first] - 1  # the other responses that chose as this one did
    others = size[group] - 1
    rep = others > 0
    n_groups = int((size > 1).sum())
    if not rep.any():
        return {"value": None, "n_repeated_triads": 0, "n_responses": 0,
                "reason": "no (head, {close, far}) was answered more than once, so no "
                          "two-way accuracy ceiling can be estimated"}
    disagree = others[rep] - agree[rep]
    score = np.where(agree[rep] > disagree, 1.0, np.where(agree[rep] == disagree, 0.5, 0.0))
    return {"value": float(score.mean()), "n_repeated_triads": n_groups,
            "n_responses": int(rep.sum()),
            "method": "leave-one-response-out majority agreement over repeated (head, {close, far})"}


def anchor_split_half(triplets: AnchorTripletSet, n_splits: int = 100, seed: int = 0) -> dict:
    """Split-half reliability of ``D`` over participants, Spearman–Brown corrected."""
    from bgs.stats import correlate, spearman_brown

    p = np.unique(triplets.participant)
    if len(p) < 2:
        return {"spearman_brown": None,
                "reason": "the triplets carry no participant ids (or one participant), so no "
                          "split-half reliability and no RSA ceiling can be estimated"}
    rng = np.random.default_rng(seed)
    i, j = np.triu_indices(triplets.n_stimuli, k=1)
    values = []
    for _ in range(n_splits):
        half = np.isin(triplets.participant, rng.permutation(p)[: len(p) // 2])
        a = anchor_similarity(triplets.select(half)).similarity[i, j]
        b = anchor_similarity(triplets.select(~half)).similarity[i, j]
        both = ~np.isnan(a) & ~np.isnan(b)  # Spearman over the pairs seen in both halves
        values.append(correlate(a[both], b[both], "spearman") if both.sum() > 2 else np.nan)
    r = float(np.nanmean(values)) if values else float("nan")
    rho = float(spearman_brown(r)) if np.isfinite(r) and r > -1 else None
    return {"split_half_r": r, "spearman_brown": rho, "n_splits": n_splits,
            "method": "split-half over participants, Spearman, Spearman-Brown corrected"}
