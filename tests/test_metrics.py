"""Alignment metrics against brute force, scipy and rsatoolbox; embeddings files; CLI."""

import json
from itertools import combinations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cdist
from scipy.stats import pearsonr, spearmanr

from bgs.cli import main
from bgs.data.triplets import TripletSet
from bgs.embeddings import Embeddings, MissingEmbeddingError
from bgs.errors import ConfigError, DataFileError, DuplicateIdError
from bgs.human import human_similarity
from bgs.metrics import alignment as al
from bgs.metrics.distance import PairSimilarity, dissimilarity_matrix, similarity_matrix
from bgs.metrics.evaluate import embedding_ooo_scores, evaluate_embeddings
from bgs.metrics.resampling import (
    RSAData,
    bootstrap_over_stimuli,
    bootstrap_over_triplets,
    permutation_nulls,
    permutation_p_value,
)
from bgs.stats import correlate, kendall_tau_a, percentile_ci, weighted_pearson


@st.composite
def triplets_and_similarity(draw, max_stimuli=10, max_rows=50, integer_sims=True):
    n = draw(st.integers(3, max_stimuli))
    rows = draw(st.lists(st.tuples(st.permutations(range(n)).map(lambda p: p[:3]),
                                   st.integers(0, 2), st.integers(0, 3)), min_size=1, max_size=max_rows))
    a, b, c = ([r[0][k] for r in rows] for k in range(3))
    odd = [r[0][r[1]] for r in rows]
    ts = TripletSet.from_arrays(a, b, c, odd, participant=[r[2] for r in rows],
                                stimulus_ids=np.arange(n))
    # small integer similarities make ties frequent
    vals = draw(st.lists(st.integers(0, 3) if integer_sims else st.floats(-1, 1),
                         min_size=n * n, max_size=n * n))
    s = np.array(vals, dtype=float).reshape(n, n)
    return ts, (s + s.T) / 2


def rows(ts):
    return ts.to_frame()[["a", "b", "c", "odd"]].itertuples(index=False, name=None)


# ---------------------------------------------------------------------- distances
@pytest.mark.parametrize("metric,scipy_name", [("cosine", "cosine"), ("correlation", "correlation"),
                                               ("euclidean", "euclidean")])
def test_dissimilarity_matches_scipy(metric, scipy_name):
    x = np.random.default_rng(0).normal(size=(30, 7))
    assert np.allclose(dissimilarity_matrix(x, metric, block=7), cdist(x, x, scipy_name), atol=1e-9)


def test_similarity_dot_and_pairs():
    x = np.random.default_rng(1).normal(size=(20, 5))
    assert np.allclose(similarity_matrix(x, "dot", block=3), x @ x.T)
    i, j = np.array([0, 3, 5]), np.array([1, 4, 19])
    for metric in ("cosine", "correlation", "euclidean", "dot"):
        expected = similarity_matrix(x, metric)[i, j]
        assert np.allclose(PairSimilarity(x, metric, dense=False).of(i, j), expected)  # gathered rows
        assert np.array_equal(PairSimilarity(x, metric, dense=True).of(i, j), expected)
        many_i, many_j = np.triu_indices(20, k=1)  # enough pairs for blocks of rows
        assert np.allclose(PairSimilarity(x, metric, dense=False).of(many_i, many_j),
                           similarity_matrix(x, metric)[many_i, many_j])
    with pytest.raises(ConfigError, match="unknown metric"):
        similarity_matrix(x, "manhattan")


# ---------------------------------------------------------------------- accuracies
def brute_ooo(s, ts, ties="fractional"):
    total = 0.0
    for a, b, c, odd in rows(ts):
        sims = {c: s[a, b], b: s[a, c], a: s[b, c]}  # key: the odd one out if that pair wins
        best = max(sims.values())
        winners = [k for k, v in sims.items() if v == best]
        if odd in winners:
            total += 1 / len(winners) if ties == "fractional" else float(len(winners) == 1)
    return total / len(ts)


