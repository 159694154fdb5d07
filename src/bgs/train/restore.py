"""Rebuild a trained vision model from its run directory (``bgs train --out RUN``).

``RUN/config.toml`` names the backbone and the LoRA/head settings; ``RUN/checkpoints/best``
(else ``last``) holds the adapter and the head, loaded strictly (:func:`load_checkpoint`).
The clip store is not needed: callers feed frames to ``model.encoder.backbone`` directly.
"""

from __future__ import annotations

from pathlib import Path

from bgs.errors import BGSError, ConfigError


def checkpoint_folder(run: str | Path) -> Path:
    """``RUN/checkpoints/best`` (or ``last``); a checkpoint folder itself is accepted too."""
    run = Path(run)
    if (run / "checkpoint.json").is_file():
        return run
    from bgs.train.checkpoint import recover

    for name in ("best", "last"):
        folder = run / "checkpoints" / name
        recover(folder)  # a save interrupted between its renames
        if (folder / "checkpoint.json").is_file():
            return folder
    raise BGSError(f"{run}: no checkpoint (expected {run / 'checkpoints' / 'best'}). Fix: give "
                   f"the run directory written by `bgs train --out RUN`")


def run_config(run: str | Path):
    from bgs.train.config import TrainConfig

    run = Path(run)
    folder = checkpoint_folder(run)
    for cand in (run / "config.toml", folder.parent.parent / "config.toml"):
        if cand.is_file():
            return TrainConfig.from_toml(cand)
    raise BGSError(f"{run}: no config.toml beside the checkpoint. Fix: give the run directory "
                   f"written by `bgs train --out RUN`")


def load_finetuned_vision(run: str | Path, device: str = "cpu", attn_implementation: str | None = None):
    """(BGSModel in eval mode, its VisionBackbone with the trained weights, checkpoint meta)."""
    from bgs.models.embed import quiet_transformers
    from bgs.models.registry import parse_model
    from bgs.models.vision import load_vision_backbone
    from bgs.train.checkpoint import load_checkpoint
    from bgs.train.model import BGSModel, VideoEncoder

    quiet_transformers()
    config = run_config(run)
    spec = parse_model(config.model.backbone)
    if spec.kind.family not in ("video", "image"):
        raise ConfigError(f"{run}: trained a {spec.kind.family} backbone ({spec}); only video and "
                          f"image backbones have frames to look at")
    backbone = load_vision_backbone(spec, frames=config.model.frames or None, device=device,
                                    attn_implementation=attn_implementation)
    model = BGSModel(VideoEncoder(backbone, store=None), spec.kind, config.model, str(spec)).to(device)
    meta = load_checkpoint(model, checkpoint_folder(run))
    model.eval()
    return model, model.encoder.backbone, meta


def embed_finetuned(model, store, ids, batch_size: int = 16, progress=None):
    """Embeddings of a fine-tuned model (backbone + adapter + head, eval mode) for ``ids``,
    read from a built clip ``store``; ``progress(n)`` after each batch."""
    import numpy as np
    import torch

    from bgs.embeddings import Embeddings

    backbone = model.encoder.backbone
    chunks = []
    with torch.inference_mode():
        for start in range(0, len(ids), batch_size):
            batch = ids[start:start + batch_size]
            clips = backbone.preprocess(torch.from_numpy(np.ascontiguousarray(store.get_batch(batch))))
            chunks.append(model.head(backbone(clips)["embeddings"]).float().cpu().numpy())
            if progress is not None:
                progress(len(batch))
    arr = np.asarray(ids) if not isinstance(ids[0], str) else np.asarray(ids, dtype=object)
    return Embeddings.from_array(arr, np.concatenate(chunks), source=str(model.backbone_ref))
