"""The sparse evaluation path: exact agreement with dense computations and copies, and no
N×N array at scale (a memory cap)."""

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy.stats import rankdata

from bgs.human import human_similarity, split_half_reliability
from bgs.human.similarity import PairIndex
from bgs.metrics.distance import PairSimilarity
from bgs.metrics.evaluate import evaluate_model
from bgs.stats import (
    RankIndex,
    WeightedCorrelations,
    correlate,
    count_ratio_ranks,
    ratio_groups,
    spearman_brown,
    weighted_pearson,
)
from strategies import triplet_sets


@st.composite
def triplets_and_embeddings(draw, max_stimuli=9, max_rows=40):
    ts = draw(triplet_sets(max_stimuli, 1, max_rows))
    n = ts.n_stimuli
    # small integers: dot products are exact in float64 and ties are frequent
    x = np.array(draw(st.lists(st.integers(0, 2), min_size=2 * n, max_size=2 * n)), float).reshape(n, 2)
    return ts, x


def _same(a, b):
    """Equal dicts/lists/floats, NaN equal to NaN."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(u, v) for u, v in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b):
        return True
    return a == b


@pytest.mark.filterwarnings("ignore:Mean of empty slice")
@settings(max_examples=40, deadline=None)
@given(triplets_and_embeddings())
def test_sparse_and_dense_model_paths_agree_exactly(data):
    ts, x = data
    kw = dict(n_bootstrap=20, n_permutations=10, n_splits=3, seed=2)
    dense = evaluate_model(PairSimilarity(x, "dot", dense=True), ts, **kw)
    sparse = evaluate_model(PairSimilarity(x, "dot", dense=False), ts, **kw)
    assert _same(dense, sparse)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 3)), min_size=1, max_size=40))
def test_weighted_ranks_equal_ranks_of_copies(rows):
    values = np.array([r[0] for r in rows], float)
    w = np.array([r[1] for r in rows], float)
    copies = np.repeat(values, w.astype(int))
    got = RankIndex(values).ranks(w)
    if len(copies):
        expected = rankdata(copies)[np.cumsum(w.astype(int))[w > 0] - 1]
        assert np.array_equal(got[w > 0], expected)
    assert np.array_equal(RankIndex(values).ranks(), rankdata(values))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(1, 4), st.integers(0, 3)), min_size=3, max_size=40))
def test_count_ratio_ranks_and_weighted_pearson_equal_copies(rows):
    chosen = np.array([min(r[0], r[1]) for r in rows], float)
    cooc = np.array([r[1] for r in rows], float)
    w = np.array([r[2] for r in rows], float)
    d = 1 - chosen / cooc
    assert np.array_equal(count_ratio_ranks(chosen, cooc, complement=True).ranks(), rankdata(d))
    keep = w > 0
    ranks = count_ratio_ranks(chosen, cooc, keep, complement=True).ranks(w)
    assert np.array_equal(ranks[keep], RankIndex(d[keep]).ranks(w[keep]))
    other = np.arange(len(rows), dtype=float) % 3
    copies = np.repeat(np.arange(len(rows)), w.astype(int))
    if len(copies) > 2 and np.ptp(d[copies]) > 0 and np.ptp(other[copies]) > 0:
        assert weighted_pearson(d, other, w) == pytest.approx(correlate(d[copies], other[copies], "pearson"),
                                                              abs=1e-12)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 4), st.integers(1, 4), st.integers(0, 3)),
                min_size=1, max_size=40), st.booleans())
def test_weighted_correlations_equal_correlations_of_copies(rows, float_x):
    """Sorted-once weighted Spearman and Pearson (ties in x or not) against the plain
    correlations of the materialised copies."""
    x = np.array([r[0] for r in rows], float)
    if float_x:
        x = x + np.arange(len(rows)) * 1e-3  # no ties
    cooc = np.array([r[2] for r in rows], float)
    chosen = np.minimum([r[1] for r in rows], cooc)
    w = np.array([r[3] for r in rows], float)
    corr = WeightedCorrelations(x)
    groups, values = ratio_groups(chosen[corr.order], cooc[corr.order], complement=True)
    got = corr(w[corr.order], groups, values)
    copies = np.repeat(np.arange(len(rows)), w.astype(int))
    y = 1 - chosen / cooc
    for method in ("spearman", "pearson"):
        if len(copies) > 2 and np.ptp(x[copies]) > 0 and np.ptp(y[copies]) > 0:
            assert got[method] == pytest.approx(correlate(x[copies], y[copies], method), abs=1e-12)
        else:
            assert np.isnan(got[method])


def test_split_half_bootstrap_matches_materialised_copies(garcia_triplets):
    ts = garcia_triplets.restrict(garcia_triplets.stimulus_ids[:60])
    got = split_half_reliability(ts, n_splits=2, seed=4, n_bootstrap=4).bootstrap_spearman_brown
    rng = np.random.default_rng([4, 1])
    present = np.unique(ts.participant)
    iu, ju = np.triu_indices(60, k=1)
    for k in range(4):
        half = np.zeros(len(ts.participant_ids), bool)
        half[rng.permutation(present)[: len(present) // 2]] = True
        first = half[ts.participant]
        s1 = human_similarity(ts.select(first)).similarity
        s2 = human_similarity(ts.select(~first)).similarity
        draw = rng.integers(0, 60, size=60)
        a, b = draw[iu], draw[ju]
        keep = (a != b) & ~np.isnan(s1[a, b]) & ~np.isnan(s2[a, b])
        for method in ("spearman", "pearson"):
            r = correlate(s1[a, b][keep], s2[a, b][keep], method)
            assert got[method][k] == pytest.approx(float(spearman_brown(r)), abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(triplets_and_embeddings(), st.lists(st.integers(0, 3), min_size=40, max_size=40))
def test_weighted_pair_counts_match_dense_bincount(data, weights):
    ts, _ = data
    w = np.array(weights[: len(ts)], float)
    index = PairIndex(ts)
    chosen, cooc = index.counts(w)
    n = ts.n_stimuli
    dense_c, dense_k = np.zeros((n, n)), np.zeros((n, n))
    for (a, b, c), (x, y), wt in zip(ts.triads, ts.pair, w):
        for u, v in ((a, b), (a, c), (b, c)):
            dense_k[min(u, v), max(u, v)] += wt
        dense_c[min(x, y), max(x, y)] += wt
    assert np.array_equal(cooc, dense_k[index.i, index.j]) and np.array_equal(chosen, dense_c[index.i, index.j])
    assert (index.i < index.j).all() and np.count_nonzero(np.triu(dense_k, 1)) <= index.n_pairs
    blocks = PairIndex(ts, block_slots=5)  # the sort done in blocks of pairs
    assert np.array_equal(blocks.i, index.i) and np.array_equal(blocks.j, index.j)
    assert np.array_equal(blocks.slots, index.slots) and np.array_equal(blocks.chosen_slot, index.chosen_slot)


_MEMORY_CHILD = """
import resource, sys
import numpy as np
from bgs.data.triplets import TripletSet
from bgs.metrics.distance import PairSimilarity
from bgs.metrics.evaluate import evaluate_model

