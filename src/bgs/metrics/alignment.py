"""Alignment of a model's similarity with human odd-one-out judgments.

One documented function per score, dispatched by name through :data:`SCORES`:

* ``ooo_accuracy`` — 3-way odd-one-out accuracy (the default; chance 1/3): the model's odd
  one out is the stimulus outside its most similar pair.
* ``two_way_accuracy`` — the paper's *anchor 2AFC* variant (chance 1/2): with the chosen
  pair (x, y) and odd z, anchor x is correct when s(x, y) > s(x, z); reported per anchor and
  averaged over both. Never to be presented as "odd-one-out accuracy" unqualified.
* ``rsa`` — rank (Spearman, default), Pearson or Kendall tau-a correlation between model
  dissimilarity and human dissimilarity over the *observed* pairs only.

``similarity`` arguments are N×N model similarities indexed like ``triplets.stimulus_ids``.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import kendalltau, rankdata

from bgs.data.triplets import TripletSet
from bgs.errors import ConfigError
from bgs.human.similarity import HumanSimilarity

TIE_POLICIES = ("fractional", "wrong")
RSA_METHODS = ("spearman", "pearson", "kendall_tau_a")


def pair_similarities(similarity: np.ndarray, triads: np.ndarray) -> np.ndarray:
    """(n, 3): column k is the model similarity of the pair left when position k is odd."""
    a, b, c = triads[:, 0], triads[:, 1], triads[:, 2]
    return np.stack([similarity[b, c], similarity[a, c], similarity[a, b]], axis=1)


def ooo_scores(similarity: np.ndarray, triplets: TripletSet, ties: str = "fractional") -> np.ndarray:
    """Per-triplet 3-way score in [0, 1]: does the model's odd one out match the human's?

    Ties (several pairs equally most similar): ``fractional`` scores 1/k when the human's
    pair is among the k tied pairs (the expected score of a random tie-break); ``wrong``
    scores 0 for any tie.
    """
    if ties not in TIE_POLICIES:
        raise ConfigError(f"unknown tie policy {ties!r}; choose one of {', '.join(TIE_POLICIES)}")
    ps = pair_similarities(similarity, triplets.triads)
    is_max = ps == ps.max(axis=1, keepdims=True)
    hit = is_max[np.arange(len(ps)), triplets.odd]
    k = is_max.sum(axis=1)
    return hit / k if ties == "fractional" else (hit & (k == 1)).astype(float)


def ooo_accuracy(similarity: np.ndarray, triplets: TripletSet, ties: str = "fractional") -> float:
    """3-way odd-one-out accuracy (chance 1/3); see :func:`ooo_scores` for ties."""
    return float(ooo_scores(similarity, triplets, ties).mean())


def two_way_scores(similarity: np.ndarray, triplets: TripletSet) -> np.ndarray:
    """(n, 2) anchor 2AFC scores: column 0 anchors on the first stimulus of the chosen pair
    (in presentation order), column 1 on the second. A tie scores 1/2."""
    pair = triplets.pair
    x, y, z = pair[:, 0], pair[:, 1], triplets.odd_index
    s_xy = similarity[x, y]
    first = np.sign(s_xy - similarity[x, z])
    second = np.sign(similarity[y, x] - similarity[y, z])
    return (np.stack([first, second], axis=1) + 1) / 2


def two_way_accuracy(similarity: np.ndarray, triplets: TripletSet) -> dict[str, float]:
    """Anchor 2AFC accuracy (chance 1/2): symmetric (mean of both anchors) and per anchor."""
    s = two_way_scores(similarity, triplets)
    return {"symmetric": float(s.mean()), "anchor_first": float(s[:, 0].mean()),
            "anchor_second": float(s[:, 1].mean())}


# ---------------------------------------------------------------------- RSA
def observed_pairs(human: HumanSimilarity) -> tuple[np.ndarray, np.ndarray]:
    """Index arrays (i, j), i < j, of the pairs humans saw together at least once."""
    i, j = np.triu_indices(human.n_stimuli, k=1)
    keep = human.cooccurrence[i, j] > 0
    return i[keep], j[keep]


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    x = x - x.mean()
    y = y - y.mean()
    denom = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / denom) if denom > 0 else float("nan")


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
        return _pearson(rankdata(x), rankdata(y))
    if method == "pearson":
        return _pearson(np.asarray(x, float), np.asarray(y, float))
    if method == "kendall_tau_a":
        return kendall_tau_a(x, y)
    raise ConfigError(f"unknown RSA method {method!r}; choose one of {', '.join(RSA_METHODS)}")


def rsa(model_dissimilarity: np.ndarray, human: HumanSimilarity, method: str = "spearman") -> float:
    """Correlation between model and human dissimilarity over the observed pairs only.

    Spearman ranks with average ties; Pearson is linear; Kendall tau-a penalises ties.
    """
    i, j = observed_pairs(human)
    return correlate(model_dissimilarity[i, j], human.dissimilarity[i, j], method)


def explained_variance(r: float) -> float:
    """Squared correlation; always report which correlation it squares."""
    return float(r) ** 2


SCORES = {
    "ooo_accuracy": ooo_accuracy,
    "two_way_accuracy": two_way_accuracy,
    "rsa": rsa,
}


def score(name: str, *args, **kwargs):
    """Dispatch a score by name (see :data:`SCORES`)."""
    try:
        fn = SCORES[name]
    except KeyError:
        raise ConfigError(f"unknown score {name!r}; choose one of {', '.join(SCORES)}") from None
    return fn(*args, **kwargs)
