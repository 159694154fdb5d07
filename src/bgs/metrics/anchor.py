"""Scores of a model against anchor triplets ``(head, close, far)``.

* **two-way accuracy** (chance 1/2): a triplet is correct when the model's
  ``sim(head, close) > sim(head, far)``; a tie scores 1/2. CIs resample triplets and
  resample stimuli (:mod:`bgs.metrics.resampling`).
* **RSA**: correlation of model dissimilarity with the anchor human dissimilarity
  (:func:`bgs.human.anchor.anchor_similarity`) over the observed pairs.
* **paired differences** between two models on the same triplets, with CIs from the same
  bootstrap draws for both (over triplets and over stimuli).
"""

from __future__ import annotations

import numpy as np

from bgs.data.anchor import AnchorTripletSet
from bgs.embeddings import Embeddings
from bgs.human.anchor import anchor_similarity, anchor_split_half, repeat_agreement_ceiling
from bgs.metrics.resampling import (
    bootstrap_over_stimuli,
    bootstrap_over_triplets,
    permutation_nulls,
    permutation_p_value,
)
from bgs.stats import correlate, percentile_ci


def observed_pairs(human) -> tuple[np.ndarray, np.ndarray]:
    """(i, j), i < j, of the pairs compared at least once."""
    i, j = np.triu_indices(human.n_stimuli, k=1)
    keep = human.cooccurrence[i, j] > 0
    return i[keep], j[keep]


def bootstrap_rsa_stimuli(dissimilarity: np.ndarray, human, method: str, n_bootstrap: int,
                          seed: int = 0) -> np.ndarray:
    """RSA over stimulus resamples (a pair of a stimulus with its own copy left out)."""
    rng = np.random.default_rng(seed)
    n = human.n_stimuli
    iu, ju = np.triu_indices(n, k=1)
    hd = human.dissimilarity
    out = np.empty(n_bootstrap)
    for k in range(n_bootstrap):
        draw = rng.integers(0, n, size=n)
        a, b = draw[iu], draw[ju]
        h = hd[a, b]
        keep = (a != b) & ~np.isnan(h)
        out[k] = correlate(dissimilarity[a[keep], b[keep]], h[keep], method) if keep.sum() > 2 else np.nan
    return out


CI_LEVEL = 0.95
RSA_METHODS = ("spearman", "pearson")


def anchor_scores(similarity: np.ndarray, triplets: AnchorTripletSet) -> np.ndarray:
    """Per-triplet two-way score: 1 when sim(head, close) > sim(head, far), 1/2 on a tie."""
    h, c, f = triplets.head, triplets.close, triplets.far
    return (np.sign(similarity[h, c] - similarity[h, f]) + 1) / 2


def anchor_accuracy(similarity: np.ndarray, triplets: AnchorTripletSet) -> float:
    return float(anchor_scores(similarity, triplets).mean()) if len(triplets) else float("nan")


def anchor_rsa(dissimilarity: np.ndarray, triplets: AnchorTripletSet, method: str = "spearman") -> float:
    human = anchor_similarity(triplets)
    i, j = observed_pairs(human)
    return correlate(dissimilarity[i, j], human.dissimilarity[i, j], method) if len(i) > 2 else float("nan")


def mean_cis(scores: np.ndarray, triplets: AnchorTripletSet, n_bootstrap: int, seed: int) -> dict:
    """95 % CIs of a mean per-triplet score: resampling triplets, and resampling stimuli."""
    column = scores[:, None]
    over_triplets, _ = bootstrap_over_triplets(column, None, n_bootstrap, seed)
    over_stimuli, _ = bootstrap_over_stimuli(column, triplets.triplets, None, triplets.n_stimuli,
                                             n_bootstrap, seed)
    return {"ci": percentile_ci(over_triplets[:, 0], CI_LEVEL), "ci_method": "bootstrap over triplets",
            "ci_stimuli": percentile_ci(over_stimuli[:, 0], CI_LEVEL)}


def bootstrap_anchor_rsa_triplets(dissimilarity: np.ndarray, triplets: AnchorTripletSet, method: str,
                                  n_bootstrap: int, seed: int = 0) -> np.ndarray:
    """RSA over bootstrap resamples of the triplets (the human matrix rebuilt each time)."""
    rng = np.random.default_rng(seed)
    n = len(triplets)
    out = np.empty(n_bootstrap)
    for k in range(n_bootstrap):
        human = anchor_similarity(triplets, np.bincount(rng.integers(0, n, size=n), minlength=n))
        i, j = observed_pairs(human)
        out[k] = correlate(dissimilarity[i, j], human.dissimilarity[i, j], method) if len(i) > 2 else np.nan
    return out


