"""Evaluate embeddings against triplets: every alignment score, its CIs, p-values and ceilings.

Scores sit next to the noise ceilings of the same triplets:

* 3-way odd-one-out accuracy against the odd-one-out ceiling (lower and upper bound);
* RSA against the split-half reliability ρ (Spearman–Brown). ρ estimates how well two full
  replications of the human data correlate, so a perfect model's expected correlation with
  the data is √ρ: the ceiling for r is √ρ and the ceiling for explained variance r² is ρ.

Everything runs over the observed pairs (:class:`~bgs.human.similarity.PairIndex`): the model
similarity is read once per observed pair, each triplet's three pairs are gathered from it,
and every bootstrap and permutation re-weights or relabels that compact representation, so
the cost grows with the triplets and the pairs, not with N².
"""

from __future__ import annotations

import numpy as np

from bgs.data.triplets import TripletSet
from bgs.embeddings import Embeddings
from bgs.human.reliability import (
    KERNEL_MIN_PAIRS,
    ooo_ceiling,
    split_half_reliability,
    table_fits,
    triad_choice_counts,
)
from bgs.human.similarity import PairIndex, SortedTriplets, from_counts
from bgs.metrics import alignment as al
from bgs.metrics import compiled as cp
from bgs.metrics.distance import PairSimilarity, similarity_matrix, to_dissimilarity
from bgs.metrics.permutation import PermutedScores
from bgs.metrics.resampling import (
    RESAMPLED_CORRELATIONS,
    RSAData,
    bootstrap_over_stimuli,
    bootstrap_over_triplets,
    permutation_nulls,
    permutation_p_value,
    permutations,
)
from bgs.stats import correlate, percentile_ci

CI_LEVEL = 0.95
TRIPLET_CI = "bootstrap over triplets"


def used_stimuli(triplets: TripletSet) -> TripletSet:
    """The triplets re-indexed onto only the stimuli that appear in them."""
    return triplets.restrict(triplets.stimulus_ids[np.unique(triplets.triads)])


def _ratio(value: float, ceiling: float | None) -> float | None:
    return float(value / ceiling) if ceiling and np.isfinite(ceiling) and ceiling > 0 else None


def _mean_cis(codes: np.ndarray, values: np.ndarray, triplets: TripletSet, n_bootstrap: int, seed: int,
              rsa: RSAData | None = None, by_pair: SortedTriplets | None = None) -> tuple[list[dict], dict]:
    """Per column of the scores (per-triplet ``codes`` of the rows of ``values``, see
    :func:`~bgs.metrics.compiled.score_codes`): the CIs of its mean over triplets and over
    stimuli; and the RSA bootstrap distributions (``{"triplets": ..., "stimuli": ...}``).
    With ``by_pair`` (the triplets' :class:`SortedTriplets`) through the compiled kernels."""
    if by_pair is None:
        scores = values[codes]
        by_triplets, rsa_t = bootstrap_over_triplets(scores, rsa, n_bootstrap, seed)
        by_stimuli, rsa_s = bootstrap_over_stimuli(scores, triplets.triads, rsa, triplets.n_stimuli,
                                                   n_bootstrap, seed)
    else:
        by_triplets, rsa_t = cp.bootstrap_over_triplets(codes[by_pair.order], values, by_pair, rsa,
                                                        n_bootstrap, seed)
        by_stimuli, rsa_s = cp.bootstrap_over_stimuli(codes, values, triplets.triads, rsa,
                                                      triplets.n_stimuli, n_bootstrap, seed)
    cis = [{"ci": percentile_ci(by_triplets[:, k], CI_LEVEL), "ci_method": TRIPLET_CI,
            "ci_stimuli": percentile_ci(by_stimuli[:, k], CI_LEVEL)} for k in range(values.shape[1])]
    return cis, {"triplets": rsa_t, "stimuli": rsa_s}


def mean_cis(scores: np.ndarray, triplets: TripletSet, n_bootstrap: int, seed: int) -> dict:
    """CIs of a mean per-triplet score, resampling triplets and resampling stimuli."""
    codes, values = cp.score_codes(np.asarray(scores, dtype=float)[:, None])
    return _mean_cis(codes, values, triplets, n_bootstrap, seed)[0][0]


