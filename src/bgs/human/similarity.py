"""Human similarity from triplets: ``S[x,y] = n(x,y chosen as pair) / n(x,y in one triplet)``.

Pairs that never shared a triplet are *unobserved*: NaN in ``similarity`` and
``dissimilarity`` and masked out of every statistic, never treated as 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np
import pandas as pd

from bgs.data.triplets import TripletSet


@dataclass(frozen=True, eq=False)
class HumanSimilarity:
    """Pair counts over ``stimulus_ids``; symmetric N×N matrices with a zero diagonal.

    ``chosen[x,y]``: how often x and y were the chosen pair (the odd one was the third);
    ``cooccurrence[x,y]``: how often x and y appeared in the same triplet. Counts are floats
    when the triplets were weighted (bootstrap multiplicities).
    """

    stimulus_ids: np.ndarray
    chosen: np.ndarray
    cooccurrence: np.ndarray

    @property
    def n_stimuli(self) -> int:
        return len(self.stimulus_ids)

    @property
    def observed(self) -> np.ndarray:
        """Boolean N×N mask of pairs that co-occurred at least once (diagonal False)."""
        return self.cooccurrence > 0

    @property
    def similarity(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.observed, self.chosen / np.where(self.observed, self.cooccurrence, 1),
                            np.nan)

    @property
    def dissimilarity(self) -> np.ndarray:
        return 1.0 - self.similarity

    def pairs(self) -> pd.DataFrame:
        """Observed pairs (upper triangle, i < j) as a table: ids, counts, S and D."""
        i, j = np.triu_indices(self.n_stimuli, k=1)
        obs = self.cooccurrence[i, j] > 0
        i, j = i[obs], j[obs]
        s = self.chosen[i, j] / self.cooccurrence[i, j]
        return pd.DataFrame({"i": i, "j": j, "id_i": self.stimulus_ids[i],
                             "id_j": self.stimulus_ids[j], "n_chosen": self.chosen[i, j],
                             "n_cooccur": self.cooccurrence[i, j], "similarity": s,
                             "dissimilarity": 1.0 - s})

    def subset(self, stimulus_ids: Iterable) -> "HumanSimilarity":
        """The matrices indexed at ``stimulus_ids`` (counts from all triplets, including those
        with stimuli outside the subset). For counts from only the triplets inside a subset,
        use ``human_similarity(triplets.restrict(ids))``."""
        ids = np.asarray(list(stimulus_ids))
        idx = pd.Index(self.stimulus_ids).get_indexer(ids)
        if (idx < 0).any():
            missing = ids[idx < 0][:10].tolist()
            raise KeyError(f"stimulus ids not in this similarity matrix: {missing}")
        grid = np.ix_(idx, idx)
        return HumanSimilarity(ids, self.chosen[grid], self.cooccurrence[grid])


def _pair_keys(i: np.ndarray, j: np.ndarray, n: int) -> np.ndarray:
    lo, hi = np.minimum(i, j).astype(np.int64), np.maximum(i, j).astype(np.int64)
    return lo * n + hi


def human_similarity(triplets: TripletSet, weights: np.ndarray | None = None) -> HumanSimilarity:
    """Pair counts of ``triplets`` over its stimulus index space, with no loop over rows.

    ``weights`` (one per triplet) counts a triplet that many times, e.g. bootstrap
    multiplicities; unweighted counts are integers.
    """
    n = triplets.n_stimuli
    t = triplets.triads
    pair = triplets.pair
    cooc_keys = np.concatenate([_pair_keys(t[:, 0], t[:, 1], n), _pair_keys(t[:, 0], t[:, 2], n),
                                _pair_keys(t[:, 1], t[:, 2], n)])
    chosen_keys = _pair_keys(pair[:, 0], pair[:, 1], n)
    if weights is None:
        cooc = np.bincount(cooc_keys, minlength=n * n).reshape(n, n)
        chosen = np.bincount(chosen_keys, minlength=n * n).reshape(n, n)
    else:
        w = np.asarray(weights, dtype=float)
        cooc = np.bincount(cooc_keys, weights=np.tile(w, 3), minlength=n * n).reshape(n, n)
        chosen = np.bincount(chosen_keys, weights=w, minlength=n * n).reshape(n, n)
    # Only the upper triangle was filled (lo < hi): mirror it.
    cooc = cooc + cooc.T
    chosen = chosen + chosen.T
    return HumanSimilarity(triplets.stimulus_ids, chosen, cooc)
