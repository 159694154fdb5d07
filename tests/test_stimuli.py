"""Stimulus tables: reading, captions, attribute ratings, and the real garcia2025 tables."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bgs.data.garcia2025 import load_garcia2025
from bgs.data.stimuli import StimulusTable, read_stimuli
from bgs.errors import (
    BGSError,
    DataFileError,
    DuplicateIdError,
    MissingValueError,
    UnknownStimulusError,
)

GARCIA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "garcia2025"
GARCIA_FILES = ("all_triplets.csv", "video_mapping.csv", "captions.csv", "annotations.csv",
                "train.csv", "test.csv")
ATTRIBUTES = ["indoor", "expanse", "object", "agent_distance", "facingness", "joint_action",
              "communication", "valence", "arousal", "intimacy", "dominance"]


@pytest.fixture(scope="module")
def garcia_dir() -> Path:
    if not all((GARCIA / f).is_file() for f in GARCIA_FILES):
        pytest.skip(f"shared garcia2025 data not found at {GARCIA}")
    return GARCIA


@pytest.fixture(scope="module")
def garcia(garcia_dir):
    return load_garcia2025(garcia_dir)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def table(tmp_path) -> StimulusTable:
    """Three stimuli with integer ids 10, 20, 30 and files a.mp4, b.mp4, c.mp4."""
    return read_stimuli(write(tmp_path / "stimuli.csv",
                              "id,file\n10,a.mp4\n20,b.mp4\n30,c.mp4\n"))


# ====================================================================== read_stimuli
def test_read_stimuli_id_and_file_columns(tmp_path):
    t = read_stimuli(write(tmp_path / "s.csv", "id,file\n3,x.mp4\n1, y.mp4 \n2,z.mp4\n"))
    assert len(t) == 3
    assert t.ids.tolist() == [3, 1, 2]  # file order kept, ids not sorted
    assert t.files.tolist() == ["x.mp4", "y.mp4", "z.mp4"]  # whitespace stripped
    assert t.index.tolist() == [3, 1, 2]
    assert t.captions is None and t.attributes is None


def test_read_stimuli_index_column_and_video_name(tmp_path):
    t = read_stimuli(write(tmp_path / "m.csv", "index,video_name\n0,p.mp4\n1,q.mp4\n"))
    assert t.ids.tolist() == [0, 1]
    assert t.files.tolist() == ["p.mp4", "q.mp4"]


def test_read_stimuli_string_ids_stripped(tmp_path):
    t = read_stimuli(write(tmp_path / "s.csv", "stimulus_id\n a \nb\n"))
    assert t.ids.tolist() == ["a", "b"]
    assert t.files is None


def test_read_stimuli_file_column_only_gives_file_ids(tmp_path):
    t = read_stimuli(write(tmp_path / "s.csv", "file,other\nx.mp4,1\n y.mp4,2\nz.mp4,3\n"))
    assert t.ids.tolist() == ["x.mp4", "y.mp4", "z.mp4"]
    assert t.files.tolist() == ["x.mp4", "y.mp4", "z.mp4"]
    assert t.to_ids(["z.mp4", "x.mp4"]).tolist() == ["z.mp4", "x.mp4"]


def test_read_stimuli_explicit_columns(tmp_path):
    t = read_stimuli(write(tmp_path / "s.csv", "key,clip\n7,u.mp4\n8,v.mp4\n"),
                     id_column="key", file_column="clip")
    assert t.ids.tolist() == [7, 8]
    assert t.files.tolist() == ["u.mp4", "v.mp4"]


def test_read_stimuli_duplicate_id_names_file_row_and_fix(tmp_path):
    path = write(tmp_path / "dup.csv", "id,file\n1,a.mp4\n2,b.mp4\n3,c.mp4\n2,d.mp4\n")
    with pytest.raises(DuplicateIdError) as info:
        read_stimuli(path)
    err = info.value
    # header = row 1, data rows 2..5: the repeated id 2 is on spreadsheet row 5
    assert err.rows == [5]
    assert err.column == "id"
    msg = str(err)
    assert str(path) in msg
    assert "row 5" in msg
    assert "Fix:" in msg and "unique id" in msg
    assert "2" in err.problem


def test_read_stimuli_duplicate_file_name_as_id(tmp_path):
    path = write(tmp_path / "dup.csv", "video_name\na.mp4\nb.mp4\na.mp4\n")
    with pytest.raises(DuplicateIdError) as info:
        read_stimuli(path)
    assert info.value.rows == [4]
    assert "row 4" in str(info.value) and "a.mp4" in str(info.value)


def test_read_stimuli_empty_id(tmp_path):
    path = write(tmp_path / "s.csv", "id,file\n1,a.mp4\n,b.mp4\n3,c.mp4\n")
    with pytest.raises(MissingValueError) as info:
        read_stimuli(path)
    assert info.value.rows == [3]
    assert info.value.column == "id"
    assert str(path) in str(info.value) and "row 3" in str(info.value)


def test_read_stimuli_empty_file_name_without_id_column(tmp_path):
    path = write(tmp_path / "s.csv", "file,x\na.mp4,1\n,2\n")
    with pytest.raises(MissingValueError) as info:
        read_stimuli(path)
    assert info.value.rows == [3] and info.value.column == "file"


def test_read_stimuli_whitespace_only_id_is_missing(tmp_path):
    path = write(tmp_path / "s.csv", "id,file\na,x.mp4\n  ,y.mp4\nc,z.mp4\n")
    with pytest.raises(MissingValueError):
        read_stimuli(path)


def test_read_stimuli_no_id_or_file_column(tmp_path):
    path = write(tmp_path / "s.csv", "name,rating\nx,1\ny,2\n")
    with pytest.raises(DataFileError) as info:
        read_stimuli(path)
    assert str(path) in str(info.value)
    assert "Fix:" in str(info.value)


def test_duplicate_file_names_are_a_bgs_error(tmp_path):
    path = write(tmp_path / "s.csv", "id,file\n1,x.mp4\n2,x.mp4\n3,z.mp4\n")
    with pytest.raises(BGSError):
        t = read_stimuli(path)
        t.to_ids(["x.mp4"])


# ====================================================================== to_ids
def test_to_ids_by_id_integer_string_and_file(table):
    assert table.to_ids([20, "30", "a.mp4", " b.mp4 ", 10.0]).tolist() == [20, 30, 10, 20, 10]


def test_to_ids_unknown_names_rows(table):
    with pytest.raises(UnknownStimulusError) as info:
        table.to_ids([10, "nope.mp4", 20, 99], path="k.csv", column="key", first_row=2)
    err = info.value
    assert err.rows == [3, 5]
    assert err.column == "key"
    assert "rows 3, 5" in str(err) and "k.csv" in str(err) and "'nope.mp4'" in str(err)


# ====================================================================== captions
def test_captions_long_by_id_with_and_without_caption_index(table, tmp_path):
    path = write(tmp_path / "c.csv", "id,caption\n20,first b\n10,first a\n20,second b\n"
                                     "10, second a \n")
    t = table.with_captions(path)
    assert t.caption_lists() == {10: ["first a", "second a"], 20: ["first b", "second b"]}
    assert list(t.captions.columns) == ["id", "caption_index", "caption"]
    assert table.captions is None  # with_captions returns a new table

    # an explicit caption_index column decides the order, not the row order
    path = write(tmp_path / "c2.csv", "id,caption_index,caption\n10,2,later\n10,1,earlier\n"
                                      "30,5,only\n")
    assert table.with_captions(path).caption_lists() == {10: ["earlier", "later"], 30: ["only"]}


def test_captions_long_keyed_by_file_name(table, tmp_path):
    path = write(tmp_path / "c.csv", "video_name,caption_index,caption\nc.mp4,1,c one\n"
                                     "a.mp4,1,a one\nc.mp4,2,c two\n")
    t = table.with_captions(path)
    assert t.caption_lists() == {10: ["a one"], 30: ["c one", "c two"]}
    assert 20 not in t.caption_lists()  # stimuli without captions are absent


def test_captions_explicit_key_and_caption_columns(table, tmp_path):
    path = write(tmp_path / "c.csv", "clip,text\nb.mp4,hello\n")
    t = table.with_captions(path, key_column="clip", caption_column="text")
    assert t.caption_lists() == {20: ["hello"]}


def test_captions_wide(table, tmp_path):
    path = write(tmp_path / "c.csv", "id,caption_1,caption_2,caption_10\n"
                                     "30,c1,c2,c10\n10,a1,,a10\n20,,,\n")
    t = table.with_captions(path)
    # numeric order (2 before 10), empty cells dropped, stimulus 20 has none
    assert t.caption_lists() == {10: ["a1", "a10"], 30: ["c1", "c2", "c10"]}


def test_captions_list_literal_column(table, tmp_path):
    path = write(tmp_path / "c.csv",
                 'file,captions\n'
                 'b.mp4,"[\'b one\', \'b two\', \' \']"\n'
                 'a.mp4,"[""a one\'s""]"\n'
                 'c.mp4,\n')
    t = table.with_captions(path)
    assert t.caption_lists() == {10: ["a one's"], 20: ["b one", "b two"]}


def test_captions_list_literal_not_a_list(table, tmp_path):
    path = write(tmp_path / "c.csv", "id,captions\n10,not a list\n")
    with pytest.raises(DataFileError):
        table.with_captions(path)


def test_captions_list_literal_column_with_plain_string(table, tmp_path):
    path = write(tmp_path / "c.csv", "id,captions\n10,\"'one caption'\"\n")
    try:
        lists = table.with_captions(path).caption_lists()
    except DataFileError:
        return  # rejecting the cell is acceptable
    assert lists == {10: ["one caption"]}


def test_captions_empty_dropped(table, tmp_path):
    path = write(tmp_path / "c.csv", "id,caption\n10,keep\n10,\n10,   \n20,\n30,also kept\n")
    t = table.with_captions(path)
    assert t.caption_lists() == {10: ["keep"], 30: ["also kept"]}
    assert len(t.captions) == 2
    assert (t.captions["caption"] != "").all()


def test_captions_unknown_stimulus_names_rows(table, tmp_path):
    path = write(tmp_path / "c.csv", "file,caption\na.mp4,x\nzz.mp4,y\nb.mp4,z\nqq.mp4,w\n")
    with pytest.raises(UnknownStimulusError) as info:
        table.with_captions(path)
    err = info.value
    assert err.rows == [3, 5]
    assert err.column == "file"
    assert str(path) in str(err) and "rows 3, 5" in str(err)


def test_captions_unknown_id(table, tmp_path):
    path = write(tmp_path / "c.csv", "id,caption\n10,x\n11,y\n")
    with pytest.raises(UnknownStimulusError) as info:
        table.with_captions(path)
    assert info.value.rows == [3]


def test_captions_no_key_or_caption_column(table, tmp_path):
    with pytest.raises(DataFileError):
        table.with_captions(write(tmp_path / "c.csv", "who,caption\n10,x\n"))
    with pytest.raises(DataFileError):
        table.with_captions(write(tmp_path / "d.csv", "id,words\n10,x\n"))


def test_caption_lists_without_captions(table):
    assert table.caption_lists() == {}


# ====================================================================== attributes
def test_attributes_numeric_columns_prefix_stripped_and_reindexed(table, tmp_path):
    path = write(tmp_path / "a.csv",
                 "video_name,rating-valence,rating-arousal,stimulus_set,captions\n"
                 "c.mp4,0.5,1,train,\"['x']\"\n"
                 "a.mp4,0.25,0,test,\"['y']\"\n")
    t = table.with_attributes(path)
    attrs = t.attributes
    assert list(attrs.columns) == ["valence", "arousal"]
    assert attrs.index.tolist() == [10, 20, 30]  # the table's ids, in its order
    assert attrs.loc[10].tolist() == [0.25, 0.0]
    assert attrs.loc[30].tolist() == [0.5, 1.0]
    assert attrs.loc[20].isna().all()  # not rated: NaN
    assert attrs.dtypes.map(lambda d: d == np.float64).all()


def test_attributes_no_common_prefix_kept(table, tmp_path):
    path = write(tmp_path / "a.csv", "id,rating-a,score-b,c\n10,1,2,3\n")
    assert list(table.with_attributes(path).attributes.columns) == ["rating-a", "score-b", "c"]


def test_attributes_explicit_columns_and_prefix(table, tmp_path):
    path = write(tmp_path / "a.csv", "id,r_x,r_y,other\n20,1,2,3\n")
    t = table.with_attributes(path, columns=["r_y", "r_x"], prefix="r_")
    assert list(t.attributes.columns) == ["y", "x"]
    assert t.attributes.loc[20].tolist() == [2.0, 1.0]


def test_attributes_empty_cell_is_nan(table, tmp_path):
    path = write(tmp_path / "a.csv", "id,rating-a,rating-b\n10,,2\n20,1,3\n")
    attrs = table.with_attributes(path).attributes
    assert np.isnan(attrs.loc[10, "a"]) and attrs.loc[10, "b"] == 2.0


def test_attributes_non_numeric_cell_names_row_and_column(table, tmp_path):
    path = write(tmp_path / "a.csv", "id,rating-a,rating-b\n10,0.1,0.2\n20,0.3,abc\n30,1,2\n")
    with pytest.raises(DataFileError) as info:
        table.with_attributes(path, columns=["rating-a", "rating-b"])
    err = info.value
    assert err.rows == [3] and err.column == "rating-b"
    assert "row 3" in str(err) and "'rating-b'" in str(err) and "'abc'" in str(err)


def test_attributes_non_numeric_cell_detected_automatically(table, tmp_path):
    path = write(tmp_path / "a.csv", "id,rating-a,rating-b\n10,0.1,0.2\n20,0.3,abc\n30,1,2\n")
    with pytest.raises(DataFileError) as info:
        table.with_attributes(path)
    assert info.value.rows == [3] and info.value.column == "rating-b"


def test_attributes_duplicate_stimulus_row(table, tmp_path):
    # the same stimulus named once by id and once by file name
    path = write(tmp_path / "a.csv", "id,rating-a\n10,1\n20,2\na.mp4,3\n")
    with pytest.raises(DuplicateIdError) as info:
        table.with_attributes(path, key_column="id")
    assert info.value.rows == [4]
    assert "row 4" in str(info.value)


def test_attributes_unknown_stimulus(table, tmp_path):
    path = write(tmp_path / "a.csv", "file,rating-a\na.mp4,1\nzz.mp4,2\n")
    with pytest.raises(UnknownStimulusError) as info:
        table.with_attributes(path)
    assert info.value.rows == [3]


# ====================================================================== real data
def test_garcia_stimuli(garcia, garcia_dir):
    st = garcia.stimuli
    assert len(st) == 250
    assert st.ids.tolist() == list(range(250))
    mapping = pd.read_csv(garcia_dir / "video_mapping.csv")
    assert st.files.tolist() == mapping["video_name"].tolist()


def test_garcia_captions(garcia, garcia_dir):
    lists = garcia.stimuli.caption_lists()
    assert set(lists) == set(range(250))
    assert min(len(v) for v in lists.values()) >= 5

    with open(garcia_dir / "captions.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    expected: dict[str, int] = {}
    for r in rows:
        if r["caption"].strip():
            expected[r["video_name"]] = expected.get(r["video_name"], 0) + 1
    assert sum(len(v) for v in lists.values()) == sum(expected.values())
    files = garcia.stimuli.files
    assert {files[i]: len(v) for i, v in lists.items()} == expected

    # caption order follows caption_index; texts are the file's, stripped
    first = {}
    for r in rows:
        if r["caption_index"] == "1":
            first[r["video_name"]] = r["caption"].strip()
    assert {files[i]: v[0] for i, v in lists.items()} == first


def test_garcia_attributes(garcia, garcia_dir):
    attrs = garcia.stimuli.attributes
    assert list(attrs.columns) == ATTRIBUTES
    assert attrs.index.tolist() == list(range(250))
    mapping = pd.read_csv(garcia_dir / "video_mapping.csv")
    ann = pd.read_csv(garcia_dir / "annotations.csv")
    merged = mapping.merge(ann, on="video_name", how="left", validate="one_to_one")
    merged = merged.set_index("index").sort_index()
    expected = merged[[f"rating-{a}" for a in ATTRIBUTES]].to_numpy(dtype=float)
    np.testing.assert_array_equal(attrs.to_numpy(), expected)
    assert not np.isnan(expected).any()
