"""Anchor triplets (head, close, far): reading and validation, human similarity, ceilings,
two-way accuracy and its CIs, each against a brute-force computation."""

from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bgs.data.anchor import AnchorTripletSet, read_anchor_triplets
from bgs.errors import (
    InvalidRecordError,
    InvalidStimulusIdError,
    MissingColumnsError,
    MissingValueError,
    UnknownStimulusError,
)
from bgs.human.anchor import anchor_similarity, anchor_split_half, repeat_agreement_ceiling
from bgs.metrics.anchor import anchor_accuracy, anchor_rsa, anchor_scores, evaluate_anchor_similarity, paired_difference


def random_anchor(n_stimuli=8, n=200, seed=0, participants=1) -> AnchorTripletSet:
    rng = np.random.default_rng(seed)
    rows = np.array([rng.choice(n_stimuli, 3, replace=False) for _ in range(n)])
    return AnchorTripletSet.from_arrays(rows[:, 0], rows[:, 1], rows[:, 2],
                                        participant=rng.integers(0, participants, n),
                                        stimulus_ids=np.arange(n_stimuli))


# ---------------------------------------------------------------------- reading
def test_read_named_format_columns_and_headerless(tmp_path):
    pd.DataFrame({"head": [0, 1], "close": [1, 2], "far": [2, 0]}).to_csv(tmp_path / "a.csv", index=False)
    a = read_anchor_triplets(tmp_path / "a.csv", stimulus_ids=[0, 1, 2])
    assert a.triplets.tolist() == [[0, 1, 2], [1, 2, 0]] and a.rows.tolist() == [2, 3]
    pd.DataFrame({"target": [5], "winner": [6], "loser": [7]}).to_csv(tmp_path / "b.csv", index=False)
    b = read_anchor_triplets(tmp_path / "b.csv", columns="head=target,close=winner,far=loser")
    assert b.stimulus_ids.tolist() == [5, 6, 7] and b.to_frame()["far"].tolist() == [7]
    (tmp_path / "z.csv").write_text("3,1,2\n1,2,3\n")
    z = read_anchor_triplets(tmp_path / "z.csv", format="zappos")
    assert z.to_frame()[["head", "close", "far"]].values.tolist() == [[3, 1, 2], [1, 2, 3]]
    assert z.rows.tolist() == [1, 2]  # no header line: the first row is row 1


@pytest.mark.parametrize("body, error, rows, column", [
    ("head,close,far\n0,1,2\n0,,2\n", MissingValueError, [3], "close"),
    ("head,close,far\n0,1,2\nx,1,2\n", InvalidStimulusIdError, [3], "head"),
    ("head,close,far\n0,1,9\n0,1,2\n", UnknownStimulusError, [2], "far"),
    ("head,close,far\n0,1,2\n1,1,2\n", InvalidRecordError, [3], "head"),
])
def test_bad_rows_are_typed_errors_naming_rows_and_fix(tmp_path, body, error, rows, column):
    (tmp_path / "t.csv").write_text(body)
    with pytest.raises(error) as info:
        read_anchor_triplets(tmp_path / "t.csv", stimulus_ids=[0, 1, 2])
    assert info.value.rows == rows and info.value.column == column and "Fix:" in str(info.value)
    dropped = read_anchor_triplets(tmp_path / "t.csv", stimulus_ids=[0, 1, 2], on_error="drop")
    assert len(dropped) == 1 and sum(dropped.report.dropped.values()) == 1


def test_missing_columns_name_the_formats(tmp_path):
    pd.DataFrame({"a": [0], "b": [1], "c": [2]}).to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(MissingColumnsError, match="--columns head="):
        read_anchor_triplets(tmp_path / "t.csv")


def test_triplet_view_round_trips_and_gives_the_loss_roles():
    a = random_anchor()
    view = a.as_triplet_set()
    assert (view.pair[:, 0] == a.head).all() and (view.pair[:, 1] == a.close).all()
    assert (view.odd_index == a.far).all()
    back = AnchorTripletSet.from_triplet_view(view.restrict([0, 1, 2, 3, 4]))
    direct = a.restrict([0, 1, 2, 3, 4])
    assert (back.triplets == direct.triplets).all()


# ---------------------------------------------------------------------- human similarity
def brute_similarity(a: AnchorTripletSet) -> np.ndarray:
    n = a.n_stimuli
    won, compared = np.zeros((n, n)), np.zeros((n, n))
    for h, c, f in a.triplets:
        for x, y, w in ((h, c, 1), (h, f, 0)):
            compared[x, y] += 1
            compared[y, x] += 1
            won[x, y] += w
            won[y, x] += w
    with np.errstate(invalid="ignore"):
        return np.where(compared > 0, won / np.where(compared > 0, compared, 1), np.nan)


@settings(max_examples=30, deadline=None)
@given(st.integers(3, 9), st.integers(1, 60), st.integers(0, 10_000))
def test_anchor_similarity_matches_brute_force(n_stimuli, n, seed):
    a = random_anchor(n_stimuli, n, seed)
    s = anchor_similarity(a).similarity
    np.testing.assert_allclose(s, brute_similarity(a), equal_nan=True)
    assert np.allclose(np.nan_to_num(s), np.nan_to_num(s.T))
    assert np.nanmin(s, initial=0) >= 0 and np.nanmax(s, initial=1) <= 1


