"""Stimulus-level splits: properties on random triplet sets, errors, and the authors' split."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bgs.data.garcia2025 import load_garcia2025
from bgs.data.splits import SplitTriplets, StimulusSplit
from bgs.data.stimuli import read_stimuli
from bgs.data.triplets import TripletSet
from bgs.errors import ConfigError, UnknownStimulusError

GARCIA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "garcia2025"
GARCIA_FILES = ("all_triplets.csv", "video_mapping.csv", "captions.csv", "annotations.csv",
                "train.csv", "test.csv", "train_triplets.csv", "test_triplets.csv")

PROPERTY = settings(max_examples=50, deadline=None)


@pytest.fixture(scope="module")
def garcia_dir() -> Path:
    if not all((GARCIA / f).is_file() for f in GARCIA_FILES):
        pytest.skip(f"shared garcia2025 data not found at {GARCIA}")
    return GARCIA


@pytest.fixture(scope="module")
def garcia(garcia_dir):
    return load_garcia2025(garcia_dir)


# ---------------------------------------------------------------------- strategies
def make_ids(n: int, kind: str) -> np.ndarray:
    """Stimulus ids that differ from their indices, to catch index/id confusion."""
    if kind == "int":
        return np.arange(n, dtype=np.int64) * 7 + 100
    return np.array([f"clip{i:03d}.mp4" for i in range(n)], dtype=object)


@st.composite
def triplet_sets(draw, min_n: int = 3, max_n: int = 25):
    n = draw(st.integers(min_n, max_n))
    ids = make_ids(n, draw(st.sampled_from(["int", "str"])))
    rows = draw(st.lists(
        st.tuples(st.lists(st.integers(0, n - 1), min_size=3, max_size=3, unique=True),
                  st.integers(0, 2), st.integers(0, 3)),
        max_size=60))
    a = [ids[r[0][0]] for r in rows]
    b = [ids[r[0][1]] for r in rows]
    c = [ids[r[0][2]] for r in rows]
    odd = [ids[r[0][r[1]]] for r in rows]
    participant = [f"p{r[2]}" for r in rows]
    t = TripletSet.from_arrays(np.array(a, dtype=ids.dtype), np.array(b, dtype=ids.dtype),
                               np.array(c, dtype=ids.dtype), np.array(odd, dtype=ids.dtype),
                               participant=participant, stimulus_ids=ids)
    return t, ids, list(zip(participant, a, b, c, odd))


@st.composite
def fractions(draw):
    k = draw(st.integers(1, 4))
    weights = draw(st.lists(st.integers(0, 10), min_size=k, max_size=k)
                   .filter(lambda w: sum(w) > 0))
    total = sum(weights)
    return {f"part{i}": w / total for i, w in enumerate(weights)}


def tuples(t: TripletSet) -> Counter:
    """Multiset of (participant, a, b, c, odd) in stimulus ids."""
    f = t.to_frame()
    return Counter(zip(f["participant"], f["a"], f["b"], f["c"], f["odd"]))


# ---------------------------------------------------------------------- random splits
@PROPERTY
@given(data=triplet_sets(), fr=fractions(), seed=st.integers(0, 2**32 - 1))
def test_random_split_parts_disjoint_and_cover(data, fr, seed):
    _, ids, _ = data
    split = StimulusSplit.random(ids, fr, seed=seed)
    assert split.names == list(fr)
    all_ids = [i for name in split.names for i in split[name].tolist()]
    assert len(all_ids) == len(set(all_ids)) == len(ids)
    assert set(all_ids) == set(ids.tolist())
    for name in split.names:
        # sizes follow the fractions (up to rounding of the cumulative bounds)
        assert abs(len(split[name]) - fr[name] * len(ids)) <= 1
    # deterministic given the seed
    again = StimulusSplit.random(ids, fr, seed=seed)
    for name in split.names:
        assert split[name].tolist() == again[name].tolist()


@PROPERTY
@given(data=triplet_sets(), fr=fractions(), seed=st.integers(0, 2**32 - 1))
def test_apply_matches_brute_force(data, fr, seed):
    t, ids, rows = data
    split = StimulusSplit.random(ids, fr, seed=seed)
    res = split.apply(t)
    assert isinstance(res, SplitTriplets)
    assert res.n_total == len(t) == len(rows)
    assert res.n_stimuli == {name: len(split[name]) for name in split.names}

    in_some = [False] * len(rows)
    for name in split.names:
        members = set(split[name].tolist())
        expected_rows = []
        for i, (_, a, b, c, _) in enumerate(rows):
            if a in members and b in members and c in members:
                expected_rows.append(i + 1)  # from_arrays numbers rows from 1
                assert not in_some[i]  # disjoint parts: a triplet is in at most one
                in_some[i] = True
        part = res[name]
        assert part.rows.tolist() == expected_rows
        assert tuples(part) == Counter(rows[r - 1] for r in expected_rows)
        assert part.stimulus_ids is t.stimulus_ids or part.stimulus_ids.tolist() == ids.tolist()

    assert res.n_lost == in_some.count(False)
    assert sum(len(p) for p in res.parts.values()) + res.n_lost == res.n_total

    summary = res.summary()
    assert summary["n_triplets"].tolist() == [len(res[n]) for n in split.names] + [res.n_lost]


@PROPERTY
@given(data=triplet_sets(), fr=fractions(), seed=st.integers(0, 2**32 - 1))
def test_apply_reindex_same_triplets(data, fr, seed):
    t, ids, _ = data
    split = StimulusSplit.random(ids, fr, seed=seed)
    plain = split.apply(t, reindex=False)
    re = split.apply(t, reindex=True)
    assert re.n_lost == plain.n_lost and re.n_total == plain.n_total
    for name in split.names:
        assert re[name].stimulus_ids.tolist() == split[name].tolist()
        assert re[name].n_stimuli == len(split[name])
        if len(re[name]):
            assert re[name].triads.max() < len(split[name])
        assert tuples(re[name]) == tuples(plain[name])
        assert re[name].rows.tolist() == plain[name].rows.tolist()


# ---------------------------------------------------------------------- k-fold
@PROPERTY
@given(n=st.integers(2, 40), kind=st.sampled_from(["int", "str"]), data=st.data(),
       seed=st.integers(0, 2**32 - 1))
def test_kfold_partition(n, kind, data, seed):
    ids = make_ids(n, kind)
    k = data.draw(st.integers(2, n), label="k")
    folds = StimulusSplit.kfold(ids, k=k, seed=seed)
    assert len(folds) == k
    tests = [f["test"].tolist() for f in folds]
    flat = [i for t in tests for i in t]
    assert len(flat) == len(set(flat)) == n and set(flat) == set(ids.tolist())
    sizes = [len(t) for t in tests]
    assert max(sizes) - min(sizes) <= 1 and min(sizes) >= 1
    for f in folds:
        test = set(f["test"].tolist())
        assert f["train"].tolist() == [i for i in ids.tolist() if i not in test]
        assert f.names == ["train", "test"]
    again = StimulusSplit.kfold(ids, k=k, seed=seed)
    assert [f["test"].tolist() for f in again] == tests
    assert [f["train"].tolist() for f in again] == [f["train"].tolist() for f in folds]


@PROPERTY
@given(n=st.integers(30, 60), data=st.data(), seed=st.integers(0, 2**32 - 2))
def test_kfold_seeds_differ(n, data, seed):
    ids = make_ids(n, "int")
    k = data.draw(st.integers(2, 10), label="k")
    a = [f["test"].tolist() for f in StimulusSplit.kfold(ids, k=k, seed=seed)]
    b = [f["test"].tolist() for f in StimulusSplit.kfold(ids, k=k, seed=seed + 1)]
    assert a != b


@PROPERTY
@given(data=triplet_sets(min_n=4), seed=st.integers(0, 2**32 - 1), k=st.integers(2, 4))
def test_kfold_apply_accounts_for_every_triplet(data, seed, k):
    t, ids, rows = data
    for fold in StimulusSplit.kfold(ids, k=min(k, len(ids)), seed=seed):
        res = fold.apply(t)
        assert len(res["train"]) + len(res["test"]) + res.n_lost == len(t)


# ---------------------------------------------------------------------- errors
def test_random_split_defaults():
    ids = np.arange(10)
    split = StimulusSplit.random(ids)
    assert split.names == ["train", "test"]
    assert len(split["train"]) == 8 and len(split["test"]) == 2
    assert StimulusSplit.random(ids, seed=1)["test"].tolist() != split["test"].tolist() or \
        StimulusSplit.random(ids, seed=2)["test"].tolist() != split["test"].tolist()


@pytest.mark.parametrize("fr", [{"train": 0.8, "test": 0.3}, {"train": 0.5},
                                {"train": 1.2, "test": -0.2}, {"a": 0.0, "b": 0.0}])
def test_bad_fractions(fr):
    with pytest.raises(ConfigError):
        StimulusSplit.random(np.arange(10), fr)


def test_overlapping_parts():
    with pytest.raises(ConfigError, match="both split parts"):
        StimulusSplit({"train": np.array([1, 2, 3]), "test": np.array([3, 4])})
    with pytest.raises(ConfigError):
        StimulusSplit({"train": np.array(["x", "y"]), "val": np.array(["z"]),
                       "test": np.array(["y"])})


@pytest.mark.parametrize("k", [-1, 0, 1, 6, 100])
def test_kfold_k_out_of_range(k):
    with pytest.raises(ConfigError):
        StimulusSplit.kfold(np.arange(5), k=k)


def test_kfold_k_bounds_allowed():
    assert len(StimulusSplit.kfold(np.arange(5), k=2)) == 2
    folds = StimulusSplit.kfold(np.arange(5), k=5)
    assert sorted(len(f["test"]) for f in folds) == [1] * 5


def test_apply_split_with_stimuli_absent_from_triplets():
    # triplets' stimulus set is inferred from the rows: 1..4 only
    t = TripletSet.from_arrays([1, 2], [3, 3], [4, 1], [1, 3])
    assert t.stimulus_ids.tolist() == [1, 2, 3, 4]
    split = StimulusSplit({"train": np.array([1, 2, 3]), "test": np.array([4, 99])})
    with pytest.raises(ConfigError, match="99"):
        split.apply(t)
    with pytest.raises(ConfigError):
        split.apply(t, reindex=True)
    # with the full stimulus set declared, it works
    t2 = TripletSet.from_arrays([1, 2], [3, 3], [4, 1], [1, 3], stimulus_ids=[1, 2, 3, 4, 99])
    res = split.apply(t2)
    assert len(res["train"]) == 1 and len(res["test"]) == 0 and res.n_lost == 1


def test_apply_small_example():
    t = TripletSet.from_arrays(a=[0, 0, 3, 1], b=[1, 4, 4, 2], c=[2, 5, 5, 3], odd=[2, 0, 4, 1],
                               stimulus_ids=range(6))
    split = StimulusSplit({"train": np.array([0, 1, 2]), "test": np.array([3, 4, 5])})
    res = split.apply(t)
    assert res["train"].rows.tolist() == [1]
    assert res["test"].rows.tolist() == [3]
    assert res.n_lost == 2
    re = split.apply(t, reindex=True)
    assert re["test"].stimulus_ids.tolist() == [3, 4, 5]
    assert re["test"].triads.tolist() == [[0, 1, 2]]
    assert re["test"].to_frame()["odd"].tolist() == [4]


# ---------------------------------------------------------------------- from_files
def test_from_files(tmp_path):
    (tmp_path / "s.csv").write_text("id,file\n1,a.mp4\n2,b.mp4\n3,c.mp4\n4,d.mp4\n")
    stimuli = read_stimuli(tmp_path / "s.csv")
    (tmp_path / "train.csv").write_text("video_name\na.mp4\nc.mp4\n")
    (tmp_path / "test.csv").write_text("index,video_name\n2,b.mp4\n")  # first column used
    split = StimulusSplit.from_files(stimuli, train=tmp_path / "train.csv",
                                     test=tmp_path / "test.csv")
    assert split["train"].tolist() == [1, 3] and split["test"].tolist() == [2]

    (tmp_path / "bad.csv").write_text("video_name\na.mp4\nzz.mp4\n")
    with pytest.raises(UnknownStimulusError) as info:
        StimulusSplit.from_files(stimuli, train=tmp_path / "bad.csv")
    assert info.value.rows == [3]

    (tmp_path / "over.csv").write_text("video_name\nb.mp4\n")
    with pytest.raises(ConfigError):
        StimulusSplit.from_files(stimuli, train=tmp_path / "train.csv", val=tmp_path / "test.csv",
                                 test=tmp_path / "over.csv")


# ---------------------------------------------------------------------- real data
def test_garcia_split_sizes(garcia, garcia_dir):
    split = garcia.split
    assert split.names == ["train", "test"]
    assert len(split["train"]) == 200 and len(split["test"]) == 50
    mapping = pd.read_csv(garcia_dir / "video_mapping.csv")
    by_name = dict(zip(mapping["video_name"], mapping["index"]))
    train_names = pd.read_csv(garcia_dir / "train.csv")["video_name"]
    test_ids = pd.read_csv(garcia_dir / "test.csv")["index"]
    assert sorted(split["train"].tolist()) == sorted(by_name[v] for v in train_names)
    assert sorted(split["test"].tolist()) == sorted(test_ids.tolist())


def test_garcia_authors_split_counts(garcia):
    res = garcia.split.apply(garcia.triplets)
    assert len(res["train"]) == 24_096
    assert len(res["test"]) == 368
    assert res.n_lost == 22_662
    assert res.n_total == len(garcia.triplets) == 24_096 + 368 + 22_662


@pytest.mark.parametrize("part", ["train", "test"])
def test_garcia_authors_split_equals_their_files(garcia, garcia_dir, part):
    res = garcia.split.apply(garcia.triplets)
    mine = res[part]
    theirs = pd.read_csv(garcia_dir / f"{part}_triplets.csv")
    assert len(mine) == len(theirs)

    # by (participation, task, trial): map our rows back to all_triplets.csv (header = row 1)
    all_rows = pd.read_csv(garcia_dir / "all_triplets.csv")
    picked = all_rows.iloc[mine.rows - 2]
    keys_mine = Counter(zip(picked["participation"], picked["task"], picked["trial"]))
    keys_theirs = Counter(zip(theirs["participation"], theirs["task"], theirs["trial"]))
    assert sum(keys_mine.values()) == sum(keys_theirs.values())
    assert keys_mine == keys_theirs

    # by (participant, a, b, c, odd), from the TripletSet itself
    f = mine.to_frame()
    tup_mine = Counter(zip(f["participant"].astype(str), f["a"].astype(int), f["b"].astype(int),
                           f["c"].astype(int), f["odd"].astype(int)))
    tup_theirs = Counter(zip(theirs["participation"].astype(str), theirs["stim1_name"].astype(int),
                             theirs["stim2_name"].astype(int), theirs["stim3_name"].astype(int),
                             theirs["choice"].astype(int)))
    assert sum(tup_mine.values()) == sum(tup_theirs.values()) == len(theirs)
    assert tup_mine == tup_theirs

    # re-indexed onto the part's own stimuli: the same triplets
    re = garcia.split.apply(garcia.triplets, reindex=True)[part]
    assert re.stimulus_ids.tolist() == garcia.split[part].tolist()
    assert tuples(re) == tuples(mine)
