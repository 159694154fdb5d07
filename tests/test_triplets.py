"""Reading, validation, catch trials and screening of triplet files (API and CLI)."""

import numpy as np
import pandas as pd
import pytest

from bgs.cli import main
from bgs.data.triplets import Screening, TripletSet, read_triplets
from bgs.errors import (
    ConfigError,
    EmptyFileError,
    InvalidStimulusIdError,
    MissingColumnsError,
    MissingValueError,
    OddNotInTriadError,
    UnknownStimulusError,
)

GOOD = """participant,a,b,c,odd,response_time
p1,1,2,3,1,2.5
p1,4,5,6,5,3.0
p1,1,1,2,2,2.0
p2,1,2,4,4,4.0
p2,3,5,6,3,1.0
p2,2,2,5,2,3.0
p2,6,6,1,1,3.0
"""


def write(tmp_path, text, name="t.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def cli(capsys, *args):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ---------------------------------------------------------------------- reading
def test_reads_default_format(tmp_path):
    ts = read_triplets(write(tmp_path, GOOD))
    assert len(ts) == 4
    assert list(ts.stimulus_ids) == [1, 2, 3, 4, 5, 6]
    df = ts.to_frame()
    assert df[["a", "b", "c", "odd"]].values.tolist() == [[1, 2, 3, 1], [4, 5, 6, 5],
                                                          [1, 2, 4, 4], [3, 5, 6, 3]]
    assert df["row"].tolist() == [2, 3, 5, 6]  # spreadsheet rows: header is row 1
    assert ts.pair.tolist() == [[1, 2], [3, 5], [0, 1], [4, 5]]  # indices of the chosen pair


def test_catch_trials_scored_and_excluded(tmp_path):
    ts = read_triplets(write(tmp_path, GOOD))
    r = ts.report
    assert (r.n_rows, r.n_catch, r.n_catch_failed, r.n_valid) == (7, 3, 1, 4)
    assert r.excluded_participants == {}  # p2 failed 1 of 2: not more than half
    table = r.catch_by_participant.set_index("participant")
    assert table.loc["p1", "n_failed"] == 0 and table.loc["p2", "n_failed"] == 1


def test_all_identical_row_is_unscorable_catch(tmp_path):
    ts = read_triplets(write(tmp_path, GOOD + "p1,7,7,7,7,2.0\n"))
    assert ts.report.n_catch == 4 and ts.report.n_catch_unscorable == 1
    assert ts.report.n_catch_failed == 1


def test_parquet_and_column_mapping(tmp_path):
    df = pd.read_csv(write(tmp_path, GOOD)).rename(columns={"participant": "subj", "odd": "choice"})
    path = tmp_path / "t.parquet"
    df.to_parquet(path)
    ts = read_triplets(path, columns="participant=subj,odd=choice")
    assert len(ts) == 4 and ts.rows.tolist() == [1, 2, 4, 5]  # Parquet rows count from 1
    with pytest.raises(MissingColumnsError, match="'participant', 'odd'"):
        read_triplets(path)


def test_string_ids(tmp_path):
    text = "participant,a,b,c,odd\np,x,y,z,y\np,x,w,z,z\n"
    ts = read_triplets(write(tmp_path, text), id_type="str")
    assert list(ts.stimulus_ids) == ["w", "x", "y", "z"]
    with pytest.raises(InvalidStimulusIdError):
        read_triplets(write(tmp_path, text))


def test_bad_columns_spec():
    from bgs.data.formats import parse_columns

    with pytest.raises(ConfigError, match="FIELD=COLUMN"):
        parse_columns("participant")
    with pytest.raises(ConfigError, match="unknown field 'subject'"):
        parse_columns("subject=s")


# ---------------------------------------------------------------------- every error kind
# (text, expected error type, CLI message fragments)
BAD = {
    "empty": ("", EmptyFileError, ["t.csv", "empty"]),
    "header only": ("participant,a,b,c,odd\n", EmptyFileError, ["no rows"]),
    "missing columns": ("participant,a,b,c\np,1,2,3\n", MissingColumnsError,
                        ["missing column 'odd'", "--columns"]),
    "missing value": ("participant,a,b,c,odd\np,1,2,3,1\np,1,,3,1\np,4,5,6,\n", MissingValueError,
                      ["rows 3, 4", "column 'b'", "--on-error drop"]),
    "non-integer id": ("participant,a,b,c,odd\np,1,2,3,1\np,1,2.5,3,1\np,x,2,3,2\n",
                       InvalidStimulusIdError, ["rows 3, 4", "column 'b'", "2.5", "--id-type str"]),
    "odd not in triad": ("participant,a,b,c,odd\np,1,2,3,1\np,1,2,3,9\n", OddNotInTriadError,
                         ["row 3", "column 'odd'", "one of the three"]),
}


@pytest.mark.parametrize("kind", list(BAD))
def test_each_error_kind_api_and_cli(tmp_path, capsys, kind):
    text, error, fragments = BAD[kind]
    path = write(tmp_path, text)
    with pytest.raises(error):
        read_triplets(path)
    for command in ("validate", "stats"):
        code, out, err = cli(capsys, "data", command, path, "--n-bootstrap", "0") if command == "stats" \
            else cli(capsys, "data", command, path)
        assert code == 2
        assert err.count("\n") == 1 and "Traceback" not in err
        assert str(path) in err and "Fix:" in err
        for fragment in fragments:
            assert fragment in err, (fragment, err)


def test_unknown_stimulus_needs_table(tmp_path, capsys):
    path = write(tmp_path, "participant,a,b,c,odd\np,1,2,3,1\np,1,2,42,2\n")
    table = write(tmp_path, "id,file\n1,a.mp4\n2,b.mp4\n3,c.mp4\n", "stimuli.csv")
    with pytest.raises(UnknownStimulusError):
        read_triplets(path, stimulus_ids=[1, 2, 3])
    code, _, err = cli(capsys, "data", "validate", path, "--stimuli", table)
    assert code == 2 and "row 3" in err and "column 'c'" in err and "42" in err
    assert "stimulus table" in err
    ts = read_triplets(path, stimulus_ids=[1, 2, 3, 42, 5])
    assert list(ts.stimulus_ids) == [1, 2, 3, 42, 5]  # the table is the index space


def test_missing_file_and_bad_option(tmp_path, capsys):
    code, _, err = cli(capsys, "data", "validate", tmp_path / "nope.csv")
    assert code == 2 and "file not found" in err
    code, _, err = cli(capsys, "data", "validate", write(tmp_path, GOOD), "--format", "nope")
    assert code == 2 and "unknown triplet format 'nope'" in err


def test_on_error_drop_counts_every_reason(tmp_path, capsys):
    text = ("participant,a,b,c,odd\n"
            "p,1,2,3,1\n"      # ok
            "p,1,,3,1\n"       # missing value
            "p,1,x,3,1\n"      # non-integer
            "p,1,2,3,7\n"      # odd not in triad
            "p,1,2,3,7\n"      # odd not in triad
            "p,4,5,6,5\n")     # ok
    path = write(tmp_path, text)
    ts = read_triplets(path, on_error="drop")
    assert len(ts) == 2
    assert ts.report.dropped == {"missing value": 1, "non-integer stimulus id": 1,
                                 "odd not in triad": 2}
    assert ts.report.dropped_rows["odd not in triad"] == [5, 6]
    code, out, _ = cli(capsys, "data", "validate", path, "--on-error", "drop")
    assert code == 0 and "dropped: odd not in triad" in out


# ---------------------------------------------------------------------- screening
def test_screening_catch_failures_and_response_times(tmp_path):
    rows = ["participant,a,b,c,odd,response_time"]
    # p_bad fails 2 of 2 catch trials; p_fast answers in 0.5 s
    rows += ["p_bad,1,1,2,1,3", "p_bad,3,3,4,3,3", "p_bad,1,2,3,1,3", "p_bad,2,3,4,2,3"]
    rows += ["p_ok,1,1,2,2,3", "p_ok,1,2,3,1,3", "p_ok,2,3,4,2,9", "p_ok,1,3,4,1,3"]
    rows += ["p_fast,1,2,3,1,0.5", "p_fast,2,3,4,2,0.5", "p_fast,1,2,4,4,0.6"]
    path = write(tmp_path, "\n".join(rows) + "\n")
    ts = read_triplets(path, screening=Screening(max_catch_failure_rate=0.5,
                                                 min_median_response_time=1.0, max_response_time=8))
    r = ts.report
    assert set(r.excluded_participants) == {"p_bad", "p_fast"}
    assert "catch" in r.excluded_participants["p_bad"]
    assert r.screened == {"participant excluded": 5, "response time > 8 s": 1}
    assert len(ts) == 2 and set(ts.participant_ids[ts.participant]) == {"p_ok"}
    off = read_triplets(path, screening=Screening(max_catch_failure_rate=None))
    assert len(off) == 8 and off.report.excluded_participants == {}


# ---------------------------------------------------------------------- real data
def test_garcia2025_counts(garcia_triplets):
    r = garcia_triplets.report
    assert r.n_rows == 49_484
    assert len(garcia_triplets) == r.n_valid == 47_126
    assert garcia_triplets.n_participants == 215
    assert (r.n_catch, r.n_catch_failed, r.n_catch_unscorable) == (2_358, 0, 2)
    assert garcia_triplets.n_stimuli == 250


def test_garcia2025_catch_rows_independent(garcia_dir):
    df = pd.read_csv(garcia_dir / "all_triplets.csv")
    s = df[["stim1_name", "stim2_name", "stim3_name"]].to_numpy()
    repeated = [len(set(row)) < 3 for row in s.tolist()]
    assert sum(repeated) == 2_358
    failed = 0
    for row, odd, rep in zip(s.tolist(), df["choice"], repeated):
        if rep and len(set(row)) == 2:
            single = [x for x in row if row.count(x) == 1][0]
            failed += odd != single
    assert failed == 0


def test_from_arrays_roundtrip():
    ts = TripletSet.from_arrays([1, 4], [2, 5], [3, 6], [3, 4], participant=["x", "y"])
    assert ts.odd.tolist() == [2, 0]
    assert ts.to_frame()["odd"].tolist() == [3, 4]
    with pytest.raises(ValueError):
        TripletSet.from_arrays([1], [1], [2], [2])
    assert np.array_equal(ts.restrict([4, 5, 6]).stimulus_ids, [4, 5, 6])