def brute_two_way(s, ts):
    first = second = 0.0
    for a, b, c, odd in rows(ts):
        x, y = [v for v in (a, b, c) if v != odd]
        first += 1.0 if s[x, y] > s[x, odd] else 0.5 if s[x, y] == s[x, odd] else 0.0
        second += 1.0 if s[y, x] > s[y, odd] else 0.5 if s[y, x] == s[y, odd] else 0.0
    return first / len(ts), second / len(ts)


@settings(max_examples=80, deadline=None)
@given(triplets_and_similarity())
def test_ooo_accuracy_matches_brute_force(data):
    ts, s = data
    for ties in ("fractional", "wrong"):
        assert al.ooo_accuracy(s, ts, ties) == pytest.approx(brute_ooo(s, ts, ties))
    assert 0 <= al.ooo_accuracy(s, ts) <= 1


@settings(max_examples=80, deadline=None)
@given(triplets_and_similarity())
def test_two_way_matches_brute_force(data):
    ts, s = data
    first, second = brute_two_way(s, ts)
    got = al.two_way_scores(s, ts)
    assert got[:, 0].mean() == pytest.approx(first)
    assert got[:, 1].mean() == pytest.approx(second)


def test_constant_model_is_exactly_at_chance():
    ts = TripletSet.from_arrays([0, 1], [1, 2], [2, 3], [0, 3])
    s = np.ones((4, 4))
    assert al.ooo_accuracy(s, ts) == pytest.approx(1 / 3)
    assert al.two_way_scores(s, ts).mean() == 0.5
    assert al.ooo_accuracy(s, ts, ties="wrong") == 0.0
    with pytest.raises(ConfigError):
        al.ooo_accuracy(s, ts, ties="random")


# ---------------------------------------------------------------------- RSA
def brute_tau_a(x, y):
    n = len(x)
    s = sum(np.sign(x[i] - x[j]) * np.sign(y[i] - y[j]) for i, j in combinations(range(n), 2))
    return s / (n * (n - 1) / 2)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=3, max_size=40))
def test_kendall_tau_a_matches_brute_force(pairs):
    x, y = (np.array(v, dtype=float) for v in zip(*pairs))
    assert kendall_tau_a(x, y) == pytest.approx(brute_tau_a(x, y), abs=1e-12)


@settings(max_examples=50, deadline=None)
@given(triplets_and_similarity(integer_sims=False))
def test_rsa_matches_scipy_over_observed_pairs(data):
    ts, s = data
    h = human_similarity(ts)
    d = 1 - s
    i, j = np.triu_indices(ts.n_stimuli, k=1)
    keep = h.cooccurrence[i, j] > 0
    x, y = d[i, j][keep], h.dissimilarity[i, j][keep]
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return
    assert al.rsa(d, h, "spearman") == pytest.approx(spearmanr(x, y)[0], abs=1e-9)
    assert al.rsa(d, h, "pearson") == pytest.approx(pearsonr(x, y)[0], abs=1e-9)
    assert al.rsa(d, h, "kendall_tau_a") == pytest.approx(brute_tau_a(x, y), abs=1e-9)


def test_rsa_matches_rsatoolbox_on_real_data(garcia_triplets):
    from rsatoolbox.rdm import RDMs, compare

    test = garcia_triplets.restrict(garcia_triplets.stimulus_ids[:60])  # sparse: many unobserved
    h = human_similarity(test)
    x = np.random.default_rng(0).normal(size=(test.n_stimuli, 8))
    d = dissimilarity_matrix(x)
    i, j = np.triu_indices(test.n_stimuli, k=1)
    hv = h.dissimilarity[i, j]
    mv = np.where(np.isnan(hv), np.nan, d[i, j])
    assert np.isnan(hv).any() and (~np.isnan(hv)).sum() > 100
    for ours, theirs in (("spearman", "spearman"), ("pearson", "corr"), ("kendall_tau_a", "tau-a")):
        expected = compare(RDMs(mv[None]), RDMs(hv[None]), method=theirs)[0, 0]
        assert al.rsa(d, h, ours) == pytest.approx(expected, abs=1e-9), ours


