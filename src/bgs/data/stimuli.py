"""The stimulus table: stimulus ids mapped to their files, captions and attribute ratings.

Every other table (captions, ratings, split lists) may name a stimulus by its id or by its
file name; both are resolved here, and a name that matches no stimulus is an error that says
which rows.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from bgs.data.tables import first_row_number, read_table, require_columns
from bgs.embeddings import out_of_range
from bgs.errors import DataFileError, DuplicateIdError, InvalidRecordError, MissingValueError, UnknownStimulusError

ID_COLUMNS = ("id", "stimulus_id", "index")
FILE_COLUMNS = ("file", "path", "filename", "video_name", "video", "image", "stimulus")
_WIDE_CAPTION = re.compile(r"^caption[_\- ]?\d+$", re.IGNORECASE)


def _caption_list(cell) -> list[str]:
    """A list-literal cell as a list of captions; a quoted string literal is one caption."""
    if not isinstance(cell, str) or not cell.strip():
        return []
    text = cell.strip()
    if text[0] in "[(":
        value = ast.literal_eval(text)
        return [str(v) for v in value]
    value = ast.literal_eval(text)  # a quoted string; anything else raises ValueError
    if not isinstance(value, str):
        raise ValueError(f"not a list of captions: {text[:40]!r}")
    return [value]


def _pick(df: pd.DataFrame, given: str | None, candidates) -> str | None:
    if given is not None:
        return given
    return next((c for c in candidates if c in df.columns), None)


@dataclass(frozen=True, eq=False)
class StimulusTable:
    """Stimulus ids (the index space of every matrix) with optional files, captions, ratings.

    ``captions`` is long: one row per caption with columns ``id, caption_index, caption``.
    ``attributes`` is indexed by id with one float column per rated attribute.
    """

    ids: np.ndarray
    files: np.ndarray | None = None
    captions: pd.DataFrame | None = None
    attributes: pd.DataFrame | None = None
    source: str = ""

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def index(self) -> pd.Index:
        return pd.Index(self.ids)

    def to_ids(self, keys, path="(input)", column: str = "stimulus", first_row: int = 2) -> np.ndarray:
        """Map stimulus ids or file names to ids; unknown keys raise naming their rows."""
        keys = pd.Series(list(keys) if not isinstance(keys, pd.Series) else keys).reset_index(drop=True)
        pos = self._lookup(keys)
        bad = pos < 0
        if bad.any():
            rows = np.flatnonzero(bad) + first_row
            raise UnknownStimulusError(
                path, f"{int(bad.sum())} value(s) name no stimulus of {self.source or 'the stimulus table'} "
                      f"(first: {keys[bad].iloc[0]!r})",
                "use ids or file names from the stimulus table, or add the stimuli to it",
                rows=rows, column=column)
        return self.ids[pos]

    def _lookup(self, keys: pd.Series) -> np.ndarray:
        """Positions of keys in the table: by id (exact, or integer-valued strings), then file."""
        pos = self.index.get_indexer(keys)
        if (pos < 0).any() and pd.api.types.is_integer_dtype(self.ids.dtype):
            as_int = pd.to_numeric(keys, errors="coerce")
            ok = as_int.notna() & (as_int == np.round(as_int))
            pos2 = np.full(len(keys), -1)
            pos2[ok.to_numpy()] = self.index.get_indexer(as_int[ok].astype(np.int64))
            pos = np.where(pos < 0, pos2, pos)
        if (pos < 0).any() and self.files is not None:
            pos3 = pd.Index(self.files).get_indexer(keys.astype(str).str.strip())
            pos = np.where(pos < 0, pos3, pos)
        return pos

    # ------------------------------------------------------------------ captions
    def caption_lists(self) -> dict:
        """id -> list of captions in caption order (stimuli without captions are absent)."""
        if self.captions is None:
            return {}
        df = self.captions.sort_values(["id", "caption_index"], kind="stable")
        return {k: g["caption"].tolist() for k, g in df.groupby("id", sort=False)}

    def with_captions(self, path: str | Path, key_column: str | None = None,
                      caption_column: str | None = None) -> "StimulusTable":
        """Attach captions from a long table (one caption per row), a wide one
        (``caption_1, caption_2, ...``) or one with a list-literal ``captions`` column."""
        path = Path(path)
        df = read_table(path)
        key = _pick(df, key_column, ID_COLUMNS + FILE_COLUMNS)
        if key is None:
            raise DataFileError(path, "no column names the stimulus (looked for "
                                      f"{', '.join(ID_COLUMNS + FILE_COLUMNS)})",
                                "pass the key column explicitly (key_column=... / --caption-key)")
        ids = self.to_ids(df[key], path, key, first_row_number(path))
        caption_column = caption_column or ("caption" if "caption" in df.columns else None)
        wide = [c for c in df.columns if _WIDE_CAPTION.match(c)]
        if caption_column is not None:
            require_columns(df, path, [caption_column], "name the caption column")
            long = pd.DataFrame({"id": ids, "caption": df[caption_column],
                                 "caption_index": df["caption_index"] if "caption_index" in df.columns
                                 else df.groupby(ids).cumcount()})
        elif wide:
            long = (pd.DataFrame({"id": ids, **{c: df[c] for c in wide}})
                    .melt(id_vars="id", var_name="caption_index", value_name="caption"))
            long["caption_index"] = long["caption_index"].str.extract(r"(\d+)$")[0].astype(int)
        elif "captions" in df.columns:
            try:
                lists = df["captions"].map(_caption_list)
            except (ValueError, SyntaxError):
                raise DataFileError(path, "the 'captions' column is not a list literal",
                                    "write one caption per row with a 'caption' column") from None
            long = pd.DataFrame({"id": np.repeat(ids, lists.map(len)),
                                 "caption": [c for lst in lists for c in lst]})
            long["caption_index"] = long.groupby("id").cumcount()
        else:
            raise DataFileError(path, "no caption column (looked for 'caption', 'caption_1', ..., "
                                      "'captions')", "name the caption column (caption_column=...)")
        long = long.dropna(subset=["caption"])
        long["caption"] = long["caption"].astype(str).str.strip()
        long = long[long["caption"] != ""].reset_index(drop=True)
        return replace(self, captions=long[["id", "caption_index", "caption"]])

    # ------------------------------------------------------------------ attributes
    def with_attributes(self, path: str | Path, key_column: str | None = None,
                        columns: list[str] | None = None, prefix: str | None = None) -> "StimulusTable":
        """Attach per-stimulus ratings: the given columns, or every numeric column (a common
        ``prefix`` such as ``rating-`` is stripped from the names)."""
        path = Path(path)
        df = read_table(path)
        key = _pick(df, key_column, ID_COLUMNS + FILE_COLUMNS)
        if key is None:
            raise DataFileError(path, "no column names the stimulus", "pass key_column=...")
        ids = self.to_ids(df[key], path, key, first_row_number(path))
        dup = pd.Index(ids).duplicated()
        if dup.any():
            raise DuplicateIdError(path, f"stimulus {ids[dup][0]!r} is rated on more than one row",
                                   "keep one row of ratings per stimulus",
                                   rows=np.flatnonzero(dup) + first_row_number(path), column=key)
        if columns is None:  # columns that are mostly numbers; a stray text cell is an error
            def mostly_numeric(col: pd.Series) -> bool:
                cells = col.dropna()
                return len(cells) > 0 and pd.to_numeric(cells, errors="coerce").notna().mean() >= 0.5
            columns = [c for c in df.columns if c != key and c not in ID_COLUMNS + FILE_COLUMNS
                       and mostly_numeric(df[c])]
            if prefix is None:
                prefixed = [c for c in columns if "-" in c]
                if prefixed and len(prefixed) == len(columns):
                    heads = {c.split("-", 1)[0] for c in prefixed}
                    prefix = f"{heads.pop()}-" if len(heads) == 1 else None
        require_columns(df, path, columns, "name existing attribute columns")
        values = {}
        for c in columns:
            v = pd.to_numeric(df[c], errors="coerce")
            bad = v.isna() & df[c].notna()
            if bad.any():
                raise DataFileError(path, f"non-numeric rating {df[c][bad].iloc[0]!r}",
                                    "ratings must be numbers (leave a cell empty if unknown)",
                                    rows=np.flatnonzero(bad.to_numpy()) + first_row_number(path),
                                    column=c)
            name = c[len(prefix):] if prefix and c.startswith(prefix) else c
            values[name] = v.to_numpy(dtype=float)
        attrs = pd.DataFrame(values, index=pd.Index(ids, name="id"))
        return replace(self, attributes=attrs.reindex(self.ids))


def read_stimuli(path: str | Path, id_column: str | None = None,
                 file_column: str | None = None) -> StimulusTable:
    """Read a stimulus table with an id column (``id``, ``stimulus_id`` or ``index``) and/or a
    file column (``file``, ``video_name``, ...). Without an id column, file names are the ids."""
    path = Path(path)
    df = read_table(path)
    idc = _pick(df, id_column, ID_COLUMNS)
    fc = _pick(df, file_column, FILE_COLUMNS)
    if idc is None and fc is None:
        raise DataFileError(path, f"no id column ({', '.join(ID_COLUMNS)}) and no file column "
                                  f"({', '.join(FILE_COLUMNS)})",
                            "add an 'id' column, or name it with --id-column")
    first = first_row_number(path)
    key = idc if idc is not None else fc
    require_columns(df, path, [c for c in (idc, fc) if c], "name existing columns")
    missing = (df[key].isna() | (df[key].astype(str).str.strip() == "")).to_numpy()
    if missing.any():
        raise MissingValueError(path, "empty stimulus id", "give every stimulus an id",
                                rows=np.flatnonzero(missing) + first, column=key)
    ids = df[key].to_numpy()
    big = out_of_range(ids)
    if big.any():
        raise InvalidRecordError(path, "stimulus id outside the 64-bit integer range",
                                 "use smaller integer ids, or string ids",
                                 rows=np.flatnonzero(big) + first, column=key)
    if ids.dtype == object:
        ids = df[key].astype(str).str.strip().to_numpy(dtype=object)
    dup = pd.Index(ids).duplicated()
    if dup.any():
        raise DuplicateIdError(path, f"stimulus id {ids[dup][0]!r} appears more than once",
                               "give each stimulus one row with a unique id",
                               rows=np.flatnonzero(dup) + first, column=key)
    files = df[fc].astype(str).str.strip().to_numpy(dtype=object) if fc else None
    if files is not None and fc != key:
        dup = pd.Index(files).duplicated()
        if dup.any():
            raise DuplicateIdError(path, f"file {files[dup][0]!r} belongs to more than one stimulus",
                                   "give each stimulus its own file",
                                   rows=np.flatnonzero(dup) + first, column=fc)
    return StimulusTable(ids=ids, files=files, source=str(path))
