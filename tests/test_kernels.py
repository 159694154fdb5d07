"""The compiled kernels against their numpy references: the same statistic from the same
draws (equal counts, floats equal to rounding), the triplet bootstrap's own draws a
multinomial, and CIs that agree with the reference draws within Monte Carlo error."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bgs import kernels as kn
from bgs.data.triplets import TripletSet
from bgs.human.reliability import split_half_reliability, triad_choice_counts
from bgs.human.similarity import PairIndex, SortedTriplets, from_counts
from bgs.metrics import compiled as cp
from bgs.metrics import resampling as rs
from bgs.metrics.distance import PairSimilarity
from bgs.metrics.evaluate import evaluate_model
from bgs.metrics.permutation import PermutedScores
from strategies import triplet_sets as random_triplets


@st.composite
def triplet_sets(draw, max_stimuli=8, max_rows=40):
    ts = draw(random_triplets(max_stimuli, 3, max_rows))
    ts = ts.restrict(ts.stimulus_ids[np.unique(ts.triads)])
    # small integers: ties in the model side are frequent
    x = np.array(draw(st.lists(st.integers(0, 3), min_size=2 * ts.n_stimuli, max_size=2 * ts.n_stimuli)),
                 float).reshape(ts.n_stimuli, 2)
    return ts, x


def _setup(ts, x, metric="dot"):
    index = PairIndex(ts)
    model = PairSimilarity(x, metric, dense=True)
    d = model.dissimilarity(index.i, index.j)
    return index, model, rs.RSAData(index, d)


def _by_pair(ts, x):
    """The pair index, the model's RSA data and the triplets sorted by pair."""
    index, _, rsa = _setup(ts, x)
    return index, rsa, SortedTriplets(index, ts)


def _close(a, b, tol=1e-9):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return a.shape == b.shape and bool(np.all((np.isnan(a) & np.isnan(b)) | (np.abs(a - b) <= tol)))


@settings(max_examples=40, deadline=None)
@given(triplet_sets(), st.integers(0, 2**31 - 1))
def test_triplet_kernel_equals_reference_with_its_draws(data, seed):
    ts, x = data
    index, rsa, by_pair = _by_pair(ts, x)
    scores = np.random.default_rng(seed).integers(0, 4, (len(ts), 2)) / 3
    codes, values = cp.score_codes(scores)
    assert np.array_equal(values[codes], scores)
    means, corr = cp.bootstrap_over_triplets(codes[by_pair.order], values, by_pair, rsa, 5, seed)
    for b in range(5):
        w = np.empty(len(ts))
        w[by_pair.order] = kn.triplet_multiplicities(len(ts), seed, b)  # kernel order -> rows
        ref = rsa.after_triplet_resample(w)
        assert np.allclose(means[b], (w @ scores) / len(ts), rtol=0, atol=1e-12)
        assert _close(corr["spearman"][b], ref["spearman"]) and _close(corr["pearson"][b], ref["pearson"])


@settings(max_examples=40, deadline=None)
@given(triplet_sets(), st.integers(0, 2**31 - 1))
def test_stimulus_kernel_equals_reference_same_draws(data, seed):
    ts, x = data
    _, _, rsa = _setup(ts, x)
    scores = np.random.default_rng(seed).integers(0, 3, (len(ts), 2)) / 2
    codes, values = cp.score_codes(scores)
    means, corr = cp.bootstrap_over_stimuli(codes, values, ts.triads, rsa, ts.n_stimuli, 6, seed)
    ref_means, ref_corr = rs.bootstrap_over_stimuli(scores, ts.triads, rsa, ts.n_stimuli, 6, seed)
    assert _close(means, ref_means, 1e-12)
    assert _close(corr["spearman"], ref_corr["spearman"]) and _close(corr["pearson"], ref_corr["pearson"])


@settings(max_examples=40, deadline=None)
@given(triplet_sets(), st.sampled_from(["dot", "cosine", "euclidean"]), st.integers(0, 1000))
def test_permutation_kernel_equals_reference(data, metric, seed):
    ts, x = data
    index, model, _ = _setup(ts, x, metric)
    human = from_counts(ts.stimulus_ids, index, *index.totals).pair_dissimilarity
    scores = PermutedScores(model, index, *triad_choice_counts(ts), human, "fractional")
    scores.tables = True  # the kernel's path whatever the size
    scores._build_tables()
    perms = rs.permutations(ts.n_stimuli, 5, seed)
    assert _close(scores.many(perms), np.array([scores(p) for p in perms]))


@settings(max_examples=30, deadline=None)
@given(triplet_sets(max_rows=60), st.integers(0, 1000))
def test_split_half_kernel_equals_reference(data, seed):
    ts, _ = data
    if len(np.unique(ts.participant)) < 2:
        return
    a = split_half_reliability(ts, n_splits=4, seed=seed, compiled=True)
    b = split_half_reliability(ts, n_splits=4, seed=seed, compiled=False)
    assert np.array_equal(a.n_pairs, b.n_pairs)
    assert _close(a.spearman, b.spearman) and _close(a.pearson, b.pearson)


