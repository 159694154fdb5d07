"""``bgs demo``: the main job, end to end on the built-in synthetic data."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Optional

import typer

from bgs.commands.options import out


def demo_command(
    out_dir: Optional[Path] = typer.Option(None, "--out", "-o",
                                           help="Run directory (default: runs/demo-<time>); never overwritten."),
    quick: bool = typer.Option(False, "--quick", help="A short version (smaller data, fewer steps; fine-tunes "
                                                     "the hybrid and the shuffled-label control only)."),
    full: bool = typer.Option(False, "--full", help="Also the budget-matched objective (hard-negative triplets "
                                                   "instead of the RSA term) and language distillation (the "
                                                   "captions' geometry as the target): the paper's comparison "
                                                   "in full, two fine-tuning runs longer."),
    seed: Optional[int] = typer.Option(None, "--seed", min=0,
                                       help="Seed of the data, the split, the participants and the training "
                                            "(default 0)."),
    seeds: Optional[str] = typer.Option(None, "--seeds",
                                        help="Run the demo once per seed, e.g. 0,1,2: each into OUT/seed-K "
                                             "with its full report, then OUT/summary.json, OUT/seeds.csv and "
                                             "OUT/report.html with the mean gain over the seeds (95% "
                                             "t-interval)."),
):
    """The whole study on a fresh synthetic dataset: data → ceilings → baselines → BGS
    fine-tuning (hybrid, triplet-only, RSA-only and the shuffled-label negative control;
    --full adds budget-matched and language distillation) → held-out evaluation → paired
    differences against the base → probes → partitioning → report.html."""
    from bgs.errors import ConfigError
    from bgs.study.demo import DemoConfig, run_demo
    from bgs.study.demo_compare import FULL_RUNS

    def config(k: int) -> DemoConfig:
        cfg = DemoConfig.quick(k) if quick else DemoConfig(seed=k)
        return replace(cfg, objectives=cfg.objectives + tuple(n for n in FULL_RUNS if n not in cfg.objectives)) \
            if full else cfg

    run_dir = out_dir or Path("runs") / f"demo-{time.strftime('%Y%m%d-%H%M%S')}"
    if seeds is None:
        metrics = run_demo(run_dir, config(seed or 0), log=out.print)
        out.print(f"[green]done[/green] in {metrics['timings']['total']:.0f} s: {run_dir}/report.html "
                  f"(metrics.json, tables/, plots/, train/)")
        return
    from bgs.study.demo_seeds import parse_seeds, run_seeds

    if seed is not None:
        raise ConfigError("--seed and --seeds were both given; give one (--seeds 0,1,2 runs each seed)")
    t0 = time.perf_counter()
    run_seeds(run_dir, parse_seeds(seeds), lambda folder, k: run_demo(folder, config(k), log=out.print),
              log=out.print)
    out.print(f"[green]done[/green] in {time.perf_counter() - t0:.0f} s: {run_dir}/report.html "
              f"(summary.json, seeds.csv, seed-K/)")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_command)
