"""``bgs attention``: where a video/image backbone looks, before and after fine-tuning."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from bgs.commands.options import err, out


def attention_command(
    model: Optional[str] = typer.Option(None, "--model", "-m",
                                        help="Base backbone KIND:SOURCE (timesformer, videomae, vjepa2, "
                                             "clip, siglip). Default: the backbone of --checkpoint."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", "-c",
                                              help="A fine-tuned run directory (bgs train --out RUN): its "
                                                   "maps are computed beside the base model's."),
    stimuli: Path = typer.Option(..., "--stimuli", "-s", help="Stimulus table: an id column and a file column."),
    videos: Path = typer.Option(..., "--videos", help="Folder of the video files."),
    masks: Optional[Path] = typer.Option(None, "--masks",
                                         help="Folder of agent masks: <video stem>.npz with array 'masks' "
                                              "(T, H, W), 0 = background (the synthetic data's masks/)."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Folder to write (new or empty)."),
    split: Optional[Path] = typer.Option(None, "--split", help="Only the stimuli listed in this file (e.g. test.csv)."),
    methods: str = typer.Option("rollout,grad_rollout", "--methods",
                                help="Comma-separated: rollout (Abnar & Zuidema), grad_rollout (Chefer et al.)."),
    max_overlays: int = typer.Option(50, "--max-overlays", min=0, help="Clips with PNG/GIF overlays (the first N)."),
    store: Optional[Path] = typer.Option(None, "--store", help="Clip store folder (default: VIDEOS/.bgs-clip-store)."),
    batch_size: int = typer.Option(4, "--batch-size", min=1, help="Clips per forward/backward pass."),
    n_bootstrap: int = typer.Option(1000, "--n-bootstrap", min=0, help="Bootstrap resamples of clips for CIs."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
):
    """Attention rollout maps (PNG/GIF overlays, per-clip numbers) and the agent-vs-background
    share of attention, base vs fine-tuned, with bootstrap CIs over clips."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from bgs.attention.rollout import METHODS
    from bgs.commands.options import load_split_ids
    from bgs.data.stimuli import read_stimuli
    from bgs.errors import ConfigError
    from bgs.io import require_new_folder
    from bgs.media.decode import DecodeParams
    from bgs.media.store import ClipStore
    from bgs.study.attention import attention_study, load_models

    require_new_folder(out_dir, "give a new --out folder")
    chosen = [m.strip() for m in methods.split(",") if m.strip()]
    bad = [m for m in chosen if m not in METHODS]
    if bad or not chosen:
        raise ConfigError(f"--methods {methods!r}: choose from {', '.join(METHODS)}")
    table = read_stimuli(stimuli)
    if table.files is None:
        raise ConfigError(f"{stimuli} has no file column. Fix: add a 'file' (or 'video_name') column")
    ids = list(table.ids)
    if split is not None:
        keep = set(load_split_ids(split, stimuli).tolist())
        ids = [i for i in ids if i in keep]
    pos = {i: k for k, i in enumerate(table.ids)}
    files = [str(table.files[pos[i]]) for i in ids]
    if not videos.is_dir():
        raise ConfigError(f"--videos {videos} is not a folder. Fix: give the folder of the video files")
    models = load_models(model, checkpoint, device)
    bb = models["base"][0]
    clip_store = ClipStore(store or videos / ".bgs-clip-store", DecodeParams(bb.frames, bb.size, "crop"))
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task("decoding (once; reused later)", total=len(ids))
        clip_store.build(ids, [videos / f for f in files], on_error="fail",
                         progress=lambda *_: bar.advance(task))
        task = bar.add_task(f"attention maps ({', '.join(models)})", total=len(ids))
        summary = attention_study(out_dir, ids, files, clip_store, masks=masks, methods=chosen,
                                  batch_size=batch_size, n_bootstrap=n_bootstrap, seed=seed,
                                  max_overlays=max_overlays, device=device, checkpoint=checkpoint,
                                  progress=lambda n: bar.advance(task, n), backbones=models)
    out.print(f"{summary['n_clips']} clips ({summary['n_with_masks']} with masks), "
              f"{len(summary['overlays'])} overlays in {summary['seconds']:.1f} s -> {out_dir}")
    for label, per in summary.get("models", {}).items():
        for meth, e in per.items():
            ci = e.get("agent_ratio_ci")
            out.print(f"  {label:<11} {meth:<13} agent share {e['agent_share']:.3f} "
                      f"(area {e['area_share']:.3f}); ratio {e['agent_ratio']:.2f}"
                      + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "") + " (chance 1)")
    for meth, e in summary.get("shift", {}).items():
        ci = e.get("agent_ratio_change_ci")
        out.print(f"  shift (fine-tuned − base) {meth}: ratio {e['agent_ratio_change']:+.3f}"
                  + (f" [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else "")
                  + f"; higher in {e['agent_ratio_clips_up']} of {e['n_clips']} clips")


def register(app: typer.Typer) -> None:
    app.command("attention")(attention_command)