def test_triplet_draws_are_a_multinomial():
    """n draws with replacement: the counts sum to n, each item is drawn 1 time on average
    with variance 1 − 1/n, pairs of items covary by −1/n; the same (seed, resample) gives
    the same draws, another seed others."""
    n, b = 5000, 400
    w = np.stack([kn.triplet_multiplicities(n, 7, r) for r in range(b)]).astype(float)
    assert (w.sum(axis=1) == n).all()
    assert abs(w.mean() - 1) < 1e-12
    assert abs(w.var(axis=0).mean() - (1 - 1 / n)) < 0.02
    # the block structure: items of one block (first two) and of two blocks covary alike
    for u, v in ((0, 1), (0, n - 1)):
        assert abs(np.cov(w[:, u], w[:, v])[0, 1] + 1 / n) < 0.15
    per_block = w[:, :kn.BLOCK].sum(axis=1)  # Binomial(n, BLOCK / n)
    assert abs(per_block.mean() - kn.BLOCK) < 4 * np.sqrt(kn.BLOCK / b)
    assert np.array_equal(kn.triplet_multiplicities(n, 7, 3), kn.triplet_multiplicities(n, 7, 3))
    assert not np.array_equal(kn.triplet_multiplicities(n, 7, 3), kn.triplet_multiplicities(n, 8, 3))


@pytest.mark.slow
def test_compiled_cis_agree_with_reference_draws_within_monte_carlo_error():
    """The triplet bootstrap draws changed: its distributions (1,000 resamples each) have
    the reference's mean and spread within Monte Carlo error; the rest equals the reference."""
    rng = np.random.default_rng(0)
    n, t = 40, 3000
    z = rng.random((n, 3))
    triads = np.array([rng.choice(n, 3, replace=False) for _ in range(t)])
    sims = np.stack([(z[triads[:, b]] * z[triads[:, c]]).sum(1) for b, c in ((1, 2), (0, 2), (0, 1))], 1)
    odd = np.argmax(sims * 4 + rng.gumbel(size=sims.shape), axis=1)
    ts = TripletSet.from_arrays(triads[:, 0], triads[:, 1], triads[:, 2], triads[np.arange(t), odd],
                                participant=rng.integers(0, 30, t), stimulus_ids=np.arange(n))
    x = z + 0.3 * rng.random(z.shape)
    kw = dict(n_bootstrap=1000, n_permutations=50, n_splits=5, seed=1)
    a = evaluate_model(PairSimilarity(x, "dot"), ts, **kw)
    b = evaluate_model(PairSimilarity(x, "dot"), ts, compiled=False, **kw)
    for key, field in (("ooo_accuracy", "ci"), ("two_way_accuracy_symmetric", "ci"),
                       ("rsa_spearman", "ci_triplets"), ("rsa_pearson", "ci_triplets")):
        ca, cb = np.array(a[key][field]), np.array(b[key][field])
        half_width = (cb[1] - cb[0]) / 2
        # percentile endpoints of 1,000 resamples: Monte Carlo SD about 0.05 half-widths
        assert np.all(np.abs(ca - cb) < 0.25 * half_width), (key, ca, cb)
    for key, field in (("ooo_accuracy", "ci_stimuli"), ("rsa_spearman", "ci"), ("ooo_accuracy", "value"),
                       ("rsa_spearman", "reliability"), ("ooo_accuracy", "p_value")):
        assert np.allclose(a[key][field], b[key][field], rtol=0, atol=1e-12), (key, field)


@settings(max_examples=20, deadline=None)
@given(triplet_sets(), st.integers(0, 2**31 - 1))
def test_triplet_kernel_packed_and_two_column_counts_agree(data, seed):
    ts, x = data
    index, rsa, by_pair = _by_pair(ts, x)
    codes, values = cp.score_codes(np.random.default_rng(seed).integers(0, 3, (len(ts), 1)) / 2)
    codes = codes[by_pair.order]
    a = cp.bootstrap_over_triplets(codes, values, by_pair, rsa, 4, seed, packed=True)
    b = cp.bootstrap_over_triplets(codes, values, by_pair, rsa, 4, seed, packed=False)
    assert _close(a[0], b[0], 0) and all(_close(a[1][m], b[1][m], 0) for m in a[1])


