"""Human similarity and noise ceilings against brute-force computations."""

import json
from collections import Counter, defaultdict
from itertools import combinations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import pearsonr, spearmanr

from bgs.cli import main
from bgs.data.triplets import TripletSet
from bgs.human import human_similarity, ooo_ceiling, split_half_reliability
from bgs.human.reliability import participant_halves, spearman_brown


@st.composite
def triplet_sets(draw, max_stimuli=12, max_rows=60):
    n = draw(st.integers(3, max_stimuli))
    rows = draw(st.lists(st.tuples(st.permutations(range(n)).map(lambda p: p[:3]),
                                   st.integers(0, 2), st.integers(0, 4)),
                         min_size=1, max_size=max_rows))
    a, b, c = ([r[0][k] for r in rows] for k in range(3))
    odd = [r[0][r[1]] for r in rows]
    return TripletSet.from_arrays(a, b, c, odd, participant=[r[2] for r in rows],
                                  stimulus_ids=np.arange(n))


def brute_force_counts(rows, n):
    """Per-row loop over (a, b, c, odd) id tuples: co-occurrence and chosen-pair counts."""
    cooc, chosen = np.zeros((n, n)), np.zeros((n, n))
    for a, b, c, odd in rows:
        for x, y in combinations((a, b, c), 2):
            cooc[x, y] += 1
            cooc[y, x] += 1
        x, y = [s for s in (a, b, c) if s != odd]
        chosen[x, y] += 1
        chosen[y, x] += 1
    return cooc, chosen


def rows_of(ts):
    return ts.to_frame()[["a", "b", "c", "odd"]].itertuples(index=False, name=None)


@settings(max_examples=80, deadline=None)
@given(triplet_sets())
def test_similarity_matches_brute_force(ts):
    h = human_similarity(ts)
    cooc, chosen = brute_force_counts(rows_of(ts), ts.n_stimuli)
    assert np.array_equal(h.cooccurrence, cooc) and np.array_equal(h.chosen, chosen)
    s = h.similarity
    assert np.array_equal(np.isnan(s), cooc == 0)  # unobserved is NaN, never 0
    ok = ~np.isnan(s)
    assert np.allclose(s[ok], chosen[ok] / cooc[ok])
    assert np.allclose(h.dissimilarity[ok], 1 - s[ok])


@settings(max_examples=80, deadline=None)
@given(triplet_sets(), st.randoms(use_true_random=False))
def test_similarity_properties(ts, rnd):
    h = human_similarity(ts)
    # symmetric, zero diagonal, counts add up: 3 pairs and 1 chosen pair per triplet
    assert np.array_equal(h.cooccurrence, h.cooccurrence.T) and np.array_equal(h.chosen, h.chosen.T)
    assert not h.observed.diagonal().any()
    assert h.cooccurrence.sum() == 6 * len(ts) and h.chosen.sum() == 2 * len(ts)
    s = h.similarity[h.observed]
    assert ((s >= 0) & (s <= 1)).all()
    # invariant to row order and to the order of a, b, c within a row
    order = list(range(len(ts)))
    rnd.shuffle(order)
    perm = np.array([rnd.sample(range(3), 3) for _ in order])
    shuffled = TripletSet(ts.stimulus_ids, np.take_along_axis(ts.triads[order], perm, axis=1),
                          np.argmax(perm == ts.odd[order][:, None], axis=1).astype(np.int8),
                          ts.participant[order], ts.participant_ids, ts.response_time[order],
                          ts.rows[order])
    h2 = human_similarity(shuffled)
    assert np.array_equal(h.cooccurrence, h2.cooccurrence) and np.array_equal(h.chosen, h2.chosen)
    # weights of 2 double every count; S is unchanged
    hw = human_similarity(ts, weights=np.full(len(ts), 2.0))
    assert np.array_equal(hw.cooccurrence, 2 * h.cooccurrence)
    assert np.allclose(np.nan_to_num(hw.similarity), np.nan_to_num(h.similarity))