def evaluate_anchor_similarity(similarity: np.ndarray, triplets: AnchorTripletSet,
                               dissimilarity: np.ndarray | None = None, n_bootstrap: int = 1000,
                               n_permutations: int = 200, seed: int = 0) -> dict:
    """Two-way accuracy and RSA with CIs, p-values and the ceilings that can be estimated."""
    d = -similarity if dissimilarity is None else dissimilarity
    human = anchor_similarity(triplets)
    i, j = observed_pairs(human)
    scores = anchor_scores(similarity, triplets)
    acc = float(scores.mean())
    ceiling = repeat_agreement_ceiling(triplets)
    entry = {"value": acc, "chance": 0.5, "ceiling": ceiling["value"],
             "label": "anchor two-way accuracy: sim(head, close) > sim(head, far)"}
    if n_bootstrap:
        entry.update(mean_cis(scores, triplets, n_bootstrap, seed))
    if n_permutations:
        null = permutation_nulls(lambda p: anchor_scores(similarity[np.ix_(p, p)], triplets).mean(),
                                 triplets.n_stimuli, n_permutations, seed)
        entry["p_value"] = permutation_p_value(null, acc)
    out = {"kind": "anchor triplets", "n_triplets": len(triplets), "n_stimuli": triplets.n_stimuli,
           "n_pairs": int(len(i)), "seed": seed, "n_bootstrap": n_bootstrap,
           "ci_level": CI_LEVEL, "anchor_accuracy": entry}
    split = anchor_split_half(triplets, seed=seed)
    rho = split["spearman_brown"]
    for method in RSA_METHODS:
        r = correlate(d[i, j], human.dissimilarity[i, j], method)
        e = {"value": r, "method": method, "pairs": "observed pairs only", "explained_variance": r * r,
             "ceiling": float(np.sqrt(rho)) if rho is not None and rho > 0 else None}
        if n_bootstrap:
            e["ci"] = percentile_ci(bootstrap_rsa_stimuli(d, human, method, n_bootstrap, seed), CI_LEVEL)
            e["ci_method"] = "bootstrap over stimuli"
        out[f"rsa_{method}"] = e
    out["ceilings"] = {"anchor_accuracy": ceiling, "split_half": split}
    return out


def _aligned_similarity(embeddings: Embeddings, triplets: AnchorTripletSet, metric: str, layer):
    from bgs.metrics.distance import similarity_matrix

    x = embeddings.align(triplets.stimulus_ids, "the anchor triplets").layer(layer)
    s = similarity_matrix(x, metric)
    return s, (1.0 - s if metric in ("cosine", "correlation") else -s)


def evaluate_anchor_embeddings(embeddings: Embeddings, triplets: AnchorTripletSet, metric: str = "cosine",
                               layer: str | None = None, **kwargs) -> dict:
    """Align ``embeddings`` to the stimuli of ``triplets`` by id, then evaluate."""
    ts = triplets.used_stimuli()
    s, d = _aligned_similarity(embeddings, ts, metric, layer)
    return {"metric": metric, "layer": layer or embeddings.layer_names[0],
            "embeddings": embeddings.source, **evaluate_anchor_similarity(s, ts, d, **kwargs)}


def paired_difference(sim_a: np.ndarray, sim_b: np.ndarray, triplets: AnchorTripletSet,
                      n_bootstrap: int = 1000, seed: int = 0) -> dict:
    """Model a minus model b on the same triplets (similarities indexed like the triplets):
    accuracy and Spearman RSA differences with paired 95 % CIs over triplets and over stimuli
    (both models scored on the same bootstrap draws)."""
    diff = anchor_scores(sim_a, triplets) - anchor_scores(sim_b, triplets)
    acc = {"value": float(diff.mean()), **mean_cis(diff, triplets, n_bootstrap, seed)}
    human = anchor_similarity(triplets)
    d_a, d_b = 1.0 - sim_a, 1.0 - sim_b
    r = anchor_rsa(d_a, triplets) - anchor_rsa(d_b, triplets)
    over_stimuli = (bootstrap_rsa_stimuli(d_a, human, "spearman", n_bootstrap, seed)
                    - bootstrap_rsa_stimuli(d_b, human, "spearman", n_bootstrap, seed))
    n_rsa = min(n_bootstrap, 200)  # each draw rebuilds the human matrix
    over_triplets = (bootstrap_anchor_rsa_triplets(d_a, triplets, "spearman", n_rsa, seed)
                     - bootstrap_anchor_rsa_triplets(d_b, triplets, "spearman", n_rsa, seed))
    rsa = {"value": float(r), "ci_stimuli": percentile_ci(over_stimuli, CI_LEVEL),
           "ci": percentile_ci(over_triplets, CI_LEVEL), "ci_method": "bootstrap over triplets",
           "method": "spearman"}
    return {"anchor_accuracy": acc, "rsa_spearman": rsa}


def anchor_alignment(similarity: np.ndarray, view) -> dict:
    """The trainer's per-epoch scores on an anchor-triplet view (see
    :meth:`AnchorTripletSet.as_triplet_set`): Spearman RSA and two-way accuracy."""
    triplets = AnchorTripletSet.from_triplet_view(view)
    return {"rsa": anchor_rsa(1.0 - similarity, triplets), "ooo_accuracy": None,
            "anchor_accuracy": anchor_accuracy(similarity, triplets)}
