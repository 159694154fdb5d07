"""Embedding stimuli with a backbone: videos through the clip store, captions as text."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from bgs.embeddings import Embeddings
from bgs.models.vision import VisionBackbone


def quiet_transformers() -> None:
    """Silence the per-load progress bars and warnings of transformers (bgs draws its own)."""
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(transformers|peft)\.")
    try:
        from transformers.utils import logging

        logging.set_verbosity_error()
        logging.disable_progress_bar()
    except ImportError:  # pragma: no cover - transformers absent
        pass


@torch.inference_mode()
def embed_clips(backbone: VisionBackbone, store, ids: Sequence, layers: Sequence[str] = ("embeddings",),
                batch_size: int = 8, progress: Callable[[int], None] | None = None,
                amp: bool | None = None) -> Embeddings:
    """Embed the clips of ``ids`` from a built clip store, ``batch_size`` clips at a time.

    Frames are read from the memory-mapped store as uint8 and normalised on the model's
    device. ``amp`` (default: on for CUDA) runs the forward pass under bf16 autocast.
    """
    backbone.eval()
    device = backbone.device
    amp = device.type == "cuda" if amp is None else amp
    chunks: dict[str, list[np.ndarray]] = {name: [] for name in layers}
    ids = list(ids)
    for start in range(0, len(ids), batch_size):
        batch_ids = ids[start:start + batch_size]
        frames = torch.from_numpy(np.ascontiguousarray(store.get_batch(batch_ids)))
        if device.type == "cuda":
            frames = frames.pin_memory()
        clips = backbone.preprocess(frames)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            out = backbone(clips, layers)
        for name in layers:
            chunks[name].append(out[name].float().cpu().numpy())
        if progress is not None:
            progress(len(batch_ids))
    return Embeddings(np.asarray(ids) if not isinstance(ids[0], str) else np.asarray(ids, dtype=object),
                      {name: np.concatenate(v).astype(np.float32) for name, v in chunks.items()},
                      source=backbone.source)