def test_weights_count_a_triplet_that_many_times():
    a = random_anchor(6, 40, 3)
    w = np.random.default_rng(0).integers(0, 3, len(a))
    rep = a.select(np.repeat(np.arange(len(a)), w))
    np.testing.assert_allclose(anchor_similarity(a, w).similarity, anchor_similarity(rep).similarity,
                               equal_nan=True)


# ---------------------------------------------------------------------- ceilings
def brute_ceiling(a: AnchorTripletSet) -> float | None:
    groups: dict = {}
    for h, c, f in a.triplets:
        groups.setdefault((h, min(c, f), max(c, f)), []).append(c)
    scores = []
    for answers in groups.values():
        for k, mine in enumerate(answers):
            others = answers[:k] + answers[k + 1:]
            if not others:
                continue
            agree = sum(o == mine for o in others)
            scores.append(1.0 if agree > len(others) - agree else 0.5 if 2 * agree == len(others) else 0.0)
    return float(np.mean(scores)) if scores else None


@settings(max_examples=30, deadline=None)
@given(st.integers(3, 5), st.integers(1, 80), st.integers(0, 10_000))
def test_repeat_ceiling_matches_brute_force(n_stimuli, n, seed):
    a = random_anchor(n_stimuli, n, seed)
    got = repeat_agreement_ceiling(a)["value"]
    want = brute_ceiling(a)
    assert (got is None and want is None) or got == pytest.approx(want)


def test_no_repeats_no_ceiling():
    combos = list(combinations(range(6), 3))
    a = AnchorTripletSet.from_arrays([c[0] for c in combos], [c[1] for c in combos], [c[2] for c in combos])
    c = repeat_agreement_ceiling(a)
    assert c["value"] is None and "no two-way accuracy ceiling can be estimated" in c["reason"]
    assert anchor_split_half(a)["spearman_brown"] is None
    ev = evaluate_anchor_similarity(np.eye(6), a, n_bootstrap=0, n_permutations=0)
    assert ev["anchor_accuracy"]["ceiling"] is None and ev["rsa_spearman"]["ceiling"] is None


def test_split_half_is_spearman_brown_of_the_halves():
    a = random_anchor(10, 3000, 1, participants=6)
    r = anchor_split_half(a, n_splits=5, seed=0)
    assert r["spearman_brown"] == pytest.approx(2 * r["split_half_r"] / (1 + r["split_half_r"]))


# ---------------------------------------------------------------------- scores
def test_two_way_accuracy_and_rsa_brute_force():
    from scipy.stats import spearmanr

    a = random_anchor(9, 300, 5)
    x = np.random.default_rng(1).normal(size=(9, 4))
    s = x @ x.T
    s[0, 1] = s[1, 0] = s[0, 2]  # a tie
    want = np.mean([1.0 if s[h, c] > s[h, f] else 0.5 if s[h, c] == s[h, f] else 0.0 for h, c, f in a.triplets])
    assert anchor_accuracy(s, a) == pytest.approx(want)
    d = brute_similarity(a)
    i, j = np.triu_indices(9, 1)
    keep = ~np.isnan(d[i, j])
    assert anchor_rsa(-s, a) == pytest.approx(spearmanr(-s[i, j][keep], 1 - d[i, j][keep]).statistic)


def test_human_similarity_itself_scores_above_chance_and_cis_hold_the_value():
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(12, 2))
    rows = [rng.choice(12, 3, replace=False) for _ in range(2000)]
    sim = -np.linalg.norm(latent[:, None] - latent[None], axis=-1)
    rows = [(h, c, f) if sim[h, c] + rng.normal(0, .3) > sim[h, f] else (h, f, c) for h, c, f in rows]
    a = AnchorTripletSet.from_arrays(*np.array(rows).T)
    ev = evaluate_anchor_similarity(sim, a, n_bootstrap=200, n_permutations=20)
    acc = ev["anchor_accuracy"]
    assert acc["value"] > 0.75 and acc["ci"][0] <= acc["value"] <= acc["ci"][1]
    assert acc["ci_stimuli"][0] <= acc["value"] <= acc["ci_stimuli"][1]
    assert acc["p_value"] < 0.1 and ev["rsa_spearman"]["value"] > 0.5


def test_paired_difference_is_the_difference_of_scores():
    a = random_anchor(10, 500, 2)
    rng = np.random.default_rng(3)
    s1, s2 = (lambda x: x @ x.T)(rng.normal(size=(10, 3))), (lambda x: x @ x.T)(rng.normal(size=(10, 3)))
    d = paired_difference(s1, s2, a, n_bootstrap=100, seed=0)
    want = (anchor_scores(s1, a) - anchor_scores(s2, a)).mean()
    assert d["anchor_accuracy"]["value"] == pytest.approx(want)
    assert d["rsa_spearman"]["value"] == pytest.approx(anchor_rsa(1 - s1, a) - anchor_rsa(1 - s2, a))
    same = paired_difference(s1, s1, a, n_bootstrap=50, seed=0)
    assert same["anchor_accuracy"]["ci"] == (0.0, 0.0) and same["rsa_spearman"]["ci_stimuli"] == (0.0, 0.0)
