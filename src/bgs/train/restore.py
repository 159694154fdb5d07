"""Rebuild a trained model from its run directory (``bgs train --out RUN``) or from an export
(``bgs export RUN OUT``).

``RUN/config.toml`` names the backbone and the LoRA/head settings; ``RUN/checkpoints/best``
(else ``last``) holds the adapter and the head, loaded strictly (:func:`load_checkpoint`).
An export carries the same settings in ``bgs_model.json`` and peft's adapter files (or the
merged backbone). The clip store is not needed: callers feed frames to
``model.encoder.backbone`` directly.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from bgs.errors import BGSError, ConfigError

PEFT_PREFIX = "base_model.model."  # peft's files name weights from the PeftModel down


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


def names_backbone(spec, backbone: str, checkpoint: str | Path) -> bool:
    """Whether ``--model`` ``spec`` names the checkpoint's ``backbone`` (paths compared
    resolved) or, for a merged export, the export folder itself."""
    kind, _, source = backbone.partition(":")
    return spec.kind.name == kind and (_same_source(spec.source, source)
                                       or _same_source(spec.source, str(checkpoint)))


def _same_source(a: str, b: str) -> bool:
    return a == b or (Path(a).exists() and Path(b).exists() and Path(a).resolve() == Path(b).resolve())


def _model_config(settings: dict, source: str):
    from bgs.train.config import TrainConfig

    return TrainConfig.from_dict({"model": settings}, source).model


def bare_encoder(spec, model_config, device: str, attn_implementation: str | None = None):
    """The encoder of ``spec`` without data: a video/image backbone with no clip store, or a
    text backbone with no captions."""
    if spec.kind.family in ("video", "image"):
        from bgs.models.vision import load_vision_backbone
        from bgs.train.model import VideoEncoder

        backbone = load_vision_backbone(spec, frames=model_config.frames or None, device=device,
                                        attn_implementation=attn_implementation)
        return VideoEncoder(backbone, store=None)
    if spec.kind.family == "text":
        from bgs.models.text import load_text_backbone
        from bgs.train.model import TextEncoder

        return TextEncoder(load_text_backbone(spec.source, device=device), {}, "mean")
    raise ConfigError(f"cannot rebuild a {spec.kind.family} backbone ({spec})")


def _load_export(folder: Path, device: str, attn_implementation: str | None):
    """(BGSModel, meta) from a ``bgs export`` folder, loaded strictly."""
    from safetensors.torch import load_file

    from bgs.models.registry import ModelSpec, parse_model
    from bgs.train.export import HEAD, read_export_meta, verify_export
    from bgs.train.model import BGSModel

    meta = read_export_meta(folder)
    verify_export(folder, meta)
    spec = parse_model(meta["backbone"])
    config = _model_config(meta["model"], str(folder / "bgs_model.json"))
    if meta.get("frames"):  # the clip length it was trained on
        config = dataclasses.replace(config, frames=int(meta["frames"]))
    if meta["layout"] == "merged":  # the folder is the backbone; no adapter on top
        source = ModelSpec(spec.kind, str(folder))
        config = dataclasses.replace(config, full_finetune=True)
    else:
        source = spec
    encoder = bare_encoder(source, config, device, attn_implementation)
    model = BGSModel(encoder, spec.kind, config, str(spec)).to(device)
    if meta["layout"] == "adapter":
        adapter = folder / "adapter_model.safetensors"
        if not adapter.is_file():
            raise BGSError(f"{folder}: adapter_model.safetensors is missing; the export is incomplete")
        state = {k.removeprefix(PEFT_PREFIX): v for k, v in load_file(str(adapter)).items()}
        model.load_adapter_state(state, str(adapter))
    model.load_head_state(load_file(str(folder / HEAD)), str(folder / HEAD))
    return model, meta


def load_finetuned(run: str | Path, device: str = "cpu", attn_implementation: str | None = None):
    """(BGSModel in eval mode with the trained weights, its metadata) from a run directory, a
    checkpoint folder or an export folder."""
    from bgs.models.embed import quiet_transformers
    from bgs.models.registry import parse_model
    from bgs.train.checkpoint import load_checkpoint
    from bgs.train.export import is_export
    from bgs.train.model import BGSModel

    quiet_transformers()
    if is_export(run):
        model, meta = _load_export(Path(run), device, attn_implementation)
    else:
        config = run_config(run)
        spec = parse_model(config.model.backbone)
        encoder = bare_encoder(spec, config.model, device, attn_implementation)
        model = BGSModel(encoder, spec.kind, config.model, str(spec)).to(device)
        meta = load_checkpoint(model, checkpoint_folder(run))
    model.eval()
    return model, meta


def load_finetuned_vision(run: str | Path, device: str = "cpu", attn_implementation: str | None = None):
    """(BGSModel in eval mode, its VisionBackbone with the trained weights, metadata)."""
    model, meta = load_finetuned(run, device, attn_implementation)
    if model.kind.family not in ("video", "image"):
        raise ConfigError(f"{run}: trained a {model.kind.family} backbone ({model.backbone_ref}); "
                          f"only video and image backbones have frames to look at")
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
