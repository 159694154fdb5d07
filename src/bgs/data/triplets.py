"""TripletSet: validated odd-one-out judgments, with catch trials and participant screening.

A triplet is ``(a, b, c, odd)`` with three distinct stimulus ids and ``odd`` one of them;
the other two form the *chosen pair*. Rows that repeat a stimulus are catch trials: they are
scored (pass = the non-repeated stimulus chosen as odd), used to screen participants and
excluded from every statistic. Internally stimuli are integer indices into
``TripletSet.stimulus_ids`` so that every statistic is a vectorised array operation.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from bgs.data.formats import REQUIRED_FIELDS, TripletFormat, resolve_format
from bgs.data.ids import index_triples, parse_int64
from bgs.data.tables import first_row_number, read_table, require_columns
from bgs.errors import (
    ConfigError,
    InvalidStimulusIdError,
    MissingValueError,
    OddNotInTriadError,
    UnknownStimulusError,
)

ID_FIELDS = ("a", "b", "c", "odd")

# Validation problems in the order they are checked; each has its error type and fix.
_PROBLEMS = {
    "missing value": (MissingValueError,
                      "fill in the value or run with --on-error drop to drop such rows"),
    "non-integer stimulus id": (InvalidStimulusIdError,
                                "stimulus ids must be integers within the 64-bit range; correct the value, pass "
                                "--id-type str for string ids, or run with --on-error drop"),
    "unknown stimulus id": (UnknownStimulusError,
                            "add the stimulus to the stimulus table, correct the id, or run "
                            "with --on-error drop"),
    "odd not in triad": (OddNotInTriadError,
                         "the odd one out must be one of the three stimuli of its row; correct "
                         "it or run with --on-error drop"),
}


@dataclass(frozen=True)
class Screening:
    """Participant and trial screening applied after validation; every effect is reported.

    ``max_catch_failure_rate``: participants failing more than this share of their scored
    catch trials are excluded (a random responder fails 2/3 of them). Response-time limits are
    in seconds: trials faster than ``min_response_time`` or slower than ``max_response_time``
    are dropped; participants whose median response time is below
    ``min_median_response_time`` are excluded. ``None`` switches a rule off.
    """

    max_catch_failure_rate: float | None = 0.5
    min_response_time: float | None = None
    max_response_time: float | None = None
    min_median_response_time: float | None = None

    def describe(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


@dataclass
class DataReport:
    """What happened to every row of a triplet file: dropped, catch, screened or valid."""

    source: str
    format: str
    n_rows: int
    dropped: dict[str, int] = field(default_factory=dict)
    dropped_rows: dict[str, list[int]] = field(default_factory=dict)
    n_catch: int = 0
    n_catch_scored: int = 0
    n_catch_failed: int = 0
    n_catch_unscorable: int = 0
    catch_by_participant: pd.DataFrame | None = None
    excluded_participants: dict[str, str] = field(default_factory=dict)
    screened: dict[str, int] = field(default_factory=dict)
    n_valid: int = 0
    n_participants: int = 0
    screening: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "format": self.format,
            "n_rows": self.n_rows,
            "dropped": dict(self.dropped),
            "n_catch": self.n_catch,
            "n_catch_scored": self.n_catch_scored,
            "n_catch_failed": self.n_catch_failed,
            "n_catch_unscorable": self.n_catch_unscorable,
            "excluded_participants": dict(self.excluded_participants),
            "screened": dict(self.screened),
            "n_valid": self.n_valid,
            "n_participants": self.n_participants,
            "screening": dict(self.screening),
        }


@dataclass(frozen=True, eq=False)
class TripletSet:
    """Valid odd-one-out triplets over an indexed stimulus set.

    ``triads[i]`` holds indices into ``stimulus_ids`` of the three stimuli as presented;
    ``odd[i]`` is the position (0, 1 or 2) of the odd one out within ``triads[i]``.
    """

    stimulus_ids: np.ndarray
    triads: np.ndarray
    odd: np.ndarray
    participant: np.ndarray
    participant_ids: np.ndarray
    response_time: np.ndarray
    rows: np.ndarray
    source: str = ""
    report: DataReport | None = None

    def __post_init__(self):
        n = len(self.triads)
        if self.triads.ndim != 2 or self.triads.shape[1] != 3:
            raise ValueError("triads must have shape (n, 3)")
        for name in ("odd", "participant", "response_time", "rows"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} entries, triads {n}")

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_arrays(cls, a, b, c, odd, participant=None, stimulus_ids=None,
                    response_time=None, source: str = "") -> "TripletSet":
        """Build from stimulus ids (not indices); ``odd`` holds the odd stimulus's id.

        No catch-trial handling or screening: use :func:`read_triplets` for raw files.
        """
        odd = np.asarray(odd)
        n = len(odd)
        ids, triads = index_triples((a, b, c), stimulus_ids,
                                    missing="triplets name stimuli missing from stimulus_ids",
                                    repeated="a triplet repeats a stimulus (catch trial); use read_triplets")
        index = pd.Index(ids)
        odd_idx = index.get_indexer(odd)
        pos = np.full(n, -1, dtype=np.int8)
        for k in range(3):
            pos[triads[:, k] == odd_idx] = k
        if (pos < 0).any():
            raise ValueError("odd is not one of the triplet's stimuli")
        if participant is None:
            participant = np.zeros(n, dtype=np.int64)
        codes, uniques = pd.factorize(np.asarray(participant), sort=False)
        rt = (np.full(n, np.nan) if response_time is None
              else np.asarray(response_time, dtype=float))
        return cls(stimulus_ids=ids, triads=triads, odd=pos, participant=codes.astype(np.int32),
                   participant_ids=np.asarray(uniques), response_time=rt,
                   rows=np.arange(1, n + 1, dtype=np.int64), source=source)

    # ------------------------------------------------------------------ views
    def __len__(self) -> int:
        return len(self.triads)

    @property
    def n_stimuli(self) -> int:
        return len(self.stimulus_ids)

    @property
    def n_participants(self) -> int:
        return len(np.unique(self.participant))

    @property
    def odd_index(self) -> np.ndarray:
        """Stimulus index of the odd one out, per triplet."""
        return self.triads[np.arange(len(self)), self.odd]

    @property
    def pair(self) -> np.ndarray:
        """(n, 2) stimulus indices of the chosen pair (the two stimuli not chosen as odd)."""
        keep = np.array([[1, 2], [0, 2], [0, 1]])[self.odd]
        return np.take_along_axis(self.triads, keep, axis=1)

    def triad_keys(self) -> np.ndarray:
        """An int64 key per row identifying the unordered triad (same three stimuli)."""
        s = np.sort(self.triads.astype(np.int64), axis=1)
        n = np.int64(self.n_stimuli)
        return (s[:, 0] * n + s[:, 1]) * n + s[:, 2]

    def to_frame(self) -> pd.DataFrame:
        ids = self.stimulus_ids
        return pd.DataFrame({
            "participant": self.participant_ids[self.participant],
            "a": ids[self.triads[:, 0]], "b": ids[self.triads[:, 1]], "c": ids[self.triads[:, 2]],
            "odd": ids[self.odd_index], "response_time": self.response_time, "row": self.rows,
        })

    # ------------------------------------------------------------------ subsets
    def select(self, mask) -> "TripletSet":
        """Rows where ``mask`` is true (a boolean mask or an index array); same stimuli."""
        mask = np.asarray(mask)
        return replace(self, triads=self.triads[mask], odd=self.odd[mask],
                       participant=self.participant[mask], response_time=self.response_time[mask],
                       rows=self.rows[mask], report=None)

    def contains_all(self, stimulus_ids: Iterable) -> np.ndarray:
        """Boolean mask of the triplets whose three stimuli are all in ``stimulus_ids``."""
        inside = np.zeros(self.n_stimuli, dtype=bool)
        idx = pd.Index(self.stimulus_ids).get_indexer(list(stimulus_ids))
        inside[idx[idx >= 0]] = True
        return inside[self.triads].all(axis=1)

    def restrict(self, stimulus_ids: Iterable) -> "TripletSet":
        """The triplets among ``stimulus_ids``, re-indexed onto exactly those stimuli (in order).

        Ids that appear in no triplet stay in the index space (they are simply unobserved).
        """
        new_ids = np.asarray(list(stimulus_ids))
        new_index = pd.Index(new_ids)
        if not new_index.is_unique:
            raise ValueError("stimulus_ids must be unique")
        mapping = new_index.get_indexer(self.stimulus_ids)  # old index -> new index or -1
        keep = (mapping[self.triads] >= 0).all(axis=1)
        sub = self.select(keep)
        return replace(sub, stimulus_ids=new_ids, triads=mapping[sub.triads].astype(np.int32))


# ---------------------------------------------------------------------- reading
def _parse_ids(values: pd.Series, id_type: str) -> tuple[np.ndarray, np.ndarray]:
    """Return (parsed ids, bad mask): not an integer, or outside int64. Missing values are
    handled before this."""
    if id_type == "str":
        return values.astype(str).str.strip().to_numpy(dtype=object), np.zeros(len(values), bool)
    return parse_int64(values)


def read_triplets(path: str | Path, format: str | TripletFormat = "default",
                  columns: str | dict | None = None, stimulus_ids: Iterable | None = None,
                  on_error: str = "fail", screening: Screening | None = None,
                  id_type: str | None = None) -> TripletSet:
    """Read, validate and screen an odd-one-out file (CSV, TSV, Parquet or JSON lines).

    ``stimulus_ids``: the known stimulus ids (e.g. a stimulus table's); ids outside them are
    errors, and they become the TripletSet's index space. ``on_error='fail'`` raises the first
    kind of problem found (a typed :class:`~bgs.errors.DataFileError` naming the file, the first
    rows, the column and the fix); ``'drop'`` drops every invalid row and counts them by reason
    in ``TripletSet.report.dropped``.
    """
    if on_error not in ("fail", "drop"):
        raise ConfigError(f"--on-error must be 'fail' or 'drop', got {on_error!r}")
    fmt = resolve_format(format, columns, id_type)
    screening = Screening() if screening is None else screening
    path = Path(path)
    df = read_table(path)
    required = {k: fmt.columns[k] for k in REQUIRED_FIELDS if k in fmt.columns}
    for k in REQUIRED_FIELDS:
        if k not in fmt.columns:
            raise ConfigError(f"format {fmt.name!r} maps no column to field {k!r}; add --columns {k}=COLUMN")
    require_columns(df, path, required,
                    "name the columns with --format (one of: default, garcia2025) or map them "
                    "with --columns participant=...,a=...,b=...,c=...,odd=...")
    n = len(df)
    row_numbers = np.arange(n, dtype=np.int64) + first_row_number(path)
    report = DataReport(source=str(path), format=fmt.name, n_rows=n,
                        screening=screening.describe())
    flags = _RowFlags(df)
    a, b, c, odd, known = _flag_invalid_rows(df, fmt, required, stimulus_ids, flags)
    _handle_invalid_rows(flags, row_numbers, on_error, path, report)

    ok = ~flags.flagged
    participant_raw = df[required["participant"]].astype(str).to_numpy()
    rt_col = fmt.columns.get("response_time")
    rt = (pd.to_numeric(df[rt_col], errors="coerce").to_numpy(dtype=float)
          if rt_col in df.columns else np.full(n, np.nan))
    catch = _score_catch_trials(a, b, c, odd, ok, participant_raw, report)
    valid = _screen_rows(ok & ~catch, screening, rt, participant_raw, report)

    # ---- index space and arrays
    if known is not None:
        ids = known.to_numpy()
    else:
        ids = np.unique(np.concatenate([a[ok], b[ok], c[ok]]))
    index = pd.Index(ids)
    triads = np.stack([index.get_indexer(x[valid]) for x in (a, b, c)], axis=1).astype(np.int32)
    odd_v = odd[valid]
    pos = np.where(odd_v == a[valid], 0, np.where(odd_v == b[valid], 1, 2)).astype(np.int8)
    codes, uniques = pd.factorize(participant_raw[valid], sort=False)
    report.n_valid = int(valid.sum())
    report.n_participants = int(len(uniques))
    return TripletSet(stimulus_ids=ids, triads=triads, odd=pos, participant=codes.astype(np.int32),
                      participant_ids=np.asarray(uniques, dtype=object), response_time=rt[valid],
                      rows=row_numbers[valid], source=str(path), report=report)


class _RowFlags:
    """Invalid rows by reason; a row counts under the first reason that flags it."""

    def __init__(self, df: pd.DataFrame):
        self.df = df
        self.bad: dict[str, np.ndarray] = {}
        self.first: dict[str, tuple[str, object]] = {}  # reason -> (column, value) of its first row
        self.flagged = np.zeros(len(df), dtype=bool)

    def flag(self, reason: str, mask: np.ndarray, column: str) -> None:
        mask = mask & ~self.flagged
        if mask.any():
            prev = self.bad.get(reason)
            i = int(np.argmax(mask))
            if prev is None or i < int(np.argmax(prev)):
                value = self.df[column].iloc[i]
                self.first[reason] = (column, value.item() if hasattr(value, "item") else value)
            self.bad[reason] = mask if prev is None else prev | mask
            self.flagged |= mask


def _flag_invalid_rows(df: pd.DataFrame, fmt: TripletFormat, required: dict,
                       stimulus_ids: Iterable | None, flags: _RowFlags):
    """Flag missing values, bad or unknown ids and odd ones outside the triad.

    Returns the parsed a, b, c, odd id arrays and the known stimulus index (or None)."""
    for key in REQUIRED_FIELDS:
        flags.flag("missing value", df[required[key]].isna().to_numpy(), required[key])

    parsed = {}
    for key in ID_FIELDS:
        values, bad_mask = _parse_ids(df[required[key]].where(~flags.flagged, 0)
                                      if fmt.id_type == "int" else df[required[key]].where(~flags.flagged, ""),
                                      fmt.id_type)
        parsed[key] = values
        flags.flag("non-integer stimulus id", bad_mask, required[key])

    known = None
    if stimulus_ids is not None:
        known = pd.Index(np.asarray(list(stimulus_ids)))
        for key in ID_FIELDS:
            flags.flag("unknown stimulus id", ~pd.Index(parsed[key]).isin(known), required[key])

    a, b, c, odd = (parsed[k] for k in ID_FIELDS)
    flags.flag("odd not in triad", ~((odd == a) | (odd == b) | (odd == c)), required["odd"])
    return a, b, c, odd, known


def _handle_invalid_rows(flags: _RowFlags, row_numbers: np.ndarray, on_error: str, path: Path,
                         report: DataReport) -> None:
    """``on_error='fail'``: raise for the first kind of problem; ``'drop'``: count them."""
    for reason in _PROBLEMS:
        if reason in flags.bad:
            rows = row_numbers[flags.bad[reason]]
            if on_error == "fail":
                err_type, fix = _PROBLEMS[reason]
                col, example = flags.first[reason]
                what = {"missing value": "empty (missing) value",
                        "non-integer stimulus id": "stimulus id that is not an integer",
                        "unknown stimulus id": "stimulus id not in the stimulus table",
                        "odd not in triad": "odd one out that is not one of a, b, c"}[reason]
                detail = "" if reason == "missing value" else f" (first value: {example!r})"
                raise err_type(path, f"{len(rows)} row{'s' if len(rows) > 1 else ''} with a {what}{detail}",
                               fix, rows=rows, column=col)
            report.dropped[reason] = int(len(rows))
            report.dropped_rows[reason] = rows[:20].tolist()


def _score_catch_trials(a, b, c, odd, ok: np.ndarray, participant_raw: np.ndarray,
                        report: DataReport) -> np.ndarray:
    """Catch trials: a repeated stimulus. Pass = the non-repeated stimulus chosen.

    Fills the report's catch counts and per-participant table; returns the catch-row mask."""
    ab, ac, bc = a == b, a == c, b == c
    catch = ok & (ab | ac | bc)
    unscorable = catch & ab & bc
    single = np.where(ab, c, np.where(ac, b, a))  # the non-repeated stimulus
    scored = catch & ~unscorable
    failed = scored & (odd != single)
    report.n_catch = int(catch.sum())
    report.n_catch_scored = int(scored.sum())
    report.n_catch_failed = int(failed.sum())
    report.n_catch_unscorable = int(unscorable.sum())

    per_p = pd.DataFrame({"participant": participant_raw[scored], "failed": failed[scored]})
    catch_table = (per_p.groupby("participant")["failed"].agg(n_catch="size", n_failed="sum")
                   .reset_index())
    catch_table["failure_rate"] = catch_table["n_failed"] / catch_table["n_catch"]
    report.catch_by_participant = catch_table
    return catch


def _screen_rows(valid: np.ndarray, screening: Screening, rt: np.ndarray,
                 participant_raw: np.ndarray, report: DataReport) -> np.ndarray:
    """Exclude participants and response times by ``screening``; returns the rows kept."""
    catch_table = report.catch_by_participant
    excluded: dict[str, str] = {}
    if screening.max_catch_failure_rate is not None:
        over = catch_table[catch_table["failure_rate"] > screening.max_catch_failure_rate]
        for p, rate in zip(over["participant"], over["failure_rate"]):
            excluded[p] = f"failed {rate:.0%} of catch trials (> {screening.max_catch_failure_rate:.0%})"
    if screening.min_median_response_time is not None:
        med = pd.Series(rt[valid]).groupby(participant_raw[valid]).median()
        for p, m in med[med < screening.min_median_response_time].items():
            excluded.setdefault(p, f"median response time {m:.2f} s "
                                   f"(< {screening.min_median_response_time} s)")
    report.excluded_participants = excluded
    if excluded:
        out = valid & np.isin(participant_raw, list(excluded))
        report.screened["participant excluded"] = int(out.sum())
        valid &= ~out
    if screening.min_response_time is not None:
        fast = valid & (rt < screening.min_response_time)
        report.screened[f"response time < {screening.min_response_time} s"] = int(fast.sum())
        valid &= ~fast
    if screening.max_response_time is not None:
        slow = valid & (rt > screening.max_response_time)
        report.screened[f"response time > {screening.max_response_time} s"] = int(slow.sum())
        valid &= ~slow
    return valid
