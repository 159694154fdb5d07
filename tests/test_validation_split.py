"""The training data's split bookkeeping (``data.val_triplets``) against brute force: no
test stimulus in any training or validation triplet, every triplet in at most one part,
and the counts add up."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from bgs.errors import ConfigError
from bgs.train.config import DataConfig, TrainConfig
from bgs.train.data import load_training_data


def _write_dataset(folder, n_stimuli=30, n_test=8, n_triplets=900, seed=0):
    """A garcia2025-layout folder of random judgments (no videos: the split needs none)."""
    rng = np.random.default_rng(seed)
    folder.mkdir()
    names = [f"clip_{i:03d}.mp4" for i in range(n_stimuli)]
    pd.DataFrame({"index": range(n_stimuli), "video_name": names}).to_csv(folder / "video_mapping.csv",
                                                                         index=False)
    test = rng.choice(n_stimuli, n_test, replace=False)
    pd.DataFrame({"index": test, "video_name": [names[i] for i in test]}).to_csv(folder / "test.csv",
                                                                                index=False)
    pd.DataFrame({"video_name": [names[i] for i in range(n_stimuli) if i not in test]}).to_csv(
        folder / "train.csv", index=False)
    triads = np.stack([rng.choice(n_stimuli, 3, replace=False) for _ in range(n_triplets)])
    pd.DataFrame({"participation": [f"p{k % 12}" for k in range(n_triplets)], "task": "set1",
                  "trial": range(n_triplets), "stim1_name": triads[:, 0], "stim2_name": triads[:, 1],
                  "stim3_name": triads[:, 2], "choice": triads[np.arange(n_triplets), rng.integers(0, 3, n_triplets)],
                  "response_time": rng.uniform(1.0, 3.0, n_triplets), "catch_trial_flag": False,
                  "token": "t", "survey_code": 1.0}).to_csv(folder / "all_triplets.csv", index=False)
    return folder


def _rows(triplets) -> list[tuple]:
    """Each triplet as (sorted stimulus ids, odd id, row): comparable across index spaces."""
    ids = triplets.stimulus_ids
    return sorted((tuple(sorted(ids[t].tolist())), ids[o].item(), r)
                  for t, o, r in zip(triplets.triads, triplets.odd_index, triplets.rows))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return _write_dataset(tmp_path_factory.mktemp("split") / "data")


@pytest.mark.parametrize("mode", ["within", "mixed"])
def test_split_bookkeeping_against_brute_force(folder, mode):
    cfg = TrainConfig(data=DataConfig.for_dataset(folder, val_fraction=0.25, val_triplets=mode))
    data = load_training_data(cfg)
    train, val, test = set(data.train_ids.tolist()), set(data.val_ids.tolist()), set(data.test_ids.tolist())
    assert not (train & val or train & test or val & test)
    parts = {"train": [], "val": [], "test": [], "lost": []}
    for row in _rows(data.triplets):  # brute force: one triplet at a time
        s = set(row[0])
        if s <= test:
            parts["test"].append(row)
        elif s <= train:
            parts["train"].append(row)
        elif (s <= val) if mode == "within" else (s <= train | val and s & val):
            parts["val"].append(row)
        else:
            parts["lost"].append(row)
    assert _rows(data.train) == parts["train"]
    assert _rows(data.val) == parts["val"]
    assert _rows(data.test) == parts["test"]
    for row in _rows(data.train) + _rows(data.val):
        assert not set(row[0]) & test  # no test clip is trained or selected on
    summary = data.summary()
    assert summary["val_triplets"] == mode
    assert (summary["n_train_triplets"], summary["n_val_triplets"], summary["n_test_triplets"],
            summary["n_triplets_lost_to_split"]) == tuple(len(parts[k]) for k in ("train", "val", "test", "lost"))
    assert sum(len(p) for p in parts.values()) == len(data.triplets)
    pairs = {p for row in parts["val"] for p in itertools.combinations(row[0], 2) if set(p) & val}
    assert summary["n_val_pairs"] == len(pairs)


def test_mixed_validation_has_many_more_triplets_and_the_same_training(folder):
    def load(mode):
        return load_training_data(TrainConfig(data=DataConfig.for_dataset(folder, val_fraction=0.25,
                                                                          val_triplets=mode)))

    within, mixed = load("within"), load("mixed")
    assert _rows(within.train) == _rows(mixed.train)
    assert len(mixed.val) > 5 * len(within.val)
    assert (mixed.summary()["n_triplets_lost_to_split"]
            == within.summary()["n_triplets_lost_to_split"] - len(mixed.val) + len(within.val))


def test_val_triplets_must_be_known():
    with pytest.raises(ConfigError, match=r"data\.val_triplets = 'some'.*one of within, mixed"):
        DataConfig(val_triplets="some")


def test_shuffled_labels_relabel_training_triplets_only(folder):
    """``data.shuffle_labels``: every training triplet is the same row with its stimuli renamed
    by one permutation of the training stimuli; validation and test triplets are untouched."""
    true = load_training_data(TrainConfig(data=DataConfig.for_dataset(folder, val_triplets="mixed")))
    cfg = TrainConfig(data=DataConfig.for_dataset(folder, val_triplets="mixed", shuffle_labels=True))
    shuffled = load_training_data(cfg)
    assert _rows(shuffled.val) == _rows(true.val) and _rows(shuffled.test) == _rows(true.test)
    ids_true, ids_shuf = true.train.stimulus_ids, shuffled.train.stimulus_ids
    assert list(ids_true) == list(ids_shuf) == list(true.train_ids)
    assert np.array_equal(true.train.rows, shuffled.train.rows)
    perm = {}  # brute force: one consistent renaming, read off the triplets
    for t0, t1 in zip(true.train.triads, shuffled.train.triads):
        for a, b in zip(ids_true[t0], ids_shuf[t1]):
            assert perm.setdefault(a, b) == b
    assert sorted(perm.values()) == sorted(perm) and sum(a != b for a, b in perm.items()) > len(perm) // 2
    assert np.array_equal(true.train.odd, shuffled.train.odd)
    again = load_training_data(cfg)  # seeded
    assert np.array_equal(again.train.triads, shuffled.train.triads)
