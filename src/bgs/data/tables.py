"""Reading tabular files (CSV, TSV, Parquet, JSON lines) with errors that name the file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bgs.errors import EmptyFileError, MissingColumnsError, UnreadableFileError

SUPPORTED = ".csv, .tsv, .txt, .parquet, .pq, .jsonl"


def read_table(path: str | Path, dtype=None, header: bool = True) -> pd.DataFrame:
    """Read a table; raise a typed error naming the file when it is missing, empty or unreadable.

    Row numbers reported by bgs (:func:`row_numbers`) follow a spreadsheet: for a text file
    the header is row 1, so the first data row is row 2; for Parquet the first row is row 1.
    ``header=False`` reads a text file without a header line (columns 0, 1, ...). Text files
    may be compressed (``.csv.zip``, ``.csv.gz``): the suffix before the compression counts.
    """
    path = Path(path)
    if not path.exists():
        raise UnreadableFileError(path, "file not found", "check the path")
    if path.is_dir():
        raise UnreadableFileError(path, "is a directory, not a table", "give a file")
    if path.stat().st_size == 0:
        raise EmptyFileError(path, "the file is empty", "give a file with a header and rows")
    suffix = path.suffix.lower()
    if suffix in (".zip", ".gz", ".bz2", ".xz") and len(path.suffixes) > 1:
        suffix = path.suffixes[-2].lower()
    head = {} if header else {"header": None}
    try:
        if suffix in (".parquet", ".pq"):
            df = pd.read_parquet(path)
        elif suffix == ".jsonl":
            df = pd.read_json(path, lines=True, dtype=dtype)
        elif suffix in (".tsv", ".tab"):
            df = pd.read_csv(path, sep="\t", dtype=dtype, **head)
        else:
            df = pd.read_csv(path, dtype=dtype, sep=None if suffix == ".txt" else ",",
                             engine="python" if suffix == ".txt" else "c", **head)
    except pd.errors.EmptyDataError:
        raise EmptyFileError(path, "the file is empty", "give a file with a header and rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UnreadableFileError(
            path, f"cannot be read as a table ({reason})",
            f"give a well-formed file of one of: {SUPPORTED}") from None
    if len(df) == 0:
        raise EmptyFileError(path, "has a header but no rows", "give a file with at least one row")
    df.columns = [str(c).strip() for c in df.columns]
    return df


def first_row_number(path: str | Path) -> int:
    """Spreadsheet number of the first data row: 2 below a header line, 1 in Parquet."""
    return 1 if Path(path).suffix.lower() in (".parquet", ".pq", ".jsonl") else 2


def require_columns(df: pd.DataFrame, path, columns: dict[str, str] | list[str], fix: str) -> None:
    """Raise :class:`MissingColumnsError` naming every absent column and the ones present."""
    wanted = list(columns.values()) if isinstance(columns, dict) else list(columns)
    missing = [c for c in wanted if c not in df.columns]
    if missing:
        present = ", ".join(map(str, df.columns[:12])) + (" ..." if len(df.columns) > 12 else "")
        raise MissingColumnsError(
            path, f"missing column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))} "
                  f"(the file has: {present})", fix)
