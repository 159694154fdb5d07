"""Behavior tables: readers (bgs JSONL/Parquet, BLIFT-style records), row-level validation
errors, round trips and the normalisation of engagement and replay graphs."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from bgs.behavior import (
    ReplayGraph,
    engagement_targets,
    like_log_ratio,
    read_behavior,
    resample_replay,
    standardise,
    write_behavior,
)
from bgs.cli import main
from bgs.errors import (
    DataFileError,
    DuplicateIdError,
    EmptyFileError,
    InvalidRecordError,
    MissingValueError,
    UnreadableFileError,
)

BLIFT = [
    {"url": "https://youtu.be/aaa", "permalink": "/r/videos/comments/aaa/", "subreddit": "videos",
     "title": "dog meets cat", "comments": ["so cute", {"body": "best friends"}, "   "],
     "num_comments": 40, "likes": 120, "views": 3000,
     "replay_graphs": [{"start": 0.0, "end": 1.5, "replay_score": 0.2},
                       {"start": 1.5, "end": 3.0, "replay_score": 1.0}],
     "metadata": {"title": "dog meets cat", "description": "", "length": 3.0, "date": "2023-04-02"},
     "channel_data": {"name": "PetsDaily", "subscribers": 51000}},
    {"url": "https://i.redd.it/bbb.jpg", "permalink": "/r/pics/comments/bbb/", "subreddit": "pics",
     "title": "sunset", "comments": [], "num_comments": 0, "likes": 0, "views": 10,
     "replay_graphs": None},
    {"url": "https://youtu.be/ccc", "permalink": "/r/videos/comments/ccc/", "subreddit": "videos",
     "title": "a fight", "comments": ["wow"], "num_comments": 1, "likes": 9, "views": 9,
     "replay_graphs": [{"start": 1.0, "end": 2.0, "replay_score": 0.5}],
     "metadata": {"length": 4.0}, "channel_data": {"channel_id": "UC123", "subscribers": 10}},
]


def write_jsonl(path, records):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def good(**extra):
    rec = {"id": 0, "views": 100, "likes": 5, "comments": ["nice"],
           "replay_graph": [{"start": 0, "end": 1, "replay_score": 1.0}]}
    rec.update(extra)
    return rec


# ---------------------------------------------------------------------- BLIFT records
def test_blift_fixture_reads_and_round_trips(tmp_path):
    t = read_behavior(write_jsonl(tmp_path / "blift.jsonl", BLIFT))
    assert t.keys == [r["permalink"] for r in BLIFT]  # blift key: permalink (no id field)
    assert t.views.tolist() == [3000, 10, 9] and t.likes.tolist() == [120, 0, 9]
    assert t.comments == [["so cute", "best friends"], [], ["wow"]]  # dict bodies read, blanks dropped
    assert t.channel == ["PetsDaily", "pics", "UC123"]  # channel_data name/id, else subreddit
    assert t.followers[0] == 51000 and np.isnan(t.followers[1]) and t.followers[2] == 10
    assert t.upload_date == ["2023-04-02", None, None]
    assert t.duration[0] == 3.0 and np.isnan(t.duration[1]) and t.duration[2] == 4.0
    assert t.replay[1] is None
    assert t.replay[0] == ReplayGraph(np.array([0, 1.5]), np.array([1.5, 3]), np.array([0.2, 1.0]))
    for name in ("again.jsonl", "again.parquet"):
        back = read_behavior(write_behavior(t, tmp_path / name))
        assert back.keys == t.keys and back.comments == t.comments and back.channel == t.channel
        for col in ("views", "likes", "followers", "duration"):
            np.testing.assert_array_equal(getattr(back, col), getattr(t, col))
        assert back.replay == t.replay and back.upload_date == t.upload_date
        assert back.records() == t.records()
    # the id field can be chosen, e.g. the url
    assert read_behavior(tmp_path / "blift.jsonl", id_field="url").keys[1] == "https://i.redd.it/bbb.jpg"


def test_blift_parquet_input(tmp_path):
    path = tmp_path / "blift.parquet"
    flat = [{**{k: v for k, v in r.items() if k not in ("metadata", "channel_data")},
             "comments": [c if isinstance(c, str) else c["body"] for c in r["comments"]]}
            for r in BLIFT[::2]]  # Parquet needs one type per column: comments as strings
    pd.DataFrame(flat).to_parquet(path)
    t = read_behavior(path, format="blift")
    assert t.keys == [BLIFT[0]["permalink"], BLIFT[2]["permalink"]]
    assert t.comments == [["so cute", "best friends"], ["wow"]] and t.channel == ["videos", "videos"]
    assert t.replay[1] == ReplayGraph(np.array([1.0]), np.array([2.0]), np.array([0.5]))


def test_vector_replay_graphs_and_bgs_format(tmp_path):
    t = read_behavior(write_jsonl(tmp_path / "b.jsonl", [
        good(id=3, replay_graph=[0, 0.5, 1.0, 0.25], channel="a", followers=10, upload_date="2024-01-01"),
        good(id="clip.mp4", replay_graph=None, comments=None, likes=None)]))
    assert t.keys == [3, "clip.mp4"] and t.replay[0].relative and t.replay[1] is None
    assert t.comments[1] == [] and np.isnan(t.likes[1])
    assert t.records()[0]["replay_graph"] == [0, 0.5, 1.0, 0.25]
    assert read_behavior(write_behavior(t, tmp_path / "c.jsonl")).records() == t.records()


# ---------------------------------------------------------------------- malformed records
@pytest.mark.parametrize("record, cls, column, words", [
    (good(likes=200), InvalidRecordError, "likes", "more likes than views"),
    (good(views=-3), InvalidRecordError, "views", "non-negative"),
    (good(views="many"), InvalidRecordError, "views", "not a finite number"),
    (good(likes=2.5), InvalidRecordError, "likes", "whole number"),
    (good(comments="nice"), InvalidRecordError, "comments", "not a list"),
    (good(comments=["ok", 3]), InvalidRecordError, "comments", "not a string"),
    (good(replay_graph=[{"start": 2, "end": 1, "replay_score": 0.5}]), InvalidRecordError,
     "replay_graph", "start >= end"),
    (good(replay_graph=[{"start": 0, "end": 1, "replay_score": 3}]), InvalidRecordError,
     "replay_graph", "outside [0, 1]"),
    (good(replay_graph=[{"start": 0, "end": 1}]), InvalidRecordError, "replay_graph", "not a marker"),
    (good(replay_graph=[0.5, -1]), InvalidRecordError, "replay_graph", "in [0, 1]"),
    ({"views": 3, "likes": 1}, MissingValueError, "id", "no key"),
])
def test_malformed_records_name_file_rows_field_and_fix(tmp_path, record, cls, column, words):
    rows = [good(id=1), dict(record, id=2) if "id" in record else record, good(id=3),
            dict(record, id=4) if "id" in record else record]
    path = write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(cls) as info:
        read_behavior(path)
    err = info.value
    assert isinstance(err, DataFileError)
    assert err.rows == [2, 4] and err.column == column and err.path == str(path)
    msg = str(err)
    assert words in msg and str(path) in msg and "rows 2, 4" in msg and "Fix:" in msg


def test_blift_specific_fields_are_checked(tmp_path):
    bad = dict(BLIFT[0], num_comments=-1)
    with pytest.raises(InvalidRecordError, match="num_comments must be non-negative") as info:
        read_behavior(write_jsonl(tmp_path / "b.jsonl", [BLIFT[1], bad]))
    assert info.value.rows == [2] and info.value.column == "num_comments"
    with pytest.raises(InvalidRecordError, match="channel_data is not an object"):
        read_behavior(write_jsonl(tmp_path / "c.jsonl", [dict(BLIFT[0], channel_data=[1])]))


def test_file_level_problems(tmp_path):
    with pytest.raises(UnreadableFileError, match="not valid JSON") as info:
        read_behavior(write_jsonl(tmp_path / "a.jsonl", [good(id=1), "{oops", "", "[1,"]))
    assert info.value.rows == [2, 4]  # line numbers, blank lines counted
    with pytest.raises(InvalidRecordError, match="not a JSON object") as info:
        read_behavior(write_jsonl(tmp_path / "b.jsonl", [good(id=1), "[1, 2]"]))
    assert info.value.rows == [2]
    with pytest.raises(DuplicateIdError, match="names more than one record") as info:
        read_behavior(write_jsonl(tmp_path / "c.jsonl", [good(id=1), good(id=2), good(id=1), good(id=1)]))
    assert info.value.rows == [3, 4]
    (tmp_path / "e.jsonl").write_text("\n\n")
    with pytest.raises(EmptyFileError):
        read_behavior(tmp_path / "e.jsonl")
    (tmp_path / "x.csv").write_text("id\n1\n")
    with pytest.raises(UnreadableFileError, match="unknown behavior file type"):
        read_behavior(tmp_path / "x.csv")
    with pytest.raises(UnreadableFileError, match="file not found"):
        read_behavior(tmp_path / "missing.jsonl")


def test_parquet_rows_are_counted_from_one(tmp_path):
    path = tmp_path / "b.parquet"
    pd.DataFrame([{"id": 1, "views": 10, "likes": 1}, {"id": 2, "views": 10, "likes": 11}]).to_parquet(path)
    with pytest.raises(InvalidRecordError) as info:
        read_behavior(path)
    assert info.value.rows == [2] and info.value.column == "likes"


def test_cli_validate(tmp_path, capsys):
    ok = write_jsonl(tmp_path / "ok.jsonl", BLIFT)
    assert main(["behavior", "validate", str(ok)]) == 0
    assert "3 records" in capsys.readouterr().out
    bad = write_jsonl(tmp_path / "bad.jsonl", [good(id=1), good(id=2, likes=500)])
    assert main(["behavior", "validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "row 2" in err and "likes" in err and "Traceback" not in err


# ---------------------------------------------------------------------- normalisation
def test_like_log_ratio_by_hand():
    got = like_log_ratio([0, 10, 5], [10, 10, 100], smoothing=0.5)
    expected = [math.log(0.5 / 11), math.log(10.5 / 11), math.log(5.5 / 101)]
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert np.isnan(like_log_ratio([np.nan], [3]))[0]
    with pytest.raises(ValueError):
        like_log_ratio([1], [2], smoothing=0)


def test_standardise_per_channel_by_hand():
    x = [1.0, 3.0, 10.0, 20.0, 5.0, 7.0]
    ch = ["a", "a", "b", "b", None, "c"]  # c has one value: global statistics
    got = standardise(x, ch)
    mu, sd = np.mean(x), np.std(x)
    np.testing.assert_allclose(got, [-1, 1, -1, 1, (5 - mu) / sd, (7 - mu) / sd], rtol=1e-12)
    np.testing.assert_allclose(standardise(x), (np.array(x) - mu) / sd, rtol=1e-12)
    # statistics from the fitted values only: the held-out value is transformed, not fitted
    fit = [True, True, True, True, True, False]
    mu5, sd5 = np.mean(x[:5]), np.std(x[:5])
    assert standardise(x, fit=fit)[5] == pytest.approx((7 - mu5) / sd5)


def test_engagement_targets_use_channels(tmp_path):
    t = read_behavior(write_jsonl(tmp_path / "b.jsonl", [
        good(id=1, likes=1, views=100, channel="big"), good(id=2, likes=3, views=100, channel="big"),
        good(id=3, likes=10, views=20, channel="small"), good(id=4, likes=15, views=20, channel="small")]))
    e = engagement_targets(t)
    np.testing.assert_allclose(e, [-1, 1, -1, 1], atol=1e-12)  # within-channel z-scores
    r = like_log_ratio(t.likes, t.views)
    np.testing.assert_allclose(engagement_targets(t, per_channel=False), (r - r.mean()) / r.std())


def test_resample_replay_by_hand():
    g = ReplayGraph(np.array([0.0, 1.0]), np.array([1.0, 3.0]), np.array([0.2, 0.8]))
    # bins [0, 1.5) and [1.5, 3): (1·0.2 + 0.5·0.8) / 1.5 and 0.8
    np.testing.assert_allclose(resample_replay(g, 2), [(0.2 + 0.4) / 1.5, 0.8])
    # a longer clip (duration 4): the last bin [3, 4) has no marker
    out = resample_replay(g, 4, duration=4.0)
    np.testing.assert_allclose(out[:3], [0.2, 0.8, 0.8])
    assert np.isnan(out[3])
    v = ReplayGraph.from_vector([0.0, 1.0])
    np.testing.assert_allclose(resample_replay(v, 4), [0, 0, 1, 1])
    np.testing.assert_allclose(resample_replay(v, 1), [0.5])
    assert np.isnan(resample_replay(None, 3)).all()


def test_synthetic_behavior_reads(tmp_path):
    from bgs.synthetic import SynthConfig, make_dataset

    make_dataset(tmp_path / "syn", SynthConfig(seed=1, n_clips=8, frames=8, size=16, n_participants=4,
                                               render=False))
    t = read_behavior(tmp_path / "syn" / "behavior.jsonl")
    assert len(t) == 8 and t.keys == list(range(8))
    assert all(g is not None and g.score.max() == pytest.approx(1.0) for g in t.replay)
    assert all(3 <= len(c) <= 5 for c in t.comments)


def test_replay_targets_centred_per_clip():
    from bgs.behavior.normalise import centre_per_clip

    t = np.array([[0.2, 0.4, np.nan, 0.6], [1.0, 1.0, 1.0, 1.0]])
    c = centre_per_clip(t)
    np.testing.assert_allclose(c[0, [0, 1, 3]], [-0.2, 0.0, 0.2], atol=1e-12)
    assert np.isnan(c[0, 2])
    np.testing.assert_allclose(c[1], 0.0)
    assert np.allclose(np.nanmean(c, axis=1), 0.0)
