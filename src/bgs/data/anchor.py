"""Anchor triplets: ``(head, close, far)``, a person judged ``close`` more similar to ``head``
than ``far`` (salmon, Zappos, NIGHTS-style 2AFC).

A different kind of judgment from the odd-one-out, read and reported as such. Formats name
the columns: ``anchor`` (``head, close, far`` and an optional ``participant``) and ``zappos``
(no header; three integer ids per row, in that order). ``--columns head=...,close=...,far=...``
maps other names. Stimuli are integer indices into ``AnchorTripletSet.stimulus_ids``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from bgs.data.ids import index_triples
from bgs.errors import (
    ConfigError,
    InvalidRecordError,
    InvalidStimulusIdError,
    MissingValueError,
    UnknownStimulusError,
)

ANCHOR_FIELDS = ("head", "close", "far")
OPTIONAL_ANCHOR_FIELDS = ("participant",)


@dataclass(frozen=True)
class AnchorFormat:
    name: str
    columns: dict[str, str]
    header: bool = True  # False: the file has no header line; columns are "0", "1", ...
    id_type: str = "int"
    description: str = ""


ANCHOR_FORMATS: dict[str, AnchorFormat] = {
    "anchor": AnchorFormat("anchor", {"head": "head", "close": "close", "far": "far",
                                      "participant": "participant"},
                           description="head, close, far (+ optional participant)"),
    "zappos": AnchorFormat("zappos", {"head": "0", "close": "1", "far": "2"}, header=False,
                           description="no header: head, close, far integer ids per row "
                                       "(deconflicted_triplets.csv of the Zappos shoes)"),
}


def is_anchor_format(name) -> bool:
    return isinstance(name, AnchorFormat) or name in ANCHOR_FORMATS


def parse_anchor_columns(spec: str | dict | None) -> dict[str, str]:
    """``"head=target,close=chosen,far=other"`` → field → column."""
    if not spec:
        return {}
    items = spec.items() if isinstance(spec, dict) else (
        [p.split("=", 1) if "=" in p else (p, None) for p in (s.strip() for s in spec.split(",")) if p])
    mapping = {}
    for key, value in items:
        key = key.strip()
        if value is None:
            raise ConfigError(f"--columns entry {key!r} is not FIELD=COLUMN; write e.g. "
                              f"--columns 'head=target,close=chosen,far=other'")
        if key not in ANCHOR_FIELDS + OPTIONAL_ANCHOR_FIELDS:
            raise ConfigError(f"--columns names unknown field {key!r}; anchor-triplet fields are "
                              f"{', '.join(ANCHOR_FIELDS + OPTIONAL_ANCHOR_FIELDS)}")
        if not str(value).strip():
            raise ConfigError(f"--columns gives no column name for field {key!r}")
        mapping[key] = str(value).strip()
    return mapping


def resolve_anchor_format(name: str | AnchorFormat = "anchor", columns: str | dict | None = None,
                          id_type: str | None = None) -> AnchorFormat:
    fmt = name if isinstance(name, AnchorFormat) else ANCHOR_FORMATS.get(name)
    if fmt is None:
        raise ConfigError(f"unknown anchor-triplet format {name!r}; known: {', '.join(ANCHOR_FORMATS)}")
    if columns:
        fmt = replace(fmt, name=f"{fmt.name}+columns", columns={**fmt.columns, **parse_anchor_columns(columns)})
    if id_type is not None:
        if id_type not in ("int", "str"):
            raise ConfigError(f"--id-type must be 'int' or 'str', got {id_type!r}")
        fmt = replace(fmt, id_type=id_type)
    return fmt


@dataclass
class AnchorReport:
    source: str
    format: str
    n_rows: int
    dropped: dict[str, int] = field(default_factory=dict)
    n_valid: int = 0

    def to_dict(self) -> dict:
        return {"source": self.source, "format": self.format, "kind": "anchor triplets",
                "n_rows": self.n_rows, "dropped": dict(self.dropped), "n_valid": self.n_valid}


@dataclass(frozen=True, eq=False)
class AnchorTripletSet:
    """Valid anchor triplets: ``triplets[i]`` = indices of (head, close, far)."""

    stimulus_ids: np.ndarray
    triplets: np.ndarray
    participant: np.ndarray
    participant_ids: np.ndarray
    rows: np.ndarray
    source: str = ""
    report: AnchorReport | None = None

    @classmethod
    def from_arrays(cls, head, close, far, participant=None, stimulus_ids=None,
                    source: str = "") -> "AnchorTripletSet":
        """Build from stimulus ids (no validation beyond distinct, known ids)."""
        ids, t = index_triples((head, close, far), stimulus_ids,
                               missing="anchor triplets name stimuli missing from stimulus_ids",
                               repeated="an anchor triplet repeats a stimulus")
        n = len(t)
        codes, uniques = pd.factorize(np.zeros(n, np.int64) if participant is None
                                      else np.asarray(participant), sort=False)
        return cls(ids, t, codes.astype(np.int32), np.asarray(uniques),
                   np.arange(1, n + 1, dtype=np.int64), source)

    def __len__(self) -> int:
        return len(self.triplets)

    @property
    def n_stimuli(self) -> int:
        return len(self.stimulus_ids)

    @property
    def n_participants(self) -> int:
        return len(np.unique(self.participant))

    @property
    def head(self) -> np.ndarray:
        return self.triplets[:, 0]

    @property
    def close(self) -> np.ndarray:
        return self.triplets[:, 1]

    @property
    def far(self) -> np.ndarray:
        return self.triplets[:, 2]

    def select(self, mask) -> "AnchorTripletSet":
        mask = np.asarray(mask)
        return replace(self, triplets=self.triplets[mask], participant=self.participant[mask],
                       rows=self.rows[mask], report=None)

    def restrict(self, stimulus_ids: Iterable) -> "AnchorTripletSet":
        """The triplets whose three stimuli are all in ``stimulus_ids``, re-indexed onto them."""
        new_ids = np.asarray(list(stimulus_ids))
        mapping = pd.Index(new_ids).get_indexer(self.stimulus_ids)
        sub = self.select((mapping[self.triplets] >= 0).all(axis=1))
        return replace(sub, stimulus_ids=new_ids, triplets=mapping[sub.triplets].astype(np.int32))

    def used_stimuli(self) -> "AnchorTripletSet":
        return self.restrict(self.stimulus_ids[np.unique(self.triplets)])

    def to_frame(self) -> pd.DataFrame:
        ids = self.stimulus_ids
        return pd.DataFrame({"participant": self.participant_ids[self.participant],
                             "head": ids[self.head], "close": ids[self.close], "far": ids[self.far],
                             "row": self.rows})

    def as_triplet_set(self):
        """The odd-one-out *view* used by the trainer's triplet loss and the resampling helpers:
        triad (head, close, far) with far as the odd one, so the chosen pair is (head, close)
        and the loss's anchor, positive and negative are head, close and far. Never scored as
        odd-one-out; :func:`from_triplet_view` turns it back."""
        from bgs.data.triplets import TripletSet

        n = len(self)
        return TripletSet(stimulus_ids=self.stimulus_ids, triads=self.triplets,
                          odd=np.full(n, 2, dtype=np.int8), participant=self.participant,
                          participant_ids=self.participant_ids, response_time=np.full(n, np.nan),
                          rows=self.rows, source=self.source)

    @classmethod
    def from_triplet_view(cls, view) -> "AnchorTripletSet":
        """Inverse of :meth:`as_triplet_set` (also after ``restrict``/``select`` on the view)."""
        if len(view) and not (view.odd == 2).all():
            raise ValueError("not an anchor-triplet view: the odd one must be the third stimulus")
        return cls(view.stimulus_ids, view.triads, view.participant, view.participant_ids,
                   view.rows, view.source)


# ---------------------------------------------------------------------- reading
def _read(path: Path, fmt: AnchorFormat) -> pd.DataFrame:
    from bgs.data.tables import read_table

    df = read_table(path, header=fmt.header)
    if not fmt.header:
        df.columns = [str(k) for k in range(df.shape[1])]
    return df


def _ids(values: pd.Series, id_type: str) -> tuple[np.ndarray, np.ndarray]:
    if id_type == "str":
        return values.astype(str).str.strip().to_numpy(dtype=object), np.zeros(len(values), bool)
    arr = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(arr) | (arr != np.round(arr))
    return np.where(bad, 0, arr).astype(np.int64), bad


def read_anchor_triplets(path: str | Path, format: str | AnchorFormat = "anchor",
                         columns: str | dict | None = None, stimulus_ids: Iterable | None = None,
                         on_error: str = "fail", id_type: str | None = None) -> AnchorTripletSet:
    """Read and validate an anchor-triplet file (CSV, TSV, Parquet, JSON lines; .zip-compressed
    CSV too). ``on_error='fail'`` raises the first kind of problem (a typed error naming the
    file, rows, column and fix); ``'drop'`` drops bad rows and counts them in ``report``."""
    from bgs.data.tables import require_columns

    if on_error not in ("fail", "drop"):
        raise ConfigError(f"--on-error must be 'fail' or 'drop', got {on_error!r}")
    fmt = resolve_anchor_format(format, columns, id_type)
    path = Path(path)
    df = _read(path, fmt)
    cols = {k: fmt.columns[k] for k in ANCHOR_FIELDS}
    require_columns(df, path, cols, "name the columns with --format (one of: "
                    f"{', '.join(ANCHOR_FORMATS)}) or map them with --columns head=...,close=...,far=...")
    n = len(df)
    row_numbers = np.arange(n, dtype=np.int64) + (2 if fmt.header and path.suffix.lower() not in
                                                  (".parquet", ".pq", ".jsonl") else 1)
    report = AnchorReport(str(path), fmt.name, n)
    flagged = np.zeros(n, dtype=bool)
    known = pd.Index(np.asarray(list(stimulus_ids))) if stimulus_ids is not None else None
    parsed = {}
    checks = [("missing value", MissingValueError, "empty (missing) value",
               "fill in the value or run with --on-error drop", lambda k: df[cols[k]].isna().to_numpy()),
              ("non-integer stimulus id", InvalidStimulusIdError, "stimulus id that is not an integer",
               "correct the value, pass --id-type str for string ids, or run with --on-error drop",
               lambda k: parsed.setdefault(k, _ids(df[cols[k]].where(~flagged, 0), fmt.id_type))[1]),
              ("unknown stimulus id", UnknownStimulusError, "stimulus id not in the stimulus table",
               "add the stimulus, correct the id, or run with --on-error drop",
               lambda k: ~pd.Index(parsed[k][0]).isin(known) if known is not None else np.zeros(n, bool))]
    for reason, err, what, fix, test in checks:
        for k in ANCHOR_FIELDS:
            mask = test(k) & ~flagged
            if mask.any():
                _fail_or_count(on_error, report, reason, err, what, fix, path, row_numbers[mask],
                               cols[k], df[cols[k]].to_numpy()[mask][0])
                flagged |= mask
    h, c, f = (parsed[k][0] for k in ANCHOR_FIELDS)
    repeat = ~flagged & ((h == c) | (h == f) | (c == f))
    if repeat.any():
        _fail_or_count(on_error, report, "repeated stimulus", InvalidRecordError,
                       "stimulus named twice (head, close and far must differ)",
                       "correct the row, or run with --on-error drop (an anchor triplet cannot "
                       "repeat a stimulus)", path, row_numbers[repeat], cols["head"], None)
        flagged |= repeat
    ok = ~flagged
    ids = known.to_numpy() if known is not None else np.unique(np.concatenate([h[ok], c[ok], f[ok]]))
    index = pd.Index(ids)
    t = np.stack([index.get_indexer(x[ok]) for x in (h, c, f)], axis=1).astype(np.int32)
    pcol = fmt.columns.get("participant")
    raw_p = df[pcol].astype(str).to_numpy()[ok] if pcol in df.columns else np.zeros(int(ok.sum()), np.int64)
    codes, uniques = pd.factorize(raw_p, sort=False)
    report.n_valid = int(ok.sum())
    return AnchorTripletSet(ids, t, codes.astype(np.int32), np.asarray(uniques, dtype=object),
                            row_numbers[ok], str(path), report)


def _fail_or_count(on_error, report, reason, err, what, fix, path, rows, column, example) -> None:
    if on_error == "fail":
        example = example.item() if hasattr(example, "item") else example
        detail = f" (first value: {example!r})" if example is not None and reason != "missing value" else ""
        raise err(path, f"{len(rows)} row{'s' if len(rows) > 1 else ''} with a {what}{detail}",
                  fix, rows=rows, column=column)
    report.dropped[reason] = report.dropped.get(reason, 0) + int(len(rows))
