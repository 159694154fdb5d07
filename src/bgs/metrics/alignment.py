"""Alignment of a model's similarity with human odd-one-out judgments.

* ``ooo_scores`` / ``ooo_accuracy`` — 3-way odd-one-out accuracy (the default; chance 1/3):
  the model's odd one out is the stimulus outside its most similar pair.
* ``two_way_scores`` — the paper's *anchor 2AFC* variant (chance 1/2): with the chosen pair
  (x, y) and odd z, anchor x is correct when s(x, y) > s(x, z); reported per anchor and
  averaged over both. Never to be presented as "odd-one-out accuracy" unqualified.
* ``rsa`` — rank (Spearman, default), Pearson or Kendall tau-a correlation between model
  dissimilarity and human dissimilarity over the *observed* pairs only
  (:mod:`bgs.stats` defines the correlations).

Each per-triplet score is computed from the triplets' *pair similarities*: an (n, 3) array
whose column k is the model similarity of the pair left when position k is odd. They come
from an N×N matrix (:func:`pair_similarities`) or, without one, from the similarity of the
observed pairs gathered through a :class:`~bgs.human.similarity.PairIndex`.
"""

from __future__ import annotations

import numpy as np

from bgs.data.triplets import TripletSet
from bgs.errors import ConfigError
from bgs.human.similarity import PAIR_COLUMNS, HumanSimilarity
from bgs.stats import CORRELATIONS, correlate

TIE_POLICIES = ("fractional", "wrong")
RSA_METHODS = CORRELATIONS


def pair_similarities(similarity: np.ndarray, triads: np.ndarray) -> np.ndarray:
    """(n, 3): column k is the model similarity of the pair left when position k is odd."""
    return np.stack([similarity[triads[:, a], triads[:, b]] for a, b in PAIR_COLUMNS], axis=1)


def check_ties(ties: str) -> None:
    if ties not in TIE_POLICIES:
        raise ConfigError(f"unknown tie policy {ties!r}; choose one of {', '.join(TIE_POLICIES)}")


def pair_order(columns) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """sign(s_a − s_b) for the column pairs (0, 1), (0, 2), (1, 2) of pair similarities,
    given as three contiguous columns (much faster than reductions along a length-3 axis)."""
    c0, c1, c2 = columns
    return np.sign(c0 - c1), np.sign(c0 - c2), np.sign(c1 - c2)


def columns_of(ps: np.ndarray) -> list[np.ndarray]:
    """The three columns of (n, 3) pair similarities, each contiguous."""
    return [np.ascontiguousarray(ps[:, k]) for k in range(3)]


def ooo_by_odd_columns(order, ties: str = "fractional") -> list[np.ndarray]:
    """Per position k, the 3-way score of each triad had k been the human's odd one, from
    the :func:`pair_order` signs: 1/m when pair k is among the m most similar (fractional),
    or 1 only when it alone is (wrong)."""
    check_ties(ties)
    d01, d02, d12 = order
    is_max = [(d01 >= 0) & (d02 >= 0), (d01 <= 0) & (d12 >= 0), (d02 <= 0) & (d12 <= 0)]
    m = is_max[0].astype(np.int8) + is_max[1] + is_max[2]
    if ties == "fractional":
        return [hit / m for hit in is_max]
    return [(hit & (m == 1)).astype(float) for hit in is_max]


def two_way_by_odd_columns(order) -> list[np.ndarray]:
    """Per position k, the anchor 2AFC score averaged over both anchors had k been odd:
    ``(sign(s_k − s_a) + sign(s_k − s_b) + 2) / 4`` over the other two columns a, b."""
    d01, d02, d12 = order
    return [(d01 + d02 + 2) / 4, (d12 - d01 + 2) / 4, (2 - d02 - d12) / 4]


def ooo_scores_by_odd(ps: np.ndarray, ties: str = "fractional") -> np.ndarray:
    """(n, 3): the 3-way score of each triad had position k been the human's odd one."""
    return np.stack(ooo_by_odd_columns(pair_order(columns_of(ps)), ties), axis=1)


def ooo_scores_from_pairs(ps: np.ndarray, odd: np.ndarray, ties: str = "fractional") -> np.ndarray:
    """Per-triplet 3-way score from (n, 3) pair similarities and the human's odd position."""
    return ooo_scores_by_odd(ps, ties)[np.arange(len(ps)), odd]


def ooo_scores(similarity: np.ndarray, triplets: TripletSet, ties: str = "fractional") -> np.ndarray:
    """Per-triplet 3-way score in [0, 1]: does the model's odd one out match the human's?

    Ties (several pairs equally most similar): ``fractional`` scores 1/k when the human's
    pair is among the k tied pairs (the expected score of a random tie-break); ``wrong``
    scores 0 for any tie.
    """
    check_ties(ties)
    return ooo_scores_from_pairs(pair_similarities(similarity, triplets.triads), triplets.odd, ties)


def ooo_accuracy(similarity: np.ndarray, triplets: TripletSet, ties: str = "fractional") -> float:
    """3-way odd-one-out accuracy (chance 1/3); see :func:`ooo_scores` for ties."""
    return float(ooo_scores(similarity, triplets, ties).mean())


#: Per odd position o: the columns of s(x, z) and s(y, z), where (x, y) is the chosen pair in
#: presentation order and z the odd one (s(x, z) is the pair left when y is odd).
_ANCHOR_COLUMNS = np.array([[PAIR_COLUMNS[o][1], PAIR_COLUMNS[o][0]] for o in range(3)])


def two_way_scores_from_pairs(ps: np.ndarray, odd: np.ndarray) -> np.ndarray:
    """(n, 2) anchor 2AFC scores from (n, 3) pair similarities (see :func:`two_way_scores`)."""
    rows = np.arange(len(ps))
    s_xy = ps[rows, odd]
    cols = _ANCHOR_COLUMNS[odd]
    first = np.sign(s_xy - ps[rows, cols[:, 0]])
    second = np.sign(s_xy - ps[rows, cols[:, 1]])
    return (np.stack([first, second], axis=1) + 1) / 2


def two_way_scores(similarity: np.ndarray, triplets: TripletSet) -> np.ndarray:
    """(n, 2) anchor 2AFC scores: column 0 anchors on the first stimulus of the chosen pair
    (in presentation order), column 1 on the second. A tie scores 1/2."""
    return two_way_scores_from_pairs(pair_similarities(similarity, triplets.triads), triplets.odd)


# ---------------------------------------------------------------------- RSA
def rsa(model_dissimilarity: np.ndarray, human: HumanSimilarity, method: str = "spearman") -> float:
    """Correlation between model and human dissimilarity over the observed pairs only.

    ``model_dissimilarity`` is N×N over ``human.stimulus_ids``. Spearman ranks with average
    ties; Pearson is linear; Kendall tau-a penalises ties.
    """
    return correlate(model_dissimilarity[human.i, human.j], human.pair_dissimilarity, method)


def explained_variance(r: float) -> float:
    """Squared correlation; always report which correlation it squares."""
    return float(r) ** 2