@given(st.integers(2, 40), st.floats(1e-3, 1e3), st.integers(1, 9))
def test_pearson_of_equal_values_is_nan_not_rounding(n, value, denominator):
    """Equal values whose centring leaves rounding residue (three copies of 1/3 do) have
    no correlation: NaN from the plain and the weighted form, not an arbitrary r."""
    equal = np.full(n, value / denominator)
    other = np.arange(n, dtype=float)
    w = np.random.default_rng(n).integers(0, 3, n).astype(float)
    w[0] = 1.0
    assert np.isnan(correlate(equal, other, "pearson"))
    assert np.isnan(weighted_pearson(equal, other, w)) and np.isnan(weighted_pearson(other, equal, w))
    # equal only where the weight is positive: still no variance in the weighted data
    uneven = np.where(w > 0, equal, 7.0)
    assert np.isnan(weighted_pearson(uneven, other, w))
    assert weighted_pearson(other, other, w) == pytest.approx(1.0) or (w > 0).sum() < 2


def test_unknown_correlation_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown correlation"):
        correlate(np.arange(3.0), np.arange(3.0), "nope")


# ---------------------------------------------------------------------- resampling
def test_bootstrap_and_permutation_are_seeded_and_sane():
    scores = np.random.default_rng(0).random(500)[:, None]
    a, _ = bootstrap_over_triplets(scores, None, 300, seed=4)
    b, _ = bootstrap_over_triplets(scores, None, 300, seed=4)
    assert np.array_equal(a, b)
    lo, hi = percentile_ci(a[:, 0])
    assert lo < scores.mean() < hi
    se = scores.std() / np.sqrt(len(scores))
    assert hi - lo == pytest.approx(2 * 1.96 * se, rel=0.25)
    null = permutation_nulls(lambda perm: np.array([perm[0]]), 5, 99, seed=0)
    assert permutation_p_value(null[:, 0], 10**9) == pytest.approx(1 / 100) and null.shape == (99, 1)


def test_triplet_bootstrap_mean_matches_materialised_copies():
    scores = np.random.default_rng(2).random(300)
    got, _ = bootstrap_over_triplets(scores[:, None], None, 7, seed=3)
    idx = np.random.default_rng(3).integers(0, 300, size=(7, 300))  # the draws of all seven
    assert np.allclose(got[:, 0], scores[idx].mean(axis=1), rtol=0, atol=1e-12)


def test_stimulus_bootstrap_weights_match_brute_force():
    ts = TripletSet.from_arrays([0, 1, 0], [1, 2, 2], [2, 3, 3], [0, 3, 2])
    scores = np.array([1.0, 0.0, 0.5])
    rng = np.random.default_rng(11)
    draw = rng.integers(0, 4, size=4)
    w = np.bincount(draw, minlength=4)
    weights = [w[a] * w[b] * w[c] for a, b, c in ts.triads]
    expected = np.dot(weights, scores) / sum(weights) if sum(weights) else np.nan
    got = bootstrap_over_stimuli(scores[:, None], ts.triads, None, 4, 1, seed=11)[0][0, 0]
    assert (np.isnan(got) and np.isnan(expected)) or got == pytest.approx(expected)


def _rsa_data(ts, d):
    from bgs.human.similarity import PairIndex

    index = PairIndex(ts)
    return RSAData(index, d[index.i, index.j])


