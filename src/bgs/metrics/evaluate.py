"""Evaluate embeddings against triplets: every alignment score, its CIs, p-values and ceilings.

Scores sit next to the noise ceilings of the same triplets:

* 3-way odd-one-out accuracy against the odd-one-out ceiling (lower and upper bound);
* RSA against the split-half reliability ρ (Spearman–Brown). ρ estimates how well two full
  replications of the human data correlate, so a perfect model's expected correlation with
  the data is √ρ: the ceiling for r is √ρ and the ceiling for explained variance r² is ρ.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from bgs.data.triplets import TripletSet
from bgs.embeddings import Embeddings
from bgs.human.reliability import ooo_ceiling, split_half_reliability
from bgs.human.similarity import human_similarity
from bgs.metrics import alignment as al
from bgs.metrics.distance import similarity_matrix
from bgs.metrics.resampling import (
    bootstrap_rsa_stimuli,
    bootstrap_rsa_triplets,
    bootstrap_stimulus_mean,
    bootstrap_triplet_mean,
    percentile_ci,
    permutation_p_value,
)

CI_LEVEL = 0.95


def used_stimuli(triplets: TripletSet) -> TripletSet:
    """The triplets re-indexed onto only the stimuli that appear in them."""
    return triplets.restrict(triplets.stimulus_ids[np.unique(triplets.triads)])


def _ratio(value: float, ceiling: float | None) -> float | None:
    return float(value / ceiling) if ceiling and np.isfinite(ceiling) and ceiling > 0 else None


def mean_cis(scores: np.ndarray, triplets: TripletSet, n_bootstrap: int, seed: int) -> dict:
    """CIs of a mean per-triplet score, resampling triplets and resampling stimuli."""
    return {"ci": percentile_ci(bootstrap_triplet_mean(scores, n_bootstrap, seed), CI_LEVEL),
            "ci_method": "bootstrap over triplets",
            "ci_stimuli": percentile_ci(bootstrap_stimulus_mean(scores, triplets, n_bootstrap, seed), CI_LEVEL)}


def evaluate_similarity(similarity: np.ndarray, triplets: TripletSet, dissimilarity: np.ndarray | None = None,
                        n_bootstrap: int = 1000, n_permutations: int = 1000, seed: int = 0,
                        ties: str = "fractional", n_splits: int = 100) -> dict:
    """All scores of one model similarity matrix (indexed like ``triplets.stimulus_ids``)."""
    if dissimilarity is None:
        dissimilarity = -similarity
    ts = triplets
    n_s = ts.n_stimuli
    human = human_similarity(ts)
    i_obs, j_obs = al.observed_pairs(human)
    out: dict = {"n_triplets": len(ts), "n_stimuli": n_s, "n_pairs": int(len(i_obs)),
                 "seed": seed, "n_bootstrap": n_bootstrap, "n_permutations": n_permutations,
                 "ci_level": CI_LEVEL}

    def permuted(perm):
        return replace(ts, triads=perm[ts.triads].astype(np.int32))

    # ---- 3-way odd-one-out accuracy
    ceiling = ooo_ceiling(ts, n_bootstrap=n_bootstrap, seed=seed)
    scores = al.ooo_scores(similarity, ts, ties)
    acc = float(scores.mean())
    entry = {"value": acc, "chance": 1 / 3, "ties": ties,
             "ceiling": {"lower": ceiling.lower, "upper": ceiling.upper},
             "fraction_of_ceiling": {"lower": _ratio(acc, ceiling.lower),
                                     "upper": _ratio(acc, ceiling.upper)}}
    if n_bootstrap:
        entry.update(mean_cis(scores, ts, n_bootstrap, seed))
    if n_permutations:
        entry["p_value"], _ = permutation_p_value(
            lambda p: al.ooo_scores(similarity, permuted(p), ties).mean(), acc, n_s,
            n_permutations, seed)
    out["ooo_accuracy"] = entry

    # ---- anchor 2AFC (the paper's variant)
    two = al.two_way_scores(similarity, ts)
    per_triplet = two.mean(axis=1)
    entry = {"value": float(per_triplet.mean()), "chance": 0.5,
             "label": "anchor two-way (2AFC) accuracy, mean over both anchors of the chosen "
                      "pair — the paper's variant, not 3-way odd-one-out accuracy",
             "anchor_first": float(two[:, 0].mean()), "anchor_second": float(two[:, 1].mean())}
    if n_bootstrap:
        entry.update(mean_cis(per_triplet, ts, n_bootstrap, seed))
    if n_permutations:
        entry["p_value"], _ = permutation_p_value(
            lambda p: al.two_way_scores(similarity, permuted(p)).mean(), entry["value"], n_s,
            n_permutations, seed)
    out["two_way_accuracy_symmetric"] = entry

    # ---- RSA
    split = split_half_reliability(ts, n_splits=n_splits, seed=seed) if ts.n_participants > 1 else None
    model_vec = dissimilarity[i_obs, j_obs]
    human_vec = human.dissimilarity[i_obs, j_obs]
    for method in al.RSA_METHODS:
        r = al.correlate(model_vec, human_vec, method)
        entry = {"value": r, "method": method, "pairs": "observed pairs only",
                 "explained_variance": al.explained_variance(r)}
        if method in ("spearman", "pearson"):
            rel = split.spearman_brown[method] if split is not None else None
            if rel is not None and np.isfinite(rel) and rel > 0:
                entry["reliability"] = rel
                entry["ceiling"] = float(np.sqrt(rel))
                entry["fraction_of_ceiling"] = _ratio(r, np.sqrt(rel))
                entry["explained_variance_ceiling"] = rel
            if n_bootstrap:
                entry["ci"] = percentile_ci(
                    bootstrap_rsa_stimuli(dissimilarity, human, method, n_bootstrap, seed), CI_LEVEL)
                entry["ci_method"] = "bootstrap over stimuli"
                # Resampled triplets make the human matrix noisier, which attenuates r: the
                # percentile interval is shifted by the bootstrap's estimate of that bias.
                boot = bootstrap_rsa_triplets(dissimilarity, ts, method, n_bootstrap, seed)
                ci = percentile_ci(boot - (np.nanmean(boot) - r), CI_LEVEL)
                entry["ci_triplets"] = ci
                entry["ci_triplets_method"] = "bias-corrected bootstrap over triplets"
            if n_permutations:
                entry["p_value"], _ = permutation_p_value(
                    lambda p: al.correlate(dissimilarity[p[i_obs], p[j_obs]], human_vec, method),
                    r, n_s, n_permutations, seed)
        out[f"rsa_{method}"] = entry
    out["ceilings"] = {"ooo": ceiling.to_dict(),
                       "split_half": split.to_dict() if split is not None else None}
    return out


def evaluate_embeddings(embeddings: Embeddings, triplets: TripletSet, metric: str = "cosine",
                        layer: str | None = None, **kwargs) -> dict:
    """Align ``embeddings`` to the stimuli of ``triplets`` by id, then :func:`evaluate_similarity`."""
    ts = used_stimuli(triplets)
    x = embeddings.align(ts.stimulus_ids, "the triplets").layer(layer)
    s = similarity_matrix(x, metric)
    d = 1.0 - s if metric in ("cosine", "correlation") else -s
    result = evaluate_similarity(s, ts, d, **kwargs)
    return {"metric": metric, "layer": layer or embeddings.layer_names[0],
            "embeddings": embeddings.source, **result}
