"""``bgs train``: BGS fine-tuning from a TOML config into a run directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from bgs.commands.options import err, out
from bgs.errors import ConfigError
from bgs.report.rundir import START_EPOCH


def train_command(
    config: Optional[Path] = typer.Argument(None, metavar="CONFIG",
                                            help="TOML config (sections data, model, objective, "
                                                 "target, optim, run); see docs/training.md."),
    out_dir: Optional[Path] = typer.Option(None, "--out", "-o",
                                           help="Run directory (default: runs/<time>-<objective>); "
                                                "never overwritten."),
    resume: Optional[Path] = typer.Option(None, "--resume",
                                          help="Continue this run after a crash or kill, from its "
                                               "last finished epoch, with its own config.toml."),
    sets: Optional[List[str]] = typer.Option(None, "--set",
                                             help="Override a config key: SECTION.KEY=VALUE, "
                                                  "e.g. --set optim.lr=3e-4 (repeatable)."),
    objective: Optional[str] = typer.Option(None, "--objective",
                                            help="hybrid, triplet, rsa or budget_matched."),
    epochs: Optional[int] = typer.Option(None, "--epochs"),
    device: Optional[str] = typer.Option(None, "--device", help="cpu or cuda."),
    seed: Optional[int] = typer.Option(None, "--seed"),
    dry_run: bool = typer.Option(False, "--dry-run",
                                 help="Validate the config and the data, print the resolved plan "
                                      "(splits, batch, steps, trainable parameters) and exit."),
):
    """Fine-tune a backbone with LoRA on odd-one-out judgments (or a language target)."""
    from bgs.train.config import TrainConfig
    from bgs.train.trainer import Trainer, default_run_dir, init_distributed

    if resume is not None:
        if not (resume / "config.toml").exists():
            raise ConfigError(f"{resume}: no config.toml; --resume takes a run directory of bgs train")
        cfg = TrainConfig.from_toml(resume / "config.toml")
        run_dir = resume
    elif config is None:
        raise ConfigError("give a CONFIG.toml (or --resume RUN)")
    else:
        cfg = TrainConfig.from_toml(config)
        run_dir = None
    flags = {"objective.name": objective, "optim.epochs": epochs, "run.device": device,
             "run.seed": seed}
    # the user's --set values go through as written; the flags' strings as TOML strings
    assignments = list(sets or []) + [f"{k}={json.dumps(v) if isinstance(v, str) else v}"
                                      for k, v in flags.items() if v is not None]
    if assignments:
        cfg = cfg.override(assignments)
    if dry_run:
        _print_plan(cfg)
        return
    run_dir = run_dir or out_dir or default_run_dir(cfg)
    distributed = init_distributed()
    rank = 0
    try:
        trainer = Trainer(cfg, run_dir, resume=resume is not None, log=out.print, console=out)
        rank = trainer.rank
        summary = trainer.run()
    finally:
        if distributed:
            import torch.distributed as dist

            dist.destroy_process_group()
    if rank != 0:
        return  # rank 0 reports
    test = summary.get("test")
    best = "the model before training" if summary["best_epoch"] == START_EPOCH else f"epoch {summary['best_epoch']}"
    out.print(f"run {run_dir}: {summary['epochs']} epochs, best {best}"
              + (f"; held-out odd-one-out {test['ooo_accuracy']:.3f}, RSA {test['rsa_spearman']:.3f}"
                 if test else ""))


def _print_plan(cfg) -> None:
    from rich.table import Table

    from bgs.train.plan import plan_rows, training_plan

    with err.status("checking the config, the data and the backbone ..."):
        plan = training_plan(cfg)
    table = Table(title="bgs train: the plan (dry run; nothing trained)", header_style="bold")
    table.add_column("setting")
    table.add_column("value")
    for row in plan_rows(plan):
        table.add_row(*row)
    out.print(table)


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