@pytest.mark.parametrize("method", ["spearman", "pearson"])
def test_rsa_bootstraps_match_materialised_copies(garcia_triplets, method):
    """Weighted pairs give what correlating the copied pairs gives, with the same draws."""
    ts = garcia_triplets.restrict(garcia_triplets.stimulus_ids[:40])
    h = human_similarity(ts)
    d = dissimilarity_matrix(np.random.default_rng(0).normal(size=(40, 4)))
    data = _rsa_data(ts, d)
    _, by_stimuli = bootstrap_over_stimuli(np.zeros((len(ts), 1)), ts.triads, data, 40, 5, seed=1)
    _, by_triplets = bootstrap_over_triplets(np.zeros((len(ts), 1)), data, 5, seed=1)
    rng_s, rng_t = np.random.default_rng(1), np.random.default_rng(1)
    iu, ju = np.triu_indices(40, k=1)
    hd = h.dissimilarity
    for k in range(5):
        draw = rng_s.integers(0, 40, size=40)  # the copies: every pair of drawn positions
        a, b = draw[iu], draw[ju]
        keep = (a != b) & ~np.isnan(hd[a, b])
        assert by_stimuli[method][k] == pytest.approx(correlate(d[a[keep], b[keep]], hd[a, b][keep], method),
                                                      abs=1e-12)
        hw = human_similarity(ts, weights=np.bincount(rng_t.integers(0, len(ts), len(ts)), minlength=len(ts)))
        assert by_triplets[method][k] == pytest.approx(al.rsa(d, hw, method), abs=1e-12)


def test_rsa_stimulus_bootstrap_covers_estimate(garcia_triplets):
    h = human_similarity(garcia_triplets)
    d = dissimilarity_matrix(np.random.default_rng(0).normal(size=(250, 4)))
    d = 0.2 * d + np.nan_to_num(h.dissimilarity)  # a partly aligned model
    r = al.rsa(d, h)
    _, boot = bootstrap_over_stimuli(np.zeros((len(garcia_triplets), 1)), garcia_triplets.triads,
                                     _rsa_data(garcia_triplets, d), 250, 100, seed=0)
    lo, hi = percentile_ci(boot["spearman"])
    assert lo < r < hi and r > 0.3


@settings(max_examples=30, deadline=None)
@given(triplets_and_similarity(), st.integers(0, 2**16))
def test_embedding_ooo_scores_align_by_id_and_match_brute_force(data, seed):
    ts, _ = data
    n = len(ts.stimulus_ids)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    order = rng.permutation(n)  # the file's rows in another order than the triplets' ids
    scores = embedding_ooo_scores(Embeddings(ts.stimulus_ids[order], {"embeddings": x[order]}, "mem"), ts)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    assert scores.shape == (len(ts),) and set(np.unique(scores)) <= {0.0, 1 / 3, 0.5, 1.0}
    assert scores.mean() == pytest.approx(brute_ooo(unit @ unit.T, ts))


# ---------------------------------------------------------------------- embeddings files
@pytest.mark.parametrize("suffix", [".npz", ".parquet", ".safetensors"])
def test_embeddings_roundtrip(tmp_path, suffix):
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    e = Embeddings([10, 11, 12, 13, 14] and np.array([10, 11, 12, 13, 14]),
                   {"embeddings": x, "block.3": x * 2}, "mem")
    path = e.save(tmp_path / f"e{suffix}")
    back = Embeddings.load(path)
    assert back.ids.tolist() == [10, 11, 12, 13, 14] and back.layer_names == ["embeddings", "block.3"]
    assert np.allclose(back.matrix, x) and np.allclose(back.layer("block.3"), 2 * x)
    assert not list(tmp_path.glob(".*tmp"))
    s = Embeddings.from_array(np.array(["a", "b"]), np.eye(2)).save(tmp_path / f"s{suffix}")
    assert Embeddings.load(s).ids.tolist() == ["a", "b"]


