"""``bgs study``: a paper's analyses reproduced end to end on its public human data."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from bgs.commands.options import out

study_app = typer.Typer(help="Reproduce a paper's analyses on its public human data "
                             "(one run directory with tables, plots and report.html).",
                        no_args_is_help=True)


def _names(value: str, what: str) -> tuple:
    items = tuple(s.strip() for s in value.split(",") if s.strip())
    if not items:
        from bgs.errors import ConfigError

        raise ConfigError(f"{what} is empty; give comma-separated names")
    return items


@study_app.command("garcia2025")
def garcia2025(
    data: Path = typer.Option(Path("data/garcia2025"), "--data",
                              help="The dataset folder; fetched there (checksum-verified; "
                                   "BGS_DATASET_MIRROR for a local copy) if files are missing."),
    out_dir: Optional[Path] = typer.Option(None, "--out", "-o",
                                           help="Run directory (default: runs/garcia2025-<time>); "
                                                "never overwritten."),
    text_models: str = typer.Option("mpnet,minilm", "--text-models",
                                    help="Caption encoders, comma-separated, the primary first: "
                                         "mpnet (all-mpnet-base-v2), minilm (all-MiniLM-L6-v2)."),
    finetune: bool = typer.Option(True, "--finetune/--no-finetune",
                                  help="Fine-tune a sentence encoder with BGS (LoRA)."),
    finetune_model: str = typer.Option("minilm", "--finetune-model",
                                       help="The encoder fine-tuned: minilm (fast on CPU) or mpnet."),
    objectives: str = typer.Option("hybrid,triplet,rsa", "--objectives",
                                   help="Objectives, comma-separated: hybrid, triplet, rsa, budget_matched."),
    caption_pool: str = typer.Option("first", "--caption-pool",
                                     help="Fine-tuning input: first caption or mean of all captions."),
    epochs: int = typer.Option(6, "--epochs", min=1, help="Fine-tuning epochs (best on validation RSA kept)."),
    steps: int = typer.Option(20, "--steps-per-epoch", min=1, help="Optimiser steps per epoch."),
    batch: int = typer.Option(32, "--batch-triplets", min=1, help="Triplets per step."),
    lr: float = typer.Option(3e-4, "--lr", help="Learning rate of the LoRA weights and the head."),
    n_bootstrap: int = typer.Option(1000, "--bootstrap", min=0, help="Bootstrap resamples for every CI."),
    n_permutations: int = typer.Option(200, "--permutations", min=0, help="Permutations for p-values."),
    seed: int = typer.Option(0, "--seed", help="Seed of every split, resample and training run."),
):
    """Garcia & Isik (2025) on its public data: screening, reliability and ceilings; caption
    models (mpnet, MiniLM; first and mean caption), ratings and random vectors scored on the
    368 test triplets and on all valid triplets; probes of the 11 ratings from captions;
    variance partitioning (captions vs ratings); BGS fine-tuning of a sentence encoder on the
    200 training clips, evaluated on the 50 held-out clips; report.html."""
    from bgs.study.garcia2025 import StudyConfig, run_study
    from bgs.train.config import OptimConfig

    cfg = StudyConfig(text_models=_names(text_models, "--text-models"), finetune=finetune,
                      finetune_model=finetune_model, objectives=_names(objectives, "--objectives"),
                      caption_pool=caption_pool,
                      optim=OptimConfig(epochs=epochs, max_steps_per_epoch=steps,
                                        batch_triplets=batch, lr=lr), n_bootstrap=n_bootstrap,
                      n_permutations=n_permutations, seed=seed)
    run_dir = out_dir or Path("runs") / f"garcia2025-{time.strftime('%Y%m%d-%H%M%S')}"
    metrics = run_study(run_dir, data, cfg, log=out.print)
    out.print(f"[green]done[/green] in {metrics['timings']['total']:.0f} s: {run_dir}/report.html "
              f"(metrics.json, tables/, plots/, train/)")


@study_app.command("zappos")
def zappos(
    out_dir: Path = typer.Argument(..., help="Run directory (new; never overwritten)."),
    data: Path = typer.Option(Path("data/zappos"), "--data",
                              help="The dataset folder; fetched there (checksum-verified; "
                                   "BGS_DATASET_MIRROR for a local copy) if files are missing."),
    quick: bool = typer.Option(False, "--quick", help="The CI-sized run (two folds, one objective, 2×2 "
                                                      "steps, 56-pixel frames, few resamples): about a minute."),
    folds: Optional[int] = typer.Option(None, "--folds", help="Cross-validation folds over the shoes "
                                                              "(default 4; every shoe held out once)."),
    side_folds: Optional[int] = typer.Option(None, "--side-folds",
                                             help="Folds the objectives after the first run on (default 1)."),
    objectives: str = typer.Option("hybrid,triplet,rsa", "--objectives",
                                   help="Objectives, comma-separated: hybrid, triplet, rsa."),
    layer: str = typer.Option("layer.8", "--layer", help="The ViT hidden state the head reads."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Fine-tuning epochs (default 4)."),
    steps: Optional[int] = typer.Option(None, "--steps-per-epoch", help="Optimiser steps per epoch (default 6)."),
    n_bootstrap: Optional[int] = typer.Option(None, "--bootstrap", help="Bootstrap resamples per CI (default 1000)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split, resamples and training."),
):
    """The Zappos shoes: a DINOv2 ViT-S/14 (image:dinov2-s; bgs models assemble-dinov2) at every
    layer, AlexNet features, pixels and random vectors; BGS fine-tuning of the ViT with LoRA,
    cross-validated over shoes (each fold trains on the other folds' triplets); held-out scores
    pooled over folds with paired CIs against the untuned ViT over triplets and over shoes."""
    from bgs.study.zappos import ZapposConfig, run_zappos

    settings = {k: v for k, v in {"epochs": epochs, "steps_per_epoch": steps, "n_bootstrap": n_bootstrap,
                                  "folds": folds, "side_folds": side_folds}.items() if v is not None}
    settings.update(layer=layer, seed=seed)
    names = _names(objectives, "--objectives")
    if quick:
        cfg = ZapposConfig.quick(**settings, **({"objectives": names} if objectives != "hybrid,triplet,rsa" else {}))
    else:
        cfg = ZapposConfig(objectives=names, **settings)
    metrics = run_zappos(out_dir, data, cfg, log=out.print)
    out.print(f"[green]done[/green] in {metrics['timings']['total']:.0f} s: {out_dir}/report.html")


@study_app.command("claims")
def claims(
    out_dir: Path = typer.Argument(..., metavar="OUT", help="Run directory (new; never overwritten)."),
    seeds: Optional[str] = typer.Option(None, "--seeds", help="Training seeds, comma-separated "
                                                              "(default 0,1,2; --quick: 0)."),
    quick: bool = typer.Option(False, "--quick", help="The CI-sized run (64 clips, 2×3 steps, few "
                                                      "resamples): checks the plumbing, not the verdicts."),
    measure_only: bool = typer.Option(False, "--measure-only", help="Measure and judge a finished OUT "
                                                                    "again (the trained models stay)."),
):
    """Every claim of Garcia & Isik (2025) and Singh et al. (2024) tested on the synthetic
    world's planted truth: held-out alignment, unique variance beyond captions, social-latent
    probes, language distillation, zero-shot transfer to style abstract, attention on the
    agents, receiver behavior (with its manipulation check and ablations) and what each
    behavior signal carries. Writes claims.csv / claims.json / claims.md and report.md."""
    from bgs.errors import ConfigError
    from bgs.study.claims import ClaimsConfig, remeasure_claims, run_claims

    if measure_only:
        result = remeasure_claims(out_dir, log=out.print)
        out.print(f"[green]re-measured[/green]: {pd_counts([c['verdict'] for c in result['claims']])}; "
                  f"{out_dir}/claims.md")
        return
    try:
        chosen = tuple(int(s) for s in _names(seeds, "--seeds")) if seeds is not None else None
    except ValueError:
        raise ConfigError(f"--seeds {seeds!r}: give whole numbers, comma-separated (e.g. 0,1,2)") from None
    cfg = ClaimsConfig.quick(chosen or (0,)) if quick else ClaimsConfig.full(chosen or (0, 1, 2))
    result = run_claims(out_dir, cfg, log=out.print)
    counts = pd_counts([c["verdict"] for c in result["claims"]])
    out.print(f"[green]done[/green] in {result['timings']['total']['wall_s']:.0f} s "
              f"({result['timings']['total']['cpu_s']:.0f} s CPU): {counts}; {out_dir}/claims.md, report.md")


def pd_counts(verdicts: list[str]) -> str:
    from collections import Counter

    return ", ".join(f"{n} {v}" for v, n in Counter(verdicts).most_common())


def register(app: typer.Typer) -> None:
    app.add_typer(study_app, name="study")