class _Scores:
    """The model side of one evaluation: pair similarities over the observed pairs and the
    per-triplet scores computed from them."""

    def __init__(self, model: PairSimilarity, ts: TripletSet, index: PairIndex, ties: str):
        self.model, self.ts, self.index, self.ties = model, ts, index, ties
        self.pair_sim = model.of(index.i, index.j)

    def per_triplet(self, chunk: int = 4_000_000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(3-way scores (n,), 2AFC scores averaged over the two anchors (n,), the mean
        of each anchor's 2AFC score (2,)), computed ``chunk`` triplets at a time so that
        the temporaries stay bounded. The anchors' scores (0, 1/2 or 1) sum exactly in
        any order, so their means are those of the whole (n, 2) array."""
        n = len(self.ts)
        ooo, two, anchors = np.empty(n), np.empty(n), np.zeros(2)
        for start in range(0, n, chunk):
            rows = slice(start, start + chunk)
            ps = self.pair_sim[self.index.slots[rows]]
            odd = self.ts.odd[rows]
            ooo[rows] = al.ooo_scores_from_pairs(ps, odd, self.ties)
            scores = al.two_way_scores_from_pairs(ps, odd)
            two[rows] = scores.mean(axis=1)
            anchors += scores.sum(axis=0)
        return ooo, two, anchors / n if n else anchors * np.nan

    def dissimilarity(self) -> np.ndarray:
        """The observed pairs' model dissimilarity, in place of their similarity (which
        this object no longer holds)."""
        s, self.pair_sim = self.pair_sim, None
        return to_dissimilarity(s, self.model.metric, out=s)


def _accuracy_entries(ooo: np.ndarray, two: np.ndarray, anchors: np.ndarray, ceiling,
                      ties: str) -> tuple[dict, dict]:
    acc = float(ooo.mean())
    ooo_entry = {"value": acc, "chance": 1 / 3, "ties": ties,
                 "ceiling": {"lower": ceiling.lower, "upper": ceiling.upper},
                 "fraction_of_ceiling": {"lower": _ratio(acc, ceiling.lower),
                                         "upper": _ratio(acc, ceiling.upper)}}
    two_entry = {"value": float(two.mean()), "chance": 0.5,
                 "label": "anchor two-way (2AFC) accuracy, mean over both anchors of the chosen "
                          "pair — the paper's variant, not 3-way odd-one-out accuracy",
                 "anchor_first": float(anchors[0]), "anchor_second": float(anchors[1])}
    return ooo_entry, two_entry


def _rsa_entry(r: float, method: str, split, boot: dict, n_bootstrap: int) -> dict:
    entry = {"value": r, "method": method, "pairs": "observed pairs only",
             "explained_variance": al.explained_variance(r)}
    if method not in RESAMPLED_CORRELATIONS:
        return entry
    rel = split.spearman_brown[method] if split is not None else None
    if rel is not None and np.isfinite(rel) and rel > 0:
        entry.update(reliability=rel, ceiling=float(np.sqrt(rel)),
                     fraction_of_ceiling=_ratio(r, np.sqrt(rel)), explained_variance_ceiling=rel)
    if n_bootstrap:
        entry["ci"] = percentile_ci(boot["stimuli"][method], CI_LEVEL)
        entry["ci_method"] = "bootstrap over stimuli"
        # Resampled triplets make the human matrix noisier, which attenuates r: the
        # percentile interval is shifted by the bootstrap's estimate of that bias.
        t = boot["triplets"][method]
        entry["ci_triplets"] = percentile_ci(t - (np.nanmean(t) - r), CI_LEVEL)
        entry["ci_triplets_method"] = "bias-corrected bootstrap over triplets"
    return entry


def evaluate_model(model: PairSimilarity, triplets: TripletSet, n_bootstrap: int = 1000,
                   n_permutations: int = 1000, seed: int = 0, ties: str = "fractional",
                   n_splits: int = 100, compiled: bool = True) -> dict:
    """All scores of one model (indexed like ``triplets.stimulus_ids``).

    ``compiled``: resample through the compiled kernels (:mod:`bgs.kernels`; the
    triplet bootstrap then draws its own multiplicities) rather than the numpy reference.

    Each step frees what the later ones do not read (at 50 M triplets every pair-sized
    float64 array is most of a gigabyte): the ceiling comes first, while little else is
    held; the per-triplet scores become one-byte codes as soon as their means are taken;
    the model's dissimilarity lives on only as the sorted copy the resampling reads."""
    ts = triplets
    al.check_ties(ties)
    choices = triad_choice_counts(ts) if n_permutations else None
    ceiling = ooo_ceiling(ts, n_bootstrap=n_bootstrap, seed=seed, choice_counts=choices)
    index = PairIndex(ts)
    # the pairs' counts (two pair-sized int64 bincounts on the way), now while little is held;
    # the kernels' (co-occurrence, chosen) table grows with the square of a pair's largest
    # co-occurrence: data that dense has few pairs, where the numpy path is fast
    kernels = compiled and table_fits(index)
    out: dict = {"n_triplets": len(ts), "n_stimuli": ts.n_stimuli, "n_pairs": index.n_pairs,
                 "seed": seed, "n_bootstrap": n_bootstrap, "n_permutations": n_permutations,
                 "ci_level": CI_LEVEL}
    sc = _Scores(model, ts, index, ties)
    ooo, two, anchors = sc.per_triplet()
    ooo_entry, two_entry = _accuracy_entries(ooo, two, anchors, ceiling, ties)
    codes, values = cp.score_codes([ooo, two])
    del ooo, two
    model_vec = sc.dissimilarity()
    del sc
    sorted_rsa = compiled and index.n_pairs >= KERNEL_MIN_PAIRS
    lean = sorted_rsa and kernels and not n_permutations  # nothing reads the index's pairs later
    # sorted in place where nothing reads the model side in pair order afterwards
    rsa_data = (RSAData(index, model_vec, overwrite=sorted_rsa, release=lean)
                if sorted_rsa or n_bootstrap else None)
    by_pair = SortedTriplets(index, ts) if kernels and (n_bootstrap or n_splits) else None
    if lean:
        del model_vec
        index.release_triplets()
        rsa = cp.point_correlations(rsa_data)  # from the sorted copy: no rank vectors
    else:
        rsa, null = _unsorted_rsa(model, model_vec, index, ts, choices, ties, n_permutations, seed,
                                  rsa_data if sorted_rsa else None, compiled)
        del model_vec, choices
        if n_permutations:
            ooo_entry["p_value"] = permutation_p_value(null[:, 0], ooo_entry["value"])
            two_entry["p_value"] = permutation_p_value(null[:, 1], two_entry["value"])
    boot = {"triplets": {}, "stimuli": {}}
    if n_bootstrap:
        cis, boot = _mean_cis(codes, values, ts, n_bootstrap, seed, rsa_data, by_pair)
        ooo_entry.update(cis[0])
        two_entry.update(cis[1])
    del rsa_data, codes
    out["ooo_accuracy"] = ooo_entry
    out["two_way_accuracy_symmetric"] = two_entry
    split = (split_half_reliability(ts, n_splits=n_splits, seed=seed, index=index, by_pair=by_pair,
                                    compiled=True if lean else None if compiled else False)
             if ts.n_participants > 1 else None)
    for k, method in enumerate(al.RSA_METHODS):
        entry = _rsa_entry(rsa[method], method, split, boot, n_bootstrap)
        if n_permutations and k < 2:
            entry["p_value"] = permutation_p_value(null[:, 2 + k], rsa[method])
        out[f"rsa_{method}"] = entry
    out["ceilings"] = {"ooo": ceiling.to_dict(),
                       "split_half": split.to_dict() if split is not None else None}
    return out


def _unsorted_rsa(model, model_vec, index, ts, choices, ties, n_permutations, seed, rsa_data, compiled):
    """(RSA point estimates, the permutation nulls or None) where the pairs stay indexed:
    the point estimates from ``rsa_data``'s sorted copy where given, else :func:`correlate`."""
    human_vec = from_counts(ts.stimulus_ids, index, *index.totals).pair_dissimilarity
    rsa = (cp.point_correlations(rsa_data) if rsa_data is not None
           else {m: correlate(model_vec, human_vec, m) for m in al.RSA_METHODS})
    if not n_permutations:
        return rsa, None
    scores = PermutedScores(model, index, *choices, human_vec, ties)
    null = (scores.many(permutations(ts.n_stimuli, n_permutations, seed)) if compiled
            else permutation_nulls(scores, ts.n_stimuli, n_permutations, seed))
    return rsa, null


def evaluate_similarity(similarity: np.ndarray, triplets: TripletSet, metric: str = "dot",
                        **kwargs) -> dict:
    """:func:`evaluate_model` of an N×N model similarity (indexed like
    ``triplets.stimulus_ids``); ``metric`` names how it turns into a dissimilarity
    (``1 − s`` for cosine and correlation, ``−s`` otherwise)."""
    return evaluate_model(PairSimilarity.from_matrix(similarity, metric), triplets, **kwargs)


def evaluate_embeddings(embeddings: Embeddings, triplets: TripletSet, metric: str = "cosine",
                        layer: str | None = None, **kwargs) -> dict:
    """Align ``embeddings`` to the stimuli of ``triplets`` by id, then :func:`evaluate_model`."""
    ts = used_stimuli(triplets)
    x = embeddings.align(ts.stimulus_ids, "the triplets").layer(layer)
    result = evaluate_model(PairSimilarity(x, metric), ts, **kwargs)
    return {"metric": metric, "layer": layer or embeddings.layer_names[0],
            "embeddings": embeddings.source, **result}


def embedding_ooo_scores(embeddings: Embeddings, triplets: TripletSet, metric: str = "cosine",
                         ties: str = "fractional") -> np.ndarray:
    """Per-triplet 3-way odd-one-out scores (1, 0, or 1/k for a k-way tie) of ``embeddings``,
    aligned to ``triplets.stimulus_ids`` by id: the values whose mean is ``ooo_accuracy``."""
    x = embeddings.align(triplets.stimulus_ids, "the triplets").matrix
    return al.ooo_scores(similarity_matrix(x, metric), triplets, ties)
