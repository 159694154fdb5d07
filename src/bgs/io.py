"""Atomic file writes: write to a temporary file beside the target, then rename."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

from bgs.errors import OutputExistsError


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
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix + ".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, _default_mode())  # mkstemp makes 0600; give the file the usual mode
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


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
