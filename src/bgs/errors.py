"""Typed errors. Each names the file, the rows or field at fault, and the fix.

Every error bgs raises on bad input derives from :class:`BGSError`; the CLI prints its
message on one line of stderr and exits with status 2.
"""

from __future__ import annotations

from collections.abc import Sequence


def format_rows(rows: Sequence[int], limit: int = 5) -> str:
    """'rows 2, 7, 9 and 12 more' — the first offending row numbers, then a count."""
    rows = [int(r) for r in rows]
    head = ", ".join(str(r) for r in rows[:limit])
    word = "row" if len(rows) == 1 else "rows"
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return f"{word} {head}{more}"


class BGSError(Exception):
    """Base class of every error on bad input or configuration."""


class OutputExistsError(BGSError):
    """The output folder already holds something (results are never overwritten)."""


class DataFileError(BGSError):
    """A problem with one input file (triplets, stimulus table, captions, ...)."""

    kind = "invalid data"

    def __init__(self, path, problem: str, fix: str, rows: Sequence[int] | None = None,
                 column: str | None = None):
        self.path = str(path)
        self.rows = list(rows) if rows is not None else []
        self.column = column
        self.problem = problem
        self.fix = fix
        where = self.path
        if self.rows:
            where += f", {format_rows(self.rows)}"
        if column is not None:
            where += f", column '{column}'"
        super().__init__(f"{where}: {problem}. Fix: {fix}")


class EmptyFileError(DataFileError):
    kind = "empty file"


class MissingColumnsError(DataFileError):
    kind = "missing columns"


class MissingValueError(DataFileError):
    kind = "missing value"


class InvalidStimulusIdError(DataFileError):
    kind = "non-integer stimulus id"


class UnknownStimulusError(DataFileError):
    kind = "unknown stimulus id"


class OddNotInTriadError(DataFileError):
    kind = "odd one out not in triad"


class DuplicateIdError(DataFileError):
    kind = "duplicate id"


class UnreadableFileError(DataFileError):
    kind = "unreadable file"


class InvalidRecordError(DataFileError):
    """A record (row, JSON line) whose value is of the wrong type or out of range."""

    kind = "invalid record"


class ConfigError(BGSError):
    """An invalid option or option combination."""


class DownloadError(BGSError):
    """A dataset file could not be fetched or failed its checksum."""


class FileAccessError(BGSError):
    """A file or folder bgs cannot read or write: permissions, a file where a folder should
    be, a full disk. Raised for the path the user gave, not for a temporary file beside it."""

    def __init__(self, path, problem: str, fix: str):
        self.path, self.problem, self.fix = str(path), problem, fix
        super().__init__(f"{self.path}: {problem}. Fix: {fix}")


_OS_PROBLEMS = {  # errno name -> (problem, fix)
    "EACCES": ("permission denied", "choose a location you may write to (or read from), or "
                                    "change its permissions"),
    "EPERM": ("operation not permitted", "choose a location you may write to, or change its "
                                         "permissions"),
    "EROFS": ("the file system is read-only", "write somewhere else"),
    "ENOTDIR": ("a part of the path is a file, not a folder", "choose a path whose parents are "
                                                              "folders"),
    "EISDIR": ("is a folder, not a file", "give a file path"),
    "EEXIST": ("already exists", "remove it or choose another path"),
    "ENOENT": ("no such file or folder", "check the path"),
    "ENOSPC": ("no space left on the device", "free some space or write somewhere else"),
    "ENAMETOOLONG": ("the name is too long", "choose a shorter path"),
    "ELOOP": ("too many symbolic links", "resolve the link loop"),
}


def file_access_error(exc: OSError, path=None) -> FileAccessError:
    """The :class:`FileAccessError` for an ``OSError``, naming ``path`` (else the error's file)."""
    import errno

    name = errno.errorcode.get(exc.errno or 0, "")
    problem, fix = _OS_PROBLEMS.get(name, (exc.strerror or type(exc).__name__,
                                           "check the path and its permissions"))
    where = path if path is not None else (exc.filename if exc.filename is not None else "(a file)")
    return FileAccessError(where, problem, fix)
