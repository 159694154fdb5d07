"""The dense evaluation path bgs used before the sparse one: the benchmark's baseline.

A faithful copy of the earlier ``evaluate_similarity`` and the code under it: human
similarity as two dense N×N ``bincount`` s per call, split halves and bootstraps that rebuild
them, RSA resamples over the N×N upper triangle, one permutation loop per score. Kept only
to time it against :func:`bgs.metrics.evaluate.evaluate_model` in the same run and to check
that both give the same numbers; the library no longer uses it.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from bgs.human.reliability import ooo_ceiling, spearman_brown
from bgs.stats import correlate, percentile_ci


def dense_counts(triplets, weights=None):
    """(chosen, cooccurrence) as symmetric N×N arrays."""
    n = triplets.n_stimuli
    t = triplets.triads
    pair = triplets.pair

    def keys(i, j):
        return np.minimum(i, j).astype(np.int64) * n + np.maximum(i, j).astype(np.int64)

    cooc_keys = np.concatenate([keys(t[:, 0], t[:, 1]), keys(t[:, 0], t[:, 2]), keys(t[:, 1], t[:, 2])])
    chosen_keys = keys(pair[:, 0], pair[:, 1])
    if weights is None:
        cooc = np.bincount(cooc_keys, minlength=n * n).reshape(n, n)
        chosen = np.bincount(chosen_keys, minlength=n * n).reshape(n, n)
    else:
        w = np.asarray(weights, dtype=float)
        cooc = np.bincount(cooc_keys, weights=np.tile(w, 3), minlength=n * n).reshape(n, n)
        chosen = np.bincount(chosen_keys, weights=w, minlength=n * n).reshape(n, n)
    return chosen + chosen.T, cooc + cooc.T


def dense_similarity(triplets, weights=None):
    chosen, cooc = dense_counts(triplets, weights)
    obs = cooc > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(obs, chosen / np.where(obs, cooc, 1), np.nan), cooc


def observed(cooc):
    i, j = np.triu_indices(len(cooc), k=1)
    keep = cooc[i, j] > 0
    return i[keep], j[keep]


def _correlate_halves(s1, s2, i, j):
    a, b = s1[i, j], s2[i, j]
    both = ~np.isnan(a) & ~np.isnan(b)
    a, b = a[both], b[both]
    if len(a) < 3:
        return float("nan"), float("nan")
    return correlate(a, b, "spearman"), correlate(a, b, "pearson")


def split_half(triplets, n_splits=100, seed=0):
    """Mean Spearman–Brown reliability over participant splits, per correlation."""
    rng = np.random.default_rng(seed)
    present = np.unique(triplets.participant)
    iu, ju = np.triu_indices(triplets.n_stimuli, k=1)
    sp, pe = [], []
    for _ in range(n_splits):
        half = rng.permutation(present)[: len(present) // 2]
        first = np.isin(triplets.participant, half)
        s1, _ = dense_similarity(triplets.select(first))
        s2, _ = dense_similarity(triplets.select(~first))
        r_s, r_p = _correlate_halves(s1, s2, iu, ju)
        sp.append(r_s)
        pe.append(r_p)
    return {"spearman": float(np.nanmean(spearman_brown(np.array(sp)))),
            "pearson": float(np.nanmean(spearman_brown(np.array(pe))))}


def _pair_similarities(similarity, triads):
    a, b, c = triads[:, 0], triads[:, 1], triads[:, 2]
    return np.stack([similarity[b, c], similarity[a, c], similarity[a, b]], axis=1)


def ooo_scores(similarity, triplets):
    ps = _pair_similarities(similarity, triplets.triads)
    is_max = ps == ps.max(axis=1, keepdims=True)
    return is_max[np.arange(len(ps)), triplets.odd] / is_max.sum(axis=1)


def two_way_scores(similarity, triplets):
    pair = triplets.pair
    x, y, z = pair[:, 0], pair[:, 1], triplets.odd_index
    first = np.sign(similarity[x, y] - similarity[x, z])
    second = np.sign(similarity[y, x] - similarity[y, z])
    return (np.stack([first, second], axis=1) + 1) / 2


def bootstrap_triplet_mean(scores, n_bootstrap, seed):
    rng = np.random.default_rng(seed)
    n = len(scores)
    out = []
    for start in range(0, n_bootstrap, 64):
        idx = rng.integers(0, n, size=(min(64, n_bootstrap - start), n))
        out.append(scores[idx].mean(axis=1))
    return np.concatenate(out) if out else np.empty(0)


def bootstrap_stimulus_mean(scores, triplets, n_bootstrap, seed):
    rng = np.random.default_rng(seed)
    n, t = triplets.n_stimuli, triplets.triads
    out = np.empty(n_bootstrap)
    for k in range(n_bootstrap):
        w = np.bincount(rng.integers(0, n, size=n), minlength=n).astype(float)
        tw = w[t[:, 0]] * w[t[:, 1]] * w[t[:, 2]]
        out[k] = (tw * scores).sum() / tw.sum() if tw.sum() > 0 else np.nan
    return out


def bootstrap_rsa_stimuli(model_d, human_d, method, n_bootstrap, seed):
    rng = np.random.default_rng(seed)
    n = len(human_d)
    iu, ju = np.triu_indices(n, k=1)
    out = np.empty(n_bootstrap)
    for k in range(n_bootstrap):
        draw = rng.integers(0, n, size=n)
        a, b = draw[iu], draw[ju]
        h = human_d[a, b]
        keep = (a != b) & ~np.isnan(h)
        out[k] = correlate(model_d[a[keep], b[keep]], h[keep], method) if keep.sum() > 2 else np.nan
    return out


def bootstrap_rsa_triplets(model_d, triplets, method, n_bootstrap, seed):
    rng = np.random.default_rng(seed)
    n = len(triplets)
    out = np.empty(n_bootstrap)
    for k in range(n_bootstrap):
        s, cooc = dense_similarity(triplets, np.bincount(rng.integers(0, n, size=n), minlength=n))
        i, j = observed(cooc)
        out[k] = correlate(model_d[i, j], 1.0 - s[i, j], method) if len(i) > 2 else np.nan
    return out


def p_value(statistic, observed_value, n_stimuli, n_permutations, seed):
    rng = np.random.default_rng(seed)
    null = np.array([statistic(rng.permutation(n_stimuli)) for _ in range(n_permutations)])
    return float((1 + np.sum(null >= observed_value - 1e-12)) / (1 + n_permutations))


def evaluate_dense(similarity, triplets, dissimilarity, n_bootstrap=1000, n_permutations=1000,
                   seed=0, n_splits=100) -> dict:
    """The earlier evaluation's numbers (fractional ties), keyed like ``evaluate_model``."""
    ts = triplets
    s_h, cooc = dense_similarity(ts)
    human_d = 1.0 - s_h
    i, j = observed(cooc)
    n = ts.n_stimuli
    out = {"n_pairs": int(len(i))}

    def permuted(perm):
        return replace(ts, triads=perm[ts.triads].astype(np.int32))

    ceiling = ooo_ceiling(ts, n_bootstrap=n_bootstrap, seed=seed)
    out["ooo_ceiling"] = (ceiling.lower, ceiling.upper, ceiling.lower_ci, ceiling.upper_ci)
    for name, fn in (("ooo_accuracy", lambda s, t: ooo_scores(s, t)),
                     ("two_way_accuracy_symmetric", lambda s, t: two_way_scores(s, t).mean(axis=1))):
        scores = fn(similarity, ts)
        e = {"value": float(scores.mean())}
        if n_bootstrap:
            e["ci"] = percentile_ci(bootstrap_triplet_mean(scores, n_bootstrap, seed))
            e["ci_stimuli"] = percentile_ci(bootstrap_stimulus_mean(scores, ts, n_bootstrap, seed))
        if n_permutations:
            e["p_value"] = p_value(lambda p, fn=fn: fn(similarity, permuted(p)).mean(), e["value"], n,
                                   n_permutations, seed)
        out[name] = e
    split = split_half(ts, n_splits, seed)
    model_vec, human_vec = dissimilarity[i, j], human_d[i, j]
    for method in ("spearman", "pearson", "kendall_tau_a"):
        r = correlate(model_vec, human_vec, method)
        e = {"value": r}
        if method != "kendall_tau_a":
            e["reliability"] = split[method]
            if n_bootstrap:
                e["ci"] = percentile_ci(bootstrap_rsa_stimuli(dissimilarity, human_d, method, n_bootstrap, seed))
                boot = bootstrap_rsa_triplets(dissimilarity, ts, method, n_bootstrap, seed)
                e["ci_triplets"] = percentile_ci(boot - (np.nanmean(boot) - r))
            if n_permutations:
                e["p_value"] = p_value(lambda p, m=method: correlate(dissimilarity[p[i], p[j]], human_vec, m),
                                       r, n, n_permutations, seed)
        out[f"rsa_{method}"] = e
    return out
