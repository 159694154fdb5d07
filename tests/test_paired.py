"""Paired differences between two models (bgs.metrics.paired) against a brute force that
materialises every resampled copy of the triplets and of the stimuli."""

from itertools import combinations, product

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr

from bgs.data.triplets import TripletSet
from bgs.embeddings import Embeddings
from bgs.metrics.distance import PairSimilarity
from bgs.metrics.paired import compare_embeddings, compare_models, paired_difference


def random_triplets(n_stimuli: int, n: int, seed: int) -> TripletSet:
    rng = np.random.default_rng(seed)
    triads = np.array([rng.choice(n_stimuli, 3, replace=False) for _ in range(n)])
    odd = triads[np.arange(n), rng.integers(0, 3, n)]
    return TripletSet.from_arrays(*triads.T, odd, participant=rng.integers(0, 4, n),
                                  stimulus_ids=np.arange(n_stimuli))


def brute_ooo(sim: np.ndarray, triad, odd: int) -> float:
    """3-way score of one triplet: the human's pair among the k most similar pairs scores 1/k."""
    pairs = {k: [p for p in range(3) if p != k] for k in range(3)}  # the pair kept when k is odd
    s = {k: sim[triad[pairs[k][0]], triad[pairs[k][1]]] for k in range(3)}
    best = [k for k in range(3) if s[k] == max(s.values())]
    return (odd in best) / len(best)


def brute_human(rows, n_stimuli: int) -> np.ndarray:
    """Human dissimilarity 1 − chosen / co-occurrence of (triad, odd position) rows; NaN unobserved."""
    chosen, cooc = np.zeros((n_stimuli, n_stimuli)), np.zeros((n_stimuli, n_stimuli))
    for triad, odd in rows:
        for p, q in combinations(range(3), 2):
            x, y = triad[p], triad[q]
            cooc[x, y] += 1
            cooc[y, x] += 1
            if odd not in (p, q):
                chosen[x, y] += 1
                chosen[y, x] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cooc > 0, 1 - chosen / cooc, np.nan)


def brute_rsa(d: np.ndarray, h: np.ndarray, pairs) -> float:
    pairs = [(x, y) for x, y in pairs if not np.isnan(h[x, y])]
    return spearmanr([d[x, y] for x, y in pairs], [h[x, y] for x, y in pairs])[0]


def brute_force(sims, ts: TripletSet, n_bootstrap: int, seed: int):
    """(accuracy, RSA) differences of sims[0] − sims[1] over resampled copies: triplets drawn
    with replacement, then stimuli drawn with replacement (each drawn copy a new stimulus)."""
    n, n_stim = len(ts), ts.n_stimuli
    rows = list(zip(ts.triads.tolist(), ts.odd.tolist()))
    ds = [1 - s for s in sims]
    h = brute_human(rows, n_stim)
    all_pairs = list(combinations(range(n_stim), 2))
    rng = np.random.default_rng(seed)
    acc_t, rsa_t = [], []
    for _ in range(n_bootstrap):
        copy = [rows[k] for k in rng.integers(0, n, size=n)]
        acc_t.append(np.mean([brute_ooo(sims[0], t, o) - brute_ooo(sims[1], t, o) for t, o in copy]))
        hc = brute_human(copy, n_stim)
        rsa_t.append(brute_rsa(ds[0], hc, all_pairs) - brute_rsa(ds[1], hc, all_pairs))
    rng = np.random.default_rng(seed)
    acc_s, rsa_s = [], []
    for _ in range(n_bootstrap):
        draw = rng.integers(0, n_stim, size=n_stim)  # copy c is a copy of stimulus draw[c]
        at = {x: np.flatnonzero(draw == x) for x in range(n_stim)}
        copies = [(t, o) for t, o in rows for _ in product(at[t[0]], at[t[1]], at[t[2]])]
        acc_s.append(np.mean([brute_ooo(sims[0], t, o) - brute_ooo(sims[1], t, o) for t, o in copies])
                     if copies else np.nan)
        pairs = [(draw[p], draw[q]) for p, q in combinations(range(n_stim), 2) if draw[p] != draw[q]]
        rsa_s.append(brute_rsa(ds[0], h, pairs) - brute_rsa(ds[1], h, pairs))
    value_rsa = brute_rsa(ds[0], h, all_pairs) - brute_rsa(ds[1], h, all_pairs)
    rsa_t = np.array(rsa_t) - (np.mean(rsa_t) - value_rsa)  # bias-corrected, as documented
    return np.array(acc_t), rsa_t, np.array(acc_s), np.array(rsa_s), value_rsa


def _ci(v):
    v = np.asarray(v)[~np.isnan(v)]
    return tuple(np.quantile(v, [0.025, 0.975]))


