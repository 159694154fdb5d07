"""``bgs demo``: the main job, end to end on the built-in synthetic data."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from bgs.commands.options import out


def demo_command(
    out_dir: Optional[Path] = typer.Option(None, "--out", "-o",
                                           help="Run directory (default: runs/demo-<time>); never overwritten."),
    quick: bool = typer.Option(False, "--quick", help="A 1–2 minute version (smaller data, fewer steps)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the data, the pre-training and the training."),
):
    """The whole study on a fresh synthetic dataset: data → ceilings → baselines → BGS
    fine-tuning → held-out evaluation → probes → partitioning → report.html."""
    from bgs.study.demo import DemoConfig, run_demo

    run_dir = out_dir or Path("runs") / f"demo-{time.strftime('%Y%m%d-%H%M%S')}"
    cfg = DemoConfig.quick(seed) if quick else DemoConfig(seed=seed)
    metrics = run_demo(run_dir, cfg, log=out.print)
    out.print(f"[green]done[/green] in {metrics['timings']['total']:.0f} s: {run_dir}/report.html "
              f"(metrics.json, tables/, plots/, train/)")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_command)