def data(n, t, seed=0):
    rng = np.random.default_rng(seed)
    triads = rng.integers(0, n, size=(t, 3)).astype(np.int32)
    triads = triads[(triads[:, 0] != triads[:, 1]) & (triads[:, 0] != triads[:, 2]) & (triads[:, 1] != triads[:, 2])]
    t = len(triads)
    ts = TripletSet(np.arange(n), triads, rng.integers(0, 3, t).astype(np.int8),
                    rng.integers(0, 50, t).astype(np.int32), np.arange(50), np.zeros(t), np.arange(t))
    return ts, rng.random((n, 16))

kw = dict(n_bootstrap=20, n_permutations=3, n_splits=3)
ts, x = data(30, 300)
evaluate_model(PairSimilarity(x, "cosine", dense=False), ts, **kw)  # every kernel loaded
ts, x = data(20_000, 30_000)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
result = evaluate_model(PairSimilarity(x, "cosine"), ts, **kw)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
assert result["n_pairs"] > 80_000 and 0 <= result["ooo_accuracy"]["value"] <= 1
print((after - before) * 1024)
"""


def test_no_n_by_n_array_at_twenty_thousand_stimuli():
    """Evaluation of 20,000 stimuli raises the peak RSS of a fresh process far less than
    one N×N array of any dtype would (400 MB even as bytes; 3.2 GB as float64). RSS, not
    tracemalloc: the compiled kernels allocate outside numpy's allocator."""
    out = subprocess.run([sys.executable, "-c", _MEMORY_CHILD], capture_output=True, text=True, check=True)
    grown = int(out.stdout.split()[-1])
    print(f"peak RSS grew by {grown / 2**20:.0f} MB")
    assert grown < 150 * 2**20, f"peak RSS grew by {grown / 2**20:.0f} MB"