def test_packed_pair_counts_that_overflow_are_caught(monkeypatch):
    """A pair seen 70,000 times overflows 16 bits in every resample: the kernel says so
    (the co-occurrences no longer sum to 3n), and a bootstrap told so reruns with two
    int32 columns, with the same result as asking for them."""
    n = 70_000
    triads = np.tile([[0, 1, 2], [0, 1, 3]], (n // 2, 1))
    ts = TripletSet.from_arrays(triads[:, 0], triads[:, 1], triads[:, 2], triads[:, 2],
                                participant=np.arange(n) % 7, stimulus_ids=np.arange(4))
    index, rsa, by_pair = _by_pair(ts, np.array([[0.0, 1], [1, 0], [2, 1], [1, 3]]))
    codes, values = cp.score_codes(np.ones((n, 1)))
    _, corr, overflow = kn.triplet_bootstrap(3, 2, by_pair.slots, by_pair.odd, codes, len(values), by_pair.n_pairs,
                                             rsa.correlations.order, rsa.correlations.x, 1, True)
    assert overflow.all() and np.isnan(corr).all()

    ts, x = _small_set()
    index, rsa, by_pair = _by_pair(ts, x)
    codes, values = cp.score_codes(np.random.default_rng(0).integers(0, 3, (len(ts), 1)) / 2)
    expected = cp.bootstrap_over_triplets(codes, values, by_pair, rsa, 4, 5, packed=False)
    kernel, calls = kn.triplet_bootstrap, []

    def overflowing(*args):
        calls.append(args[-1])
        cc, corr, overflow = kernel(*args)
        return cc, corr, overflow | args[-1]  # every packed resample "overflows"

    monkeypatch.setattr(kn, "triplet_bootstrap", overflowing)
    got = cp.bootstrap_over_triplets(codes, values, by_pair, rsa, 4, 5, packed=True)
    assert calls == [True, False]
    assert _close(got[0], expected[0], 0) and all(_close(got[1][m], expected[1][m], 0) for m in got[1])


def _small_set():
    rng = np.random.default_rng(4)
    triads = np.array([rng.choice(12, 3, replace=False) for _ in range(300)])
    odd = triads[np.arange(300), rng.integers(0, 3, 300)]
    ts = TripletSet.from_arrays(triads[:, 0], triads[:, 1], triads[:, 2], odd,
                                participant=rng.integers(0, 9, 300), stimulus_ids=np.arange(12))
    return ts, rng.random((12, 3))


def _brute_tau_a(x, y):
    n = len(x)
    s = sum(np.sign(x[a] - x[b]) * np.sign(y[a] - y[b]) for a in range(n) for b in range(a + 1, n))
    return s / (n * (n - 1) / 2)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 4)), min_size=3, max_size=60))
def test_point_correlations_equal_scipy_and_brute_force(pairs):
    """The compiled point estimates (mid-ranks from the runs of ties and the group sizes;
    tau-a from a Fenwick tree) against scipy's Spearman and Pearson and a brute-force
    tau-a, with many ties on both sides."""
    from scipy.stats import pearsonr, spearmanr

    x = np.array([p[0] for p in pairs], float) / 3
    values, groups = np.unique(np.array([p[1] for p in pairs], float) / 4, return_inverse=True)
    order = np.argsort(x, kind="stable")
    xs, g = x[order], groups[order].astype(np.int32)
    y = values[g]
    pairs = np.zeros(len(xs), np.uint16)  # every pair of stimulus 0 with itself: weight 1
    spearman, pearson = kn.point_correlations(1, pairs, pairs, xs, g, values)
    tau = kn.kendall_tau_a_sorted(xs, g, len(values))
    assert tau == _brute_tau_a(xs, y)
    if np.ptp(xs) > 0 and np.ptp(y) > 0:
        assert abs(spearman - spearmanr(xs, y).statistic) < 1e-12
        assert abs(pearson - pearsonr(xs, y).statistic) < 1e-12
    else:
        assert np.isnan(pearson) and np.isnan(spearman)


def test_point_correlations_of_an_evaluation_equal_the_plain_ones():
    """From the resampling's sorted model side, the three point estimates equal
    :func:`bgs.stats.correlate` of the observed pairs (to rounding); a NaN model value
    gives NaN for all three, as there."""
    from bgs.stats import correlate

    ts, x = _small_set()
    index, model, rsa = _setup(ts, np.round(x * 4))  # ties in the model side
    d = model.dissimilarity(index.i, index.j)
    human = from_counts(ts.stimulus_ids, index, *index.totals).pair_dissimilarity
    got = cp.point_correlations(rsa)
    for method, value in got.items():
        assert abs(value - correlate(d, human, method)) < 1e-12, method
    d[3] = np.nan
    assert all(np.isnan(v) for v in cp.point_correlations(rs.RSAData(index, d)).values())


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 4)), min_size=1, max_size=40), st.integers(1, 9))
def test_score_codes_in_chunks_equal_one_pass(rows, chunk):
    """Coding the rows a few at a time gives the codes and table of coding them at once
    (the distinct rows in ascending order), from an array or a list of columns."""
    scores = np.array(rows, float) / 3
    codes, table = cp.score_codes(scores, chunk=len(rows))
    assert np.array_equal(table[codes], scores)
    assert np.array_equal(table, np.unique(scores, axis=0))
    for got in (cp.score_codes(scores, chunk=chunk), cp.score_codes([scores[:, 0], scores[:, 1]], chunk=chunk)):
        assert np.array_equal(got[0], codes) and np.array_equal(got[1], table)