def test_compare_models_matches_materialised_copies():
    n_stim, b, seed = 7, 25, 3
    ts = random_triplets(n_stim, 40, seed=1)
    rng = np.random.default_rng(5)
    x_a, x_b = rng.normal(size=(n_stim, 3)), rng.normal(size=(n_stim, 3))
    sims = [PairSimilarity(x, "cosine").matrix for x in (x_a, x_b)]
    got = compare_models(PairSimilarity(x_a), PairSimilarity(x_b), ts, n_bootstrap=b, seed=seed)
    acc_t, rsa_t, acc_s, rsa_s, value_rsa = brute_force(sims, ts, b, seed)
    acc = got["ooo_accuracy"]
    want_acc = np.mean([brute_ooo(sims[0], t, o) - brute_ooo(sims[1], t, o)
                        for t, o in zip(ts.triads.tolist(), ts.odd.tolist())])
    assert acc["value"] == pytest.approx(want_acc, abs=1e-12)
    assert acc["ci"] == pytest.approx(_ci(acc_t), abs=1e-12)
    assert acc["ci_stimuli"] == pytest.approx(_ci(acc_s), abs=1e-12)
    assert acc["share_positive"] == pytest.approx(np.mean(acc_t > 0))
    assert acc["share_positive_stimuli"] == pytest.approx(np.mean(acc_s[~np.isnan(acc_s)] > 0))
    rsa = got["rsa_spearman"]
    assert rsa["value"] == pytest.approx(value_rsa, abs=1e-12)
    assert rsa["ci"] == pytest.approx(_ci(rsa_t), abs=1e-9)
    assert rsa["ci_stimuli"] == pytest.approx(_ci(rsa_s), abs=1e-9)
    assert rsa["share_positive"] == pytest.approx(np.mean(rsa_t > 0))
    assert rsa["share_positive_stimuli"] == pytest.approx(np.mean(rsa_s[~np.isnan(rsa_s)] > 0))
    assert got["n_triplets"] == 40 and got["n_stimuli"] == n_stim


def test_paired_difference_of_scores_matches_materialised_copies():
    ts = random_triplets(6, 30, seed=2)
    rng = np.random.default_rng(0)
    a, b = rng.random(30), rng.random(30)
    got = paired_difference(a, b, ts, n_bootstrap=40, seed=7)
    draws = np.random.default_rng(7).integers(0, 30, size=(40, 30))
    assert got["ci"] == pytest.approx(_ci((a - b)[draws].mean(axis=1)), abs=1e-12)
    assert got["share_positive"] == pytest.approx(np.mean((a - b)[draws].mean(axis=1) > 0))
    assert got["value"] == pytest.approx((a - b).mean()) and got["n_triplets"] == 30


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.integers(5, 9))
def test_swapping_the_models_negates_the_difference(seed, n_stim):
    ts = random_triplets(n_stim, 30, seed)
    rng = np.random.default_rng(seed)
    ids = np.arange(n_stim)
    a, b = (Embeddings.from_array(ids, rng.normal(size=(n_stim, 4))) for _ in range(2))
    ab = compare_embeddings(a, b, ts, n_bootstrap=30, seed=seed)
    ba = compare_embeddings(b, a, ts, n_bootstrap=30, seed=seed)
    for key in ("ooo_accuracy", "rsa_spearman"):
        assert ab[key]["value"] == pytest.approx(-ba[key]["value"], abs=1e-12)
        for ci in ("ci", "ci_stimuli"):
            if ab[key][ci] is not None:
                lo, hi = ab[key][ci]
                assert (lo, hi) == pytest.approx((-ba[key][ci][1], -ba[key][ci][0]), abs=1e-9)
    same = compare_embeddings(a, a, ts, n_bootstrap=30, seed=seed)
    assert same["ooo_accuracy"]["value"] == 0 and same["ooo_accuracy"]["ci"] == (0.0, 0.0)
    assert same["ooo_accuracy"]["share_positive"] == 0


def test_compare_embeddings_uses_the_stimuli_of_the_triplets():
    """Stimuli no triplet uses change nothing (the draws are over the used stimuli, as in
    the single-model evaluation)."""
    ts = random_triplets(6, 30, seed=4)
    wide = TripletSet.from_arrays(*ts.triads.T, ts.odd_index, participant=ts.participant,
                                  stimulus_ids=np.arange(9))
    rng = np.random.default_rng(1)
    a, b = (Embeddings.from_array(np.arange(9), rng.normal(size=(9, 3))) for _ in range(2))
    assert compare_embeddings(a, b, wide, n_bootstrap=20) == compare_embeddings(a, b, ts, n_bootstrap=20)
