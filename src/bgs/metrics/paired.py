"""Paired differences between two models scored on the same odd-one-out triplets.

Both models are resampled with the *same* draws (:mod:`bgs.metrics.resampling`: one seed,
one sequence of multiplicity vectors), so the interval is of the difference itself, which
is much narrower than two separate intervals when the models err on the same triplets:

* over **triplets** (the judgments' uncertainty, stimuli fixed): the same triplet
  multiplicities for both models; RSA re-counts the human similarity of the resampled
  triplets, and its interval is bias-corrected as in :func:`~bgs.metrics.evaluate.evaluate_model`
  (shifted by the bootstrap's mean minus the estimate);
* over **stimuli** (generalising to new stimuli; for videos: clips): the same stimulus
  multiplicities for both models, a triplet weighted by the product of its stimuli's.

Each difference comes with the share of resamples in which it is above 0.
"""

from __future__ import annotations

import numpy as np

from bgs.data.triplets import TripletSet
from bgs.embeddings import Embeddings
from bgs.human.similarity import PairIndex, from_counts
from bgs.metrics.alignment import check_ties, ooo_scores_from_pairs
from bgs.metrics.distance import PairSimilarity, to_dissimilarity
from bgs.metrics.evaluate import CI_LEVEL, TRIPLET_CI, used_stimuli
from bgs.metrics.resampling import RSAData, bootstrap_over_stimuli, bootstrap_over_triplets
from bgs.stats import correlate, percentile_ci

RSA_TRIPLET_CI = "bias-corrected bootstrap over triplets"


def share_positive(values: np.ndarray) -> float | None:
    """The share of resampled differences above 0 (NaNs dropped); None when there are none."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    return float(np.mean(values > 0)) if len(values) else None


def _summary(value: float, over_triplets: np.ndarray, over_stimuli: np.ndarray,
             triplet_method: str = TRIPLET_CI) -> dict:
    return {"value": float(value), "ci": percentile_ci(over_triplets, CI_LEVEL), "ci_method": triplet_method,
            "ci_stimuli": percentile_ci(over_stimuli, CI_LEVEL), "ci_stimuli_method": "bootstrap over stimuli",
            "share_positive": share_positive(over_triplets),
            "share_positive_stimuli": share_positive(over_stimuli)}


def paired_difference(a: np.ndarray, b: np.ndarray, triplets: TripletSet, n_bootstrap: int,
                      seed: int = 0) -> dict:
    """Mean of the per-triplet score difference ``a − b`` (scores of the triplets of
    ``triplets``, in order) with 95 % CIs over triplets and over stimuli and the share of
    resamples above 0."""
    d = (np.asarray(a, float) - np.asarray(b, float))[:, None]
    over_triplets, _ = bootstrap_over_triplets(d, None, n_bootstrap, seed)
    over_stimuli, _ = bootstrap_over_stimuli(d, triplets.triads, None, triplets.n_stimuli, n_bootstrap, seed)
    return {**_summary(d.mean(), over_triplets[:, 0], over_stimuli[:, 0]), "n_triplets": int(len(d))}


class _Model:
    """One model on the observed pairs of the triplets: its per-triplet 3-way scores and its
    RSA resampling data."""

    def __init__(self, model: PairSimilarity, ts: TripletSet, index: PairIndex, ties: str):
        pair_sim = model.of(index.i, index.j)
        self.ooo = ooo_scores_from_pairs(pair_sim[index.slots], ts.odd, ties)
        self.dissimilarity = to_dissimilarity(pair_sim, model.metric)
        self.rsa = RSAData(index, self.dissimilarity)


def compare_models(model_a: PairSimilarity, model_b: PairSimilarity, triplets: TripletSet,
                   n_bootstrap: int = 1000, seed: int = 0, ties: str = "fractional") -> dict:
    """``a − b`` on the same triplets (both indexed like ``triplets.stimulus_ids``): the
    difference in 3-way odd-one-out accuracy and in Spearman RSA (over the observed pairs),
    each with paired 95 % CIs over triplets and over stimuli and the share of resamples > 0."""
    check_ties(ties)
    ts = triplets
    index = PairIndex(ts)
    a, b = _Model(model_a, ts, index, ties), _Model(model_b, ts, index, ties)
    human = from_counts(ts.stimulus_ids, index, *index.totals).pair_dissimilarity
    r = correlate(a.dissimilarity, human, "spearman") - correlate(b.dissimilarity, human, "spearman")
    diff = (a.ooo - b.ooo)[:, None]
    none = np.empty((len(ts), 0))  # the second model's pass only resamples its RSA
    acc_t, rsa_t_a = bootstrap_over_triplets(diff, a.rsa, n_bootstrap, seed)
    _, rsa_t_b = bootstrap_over_triplets(none, b.rsa, n_bootstrap, seed)
    acc_s, rsa_s_a = bootstrap_over_stimuli(diff, ts.triads, a.rsa, ts.n_stimuli, n_bootstrap, seed)
    _, rsa_s_b = bootstrap_over_stimuli(none, ts.triads, b.rsa, ts.n_stimuli, n_bootstrap, seed)
    rsa_t = rsa_t_a["spearman"] - rsa_t_b["spearman"]
    rsa_t = rsa_t - (np.nanmean(rsa_t) - r) if len(rsa_t) else rsa_t  # the attenuation's shift
    return {"n_triplets": len(ts), "n_stimuli": ts.n_stimuli, "n_pairs": index.n_pairs,
            "n_bootstrap": n_bootstrap, "seed": seed, "ci_level": CI_LEVEL,
            "ooo_accuracy": _summary(diff.mean(), acc_t[:, 0], acc_s[:, 0]),
            "rsa_spearman": {**_summary(r, rsa_t, rsa_s_a["spearman"] - rsa_s_b["spearman"], RSA_TRIPLET_CI),
                             "method": "spearman"}}


def compare_embeddings(a: Embeddings, b: Embeddings, triplets: TripletSet, metric_a: str = "cosine",
                       metric_b: str = "cosine", **kwargs) -> dict:
    """:func:`compare_models` of two embeddings aligned by id to the stimuli the triplets
    use (the same stimuli, so the same draws, as :func:`~bgs.metrics.evaluate.evaluate_embeddings`)."""
    ts = used_stimuli(triplets)
    x_a = a.align(ts.stimulus_ids, "the triplets").layer(None)
    x_b = b.align(ts.stimulus_ids, "the triplets").layer(None)
    return compare_models(PairSimilarity(x_a, metric_a), PairSimilarity(x_b, metric_b), ts, **kwargs)
