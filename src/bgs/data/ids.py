"""Integer stimulus ids, range-checked: a value outside int64 is an error, never wrapped."""

from __future__ import annotations

import numpy as np
import pandas as pd

INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min
_EXACT = 2.0**53  # beyond this a float no longer holds every integer


def parse_int64(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(int64 ids, bad mask): bad where a value is not an integer or lies outside int64."""
    if pd.api.types.is_unsigned_integer_dtype(values.dtype):
        bad = values.to_numpy() > INT64_MAX
        return np.where(bad, 0, values.to_numpy()).astype(np.int64), bad
    if pd.api.types.is_integer_dtype(values.dtype):
        return values.to_numpy(dtype=np.int64), np.zeros(len(values), bool)
    arr = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(arr) | (arr != np.round(arr))
        large = ~bad & (np.abs(arr) >= _EXACT)
    out = np.where(bad | large, 0, arr).astype(np.int64)
    for i in np.flatnonzero(large):  # rare: parse those exactly
        exact = _exact_int(values.iloc[i])
        if exact is None or not INT64_MIN <= exact <= INT64_MAX:
            bad[i], out[i] = True, 0
        else:
            out[i] = exact
    return out, bad


def _exact_int(value) -> int | None:
    if isinstance(value, (int, np.integer)):
        return int(value)
    try:
        text = str(value).strip()
        return int(text) if text.lstrip("+-").isdigit() else int(float(text))
    except (ValueError, OverflowError):
        return None


def index_triples(columns, stimulus_ids=None, *, missing: str, repeated: str) -> tuple[np.ndarray, np.ndarray]:
    """(ids, (n, 3) int32 indices into ids) of three columns of stimulus ids; ``ids`` defaults
    to the sorted distinct ids. ``missing`` / ``repeated``: the ValueError messages for an id
    not in ``ids`` and for a row that names one stimulus twice."""
    cols = [np.asarray(x) for x in columns]
    ids = np.asarray(stimulus_ids) if stimulus_ids is not None else np.unique(np.concatenate(cols))
    index = pd.Index(ids)
    if not index.is_unique:
        raise ValueError("stimulus_ids must be unique")
    t = np.stack([index.get_indexer(x) for x in cols], axis=1).astype(np.int32)
    if (t < 0).any():
        raise ValueError(missing)
    if ((t[:, 0] == t[:, 1]) | (t[:, 0] == t[:, 2]) | (t[:, 1] == t[:, 2])).any():
        raise ValueError(repeated)
    return ids, t