def test_pairs_seen_thousands_of_times_take_the_numpy_path():
    """Four stimuli and 9,000 triplets: each pair co-occurs about 4,500 times, past what the
    kernels' (co-occurrence, chosen) table holds, so compiled and numpy runs are one run."""
    from bgs.data.triplets import TripletSet

    rng = np.random.default_rng(0)
    triads = np.array([[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]])[rng.integers(0, 4, 9000)]
    odd = triads[np.arange(9000), rng.integers(0, 3, 9000)]
    ts = TripletSet.from_arrays(*triads.T, odd, participant=rng.integers(0, 30, 9000),
                                stimulus_ids=np.arange(4))
    assert PairIndex(ts).totals[1].max() > 4000
    model = PairSimilarity(rng.normal(size=(4, 3)), "cosine")
    kw = dict(n_bootstrap=40, n_permutations=10, n_splits=4, seed=3)
    assert evaluate_model(model, ts, compiled=True, **kw) == evaluate_model(model, ts, compiled=False, **kw)


def _close_nested(a, b, tol=1e-12):
    """Equal dicts/lists and strings; floats within ``tol`` (NaN equal to NaN)."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_close_nested(a[k], b[k], tol) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_close_nested(u, v, tol) for u, v in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        return (np.isnan(a) and np.isnan(b)) or abs(a - b) <= tol
    return a == b


def _equal_human_similarities():
    """Each pair chosen twice in six triads of one triple: every human similarity is 1/3,
    constant, so Pearson RSA is undefined in both paths (the indexed one once gave an r
    from the rounding residue of centring)."""
    from bgs.data.triplets import TripletSet

    ts = TripletSet.from_arrays(np.zeros(6, int), np.ones(6, int), np.full(6, 2),
                                np.array([0, 0, 1, 1, 2, 2]), participant=np.zeros(6, int),
                                stimulus_ids=np.arange(3))
    return ts, np.array([[0.0, 0.0], [0.0, 1.0], [0.0, 1.0]])


@settings(max_examples=25, deadline=None)
@given(triplets_and_embeddings(max_rows=60), st.sampled_from(["dot", "cosine"]))
@example(_equal_human_similarities(), "dot")
def test_lean_large_path_equals_the_indexed_one(data, metric):
    """Where the pairs are many (forced here), the evaluation frees the index's pair
    numbers and pairs and takes the RSA point estimates from the resampling's sorted copy
    (compiled mid-ranks and tau-a): every number equals the path that keeps them, to
    rounding."""
    import bgs.human.reliability as rel
    import bgs.metrics.evaluate as ev

    ts, x = data
    kw = dict(n_bootstrap=15, n_permutations=0, n_splits=3, seed=4)
    old = rel.KERNEL_MIN_PAIRS
    rel.KERNEL_MIN_PAIRS = 0  # the split halves through the kernel in both runs, as at scale
    try:
        kept = evaluate_model(PairSimilarity(x, metric), ts, **kw)
        ev.KERNEL_MIN_PAIRS = 0
        lean = evaluate_model(PairSimilarity(x, metric), ts, **kw)
    finally:
        rel.KERNEL_MIN_PAIRS = ev.KERNEL_MIN_PAIRS = old
    assert _close_nested(kept, lean)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(1, 6)), min_size=1, max_size=50),
       st.integers(1, 7), st.booleans())
def test_ratio_groups_in_chunks_and_in_an_order_equal_the_sort(rows, chunk, complement):
    """The table path of :func:`ratio_groups`, a few elements at a time and reading the
    elements through ``order``, gives the groups and values of sorting the ratios of the
    reordered copies."""
    cooc = np.array([r[1] for r in rows], np.int32)
    chosen = np.minimum([r[0] for r in rows], cooc).astype(np.int32)
    order = np.random.default_rng(len(rows)).permutation(len(rows)).astype(np.int32)
    groups, values = ratio_groups(chosen, cooc, complement, order=order, chunk=chunk)
    ratio = chosen[order] / cooc[order]
    expected_values, expected_groups = np.unique(1 - ratio if complement else ratio, return_inverse=True)
    assert np.array_equal(values, expected_values) and np.array_equal(groups, expected_groups.ravel())
    assert groups.dtype == np.int32


@settings(max_examples=40, deadline=None)
@given(triplet_sets(7, 3, 40), st.integers(1, 9))
def test_triad_choice_counts_in_chunks_equal_unique(ts, chunk):
    """The triads' choice counts, keyed a few rows at a time and grouped by one stable
    sort, equal those of ``np.unique`` over the triad keys."""
    from bgs.human.reliability import triad_choice_counts

    s = np.sort(ts.triads, axis=1)
    uniq, first, inverse = np.unique(ts.triad_keys(), return_index=True, return_inverse=True)
    pos = np.argmax(s == ts.odd_index[:, None], axis=1)
    counts = np.bincount(inverse.ravel() * 3 + pos, minlength=3 * len(uniq)).reshape(len(uniq), 3)
    got_triads, got_counts = triad_choice_counts(ts, chunk=chunk)
    assert np.array_equal(got_triads, s[first]) and np.array_equal(got_counts, counts)
