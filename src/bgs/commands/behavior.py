"""``bgs behavior``: receiver-behavior files and the behavior-vs-BGS experiment."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from bgs.commands.options import out
from bgs.errors import ConfigError

behavior_app = typer.Typer(help="Receiver behavior (views, likes, comments, replay graphs) as "
                                "training signal.", no_args_is_help=True)


@behavior_app.command("validate")
def validate(
    file: Path = typer.Argument(..., metavar="FILE", help="Behavior records (.jsonl or .parquet)."),
    format: str = typer.Option("auto", "--format", help="auto, bgs or blift."),
    id_field: Optional[str] = typer.Option(None, "--id-field",
                                           help="Record field naming the stimulus."),
    replay_bins: int = typer.Option(8, "--replay-bins", min=1,
                                    help="Bins to resample replay graphs to (for the summary)."),
):
    """Read and check a behavior file; print what it holds."""
    import numpy as np

    from bgs.behavior import engagement_targets, read_behavior, replay_targets

    table = read_behavior(file, format, id_field)
    n = len(table)
    has = lambda mask: f"{int(np.sum(mask)):,} / {n:,}"  # noqa: E731
    out.print(f"{file}: {n:,} records")
    out.print(f"  views and likes: {has(np.isfinite(table.views) & np.isfinite(table.likes))}")
    out.print(f"  with comments:   {has([len(c) > 0 for c in table.comments])} "
              f"({sum(len(c) for c in table.comments):,} comments)")
    out.print(f"  replay graphs:   {has([g is not None for g in table.replay])}")
    out.print(f"  channels:        {len({c for c in table.channel if c is not None}):,}")
    e = engagement_targets(table)
    if np.isfinite(e).any():
        ratio = np.log((table.likes + 0.5) / (table.views + 1.0))
        out.print(f"  like log-ratio:  median {np.nanmedian(ratio):.2f} "
                  f"(like rate {np.exp(np.nanmedian(ratio)):.2%})")
    r = replay_targets(table, replay_bins)
    if np.isfinite(r).any():
        out.print(f"  mean replay graph ({replay_bins} bins): "
                  + " ".join(f"{v:.2f}" for v in np.nanmean(r, axis=0)))
    out.print("[green]OK[/green]")


@behavior_app.command("experiment")
def experiment(
    out_dir: Path = typer.Argument(..., metavar="OUT", help="New folder for data, runs and results."),
    data: Optional[Path] = typer.Option(None, "--data",
                                        help="An existing `bgs synth make` folder (default: "
                                             "generate one into OUT/data)."),
    seeds: str = typer.Option("0,1,2", "--seeds", help="Training seeds, comma-separated."),
    epochs: Optional[int] = typer.Option(None, "--epochs", min=1),
    steps: Optional[int] = typer.Option(None, "--steps", min=1, help="Steps per epoch."),
    clips: Optional[int] = typer.Option(None, "--clips", min=6, help="Clips to generate."),
    quick: bool = typer.Option(False, "--quick", help="A tiny version (one seed, a minute)."),
    threads: int = typer.Option(2, "--threads", min=1, help="torch CPU threads."),
    measure_only: bool = typer.Option(False, "--measure-only",
                                      help="Only re-measure the models of a finished OUT."),
):
    """Train on receiver behavior, on BGS and on both; compare held-out content understanding.

    Writes OUT/results.json, results.md (the table) and receiver-behavior.png.
    """
    from dataclasses import replace

    from bgs.study.behavior import (
        ExperimentConfig,
        measure_experiment,
        run_experiment,
    )

    if measure_only:
        measure_experiment(out_dir, log=out.print)
        out.print((out_dir / "results.md").read_text())
        return
    cfg = ExperimentConfig.quick() if quick else ExperimentConfig()
    try:
        seed_list = tuple(int(s) for s in seeds.split(",") if s.strip())
    except ValueError:
        raise ConfigError(f"--seeds must be comma-separated integers, got {seeds!r}") from None
    if not seed_list:
        raise ConfigError("--seeds is empty")
    changes = {"threads": threads}
    if not quick or seeds != "0,1,2":
        changes["seeds"] = seed_list
    if clips is not None:
        changes["clips"] = clips
    budget = {k: v for k, v in (("epochs", epochs), ("max_steps_per_epoch", steps)) if v is not None}
    cfg = replace(cfg, optim=replace(cfg.optim, **budget), **changes)
    results = run_experiment(out_dir, cfg, data=data, log=out.print)
    out.print((out_dir / "results.md").read_text())
    out.print(f"done in {results['timings'].get('total', 0):.0f} s: {out_dir / 'results.md'}, "
              f"{out_dir / 'receiver-behavior.png'}")


def register(app: typer.Typer) -> None:
    app.add_typer(behavior_app, name="behavior")
