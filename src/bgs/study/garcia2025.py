"""``bgs study garcia2025``: the paper's language-side analyses on the public human data, and
BGS fine-tuning of a sentence encoder on the same judgments.

screen and summarise the judgments → reliability and ceilings (all clips; the 50 test clips)
→ caption embeddings (all-mpnet-base-v2 and all-MiniLM-L6-v2; first caption and mean of all
captions), the rating-based model and random vectors → 3-way odd-one-out, two-way and RSA
with CIs on the 368 test triplets and on all valid triplets → ridge probes of the 11 ratings
from caption embeddings (train clips → test clips, and k-fold) → variance partitioning of
human dissimilarity between captions and ratings → LoRA fine-tuning of a sentence encoder on
the training clips' captions and judgments (hybrid, triplet-only, RSA-only), model selection
on a validation split of the training clips, evaluation on the held-out clips, and the paired
difference to the untuned encoder → tables, plots and report.html in one run directory.

The videos are licensed and not public, so the video side of the paper is not here; every
number below comes from the public judgments, captions and ratings.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bgs.embeddings import Embeddings
from bgs.errors import ConfigError
from bgs.io import write_json
from bgs.report.rundir import (new_run_dir, score_row, timed_step, write_matrices,
                              write_metrics_and_report, write_table)

TEXT_MODELS = {"mpnet": "all-mpnet-base-v2", "minilm": "all-MiniLM-L6-v2"}
POOLS = ("first", "mean")


@dataclass
class StudyConfig:
    """Settings of ``bgs study garcia2025`` (saved as ``config.json`` in the run)."""

    text_models: tuple = ("mpnet", "minilm")  # the first is the primary caption model
    finetune: bool = True
    finetune_model: str = "minilm"  # the sentence encoder fine-tuned with BGS
    objectives: tuple = ("hybrid", "triplet", "rsa")
    caption_pool: str = "first"  # fine-tuning input: first caption, or mean of all captions
    epochs: int = 6
    steps_per_epoch: int = 20
    batch_triplets: int = 32
    lr: float = 3e-4
    lora_r: int = 8
    val_fraction: float = 0.2  # of the 200 training clips: the paper's 160/40
    probe_folds: int = 5
    partition_folds: int = 5
    n_splits: int = 100  # participant splits for split-half reliability
    n_bootstrap: int = 1000
    n_permutations: int = 200
    seed: int = 0

    def validate(self) -> None:
        unknown = [m for m in (*self.text_models, self.finetune_model) if m not in TEXT_MODELS]
        if unknown or not self.text_models:
            raise ConfigError(f"unknown text model(s) {unknown}; choose from {', '.join(TEXT_MODELS)}")
        if self.caption_pool not in POOLS:
            raise ConfigError(f"caption pool must be one of {POOLS}, got {self.caption_pool!r}")
        bad = [o for o in self.objectives if o not in ("hybrid", "triplet", "rsa", "budget_matched")]
        if bad:
            raise ConfigError(f"unknown objective(s) {bad}; choose from hybrid, triplet, rsa, budget_matched")
        if self.finetune and not self.objectives:
            raise ConfigError("--objectives is empty; name at least one, or use --no-finetune")


def ensure_data(directory: Path, log: Callable[[str], None]) -> Path:
    """The dataset folder, fetched (checksum-verified; ``BGS_DATASET_MIRROR`` for a copy) if
    any of its files is missing."""
    from bgs.data.garcia2025 import FILES
    from bgs.data.registry import fetch

    if all((directory / name).exists() for name in FILES):
        return directory
    log(f"  {directory} lacks the dataset: fetching garcia2025 (bgs datasets fetch)")
    fetch("garcia2025", directory)
    return directory


def paired_difference(a: np.ndarray, b: np.ndarray, triplets, n_bootstrap: int, seed: int) -> dict:
    """Mean of the per-triplet score difference ``a − b`` with CIs resampling triplets and
    resampling stimuli (the same resamples for both models, so the CI is of the paired
    difference, narrower than comparing two separate CIs)."""
    from bgs.metrics.evaluate import mean_cis

    d = np.asarray(a, float) - np.asarray(b, float)
    return {"value": float(d.mean()), **mean_cis(d, triplets, n_bootstrap, seed), "n_triplets": int(len(d))}


def ooo_per_triplet(embeddings: Embeddings, triplets) -> np.ndarray:
    """Per-triplet 3-way odd-one-out scores (1, 0 or 1/k for ties) of cosine embeddings."""
    from bgs.metrics.alignment import ooo_scores
    from bgs.metrics.distance import similarity_matrix

    x = embeddings.align(triplets.stimulus_ids, "the triplets").matrix
    return ooo_scores(similarity_matrix(x, "cosine"), triplets)


def run_study(out: str | Path, data_dir: str | Path, config: StudyConfig | None = None,
              log: Callable[[str], None] = print, argv: list[str] | None = None) -> dict:
    """Run the study into ``out`` (a new folder) and return its ``metrics.json`` content."""
    from bgs.data.garcia2025 import load_garcia2025
    from bgs.human.summary import ceiling_summary, triplet_stats
    from bgs.metrics.evaluate import evaluate_embeddings, used_stimuli
    from bgs.models.embed import quiet_transformers

    cfg = config or StudyConfig()
    cfg.validate()
    out = new_run_dir(out)
    data_dir = Path(data_dir)
    timings: dict = {}
    step = functools.partial(timed_step, timings, log)
    quiet_transformers()
    run_config = {"command": argv or ["bgs", "study", "garcia2025"], "data": str(data_dir), **asdict(cfg)}
    write_json(out / "config.json", run_config)
    metrics: dict = {"kind": "study", "title": "garcia2025: caption models and BGS-tuned sentence "
                                               "encoders against human odd-one-out judgments",
                     "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "config": run_config,
                     "models": {}, "training": {}, "probes": {}, "timings": timings}
    t_start = time.perf_counter()
    ev_kwargs = {"n_bootstrap": cfg.n_bootstrap, "n_permutations": cfg.n_permutations, "seed": cfg.seed}

    # ---- data, screening, ceilings
    with step("reading and screening the judgments; reliability and ceilings"):
        data = load_garcia2025(ensure_data(data_dir, log))
        triplets = data.triplets
        test = used_stimuli(triplets.restrict(data.split["test"]))
        stats = triplet_stats(triplets, n_splits=cfg.n_splits, n_bootstrap=cfg.n_bootstrap, seed=cfg.seed)
        test_stats = triplet_stats(test, n_splits=cfg.n_splits, n_bootstrap=cfg.n_bootstrap, seed=cfg.seed)
        metrics["data"] = {k: v for k, v in stats.items() if k != "split_half"}
        metrics["data"]["n_test_triplets"] = len(test)
        metrics["ceilings"] = {"all": ceiling_summary(stats), "test": ceiling_summary(test_stats)}
        log(f"  {stats['n_valid']:,} valid triplets from {stats['n_participants']} participants "
            f"({stats['n_catch']:,} catch trials, {stats['n_catch_failed']} failed); "
            f"{len(test)} among the 50 test clips")
        for name, s in (("all", stats), ("test", test_stats)):
            oc = s["ooo_ceiling"]
            log(f"  {name}: odd-one-out ceiling {oc['lower']:.3f}–{oc['upper']:.3f}, split-half "
                f"reliability {s['split_half_spearman_brown']:.3f}")

    # ---- caption, rating and random models
    embeddings: dict[str, Embeddings] = {}
    labels: dict[str, tuple[str, str, str]] = {}  # name → (label, family, stage)
    (out / "embeddings").mkdir(exist_ok=True)
    captions = data.stimuli.caption_lists()
    with step("caption embeddings"):
        from bgs.models.text import load_text_backbone

        for m in cfg.text_models:
            pooled = load_text_backbone(m).embed_caption_pools(captions, POOLS)
            for pool in POOLS:
                name = f"{m}_{pool}"
                embeddings[name] = pooled[pool]
                labels[name] = (f"{TEXT_MODELS[m]}, {pool} caption{'s' if pool == 'mean' else ''}",
                                "caption", "baseline")
        ratings = data.stimuli.attributes
        embeddings["ratings"] = Embeddings.from_array(ratings.index.to_numpy(), ratings.to_numpy(),
                                                      source="annotations.csv")
        labels["ratings"] = (f"{ratings.shape[1]} attribute ratings", "attributes", "baseline")
        rng = np.random.default_rng(cfg.seed)
        embeddings["random"] = Embeddings.from_array(data.stimuli.ids, rng.normal(size=(len(data.stimuli.ids), 768)),
                                                     source="random")
        labels["random"] = ("random vectors", "random", "baseline")
        for name, e in embeddings.items():
            e.save(out / "embeddings" / f"{name}.npz")

    def record(name: str, emb: Embeddings, on_all: bool) -> None:
        metric = "euclidean" if name == "ratings" else "cosine"
        label, family, stage = labels[name]
        entry = {"label": label, "family": family, "stage": stage, "metric": metric,
                 "eval": evaluate_embeddings(emb, test, metric=metric, **ev_kwargs)}
        if on_all:
            entry["eval_all"] = evaluate_embeddings(emb, triplets, metric=metric, **ev_kwargs)
        metrics["models"][name] = entry
        r = entry["eval"]["ooo_accuracy"]
        log(f"  {label:<44} test odd-one-out {r['value']:.3f} [{r['ci'][0]:.3f}, {r['ci'][1]:.3f}]"
            + (f"; all {entry['eval_all']['ooo_accuracy']['value']:.3f}" if on_all else ""))

    with step("evaluation on the test triplets and on all valid triplets"):
        for name, emb in embeddings.items():
            record(name, emb, on_all=True)

    # ---- probes of the ratings from caption embeddings
    with step("linear probes of the ratings from caption embeddings"):
        from bgs.metrics.probes import linear_probe

        split = (data.split["train"], data.split["test"])
        frames = []
        caption_models = [n for n in embeddings if labels[n][1] == "caption"]
        for name in caption_models:
            for mode, kwargs in (("train→test", {"split": split}), (f"{cfg.probe_folds}-fold", {"folds": cfg.probe_folds})):
                res = linear_probe(embeddings[name], ratings, n_bootstrap=cfg.n_bootstrap, seed=cfg.seed, **kwargs)
                df = res.to_frame().assign(model=name, evaluation=mode)
                metrics["probes"][f"{name} ({mode})"] = json.loads(res.to_frame().to_json(orient="records"))
                frames.append(df)
        probes = pd.concat(frames, ignore_index=True)
        write_table(probes.astype({"alphas": str}), out / "tables" / "probes")
        primary = f"{cfg.text_models[0]}_mean"
        best = probes[(probes.model == primary) & (probes.evaluation == "train→test")]
        log(f"  {primary}, train→test: mean R² {best['r2'].mean():.3f}; best "
            + ", ".join(f"{a} {v:.2f}" for a, v in best.nlargest(3, 'r2')[['attribute', 'r2']].to_numpy()))

    # ---- variance partitioning
    with step("variance partitioning (captions vs ratings)"):
        from bgs.metrics.partition import partition_report

        pair = {"captions": embeddings[f"{cfg.text_models[0]}_mean"], "ratings": embeddings["ratings"]}
        metrics["partition"] = partition_report(triplets, pair, cv_folds=cfg.partition_folds, seed=cfg.seed)
        metrics["partition_test"] = partition_report(test, pair, cv_folds=cfg.partition_folds, seed=cfg.seed)
        cv = metrics["partition"]["cross_validated"]
        log("  all triplets, cross-validated R²: " + ", ".join(
            f"{part} {k} {v:.3f}" for part in ("unique", "shared") for k, v in cv[part].items()
            if v is not None))

    # ---- BGS fine-tuning of a sentence encoder
    if cfg.finetune:
        base = f"{cfg.finetune_model}_{cfg.caption_pool}"
        if base not in embeddings:  # the untuned encoder on the fine-tuning input
            from bgs.models.text import load_text_backbone

            embeddings[base] = load_text_backbone(cfg.finetune_model).embed_captions(captions, cfg.caption_pool)
            labels[base] = (f"{TEXT_MODELS[cfg.finetune_model]}, {cfg.caption_pool} caption", "caption", "baseline")
            record(base, embeddings[base], on_all=True)
        base_scores = ooo_per_triplet(embeddings[base], test)
        metrics["finetuning"] = {"base": base, "differences": {}}
        for objective in cfg.objectives:
            with step(f"BGS fine-tuning of {TEXT_MODELS[cfg.finetune_model]}: {objective}"):
                from bgs.train.trainer import Trainer

                run_dir = out / "train" / objective
                summary = Trainer(_train_config(cfg, data_dir, objective), run_dir,
                                  log=lambda m: log(f"  {m}")).run()
                history = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
                metrics["training"][objective] = {"run": f"train/{objective}", "history": history,
                                                  "best_epoch": summary["best_epoch"]}
                name = f"{cfg.finetune_model}_bgs_{objective}"
                embeddings[name] = Embeddings.load(run_dir / "embeddings.npz")
                embeddings[name].save(out / "embeddings" / f"{name}.npz")
                labels[name] = (f"{TEXT_MODELS[cfg.finetune_model]} + BGS ({objective})", "caption", "fine-tuned")
                record(name, embeddings[name], on_all=False)
                diff = paired_difference(ooo_per_triplet(embeddings[name], test), base_scores, test,
                                         cfg.n_bootstrap, cfg.seed)
                metrics["finetuning"]["differences"][name] = diff
                log(f"  held-out odd-one-out change vs untuned: {diff['value']:+.3f} "
                    f"[{diff['ci'][0]:+.3f}, {diff['ci'][1]:+.3f}]")
                res = linear_probe(embeddings[name], ratings, split=split, n_bootstrap=cfg.n_bootstrap, seed=cfg.seed)
                metrics["probes"][f"{name} (train→test)"] = json.loads(res.to_frame().to_json(orient="records"))

    # ---- tables, matrices, figures, report
    with step("tables, figures and report"):
        rows = [score_row(n, m) for n, m in metrics["models"].items()]
        write_table(pd.DataFrame(rows), out / "tables" / "results_test")
        rows_all = [score_row(n, {**m, "eval": m["eval_all"]}) for n, m in metrics["models"].items()
                    if "eval_all" in m]
        write_table(pd.DataFrame(rows_all), out / "tables" / "results_all")
        if cfg.finetune:
            write_table(pd.DataFrame([{"model": k, "ooo_difference": v["value"], "ci_low": v["ci"][0],
                                       "ci_high": v["ci"][1], "stimulus_ci_low": v["ci_stimuli"][0],
                                       "stimulus_ci_high": v["ci_stimuli"][1]}
                                      for k, v in metrics["finetuning"]["differences"].items()]),
                        out / "tables" / "finetuning_differences")
        shown = [f"{cfg.text_models[0]}_mean", "ratings"] + [f"{cfg.finetune_model}_bgs_{cfg.objectives[0]}"] * cfg.finetune
        write_matrices(out, test, {n: embeddings[n] for n in shown}, {"ratings": "euclidean"})
        timings["total"] = round(time.perf_counter() - t_start, 2)
        write_metrics_and_report(out, metrics, log)
    timings["total"] = round(time.perf_counter() - t_start, 2)
    write_json(out / "metrics.json", metrics)
    return metrics


def _train_config(cfg: StudyConfig, data_dir: Path, objective: str):
    from bgs.train.config import DataConfig, TrainConfig

    tc = TrainConfig(data=DataConfig.for_dataset(data_dir, captions=str(data_dir / "captions.csv"),
                                                 caption_pool=cfg.caption_pool,
                                                 val_fraction=cfg.val_fraction))
    tc.model.backbone = f"text:{cfg.finetune_model}"
    tc.model.lora.r = cfg.lora_r
    tc.model.lora.alpha = 2 * cfg.lora_r
    tc.objective.name = objective
    tc.optim.epochs = cfg.epochs
    tc.optim.max_steps_per_epoch = cfg.steps_per_epoch
    tc.optim.batch_triplets = cfg.batch_triplets
    tc.optim.lr = cfg.lr
    tc.run.seed = cfg.seed
    tc.run.eval_bootstrap = cfg.n_bootstrap
    tc.run.eval_permutations = cfg.n_permutations
    return tc
