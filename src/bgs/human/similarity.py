"""Human similarity from triplets: ``S[x,y] = n(x,y chosen as pair) / n(x,y in one triplet)``.

Pairs that never shared a triplet are *unobserved*: absent from the sparse pair list (NaN in
the dense matrices) and masked out of every statistic, never treated as 0.

Everything is held over the *observed* pairs only. :class:`PairIndex` finds the pair keys of
a triplet set once (``np.unique`` of ``lo·n + hi``) and maps each triplet's three pairs to a
compact pair number, so the counts under any re-weighting of the triplets (bootstrap
multiplicities, a participant half) cost one ``bincount`` over the triplets, never N×N.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Iterable

import numpy as np
import pandas as pd

from bgs.data.triplets import TripletSet

#: Column k of a triad's pairs is the pair left when position k is the odd one.
PAIR_COLUMNS = ((1, 2), (0, 2), (0, 1))


def pair_keys(i: np.ndarray, j: np.ndarray, n: int) -> np.ndarray:
    """One int64 key per unordered pair of stimulus indices: ``min·n + max``."""
    i, j = np.asarray(i, dtype=np.int64), np.asarray(j, dtype=np.int64)
    return np.minimum(i, j) * n + np.maximum(i, j)


def _lo_edges(t: np.ndarray, n: int, n_blocks: int) -> np.ndarray:
    """Stimulus-index edges splitting the pairs into ``n_blocks`` blocks of about equal
    size by their smaller index."""
    hist = sum(np.bincount(np.minimum(t[:, a], t[:, b]), minlength=n) for a, b in PAIR_COLUMNS)
    cum = np.cumsum(hist)
    inner = np.searchsorted(cum, cum[-1] * np.arange(1, n_blocks) / n_blocks)
    return np.unique(np.concatenate([[0], inner, [n]]))


def _unique_pairs(t: np.ndarray, n: int, block_slots: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j of the distinct pairs in key order, int32; the pair number of every triplet's
    pairs column by column).

    Done in blocks of pairs by their smaller stimulus index, so the sort never holds more
    than about ``block_slots`` keys: the memory stays a few bytes per triplet."""
    n_rows = len(t)
    total = 3 * n_rows
    flat = np.empty(total, dtype=np.int32 if total < 2**31 else np.int64)
    n_blocks = max(1, -(-total // block_slots))
    edges = np.array([0, n]) if n_blocks == 1 else _lo_edges(t, n, n_blocks)
    firsts, seconds, offset = [], [], 0
    for a_edge, b_edge in zip(edges[:-1], edges[1:]):
        where, keys = [], []
        for c, (a, b) in enumerate(PAIR_COLUMNS):
            if n_blocks > 1:
                lo = np.minimum(t[:, a], t[:, b])
                sel = np.flatnonzero((lo >= a_edge) & (lo < b_edge))
                del lo
                where.append(sel + c * n_rows)
                keys.append(pair_keys(t[sel, a], t[sel, b], n))
            else:
                where.append(slice(c * n_rows, (c + 1) * n_rows))
                keys.append(pair_keys(t[:, a], t[:, b], n))
        unique, inverse = np.unique(np.concatenate(keys), return_inverse=True)
        del keys
        if n_blocks > 1:
            flat[np.concatenate(where)] = inverse + offset
        else:
            flat[:] = inverse
        del inverse
        firsts.append((unique // n).astype(np.int32))
        seconds.append((unique % n).astype(np.int32))
        offset += len(unique)
        del unique
    return np.concatenate(firsts), np.concatenate(seconds), flat


class PairIndex:
    """The distinct unordered pairs of a triplet set and, per triplet, the number of each of
    its three pairs (``slots[t, k]``: the pair left when position k is odd).

    ``i < j`` are sorted by key, i.e. in upper-triangle order.
    """

    def __init__(self, triplets: TripletSet, block_slots: int = 16_000_000):
        n = triplets.n_stimuli
        t = triplets.triads
        self.n_stimuli = n
        self.i, self.j, self._flat = _unique_pairs(t, n, block_slots)
        self.slots = self._flat.reshape(3, len(t)).T  # a view: column k holds the k-th pairs
        self.chosen_slot = np.take_along_axis(self.slots, triplets.odd[:, None], axis=1)[:, 0]
        self.n_pairs = len(self.i)

    def release_triplets(self) -> None:
        """Drop the triplets' pair numbers (``slots``; 0.8 GB at 50 M triplets), keeping the
        pairs and :attr:`max_cooccurrence`, for a caller that reads the triplets in another
        order (:class:`SortedTriplets`) from now on. ``counts`` (and ``totals``, if not
        counted yet) cannot run after it."""
        _ = self.max_cooccurrence  # counted while the pair numbers are there
        self._flat = self.slots = self.chosen_slot = None

    def release_pairs(self) -> None:
        """Drop the pairs' stimuli ``i``, ``j`` (0.8 GB at 106 M pairs), keeping
        ``n_pairs``, for a caller that holds them in another order."""
        self.i = self.j = None

    def release_counts(self) -> None:
        """Drop ``totals`` (0.8 GB at 106 M pairs), keeping :attr:`max_cooccurrence`, for a
        caller that holds what it needs of them (the pairs' human groups)."""
        _ = self.max_cooccurrence
        self.__dict__.pop("totals", None)

    @cached_property
    def max_cooccurrence(self) -> int:
        """The largest co-occurrence of a pair (0 without pairs)."""
        return int(self.totals[1].max(initial=0))

    @cached_property
    def totals(self) -> tuple[np.ndarray, np.ndarray]:
        """(chosen, cooccurrence) per pair, unweighted (integers; int32 where they fit).
        Counted one at a time, so only one pair-sized int64 count exists at once."""
        small = np.int32 if len(self.chosen_slot) < 2**31 else np.int64
        chosen = np.bincount(self.chosen_slot, minlength=self.n_pairs).astype(small)
        return chosen, np.bincount(self._flat, minlength=self.n_pairs).astype(small)

    def counts(self, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(chosen, cooccurrence) per pair, each triplet counted ``weights[t]`` times."""
        p = self.n_pairs
        if weights is None:
            cooc = np.bincount(self._flat, minlength=p)
            return np.bincount(self.chosen_slot, minlength=p), cooc
        w = np.asarray(weights, dtype=float)
        n = len(w)
        cooc = np.bincount(self._flat[:n], weights=w, minlength=p)
        for c in (1, 2):
            cooc += np.bincount(self._flat[c * n:(c + 1) * n], weights=w, minlength=p)
        return np.bincount(self.chosen_slot, weights=w, minlength=p), cooc


@dataclass(frozen=True, eq=False)
class HumanSimilarity:
    """Counts over the observed pairs ``(i[k], j[k])``, ``i < j``, of ``stimulus_ids``.

    ``n_chosen[k]``: how often the pair was the chosen pair (the odd one was the third);
    ``n_cooccur[k]`` (> 0): how often it appeared in one triplet. Counts are floats when the
    triplets were weighted. The N×N properties (``chosen``, ``cooccurrence``, ``observed``,
    ``similarity``, ``dissimilarity``) are built on request, for small N.
    """

    stimulus_ids: np.ndarray
    i: np.ndarray
    j: np.ndarray
    n_chosen: np.ndarray
    n_cooccur: np.ndarray

    @classmethod
    def from_matrices(cls, stimulus_ids, chosen: np.ndarray, cooccurrence: np.ndarray) -> "HumanSimilarity":
        """From symmetric N×N count matrices (the upper triangle is read)."""
        i, j = np.nonzero(np.triu(np.asarray(cooccurrence) > 0, k=1))
        return cls(np.asarray(stimulus_ids), i, j, np.asarray(chosen)[i, j], np.asarray(cooccurrence)[i, j])

    @property
    def n_stimuli(self) -> int:
        return len(self.stimulus_ids)

    @property
    def n_pairs(self) -> int:
        """Number of observed pairs."""
        return len(self.i)

    @property
    def pair_similarity(self) -> np.ndarray:
        """S over the observed pairs."""
        return self.n_chosen / self.n_cooccur

    @property
    def pair_dissimilarity(self) -> np.ndarray:
        """D = 1 − S over the observed pairs."""
        return 1.0 - self.pair_similarity

    def _dense(self, values: np.ndarray, fill) -> np.ndarray:
        out = np.full((self.n_stimuli, self.n_stimuli), fill, dtype=np.result_type(values, type(fill)))
        out[self.i, self.j] = values
        out[self.j, self.i] = values
        return out

    @cached_property
    def chosen(self) -> np.ndarray:
        """N×N chosen-pair counts (zero diagonal)."""
        return self._dense(self.n_chosen, 0)

    @cached_property
    def cooccurrence(self) -> np.ndarray:
        """N×N co-occurrence counts (zero diagonal)."""
        return self._dense(self.n_cooccur, 0)

    @property
    def observed(self) -> np.ndarray:
        """Boolean N×N mask of pairs that co-occurred at least once (diagonal False)."""
        return self.cooccurrence > 0

    @property
    def similarity(self) -> np.ndarray:
        """N×N S, NaN where unobserved and on the diagonal."""
        return self._dense(self.pair_similarity, np.nan)

    @property
    def dissimilarity(self) -> np.ndarray:
        """N×N D = 1 − S, NaN where unobserved and on the diagonal."""
        return self._dense(self.pair_dissimilarity, np.nan)

    def pairs(self) -> pd.DataFrame:
        """Observed pairs (upper triangle, i < j) as a table: ids, counts, S and D."""
        return pd.DataFrame({"i": self.i, "j": self.j, "id_i": self.stimulus_ids[self.i],
                             "id_j": self.stimulus_ids[self.j], "n_chosen": self.n_chosen,
                             "n_cooccur": self.n_cooccur, "similarity": self.pair_similarity,
                             "dissimilarity": self.pair_dissimilarity})

    def subset(self, stimulus_ids: Iterable) -> "HumanSimilarity":
        """The pairs among ``stimulus_ids``, re-indexed in that order (counts from all
        triplets, including those with stimuli outside the subset). For counts from only the
        triplets inside a subset, use ``human_similarity(triplets.restrict(ids))``."""
        ids = np.asarray(list(stimulus_ids))
        idx = pd.Index(self.stimulus_ids).get_indexer(ids)
        if (idx < 0).any():
            missing = ids[idx < 0][:10].tolist()
            raise KeyError(f"stimulus ids not in this similarity matrix: {missing}")
        new = np.full(self.n_stimuli, -1, dtype=np.int64)
        new[idx] = np.arange(len(idx))
        a, b = new[self.i], new[self.j]
        keep = (a >= 0) & (b >= 0)
        a, b = a[keep], b[keep]
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        order = np.argsort(pair_keys(lo, hi, len(ids)), kind="stable")
        return HumanSimilarity(ids, lo[order], hi[order], self.n_chosen[keep][order],
                               self.n_cooccur[keep][order])


def from_counts(stimulus_ids: np.ndarray, index: PairIndex, chosen: np.ndarray,
                cooccur: np.ndarray) -> HumanSimilarity:
    """The :class:`HumanSimilarity` of per-pair counts over ``index`` (unobserved pairs dropped)."""
    keep = cooccur > 0
    if keep.all():
        return HumanSimilarity(stimulus_ids, index.i, index.j, chosen, cooccur)
    return HumanSimilarity(stimulus_ids, index.i[keep], index.j[keep], chosen[keep], cooccur[keep])


def human_similarity(triplets: TripletSet, weights: np.ndarray | None = None,
                     index: PairIndex | None = None) -> HumanSimilarity:
    """Pair counts of ``triplets`` over its observed pairs, with no loop over rows.

    ``weights`` (one per triplet) counts a triplet that many times, e.g. bootstrap
    multiplicities; unweighted counts are integers. ``index``: a :class:`PairIndex` of
    ``triplets`` built before, to reuse.
    """
    index = PairIndex(triplets) if index is None else index
    chosen, cooc = index.counts(weights)
    return from_counts(triplets.stimulus_ids, index, chosen, cooc)


class SortedTriplets:
    """The triplets of a :class:`PairIndex` ordered by their first pair number (so a pass
    over them updates the counts of nearby pairs: what the compiled kernels read).

    ``order``: the rows in that order; ``slots`` (n, 3) int32, ``odd`` int8 and
    ``participant`` in that order.
    """

    def __init__(self, index: PairIndex, triplets: TripletSet):
        first = index.slots.min(axis=1)
        order = np.argsort(first, kind="stable")
        del first
        self.order = order.astype(np.int32) if len(order) < 2**31 else order
        del order
        self.n_pairs = index.n_pairs
        self.slots = np.ascontiguousarray(index.slots[self.order])
        self.odd = triplets.odd[self.order].astype(np.int8)
        self._triplets = triplets

    @cached_property
    def participant(self) -> np.ndarray:
        """The participants in this order: built when first read (by the split halves, after
        the bootstraps), not held through them."""
        return self._triplets.participant[self.order]

    def totals(self) -> np.ndarray:
        """(n_pairs, 2) int32: (chosen, co-occurrence) per pair, all triplets counted once."""
        out = np.empty((self.n_pairs, 2), np.int32)
        out[:, 1] = np.bincount(self.slots.ravel(), minlength=self.n_pairs)
        out[:, 0] = np.bincount(np.take_along_axis(self.slots, self.odd[:, None].astype(np.intp), axis=1)[:, 0],
                                minlength=self.n_pairs)
        return out
