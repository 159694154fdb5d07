"""``bgs synth``: synthetic social-interaction videos with simulated observers and planted truth."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

synth_app = typer.Typer(help="Synthetic social-interaction clips with simulated observers and "
                             "planted ground truth (a garcia2025-shaped folder + truth.json).",
                        no_args_is_help=True)

STAGES = {"scenes": "scenes", "videos": "videos + masks", "captions": "captions + ratings",
          "judgments": "simulated judgments", "behavior": "receiver behavior"}


@synth_app.command("make")
def make(
    out_dir: Path = typer.Argument(..., metavar="OUT", help="Folder to write (empty or new)."),
    clips: int = typer.Option(120, "--clips", help="Number of clips."),
    participants: int = typer.Option(60, "--participants", help="Number of simulated participants."),
    frames: int = typer.Option(16, "--frames", help="Frames per clip."),
    size: int = typer.Option(64, "--size", help="Frame width and height in pixels (even)."),
    fps: float = typer.Option(8.0, "--fps", help="Frames per second of the mp4 files."),
    seed: int = typer.Option(0, "--seed", help="Seed: equal seeds give byte-identical folders."),
    style: str = typer.Option("default", "--style",
                              help="Rendering style: default, or abstract (other shapes and colours, "
                                   "flat background, jerky motion; same scripts and latents for a seed)."),
    videos: bool = typer.Option(True, "--videos/--no-videos",
                                help="Render videos and masks (--no-videos: tables and truth only)."),
    contact: Optional[Path] = typer.Option(None, "--contact-sheet",
                                           help="Also write a PNG contact sheet of the clips here."),
    force: bool = typer.Option(False, "--force",
                               help="Write into a non-empty OUT, replacing a previous synthetic "
                                    "dataset's files there."),
):
    """Generate a synthetic dataset with planted ground truth.

    Videos, masks, judgments, splits, captions, ratings, receiver behavior, and truth.json.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from bgs.commands.options import err, out
    from bgs.synthetic import SynthConfig, contact_sheet, make_dataset

    config = SynthConfig(seed=seed, n_clips=clips, n_participants=participants, frames=frames,
                         size=size, fps=fps, render=videos, style=style).validate()
    if contact is not None:
        from bgs.errors import ConfigError
        from bgs.io import ensure_writable

        if not videos:
            raise ConfigError("--contact-sheet needs the videos; drop --no-videos")
        ensure_writable(contact)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, transient=True,
                  disable=not err.is_terminal) as progress:
        tasks: dict[str, int] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(STAGES.get(stage, stage), total=total)
            progress.update(tasks[stage], completed=done, total=total)

        result = make_dataset(out_dir, config, force=force, progress=update)
    if contact is not None:
        contact_sheet(out_dir, contact)
    out.print(result.summary())
    c = result.true_ceiling
    out.print(f"true odd-one-out ceiling: all participants {c['all_participants']:.3f}, attentive "
              f"{c['attentive']:.3f}, test split (attentive) {c['test_split']['attentive']:.3f}; "
              f"see truth.json")


def register(app: typer.Typer) -> None:
    """Add the ``synth`` command group to ``app``."""
    app.add_typer(synth_app, name="synth")
