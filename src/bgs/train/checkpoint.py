"""Checkpoints: adapter and head as safetensors with the backbone reference, written
atomically; loaded strictly. Resume state (optimizer, scheduler, counters) beside them."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch

from bgs import __version__
from bgs.errors import BGSError

ADAPTER, HEAD, META, STATE = "adapter.safetensors", "head.safetensors", "checkpoint.json", "state.pt"


def save_checkpoint(model, folder: Path, meta: dict, state: dict | None = None) -> Path:
    """Write ``folder`` whole or not at all: into a temporary sibling, then renamed."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        save_file({k: v.detach().cpu().contiguous() for k, v in model.adapter_state().items()},
                  str(tmp / ADAPTER))
        save_file({k: v.detach().cpu().contiguous() for k, v in model.head.state_dict().items()},
                  str(tmp / HEAD))
        full_meta = {"bgs_version": __version__, "backbone": model.backbone_ref,
                     "model": _jsonable(model.config), **meta}
        (tmp / META).write_text(json.dumps(full_meta, indent=2) + "\n")
        if state is not None:
            torch.save(state, tmp / STATE)
        old = folder.with_name(f".{folder.name}.old")
        if folder.exists():
            os.replace(folder, old)
        os.replace(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def read_meta(folder: Path) -> dict:
    path = Path(folder) / META
    if not path.exists():
        raise BGSError(f"{folder}: not a bgs checkpoint (no {META}). Fix: point at a run's "
                       f"checkpoints/best or checkpoints/last folder")
    return json.loads(path.read_text())


def load_checkpoint(model, folder: Path) -> dict:
    """Load adapter and head into ``model`` strictly; returns the checkpoint's metadata."""
    from safetensors.torch import load_file

    folder = Path(folder)
    meta = read_meta(folder)
    if meta.get("backbone") != model.backbone_ref:
        raise BGSError(f"{folder}: trained on {meta.get('backbone')}, not {model.backbone_ref}. "
                       f"Fix: build the model with the checkpoint's backbone")
    for name in (ADAPTER, HEAD):
        if not (folder / name).exists():
            raise BGSError(f"{folder}: {name} is missing; the checkpoint is incomplete")
    model.load_adapter_state(load_file(str(folder / ADAPTER)), str(folder / ADAPTER))
    model.load_head_state(load_file(str(folder / HEAD)), str(folder / HEAD))
    return meta


def load_state(folder: Path) -> dict | None:
    path = Path(folder) / STATE
    return torch.load(path, weights_only=False) if path.exists() else None


def _jsonable(config) -> dict:
    import dataclasses

    return json.loads(json.dumps(dataclasses.asdict(config), default=str))
