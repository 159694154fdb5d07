"""Export a fine-tuned run in the layout the field loads without bgs.

``export_run(RUN, OUT)`` writes::

    OUT/
      adapter_config.json         peft's own files: PeftModel.from_pretrained(base, OUT)
      adapter_model.safetensors
      head.safetensors            the projection head (keys net.0.* Linear, net.1.* LayerNorm)
      head_config.json            its sizes and architecture
      bgs_model.json              what bgs needs to rebuild the model (backbone, LoRA, frames)
      preprocessor_config.json    video/image backbones: the frame normalisation used
      README.md                   the model card

With ``merge=True`` (and always for a full fine-tune) the adapter is merged into the backbone
and OUT holds a whole ``save_pretrained`` model (``config.json``, ``model.safetensors``; a
sentence-transformers folder for text backbones) instead of the two adapter files.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from bgs import __version__
from bgs.errors import BGSError
from bgs.io import file_sha256

EXPORT_META, HEAD, HEAD_CONFIG, CARD = "bgs_model.json", "head.safetensors", "head_config.json", "README.md"
HEAD_ARCHITECTURE = "Linear(in_dim, out_dim) -> LayerNorm(out_dim) -> ReLU -> Dropout, then L2 normalisation"


def is_export(folder: str | Path) -> bool:
    return (Path(folder) / EXPORT_META).is_file()


def read_export_meta(folder: str | Path) -> dict:
    path = Path(folder) / EXPORT_META
    if not path.is_file():
        raise BGSError(f"{folder}: not a bgs export (no {EXPORT_META}). Fix: write it with "
                       f"`bgs export RUN {folder}`")
    return json.loads(path.read_text())


def export_run(run: str | Path, out: str | Path, merge: bool = False, command: str | None = None,
               device: str = "cpu") -> Path:
    """Write the export of ``run`` (its best checkpoint) into the new folder ``out``, whole or
    not at all. ``command`` is recorded in the model card (default: the equivalent CLI call)."""
    from bgs.io import require_new_folder
    from bgs.train.restore import checkpoint_folder, load_finetuned, run_config

    run, out = Path(run), require_new_folder(out, "give a new folder (exports are never overwritten)")
    folder = checkpoint_folder(run)
    config = run_config(run)
    model, meta = load_finetuned(run, device)
    layout = "merged" if merge or config.model.full_finetune else "adapter"
    command = command or f"bgs export {run} {out}" + (" --merge" if merge else "")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        _write_backbone(model, tmp, layout)
        _write_head(model, tmp)
        export_meta = {"bgs_version": __version__, "layout": layout, "backbone": model.backbone_ref,
                       "family": model.kind.family, "model": meta["model"],
                       "epoch": meta.get("epoch"), "checkpoint": str(folder)}
        if model.kind.family != "text":
            export_meta.update(_vision_settings(model.encoder.backbone))
        export_meta["files"] = file_sums(tmp)  # checked before bgs loads the export
        (tmp / EXPORT_META).write_text(json.dumps(export_meta, indent=2) + "\n")
        from bgs.train.model_card import model_card

        (tmp / CARD).write_text(model_card(run, config, export_meta, command))
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out




def file_sums(folder: Path) -> dict[str, str]:
    """SHA-256 of every file of an export but its model card (which people edit)."""
    return {p.relative_to(folder).as_posix(): file_sha256(p) for p in sorted(Path(folder).rglob("*"))
            if p.is_file() and p.name not in (CARD, EXPORT_META)}


def verify_export(folder: str | Path, meta: dict) -> None:
    """Every file ``bgs_model.json`` lists is there with its SHA-256."""
    from bgs.errors import UnreadableFileError

    folder = Path(folder)
    for name, digest in (meta.get("files") or {}).items():
        path = folder / name
        if not path.is_file():
            raise BGSError(f"{folder}: {name} is missing; the export is incomplete. Fix: export "
                           f"the run again (bgs export RUN OUT)")
        if file_sha256(path) != digest:
            raise UnreadableFileError(path, "its SHA-256 differs from the one in bgs_model.json "
                                            "(the file is truncated or was modified)",
                                      "export the run again (bgs export RUN OUT)")


def _vision_settings(backbone) -> dict:
    return {"frames": backbone.frames, "size": backbone.size,
            "image_mean": backbone.mean.flatten().tolist(), "image_std": backbone.std.flatten().tolist()}


def _write_backbone(model, folder: Path, layout: str) -> None:
    """peft's adapter files, or the merged backbone through its own ``save_pretrained``."""
    wrapper = peft_wrapper(model)
    if layout == "adapter":
        wrapper.save_pretrained(str(folder))  # adapter_config.json + adapter_model.safetensors
        return
    if wrapper is not None:
        wrapper.merge_and_unload()  # folds the LoRA weights into the backbone's own layers
    if model.kind.family == "text":
        model.encoder.st.save(str(folder))  # the sentence-transformers folder (pooling included)
        return
    _save_backbone(model, folder)
    backbone = model.encoder.backbone
    if getattr(backbone, "readout", None) is not None:  # config.json asks for the moment pooling
        backbone.readout.save(folder)
    settings = _vision_settings(backbone)
    (folder / "preprocessor_config.json").write_text(json.dumps(
        {"image_mean": settings["image_mean"], "image_std": settings["image_std"],
         "size": {"height": backbone.size, "width": backbone.size},
         "num_frames": backbone.frames}, indent=2) + "\n")


