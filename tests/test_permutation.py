"""Permutation nulls: each relabelled score equals the score of the materialised relabelled
model, on every path (tables of rank groups, relabelled tables, gathered pairs)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bgs.data.triplets import TripletSet
from bgs.human import human_similarity
from bgs.human.reliability import triad_choice_counts
from bgs.human.similarity import PairIndex
from bgs.metrics import alignment as al
from bgs.metrics.distance import PairSimilarity, similarity_matrix, to_dissimilarity
from bgs.metrics.permutation import PermutedScores, pattern_tables
from bgs.stats import correlate


def _brute(x, metric, ts, perm, ties):
    s = similarity_matrix(x, metric)[np.ix_(perm, perm)]  # model of stimulus k is x[perm[k]]
    h = human_similarity(ts)
    d = to_dissimilarity(s, metric)[h.i, h.j]
    return [al.ooo_accuracy(s, ts, ties), float(al.two_way_scores(s, ts).mean()),
            correlate(d, h.pair_dissimilarity, "spearman"), correlate(d, h.pair_dissimilarity, "pearson")]


@st.composite
def cases(draw):
    n = draw(st.integers(4, 8))
    rows = draw(st.lists(st.tuples(st.permutations(range(n)).map(lambda p: p[:3]), st.integers(0, 2)),
                         min_size=3, max_size=60))
    a, b, c = ([r[0][k] for r in rows] for k in range(3))
    ts = TripletSet.from_arrays(a, b, c, [r[0][r[1]] for r in rows], stimulus_ids=np.arange(n))
    x = np.array(draw(st.lists(st.integers(-2, 2), min_size=3 * n, max_size=3 * n)), float).reshape(n, 3)
    perm = np.array(draw(st.permutations(range(n))))
    return ts, x, perm, draw(st.sampled_from(["dot", "cosine", "euclidean"])), \
        draw(st.sampled_from(["fractional", "wrong"])), draw(st.booleans())


@settings(max_examples=80, deadline=None)
@given(cases())
def test_permuted_scores_equal_materialised_relabelled_model(case):
    ts, x, perm, metric, ties, dense = case
    index = PairIndex(ts)
    h = human_similarity(ts, index=index)
    scores = PermutedScores(PairSimilarity(x, metric, dense=dense), index, *triad_choice_counts(ts),
                            h.pair_dissimilarity, ties)
    got = scores(perm)
    expected = _brute(x, metric, ts, perm, ties)
    for g, e in zip(got, expected):
        assert (np.isnan(g) and np.isnan(e)) or g == pytest.approx(e, abs=1e-12)


def test_relabelled_table_path_and_single_responses():
    """Many distinct triads over few stimuli (the N×N table relabelled once), each answered
    once, and the same triads answered several times."""
    rng = np.random.default_rng(3)
    n = 7
    triads = np.array([t for t in np.array(np.meshgrid(*[range(n)] * 3)).reshape(3, -1).T
                       if t[0] < t[1] < t[2]])
    for repeats in (1, 3):
        t = np.repeat(triads, repeats, axis=0)
        t = rng.permuted(t, axis=1)
        ts = TripletSet.from_arrays(t[:, 0], t[:, 1], t[:, 2], t[np.arange(len(t)), rng.integers(0, 3, len(t))],
                                    stimulus_ids=np.arange(n))
        x = rng.random((n, 4))
        index = PairIndex(ts)
        scores = PermutedScores(PairSimilarity(x, "cosine"), index, *triad_choice_counts(ts),
                                human_similarity(ts, index=index).pair_dissimilarity, "fractional")
        assert scores.tables and scores.relabel and (scores.position is not None) == (repeats == 1)
        perm = rng.permutation(n)
        assert np.allclose(scores(perm), _brute(x, "cosine", ts, perm, "fractional"), rtol=0, atol=1e-12)


def test_pattern_tables_score_every_order_of_three_values():
    ooo, two = pattern_tables("fractional")
    for values in np.array(np.meshgrid(*[range(3)] * 3)).reshape(3, -1).T:
        s = np.array([values], float)
        p = 9 * np.sign(s[0, 0] - s[0, 1]) + 3 * np.sign(s[0, 0] - s[0, 2]) + np.sign(s[0, 1] - s[0, 2]) + 13
        assert np.array_equal(ooo[int(p)], al.ooo_scores_by_odd(s)[0])
        expected = [al.two_way_scores_from_pairs(s, np.array([k])).mean() for k in range(3)]
        assert np.allclose(two[int(p)], expected)
