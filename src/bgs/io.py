"""Atomic file writes: write to a temporary file beside the target, then rename."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path

from bgs.errors import FileAccessError, OutputExistsError, file_access_error


def _default_mode() -> int:
    """0666 less the process umask: the mode an ordinary ``open(path, "w")`` would give."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str = ""):
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success.

    On any exception the temporary file is removed and ``target`` is left as it was.
    """
    target = Path(target)
    _refuse_special(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix + ".tmp", dir=target.parent)
    except OSError as exc:
        raise file_access_error(exc, target) from None
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, _default_mode())  # mkstemp makes 0600; give the file the usual mode
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename in (None, tmp, str(target)):
            raise file_access_error(exc, target) from None  # name the target, not the temp
        raise


def _refuse_special(target: Path) -> None:
    """A folder, device, pipe or socket where a file is to be written: renaming a new file
    onto it would replace it (a device node, for root), so refuse."""
    if target.is_dir():
        raise FileAccessError(target, "is a folder, not a file", "give a file path")
    if target.exists() and not target.is_file():
        raise FileAccessError(target, "is not a regular file (a device, pipe or socket)",
                              "give the path of a file to write")


def ensure_writable(target: str | os.PathLike, folder: bool = False) -> Path:
    """Fail early, naming ``target``, when it could not be written: a parent that is a file,
    a folder without write permission, or a folder where a file should be (``folder``:
    ``target`` is itself a folder to create or fill). Creates nothing."""
    target = Path(target)
    if not folder:
        _refuse_special(target)
    if folder and target.exists() and not target.is_dir():
        raise FileAccessError(target, "exists and is not a folder", "give a folder path")
    probe = target if folder and target.is_dir() else target.parent
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise FileAccessError(target, f"{probe} is a file, not a folder",
                              "choose a path whose parents are folders")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise FileAccessError(target, f"cannot write into {probe} (permission denied)",
                              "choose a location you may write to, or change its permissions")
    if not folder and target.exists() and not os.access(target, os.W_OK):
        raise FileAccessError(target, "the file is read-only", "choose another path, or change "
                                                               "its permissions")
    return target


def is_new_folder(path: str | os.PathLike) -> bool:
    """True when ``path`` is absent or an empty folder: where new results may be written."""
    path = Path(path)
    return not path.exists() or (path.is_dir() and not any(path.iterdir()))


def require_new_folder(path: str | os.PathLike, fix: str) -> Path:
    """``path`` if it is a new folder (see :func:`is_new_folder`); else one
    :class:`~bgs.errors.OutputExistsError` ending in ``Fix: <fix>`` (results are never
    overwritten)."""
    if not is_new_folder(path):
        raise OutputExistsError(f"{path} already exists and is not empty. Fix: {fix}")
    return Path(path)


def write_json(target: str | os.PathLike, obj) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, read in blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