def _save_backbone(model, folder: Path) -> None:
    """The (merged) backbone in its own layout: transformers' ``save_pretrained``, or for a
    bgs-native kind the ``save_folder`` beside its loader."""
    if not model.kind.loader:
        model.encoder.inner.save_pretrained(str(folder), safe_serialization=True)
        return
    import importlib

    module = importlib.import_module(model.kind.loader.split(":")[0])
    save = getattr(module, "save_folder", None)
    if save is None:
        raise BGSError(f"--merge cannot write a {model.kind.name} backbone. Fix: export the adapter "
                       f"(without --merge)")
    save(model.encoder.inner, folder)


def peft_wrapper(model):
    """The PeftModel around the backbone (LoRA is injected into the backbone in place, so the
    wrapper and ``model.encoder.inner`` share the weights); None for a full fine-tune."""
    from peft import PeftModel

    return next((m for m in model.encoder.modules() if isinstance(m, PeftModel)), None)


def _write_head(model, folder: Path) -> None:
    from safetensors.torch import save_file

    head = model.head
    linear, dropout = head.net[0], head.net[3]
    save_file({k: v.detach().cpu().contiguous() for k, v in head.state_dict().items()},
              str(folder / HEAD), metadata={"format": "pt"})
    (folder / HEAD_CONFIG).write_text(json.dumps(
        {"in_dim": linear.in_features, "out_dim": linear.out_features, "dropout": dropout.p,
         "layer_norm_eps": head.net[1].eps, "architecture": HEAD_ARCHITECTURE,
         "input": "the backbone's pooled embedding (see bgs_model.json: backbone)"}, indent=2) + "\n")


def push_to_hub(folder: str | Path, repo_id: str, private: bool = False, token: str | None = None,
                api=None) -> str:
    """Upload an export with huggingface_hub's own ``create_repo`` and ``upload_folder``;
    returns the commit URL. ``api``: an ``HfApi`` (default: a new one)."""
    try:
        from huggingface_hub import HfApi
    except ImportError:
        raise BGSError("--push-to-hub needs huggingface_hub. Fix: pip install 'bgs[models]'") from None
    folder = Path(folder)
    read_export_meta(folder)  # only bgs exports are pushed
    api = api or HfApi(token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        info = api.upload_folder(folder_path=str(folder), repo_id=repo_id,
                                 commit_message=f"bgs {__version__} export")
    except OSError as exc:  # network and HTTP errors of huggingface_hub derive from OSError
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BGSError(f"upload of {folder} to {repo_id} failed: {first} (the export itself is "
                       f"complete). Fix: check the network and `hf auth login` (or HF_TOKEN), "
                       f"then upload the folder again") from None
    return str(getattr(info, "commit_url", info))