@settings(max_examples=50, deadline=None)
@given(triplet_sets(), st.data())
def test_subset_and_restrict(ts, data):
    ids = data.draw(st.lists(st.sampled_from(list(ts.stimulus_ids)), min_size=2, unique=True))
    h = human_similarity(ts)
    sub = h.subset(ids)
    assert np.array_equal(sub.cooccurrence, h.cooccurrence[np.ix_(ids, ids)])
    # restrict: only the triplets entirely inside the subset count
    inside = [r for r in rows_of(ts) if set(r[:3]) <= set(ids)]
    cooc, chosen = brute_force_counts(inside, ts.n_stimuli)
    r = human_similarity(ts.restrict(ids))
    assert list(r.stimulus_ids) == ids
    assert np.array_equal(r.cooccurrence, cooc[np.ix_(ids, ids)])
    assert np.array_equal(r.chosen, chosen[np.ix_(ids, ids)])


# ---------------------------------------------------------------------- ceilings, brute force
def brute_force_ooo_ceiling(rows):
    """Dict-and-loop version of the documented lower/upper odd-one-out ceiling."""
    by_triad = defaultdict(list)
    for a, b, c, odd in rows:
        by_triad[frozenset((a, b, c))].append(odd)
    lower = upper = total = 0.0
    for answers in by_triad.values():
        if len(answers) < 2:
            continue
        for k, answer in enumerate(answers):
            for include_self, acc in ((False, "lower"), (True, "upper")):
                others = answers if include_self else answers[:k] + answers[k + 1:]
                counts = Counter(others)
                top = max(counts.values())
                modes = [x for x, v in counts.items() if v == top]
                score = (answer in modes) / len(modes)
                if acc == "lower":
                    lower += score
                else:
                    upper += score
            total += 1
    return lower / total, upper / total, total


def test_ooo_ceiling_small_cases():
    # triad answered 3 times: x, x, y -> LOO: x gets 1 (remaining x,y tie -> 1/2), ...
    ts = TripletSet.from_arrays([0, 1, 2, 3], [1, 2, 0, 4], [2, 0, 1, 5], [0, 0, 1, 3])
    c = ooo_ceiling(ts, n_bootstrap=0)
    lower, upper, total = brute_force_ooo_ceiling(rows_of(ts))
    assert total == 3 and c.n_responses == 3 and c.n_repeated_triads == 1 and c.n_triads == 2
    # LOO: response x vs others (x, y): tie -> 1/2, twice; y vs (x, x): 0  => 1/3
    assert c.lower == pytest.approx(1 / 3) == pytest.approx(lower)
    # including self: mode x: 1, 1, 0 => 2/3
    assert c.upper == pytest.approx(2 / 3) == pytest.approx(upper)


@settings(max_examples=60, deadline=None)
@given(triplet_sets(max_stimuli=5, max_rows=40))
def test_ooo_ceiling_matches_brute_force(ts):
    c = ooo_ceiling(ts, n_bootstrap=0)
    rows = list(rows_of(ts))
    if c.n_responses == 0:
        assert np.isnan(c.lower)
        return
    lower, upper, total = brute_force_ooo_ceiling(rows)
    assert c.n_responses == total
    assert c.lower == pytest.approx(lower) and c.upper == pytest.approx(upper)
    assert c.lower <= c.upper + 1e-12


def brute_force_split_half(frame, first_half, n_stimuli):
    """Per-row loops over the two halves, then scipy correlations over pairs seen in both."""
    first = set(first_half)
    halves = [[], []]
    for p, a, b, c, odd in frame[["participant", "a", "b", "c", "odd"]].itertuples(index=False):
        halves[0 if p in first else 1].append((a, b, c, odd))
    (c1, k1), (c2, k2) = (brute_force_counts(h, n_stimuli) for h in halves)
    x, y = [], []
    for i in range(n_stimuli):
        for j in range(i + 1, n_stimuli):
            if c1[i, j] > 0 and c2[i, j] > 0:
                x.append(k1[i, j] / c1[i, j])
                y.append(k2[i, j] / c2[i, j])
    return spearmanr(x, y)[0], pearsonr(x, y)[0]


def test_split_half_on_real_data_matches_brute_force(garcia_triplets):
    result = split_half_reliability(garcia_triplets, n_splits=3, seed=7)
    frame = garcia_triplets.to_frame()
    frame["a"], frame["b"], frame["c"], frame["odd"] = (garcia_triplets.triads[:, 0],
                                                        garcia_triplets.triads[:, 1],
                                                        garcia_triplets.triads[:, 2],
                                                        garcia_triplets.odd_index)
    halves = participant_halves(garcia_triplets, n_splits=3, seed=7)
    assert all(len(h) == 107 for h in halves)
    for k, half in enumerate(halves):
        rs, rp = brute_force_split_half(frame, half, 250)
        assert result.spearman[k] == pytest.approx(rs, abs=1e-9)
        assert result.pearson[k] == pytest.approx(rp, abs=1e-9)
    assert result.spearman_brown["spearman"] == pytest.approx(
        np.mean([2 * r / (1 + r) for r in result.spearman]))


