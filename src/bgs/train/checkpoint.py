"""Checkpoints: adapter and head as safetensors with the backbone reference, written
atomically; loaded strictly. Resume state (optimizer, scheduler, counters, history) beside
them as ``state.json`` + ``state.safetensors`` (:mod:`bgs.train.state_io`): no pickle is ever
read. ``checkpoint.json`` records the SHA-256 of every file, checked before it is loaded.

A save writes a temporary sibling folder, moves the previous folder aside to ``.NAME.old``,
renames the new one into place and deletes the old one. A crash between the two renames
leaves only ``.NAME.old``: :func:`recover` puts it back, so a resume continues from it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from bgs import __version__
from bgs.errors import BGSError, UnreadableFileError
from bgs.io import file_sha256
from bgs.train.state_io import load_state_files, save_state

ADAPTER, HEAD, META = "adapter.safetensors", "head.safetensors", "checkpoint.json"
STATE_JSON, STATE_TENSORS, LEGACY_STATE = "state.json", "state.safetensors", "state.pt"
REDO = "resume from the other checkpoint folder, or train again"


def save_checkpoint(model, folder: Path, meta: dict, state: dict | None = None,
                    weights: tuple[dict, dict] | None = None) -> Path:
    """Write ``folder`` whole or not at all: into a temporary sibling, then renamed.
    ``weights``: (adapter, head) state dicts to write instead of the model's own."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    recover(folder)
    _remove_stale_temporaries(folder)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    try:
        adapter, head = weights or (model.adapter_state(), model.head.state_dict())
        save_file({k: v.detach().cpu().contiguous() for k, v in adapter.items()}, str(tmp / ADAPTER))
        save_file({k: v.detach().cpu().contiguous() for k, v in head.items()}, str(tmp / HEAD))
        names = [ADAPTER, HEAD]
        if state is not None:
            save_state(state, tmp / STATE_JSON, tmp / STATE_TENSORS)
            names += [STATE_JSON, STATE_TENSORS]
        full_meta = {"bgs_version": __version__, "backbone": model.backbone_ref,
                     "model": _jsonable(model.config), **meta,
                     "files": {n: file_sha256(tmp / n) for n in names}}
        (tmp / META).write_text(json.dumps(full_meta, indent=2) + "\n")
        old = _old(folder)
        if folder.exists():
            os.replace(folder, old)
        os.replace(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def _old(folder: Path) -> Path:
    return folder.with_name(f".{folder.name}.old")


def recover(folder: Path) -> bool:
    """Put back ``.NAME.old`` when a save was interrupted between its two renames."""
    folder, old = Path(folder), _old(Path(folder))
    if not folder.exists() and (old / META).is_file():
        os.replace(old, folder)
        return True
    return False


def _remove_stale_temporaries(folder: Path) -> None:
    """Temporary folders of saves killed while writing (never a complete checkpoint)."""
    for stale in folder.parent.glob(f".{folder.name}.*.tmp"):
        shutil.rmtree(stale, ignore_errors=True)




def read_meta(folder: Path) -> dict:
    folder = Path(folder)
    recover(folder)
    path = folder / META
    if not path.exists():
        raise BGSError(f"{folder}: not a bgs checkpoint (no {META}). Fix: point at a run's "
                       f"checkpoints/best or checkpoints/last folder")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnreadableFileError(path, f"cannot be read as JSON ({type(exc).__name__})", REDO) from None
    if not isinstance(meta, dict) or not isinstance(meta.get("files", {}), dict):
        raise UnreadableFileError(path, "is not a checkpoint description (a JSON object)", REDO)
    return meta


def verify(folder: Path, meta: dict, names) -> None:
    """Every file in ``names`` is present and has the SHA-256 ``checkpoint.json`` records."""
    sums = meta.get("files") or {}
    for name in names:
        path = Path(folder) / name
        if not path.is_file():
            raise BGSError(f"{folder}: {name} is missing; the checkpoint is incomplete. Fix: {REDO}")
        if name in sums and file_sha256(path) != sums[name]:
            raise UnreadableFileError(path, "its SHA-256 differs from the one in checkpoint.json "
                                            "(the file is truncated or was modified)", REDO)


def _load_tensors(path: Path) -> dict:
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except Exception as exc:  # SafetensorError, a header that is not JSON, ...
        raise UnreadableFileError(path, f"cannot be read as safetensors ({type(exc).__name__})",
                                  REDO) from None


def load_checkpoint(model, folder: Path) -> dict:
    """Load adapter and head into ``model`` strictly; returns the checkpoint's metadata."""
    folder = Path(folder)
    meta = read_meta(folder)
    if meta.get("backbone") != model.backbone_ref:
        raise BGSError(f"{folder}: trained on {meta.get('backbone')}, not {model.backbone_ref}. "
                       f"Fix: build the model with the checkpoint's backbone")
    verify(folder, meta, (ADAPTER, HEAD))
    model.load_adapter_state(_load_tensors(folder / ADAPTER), str(folder / ADAPTER))
    model.load_head_state(_load_tensors(folder / HEAD), str(folder / HEAD))
    return meta


def load_state(folder: Path) -> dict | None:
    """The resume state saved beside the checkpoint, or None when there is none."""
    folder = Path(folder)
    recover(folder)
    if not (folder / STATE_JSON).exists():
        if (folder / LEGACY_STATE).exists():
            raise BGSError(f"{folder / LEGACY_STATE}: a pickle file; bgs does not read pickle "
                           f"(it can run code). Fix: start a new run (this run cannot be resumed)")
        return None
    meta = read_meta(folder)
    verify(folder, meta, (STATE_JSON, STATE_TENSORS))
    try:
        state = load_state_files(folder / STATE_JSON, folder / STATE_TENSORS)
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError) as exc:
        raise UnreadableFileError(folder / STATE_JSON, f"is not a bgs resume state "
                                                       f"({type(exc).__name__})", REDO) from None
    except Exception as exc:  # noqa: BLE001 - the tensors file
        raise UnreadableFileError(folder / STATE_TENSORS, f"cannot be read as safetensors "
                                                          f"({type(exc).__name__})", REDO) from None
    if not isinstance(state, dict) or not {"epoch", "optimizer", "scheduler"} <= set(state):
        raise UnreadableFileError(folder / STATE_JSON, "is not a bgs resume state", REDO)
    return state


def _jsonable(config) -> dict:
    import dataclasses

    return json.loads(json.dumps(dataclasses.asdict(config), default=str))
