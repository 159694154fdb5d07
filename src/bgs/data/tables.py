"""Reading tabular files (CSV, TSV, Parquet, JSON lines) with errors that name the file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bgs.errors import DataFileError, EmptyFileError, MissingColumnsError, UnreadableFileError

SUPPORTED = ".csv, .tsv, .txt, .parquet, .pq, .jsonl"


def read_table(path: str | Path, dtype=None) -> pd.DataFrame:
    """Read a table; raise a typed error naming the file when it is missing, empty or unreadable.

    Row numbers reported by bgs (:func:`row_numbers`) follow a spreadsheet: for a text file
    the header is row 1, so the first data row is row 2; for Parquet the first row is row 1.
    """
    path = Path(path)
    refuse_incomplete(path)
    if not path.exists():
        raise UnreadableFileError(path, "file not found", "check the path")
    if path.is_dir():
        raise UnreadableFileError(path, "is a directory, not a table", "give a file")
    if path.stat().st_size == 0:
        raise EmptyFileError(path, "the file is empty", "give a file with a header and rows")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            df = pd.read_parquet(path)
        elif suffix == ".jsonl":
            df = pd.read_json(path, lines=True, dtype=dtype)
        elif suffix in (".tsv", ".tab"):
            df = pd.read_csv(path, sep="\t", dtype=dtype)
        else:
            df = pd.read_csv(path, dtype=dtype, sep=None if suffix == ".txt" else ",",
                             engine="python" if suffix == ".txt" else "c")
    except pd.errors.EmptyDataError:
        raise EmptyFileError(path, "the file is empty", "give a file with a header and rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as exc:
        if suffix == ".jsonl":
            _raise_json_line(path)
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UnreadableFileError(
            path, f"cannot be read as a table ({reason})",
            f"give a well-formed file of one of: {SUPPORTED}") from None
    if len(df) == 0:
        raise EmptyFileError(path, "has a header but no rows", "give a file with at least one row")
    df.columns = [str(c).strip() for c in df.columns]
    _check_delimiter(df, path, suffix)
    return df


def _check_delimiter(df: pd.DataFrame, path: Path, suffix: str) -> None:
    """A text table read as one column whose header holds another delimiter: say so."""
    if len(df.columns) != 1 or suffix in (".parquet", ".pq", ".jsonl"):
        return
    header = str(df.columns[0])
    for sep, name, fix in ((";", "semicolon", "save it comma-separated (in a spreadsheet: CSV, "
                                              "comma delimited)"),
                           ("\t", "tab", "rename it to .tsv, or save it comma-separated"),
                           ("|", "'|'", "save it comma-separated")):
        if sep in header and sep != ("," if suffix != ".tsv" else "\t"):
            raise UnreadableFileError(path, f"is {name}-delimited, but a {suffix or 'text'} file "
                                            f"is read with {'tabs' if suffix == '.tsv' else 'commas'}",
                                      fix)


def _raise_json_line(path: Path) -> None:
    """The first line of a JSON-lines file that is not one JSON object, by its line number."""
    import json

    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UnreadableFileError(path, f"line {number} is not valid JSON ({exc.msg}, "
                                                f"column {exc.colno})",
                                          "write one JSON object per line") from None
            if not isinstance(record, dict):
                raise UnreadableFileError(path, f"line {number} is a JSON {type(record).__name__}, "
                                                "not an object", "write one JSON object per line")


INCOMPLETE = ".bgs-incomplete"


def refuse_incomplete(path: Path) -> None:
    """Refuse a file inside a folder that ``bgs synth make`` (or another writer of whole
    folders) left incomplete: the marker file is there until the last file is written."""
    for folder in (path.parent, path.parent.parent):
        marker = folder / INCOMPLETE
        if marker.is_file():
            why = marker.read_text().strip() or "an interrupted write"
            raise DataFileError(folder, f"the folder is incomplete ({why}), so "
                                        f"{path.name} may be missing or stale",
                                "run the command that writes it again (bgs synth make OUT --force)")


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