def test_embeddings_errors(tmp_path):
    e = Embeddings.from_array([1, 2, 3], np.eye(3), source="e.npz")
    assert e.align([3, 1]).matrix.tolist() == [[0, 0, 1], [1, 0, 0]]
    with pytest.raises(MissingEmbeddingError, match="7, 9"):
        e.align([1, 7, 9])
    with pytest.raises(DuplicateIdError, match=r"\[1\]"):
        Embeddings.from_array([1, 1, 2], np.eye(3))
    with pytest.raises(DataFileError, match="no layer 'x'"):
        e.layer("x")
    np.savez(tmp_path / "bad.npz", embeddings=np.eye(2))
    with pytest.raises(DataFileError, match="no array 'ids'"):
        Embeddings.load(tmp_path / "bad.npz")
    np.savez(tmp_path / "nan.npz", ids=np.arange(2), embeddings=np.array([[0, 1], [np.nan, 1]]))
    with pytest.raises(DataFileError, match=r"NaN .* ids \[1\]"):
        Embeddings.load(tmp_path / "nan.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataFileError, match="cannot be read"):
        Embeddings.load(tmp_path / "junk.npz")


# ---------------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def ratings(garcia_dir):
    from bgs.data.garcia2025 import load_garcia2025

    data = load_garcia2025(garcia_dir)
    att = data.stimuli.attributes
    return data, Embeddings.from_array(att.index.to_numpy(), att.to_numpy(), source="ratings")


@pytest.mark.slow
def test_ratings_model_beats_chance_random_model_at_chance(ratings):
    data, model = ratings
    test = data.split.apply(data.triplets)["test"]
    for triplets in (test, data.triplets):
        r = evaluate_embeddings(model, triplets, n_bootstrap=200, n_permutations=100, n_splits=10)
        assert r["ooo_accuracy"]["ci"][0] > 1 / 3 and r["ooo_accuracy"]["p_value"] < 0.05
        assert r["two_way_accuracy_symmetric"]["ci"][0] > 0.5
        assert r["rsa_spearman"]["ci"][0] > 0
        assert r["ooo_accuracy"]["value"] < r["ooo_accuracy"]["ceiling"]["upper"]
    assert r["n_triplets"] == 47_126 and r["n_pairs"] == 31_125
    rng = np.random.default_rng(5)
    noise = Embeddings.from_array(model.ids, rng.normal(size=(250, 64)))
    r = evaluate_embeddings(noise, data.triplets, n_bootstrap=300, n_permutations=0, n_splits=5)
    lo, hi = r["ooo_accuracy"]["ci_stimuli"]
    assert lo < 1 / 3 < hi
    lo, hi = r["two_way_accuracy_symmetric"]["ci_stimuli"]
    assert lo < 0.5 < hi
    lo, hi = r["rsa_spearman"]["ci"]
    assert lo < 0 < hi


def test_cli_evaluate_json(ratings, garcia_dir, tmp_path, capsys):
    data, model = ratings
    path = model.save(tmp_path / "ratings.parquet")
    code = main(["evaluate", "-e", str(path), "-t", str(garcia_dir / "all_triplets.csv"),
                 "-f", "garcia2025", "--split", str(garcia_dir / "test.csv"), "--stimuli",
                 str(garcia_dir / "video_mapping.csv"), "--n-bootstrap", "50",
                 "--n-permutations", "20", "--json", "--out", str(tmp_path / "r.json")])
    assert code == 0
    r = json.loads(capsys.readouterr().out)
    assert r == json.loads((tmp_path / "r.json").read_text())
    assert r["n_triplets"] == 368 and r["n_stimuli"] == 50
    for key in ("ooo_accuracy", "two_way_accuracy_symmetric", "rsa_spearman", "rsa_pearson"):
        assert len(r[key]["ci"]) == 2 and "value" in r[key]
    assert "anchor" in r["two_way_accuracy_symmetric"]["label"]
    test = data.split.apply(data.triplets)["test"]
    s = similarity_matrix(model.align(test.stimulus_ids).matrix)
    assert r["ooo_accuracy"]["value"] == pytest.approx(brute_ooo(s, test))


def test_cli_evaluate_missing_embedding_is_one_line(tmp_path, capsys, garcia_dir):
    path = Embeddings.from_array([0, 1, 2], np.eye(3)).save(tmp_path / "few.npz")
    code = main(["evaluate", "-e", str(path), "-t", str(garcia_dir / "test_triplets.csv"),
                 "-f", "garcia2025"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "have no embedding" in err and "few.npz" in err