def test_ooo_ceiling_on_real_data_matches_brute_force(garcia_triplets):
    c = ooo_ceiling(garcia_triplets, n_bootstrap=200, seed=1)
    lower, upper, total = brute_force_ooo_ceiling(rows_of(garcia_triplets))
    assert c.n_repeated_triads == 8_201 and c.n_responses == total
    assert c.lower == pytest.approx(lower) and c.upper == pytest.approx(upper)
    assert c.lower_ci[0] < c.lower < c.lower_ci[1] and c.upper_ci[0] < c.upper < c.upper_ci[1]


def test_split_half_bootstrap_and_seed(garcia_triplets):
    a = split_half_reliability(garcia_triplets, n_splits=4, seed=3, n_bootstrap=30)
    b = split_half_reliability(garcia_triplets, n_splits=4, seed=3, n_bootstrap=30)
    assert np.array_equal(a.spearman, b.spearman) and a.ci() == b.ci()
    lo, hi = a.ci()
    assert lo < hi and 0 < lo < 1 and 0 < hi < 1
    assert spearman_brown(0.5) == pytest.approx(2 / 3)


def test_perfectly_consistent_observers_reach_ceiling_one():
    rng = np.random.default_rng(0)
    pos = rng.normal(size=(20, 2))
    rows = []
    for p in range(6):
        for _ in range(300):
            t = rng.choice(20, 3, replace=False)
            d = lambda i, j: np.linalg.norm(pos[i] - pos[j])  # noqa: E731
            pairs = {t[2]: d(t[0], t[1]), t[1]: d(t[0], t[2]), t[0]: d(t[1], t[2])}
            rows.append((*t, min(pairs, key=pairs.get), p))
    a, b, c, odd, part = map(list, zip(*rows))
    ts = TripletSet.from_arrays(a, b, c, odd, participant=part, stimulus_ids=np.arange(20))
    assert ooo_ceiling(ts, n_bootstrap=0).lower == pytest.approx(1.0)
    assert split_half_reliability(ts, n_splits=5).spearman_brown["spearman"] > 0.9


# ---------------------------------------------------------------------- CLI on real data
def test_cli_stats_json_on_real_data(garcia_dir, garcia_triplets, capsys, tmp_path):
    out_file = tmp_path / "stats.json"
    code = main(["data", "stats", str(garcia_dir / "all_triplets.csv"), "--format", "garcia2025",
                 "--json", "--n-splits", "3", "--seed", "7", "--n-bootstrap", "20",
                 "--out", str(out_file)])
    assert code == 0
    stats = json.loads(capsys.readouterr().out)
    assert json.loads(out_file.read_text()) == stats
    expected = {"n_rows": 49_484, "n_valid": 47_126, "n_participants": 215, "n_catch": 2_358,
                "n_catch_failed": 0, "n_stimuli": 250, "n_triads": 35_144,
                "n_repeated_triads": 8_201}
    assert {k: stats[k] for k in expected} == expected
    ref = split_half_reliability(garcia_triplets, n_splits=3, seed=7)
    assert stats["split_half_spearman_brown"] == pytest.approx(ref.spearman_brown["spearman"])
    lower, upper, _ = brute_force_ooo_ceiling(rows_of(garcia_triplets))
    oc = stats["ooo_ceiling"]
    assert oc["lower"] == pytest.approx(lower) and oc["upper"] == pytest.approx(upper)
    assert "leave-one-response-out" in oc["definition"]


def test_spearman_brown_is_the_prophecy_formula_and_undefined_at_minus_one():
    import warnings

    r = np.array([-0.5, 0.0, 0.3, 1.0])
    assert np.allclose(spearman_brown(r), 2 * r / (1 + r))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no divide-by-zero warning either
        assert np.isnan(spearman_brown(-1.0)) and np.isnan(spearman_brown([-1.0, 0.5])[0])
