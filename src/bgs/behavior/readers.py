"""Reading and writing behavior tables (JSON lines or Parquet), with row-level validation.

Two record layouts (``format="auto"`` tells them apart by their fields):

``bgs`` (what ``bgs synth make`` writes to ``behavior.jsonl``)::

    {"id": 0, "video_name": "synth_0000.mp4", "views": 2400, "likes": 130,
     "comments": ["so cute", ...],
     "replay_graph": [{"start": 0.0, "end": 0.25, "replay_score": 0.4}, ...],   # or [0.4, 1.0, ...]
     "channel": "...", "followers": 1200, "upload_date": "2024-05-01", "duration": 2.0}

``blift`` (BLIFT's released card fields, plus the sister corpus's behavior fields)::

    {"url": ..., "permalink": ..., "comments": [...], "num_comments": 12, "subreddit": "videos",
     "title": ..., "likes": 130, "views": 2400, "replay_graphs": [{"start", "end", "replay_score"}],
     "metadata": {"title", "description", "length", "date"}, "channel_data": {"subscribers", ...}}

The key of a record is ``id_field`` when given, else the first present of ``id``,
``stimulus``, ``video_name``, ``url`` (bgs) or ``id``, ``permalink``, ``url`` (blift). The
channel of a BLIFT record is ``channel_data``'s name or id, else its subreddit. Comments may
be strings or objects with a ``body`` or ``text``. Only ``views``, ``likes``, ``comments`` and
the replay graph carry training signal; any of them may be missing (null).

Every problem is reported as a :class:`~bgs.errors.DataFileError` subclass naming the file,
the rows (JSON lines count from 1, Parquet rows from 1), the field and the fix; when several
records share a problem all their rows are named.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bgs.behavior.table import BehaviorTable, ReplayGraph
from bgs.errors import (
    DataFileError,
    DuplicateIdError,
    EmptyFileError,
    InvalidRecordError,
    MissingValueError,
    UnreadableFileError,
)
from bgs.io import atomic_path

FORMATS = ("auto", "bgs", "blift")
BLIFT_FIELDS = ("permalink", "replay_graphs", "num_comments", "subreddit", "channel_data")
KEY_FIELDS = {"bgs": ("id", "stimulus", "video_name", "url"), "blift": ("id", "permalink", "url")}
SUFFIXES = ".jsonl, .json (JSON lines), .parquet, .pq"


@dataclass
class _Problem:
    row: int
    field: str
    problem: str
    fix: str
    cls: type = InvalidRecordError


class _Invalid(Exception):
    def __init__(self, field: str, problem: str, fix: str, cls: type = InvalidRecordError):
        self.args_ = (field, problem, fix, cls)


# ---------------------------------------------------------------------- raw records
def _py(v):
    """Parquet values as plain Python: arrays → lists, NaN/NA scalars → None."""
    if isinstance(v, np.ndarray):
        return [_py(x) for x in v.tolist()]
    if isinstance(v, (list, tuple)):
        return [_py(x) for x in v]
    if isinstance(v, dict):
        return {k: _py(x) for k, x in v.items()}
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    try:
        import pandas as pd

        if v is pd.NA or v is pd.NaT:
            return None
    except ImportError:  # pragma: no cover
        pass
    return v


def _raw_records(path: Path) -> list[tuple[int, object]]:
    """(row number, parsed record) pairs; a line that is not JSON is an error naming it."""
    if not path.exists():
        raise UnreadableFileError(path, "file not found", "check the path")
    if path.is_dir():
        raise UnreadableFileError(path, "is a directory, not a behavior file", "give a file")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        import pandas as pd

        try:
            df = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises many kinds on a broken file
            raise UnreadableFileError(path, f"cannot be read as Parquet ({str(exc).splitlines()[0]})",
                                      f"give a well-formed file of one of: {SUFFIXES}") from None
        records = [(k + 1, {c: _py(v) for c, v in rec.items()})
                   for k, rec in enumerate(df.to_dict("records"))]
    elif suffix in (".jsonl", ".json", ".ndjson"):
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise UnreadableFileError(path, f"is not UTF-8 text ({exc.reason})",
                                      "save it as UTF-8 JSON lines") from None
        records, bad = [], []
        for k, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append((k, json.loads(line)))
            except json.JSONDecodeError as exc:
                bad.append((k, exc.msg))
        if bad:
            raise UnreadableFileError(path, f"not valid JSON ({bad[0][1]})",
                                      "write one JSON object per line", rows=[r for r, _ in bad])
    else:
        raise UnreadableFileError(path, f"unknown behavior file type {suffix or '(none)'!r}",
                                  f"give one of: {SUFFIXES}")
    if not records:
        raise EmptyFileError(path, "holds no records", "give one record per stimulus")
    not_objects = [r for r, rec in records if not isinstance(rec, dict)]
    if not_objects:
        raise InvalidRecordError(path, "a record is not a JSON object",
                                 "write one object {\"id\": ..., \"views\": ...} per line",
                                 rows=not_objects)
    return records


def detect_format(records: list[tuple[int, dict]]) -> str:
    """``blift`` when any record carries a BLIFT-only field, else ``bgs``."""
    return "blift" if any(f in rec for _, rec in records for f in BLIFT_FIELDS) else "bgs"


# ---------------------------------------------------------------------- field checks
def _number(rec: dict, name: str, *, integer: bool = False, positive: bool = False):
    v = rec.get(name)
    if v is None:
        return math.nan
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise _Invalid(name, f"{name} is not a finite number (got {v!r})",
                       f"write {name} as a number, or null when unknown")
    if v < 0 or (positive and v == 0):
        raise _Invalid(name, f"{name} must be {'positive' if positive else 'non-negative'} (got {v!r})",
                       f"correct {name}, or write null when unknown")
    if integer and v != int(v):
        raise _Invalid(name, f"{name} is a count but not a whole number (got {v!r})",
                       f"write {name} as a whole number")
    return float(v)


def _string(value, name: str):
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise _Invalid(name, f"{name} is not a string (got {type(value).__name__})",
                       f"write {name} as a string, or null")
    return value


def _comments(rec: dict, name: str = "comments") -> list[str]:
    v = rec.get(name)
    if v is None:
        return []
    if not isinstance(v, list):
        raise _Invalid(name, f"{name} is not a list (got {type(v).__name__})",
                       f"write {name} as a list of strings, e.g. [\"so cute\", \"wow\"]")
    out = []
    for c in v:
        if isinstance(c, dict):
            c = c.get("body", c.get("text"))
        if not isinstance(c, str):
            raise _Invalid(name, f"{name} holds a {type(c).__name__}, not a string",
                           f"write {name} as strings (or objects with a \"body\" string)")
        if c.strip():
            out.append(c)
    return out


def _replay(value, name: str) -> ReplayGraph | None:
    if isinstance(value, str):  # Parquet files written by write_behavior hold the graph as JSON
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise _Invalid(name, f"{name} is a string that is not JSON",
                           f"write {name} as a list of markers or numbers") from None
    if value is None or value == []:
        return None
    fix_markers = (f"write {name} as markers [{{\"start\": s, \"end\": e, \"replay_score\": v}}, ...] "
                   f"with 0 <= start < end (seconds) and v in [0, 1], or as a list of numbers in [0, 1]")
    if not isinstance(value, list):
        raise _Invalid(name, f"{name} is not a list", fix_markers)
    if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in value):
        v = np.asarray(value, dtype=np.float64)
        if not np.isfinite(v).all() or (v < 0).any() or (v > 1).any():
            raise _Invalid(name, f"{name} values must be finite and in [0, 1]",
                           "divide the graph by its maximum (YouTube's 'most replayed' scale)")
        return ReplayGraph.from_vector(v)
    start, end, score = [], [], []
    for m in value:
        if not isinstance(m, dict) or not {"start", "end", "replay_score"} <= set(m):
            raise _Invalid(name, f"{name} holds an entry that is not a marker "
                                 f"{{start, end, replay_score}}", fix_markers)
        s, e, v = (m["start"], m["end"], m["replay_score"])
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
                   for x in (s, e, v)):
            raise _Invalid(name, f"{name} has a marker with a non-numeric start, end or score",
                           fix_markers)
        if not 0 <= s < e:
            raise _Invalid(name, f"{name} has a marker with start >= end or a negative start "
                                 f"({s}, {e})", fix_markers)
        if not 0 <= v <= 1:
            raise _Invalid(name, f"{name} has a replay_score outside [0, 1] ({v})",
                           "divide the graph by its maximum (YouTube's 'most replayed' scale)")
        start.append(s), end.append(e), score.append(v)
    order = np.argsort(start, kind="stable")
    return ReplayGraph(np.asarray(start, float)[order], np.asarray(end, float)[order],
                       np.asarray(score, float)[order])


def _key(rec: dict, fmt: str, id_field: str | None):
    names = (id_field,) if id_field else KEY_FIELDS[fmt]
    for n in names:
        v = rec.get(n)
        if v is not None and v != "":
            if isinstance(v, bool) or not isinstance(v, (str, int, float)):
                raise _Invalid(n, f"the key {n} is a {type(v).__name__}", "write it as a string or an integer")
            return int(v) if isinstance(v, float) and v == int(v) else v
    raise _Invalid(names[0], f"the record has no key ({' or '.join(names)})",
                   f"give every record one of: {', '.join(names)}", MissingValueError)


def _parse(rec: dict, fmt: str, id_field: str | None) -> dict:
    out = {"key": _key(rec, fmt, id_field)}
    out["views"] = _number(rec, "views", integer=True)
    out["likes"] = _number(rec, "likes", integer=True)
    if np.isfinite(out["views"]) and np.isfinite(out["likes"]) and out["likes"] > out["views"]:
        raise _Invalid("likes", f"more likes than views ({out['likes']:.0f} > {out['views']:.0f})",
                       "check that likes and views are not swapped")
    out["comments"] = _comments(rec)
    if fmt == "bgs":
        out["replay"] = _replay(rec.get("replay_graph"), "replay_graph")
        out["channel"] = _string(rec.get("channel"), "channel")
        out["followers"] = _number(rec, "followers", integer=True)
        out["upload_date"] = _string(rec.get("upload_date"), "upload_date")
        out["duration"] = _number(rec, "duration", positive=True)
    else:
        _number(rec, "num_comments", integer=True)
        for name in ("subreddit", "title", "url", "permalink"):
            _string(rec.get(name), name)
        graphs = rec.get("replay_graphs")
        if isinstance(graphs, list) and graphs and all(isinstance(g, list) for g in graphs):
            graphs = graphs[0]  # a list of graphs (one per crawl): the first
        out["replay"] = _replay(graphs, "replay_graphs")
        meta = rec.get("metadata") or {}
        chan = rec.get("channel_data") or {}
        for name, v in (("metadata", meta), ("channel_data", chan)):
            if not isinstance(v, dict):
                raise _Invalid(name, f"{name} is not an object", f"write {name} as a JSON object or null")
        name = next((chan[k] for k in ("name", "channel_name", "title", "id", "channel_id")
                     if chan.get(k) not in (None, "")), None)
        out["channel"] = _string(name if name is not None else rec.get("subreddit"), "channel_data")
        out["followers"] = _number(chan, "subscribers", integer=True)
        out["upload_date"] = _string(meta.get("date"), "metadata.date")
        out["duration"] = _number(meta, "length", positive=True)
    return out


# ---------------------------------------------------------------------- public
def read_behavior(path: str | Path, format: str = "auto", id_field: str | None = None) -> BehaviorTable:
    """Read and validate a behavior file (see the module docstring)."""
    path = Path(path)
    if format not in FORMATS:
        raise DataFileError(path, f"unknown behavior format {format!r}", f"use one of {', '.join(FORMATS)}")
    records = _raw_records(path)
    fmt = detect_format(records) if format == "auto" else format
    parsed, problems = [], []
    for row, rec in records:
        try:
            parsed.append((row, _parse(rec, fmt, id_field)))
        except _Invalid as bad:
            field, problem, fix, cls = bad.args_
            problems.append(_Problem(row, field, problem, fix, cls))
    if problems:
        first = problems[0]
        same = [p.row for p in problems if (p.field, p.problem) == (first.field, first.problem)]
        others = len(problems) - len(same)
        note = f" ({others} more record(s) have other problems)" if others else ""
        raise first.cls(path, first.problem + note, first.fix, rows=same, column=first.field)
    keys = [p["key"] for _, p in parsed]
    seen: dict = {}
    dup = [row for (row, _), k in zip(parsed, keys) if seen.setdefault(k, row) != row]
    if dup:
        first_dup = keys[[r for r, _ in parsed].index(dup[0])]
        raise DuplicateIdError(path, f"the key {first_dup!r} names more than one record",
                               "keep one record per stimulus (merge or drop the repeats)",
                               rows=dup, column=id_field or "id")
    col = lambda name: [p[name] for _, p in parsed]  # noqa: E731
    return BehaviorTable(keys, col("views"), col("likes"), col("comments"), col("replay"),
                         col("channel"), col("followers"), col("upload_date"), col("duration"),
                         source=str(path), rows=[r for r, _ in parsed])


def write_behavior(table: BehaviorTable, path: str | Path) -> Path:
    """Write ``table`` as bgs-format records (JSON lines, or Parquet by suffix), atomically."""
    path = Path(path)
    records = table.records()
    suffix = path.suffix.lower()
    with atomic_path(path, suffix=suffix) as tmp:
        if suffix in (".parquet", ".pq"):
            import pandas as pd

            # Parquet needs one type per column: replay graphs are stored as JSON text
            df = pd.DataFrame([{**r, "replay_graph": json.dumps(r["replay_graph"])} for r in records])
            df.to_parquet(tmp, index=False)
        else:
            tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                           encoding="utf-8")
    return path
