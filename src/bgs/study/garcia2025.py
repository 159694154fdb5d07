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

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import ClassVar

import pandas as pd

from bgs.constraints import FLAG, Interval, ListOf, Options, check
from bgs.embeddings import Embeddings
from bgs.errors import ConfigError
from bgs.metrics.paired import compare_embeddings
from bgs.report.rundir import RunHeader, command_line, score_row, write_matrices, write_table
from bgs.study.finetune import finetune, train_config
from bgs.study.run import StudyRun, ratings_and_random
from bgs.train.config import DataConfig, ModelConfig, OptimConfig

TEXT_MODELS = {"mpnet": "all-mpnet-base-v2", "minilm": "all-MiniLM-L6-v2"}
POOLS = ("first", "mean")


@dataclass
class StudyConfig:
    """Settings of ``bgs study garcia2025`` (saved as ``config.json`` in the run); ``model`` and
    ``optim`` are the fine-tuning's ``bgs train`` sections."""

    text_models: tuple = ("mpnet", "minilm")  # the first is the primary caption model
    finetune: bool = True
    finetune_model: str = "minilm"  # the sentence encoder fine-tuned with BGS
    objectives: tuple = ("hybrid", "triplet", "rsa")
    caption_pool: str = "first"  # fine-tuning input: first caption, or mean of all captions
    model: ModelConfig = field(default_factory=ModelConfig)  # LoRA r 8, alpha 16
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(
        epochs=6, max_steps_per_epoch=20, batch_triplets=32, lr=3e-4))
    val_fraction: float = 0.2  # of the 200 training clips: the paper's 160/40
    probe_folds: int = 5
    partition_folds: int = 5
    n_splits: int = 100  # participant splits for split-half reliability
    n_bootstrap: int = 1000
    n_permutations: int = 200
    seed: int = 0

    SECTION: ClassVar[str] = "study"
    CONSTRAINTS: ClassVar[dict] = {
        "text_models": [ListOf(Options(*TEXT_MODELS))], "finetune": [FLAG],
        "finetune_model": [Options(*TEXT_MODELS)],
        "objectives": [ListOf(Options("hybrid", "triplet", "rsa", "budget_matched"))],
        "caption_pool": [Options(*POOLS)], "val_fraction": [Interval(float, 0, 1, closed="neither")],
        "probe_folds": [Interval(int, 2, None)], "partition_folds": [Interval(int, 2, None)],
        "n_splits": [Interval(int, 1, None)], "n_bootstrap": [Interval(int, 0, None)],
        "n_permutations": [Interval(int, 0, None)], "seed": [Interval(int, 0, None)]}

    def validate(self) -> None:
        """Every value against ``CONSTRAINTS`` (the sections check themselves), then the lists."""
        check(self)
        if not self.text_models:
            raise ConfigError(f"--text-models is empty; choose from {', '.join(TEXT_MODELS)}")
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


def run_study(out: str | Path, data_dir: str | Path, config: StudyConfig | None = None,
              log: Callable[[str], None] = print) -> dict:
    """Run the study into ``out`` (a new folder) and return its ``metrics.json`` content."""
    cfg = config or StudyConfig()
    cfg.validate()
    data_dir = Path(data_dir)
    run = StudyRun(out, RunHeader("study", "garcia2025: caption models and BGS-tuned sentence encoders "
                                  "against human odd-one-out judgments",
                                  command_line(["bgs", "study", "garcia2025"]),
                                  {"data": str(data_dir), **asdict(cfg)}), log)
    with run.step("reading and screening the judgments; reliability and ceilings"):
        data, test = _screen(run, data_dir, cfg)
    study = _Models(run, cfg, test, data.triplets)
    with run.step("caption embeddings"):
        _baselines(study, data)
    with run.step("evaluation on the test triplets and on all valid triplets"):
        for name in list(study.embeddings):
            study.record(name, on_all=True)
    split = (data.split["train"], data.split["test"])
    with run.step("linear probes of the ratings from caption embeddings"):
        _probes(study, data.stimuli.attributes, split)
    with run.step("variance partitioning (captions vs ratings)"):
        from bgs.metrics.partition import partition_report

        pair = {"captions": study.embeddings[f"{cfg.text_models[0]}_mean"],
                "ratings": study.embeddings["ratings"]}
        run.metrics["partition"] = partition_report(data.triplets, pair, cv_folds=cfg.partition_folds, seed=cfg.seed)
        run.metrics["partition_test"] = partition_report(test, pair, cv_folds=cfg.partition_folds, seed=cfg.seed)
        cv = run.metrics["partition"]["cross_validated"]
        log("  all triplets, cross-validated R²: " + ", ".join(
            f"{part} {k} {v:.3f}" for part in ("unique", "shared") for k, v in cv[part].items()
            if v is not None))
    if cfg.finetune:
        _finetuning(study, data, data_dir, split)
    with run.step("tables, figures and report"):
        _tables(study, test)
        return run.finish()


class _Models:
    """The study's models: embeddings, descriptions, and their evaluation into the metrics."""

    def __init__(self, run: StudyRun, cfg: StudyConfig, test, triplets):
        self.run, self.cfg, self.test, self.triplets = run, cfg, test, triplets
        self.embeddings: dict[str, Embeddings] = {}
        self.labels: dict[str, tuple[str, str, str]] = {}  # name → (label, family, stage)

    def add(self, name: str, emb: Embeddings, label: str, family: str, stage: str) -> None:
        self.embeddings[name] = emb
        self.labels[name] = (label, family, stage)

    def record(self, name: str, on_all: bool) -> None:
        from bgs.metrics.evaluate import evaluate_embeddings

        cfg, emb = self.cfg, self.embeddings[name]
        ev_kwargs = {"n_bootstrap": cfg.n_bootstrap, "n_permutations": cfg.n_permutations, "seed": cfg.seed}
        metric = "euclidean" if name == "ratings" else "cosine"
        evaluations = {"eval": evaluate_embeddings(emb, self.test, metric=metric, **ev_kwargs)}
        if on_all:
            evaluations["eval_all"] = evaluate_embeddings(emb, self.triplets, metric=metric, **ev_kwargs)
        label = self.labels[name][0]
        entry = self.run.record_model(name, *self.labels[name], metric, evaluations)
        r = entry["eval"]["ooo_accuracy"]
        self.run.log(f"  {label:<44} test odd-one-out {r['value']:.3f} [{r['ci'][0]:.3f}, {r['ci'][1]:.3f}]"
                     + (f"; all {entry['eval_all']['ooo_accuracy']['value']:.3f}" if on_all else ""))


def _screen(run: StudyRun, data_dir: Path, cfg: StudyConfig):
    """Screening, reliability and ceilings (all clips; the test clips) into the metrics;
    returns the data and the test triplets."""
    from bgs.data.garcia2025 import load_garcia2025
    from bgs.human.summary import ceiling_summary, triplet_stats
    from bgs.metrics.evaluate import used_stimuli

    data = load_garcia2025(ensure_data(data_dir, run.log))
    triplets = data.triplets
    test = used_stimuli(triplets.restrict(data.split["test"]))
    stats = triplet_stats(triplets, n_splits=cfg.n_splits, n_bootstrap=cfg.n_bootstrap, seed=cfg.seed)
    test_stats = triplet_stats(test, n_splits=cfg.n_splits, n_bootstrap=cfg.n_bootstrap, seed=cfg.seed)
    run.metrics["data"] = {k: v for k, v in stats.items() if k != "split_half"}
    run.metrics["data"]["n_test_triplets"] = len(test)
    run.metrics["ceilings"] = {"all": ceiling_summary(stats), "test": ceiling_summary(test_stats)}
    run.log(f"  {stats['n_valid']:,} valid triplets from {stats['n_participants']} participants "
            f"({stats['n_catch']:,} catch trials, {stats['n_catch_failed']} failed); "
            f"{len(test)} among the 50 test clips")
    for name, s in (("all", stats), ("test", test_stats)):
        oc = s["ooo_ceiling"]
        run.log(f"  {name}: odd-one-out ceiling {oc['lower']:.3f}–{oc['upper']:.3f}, split-half "
                f"reliability {s['split_half_spearman_brown']:.3f}")
    return data, test


def _baselines(study: _Models, data) -> None:
    """Caption embeddings (each model, first and mean caption), the ratings, random vectors."""
    from bgs.models.text import load_text_backbone

    for m in study.cfg.text_models:
        pooled = load_text_backbone(m).embed_caption_pools(data.stimuli.caption_lists(), POOLS)
        for pool in POOLS:
            study.add(f"{m}_{pool}", pooled[pool],
                      f"{TEXT_MODELS[m]}, {pool} caption{'s' if pool == 'mean' else ''}", "caption", "baseline")
    refs = ratings_and_random(data.stimuli.attributes, data.stimuli.ids, 768, study.cfg.seed)
    study.add("ratings", refs["ratings"], f"{data.stimuli.attributes.shape[1]} attribute ratings",
              "attributes", "baseline")
    study.add("random", refs["random"], "random vectors", "random", "baseline")
    for name, e in study.embeddings.items():
        study.run.save_embeddings(name, e)


def _probe(study: _Models, name: str, key: str, ratings: pd.DataFrame, **kwargs) -> pd.DataFrame:
    """A ridge probe of the ratings from ``name``'s embeddings, into ``probes[key]``."""
    from bgs.metrics.probes import linear_probe

    cfg = study.cfg
    frame = linear_probe(study.embeddings[name], ratings, n_bootstrap=cfg.n_bootstrap, seed=cfg.seed,
                         **kwargs).to_frame()
    study.run.metrics["probes"][key] = json.loads(frame.to_json(orient="records"))
    return frame


def _probes(study: _Models, ratings: pd.DataFrame, split) -> None:
    """Every caption model's probes, train→test and k-fold; ``tables/probes``."""
    cfg = study.cfg
    frames = []
    for name in [n for n in study.embeddings if study.labels[n][1] == "caption"]:
        for mode, kwargs in (("train→test", {"split": split}), (f"{cfg.probe_folds}-fold", {"folds": cfg.probe_folds})):
            frames.append(_probe(study, name, f"{name} ({mode})", ratings, **kwargs)
                          .assign(model=name, evaluation=mode))
    probes = pd.concat(frames, ignore_index=True)
    write_table(probes.astype({"alphas": str}), study.run.out / "tables" / "probes")
    primary = f"{cfg.text_models[0]}_mean"
    best = probes[(probes.model == primary) & (probes.evaluation == "train→test")]
    study.run.log(f"  {primary}, train→test: mean R² {best['r2'].mean():.3f}; best "
                  + ", ".join(f"{a} {v:.2f}" for a, v in best.nlargest(3, 'r2')[['attribute', 'r2']].to_numpy()))


def _finetuning(study: _Models, data, data_dir: Path, split) -> None:
    """BGS fine-tuning of the sentence encoder per objective; held-out scores, the paired
    difference to the untuned encoder, and probes."""
    cfg, run = study.cfg, study.run
    base = f"{cfg.finetune_model}_{cfg.caption_pool}"
    if base not in study.embeddings:  # the untuned encoder on the fine-tuning input
        from bgs.models.text import load_text_backbone

        untuned = load_text_backbone(cfg.finetune_model).embed_captions(data.stimuli.caption_lists(),
                                                                        cfg.caption_pool)
        study.add(base, untuned,
                  f"{TEXT_MODELS[cfg.finetune_model]}, {cfg.caption_pool} caption", "caption", "baseline")
        study.record(base, on_all=True)
    run.metrics["finetuning"] = {"base": base, "differences": {}}
    data_config = DataConfig.for_dataset(data_dir, captions=str(data_dir / "captions.csv"),
                                         caption_pool=cfg.caption_pool, val_fraction=cfg.val_fraction)
    for objective in cfg.objectives:
        with run.step(f"BGS fine-tuning of {TEXT_MODELS[cfg.finetune_model]}: {objective}"):
            tc = train_config(data_config, cfg.model, cfg.optim, objective, f"text:{cfg.finetune_model}",
                              cfg.seed, cfg.n_bootstrap, cfg.n_permutations)
            result = finetune(tc, run.out / "train" / objective, run.log)
            run.metrics["training"][objective] = result.entry(run.out)
            name = f"{cfg.finetune_model}_bgs_{objective}"
            run.save_embeddings(name, result.embeddings)
            study.add(name, result.embeddings, f"{TEXT_MODELS[cfg.finetune_model]} + BGS ({objective})",
                      "caption", "fine-tuned")
            study.record(name, on_all=False)
            diff = compare_embeddings(result.embeddings, study.embeddings[base], study.test,
                                      n_bootstrap=cfg.n_bootstrap, seed=cfg.seed)
            run.metrics["finetuning"]["differences"][name] = diff
            acc = diff["ooo_accuracy"]
            run.log(f"  held-out odd-one-out change vs untuned: {acc['value']:+.3f} "
                    f"[{acc['ci'][0]:+.3f}, {acc['ci'][1]:+.3f}]")
            _probe(study, name, f"{name} (train→test)", data.stimuli.attributes, split=split)


def _tables(study: _Models, test) -> None:
    """``tables/results_test``, ``results_all``, ``finetuning_differences`` and the matrices."""
    cfg, out, metrics = study.cfg, study.run.out, study.run.metrics
    rows = [score_row(n, m) for n, m in metrics["models"].items()]
    write_table(pd.DataFrame(rows), out / "tables" / "results_test")
    rows_all = [score_row(n, {**m, "eval": m["eval_all"]}) for n, m in metrics["models"].items()
                if "eval_all" in m]
    write_table(pd.DataFrame(rows_all), out / "tables" / "results_all")
    if cfg.finetune:
        write_table(pd.DataFrame([{"model": k, "measure": m, "difference": v[m]["value"],
                                   "ci_low": v[m]["ci"][0], "ci_high": v[m]["ci"][1],
                                   "stimulus_ci_low": v[m]["ci_stimuli"][0],
                                   "stimulus_ci_high": v[m]["ci_stimuli"][1]}
                                  for k, v in metrics["finetuning"]["differences"].items()
                                  for m in ("ooo_accuracy", "rsa_spearman")]),
                    out / "tables" / "finetuning_differences")
    shown = [f"{cfg.text_models[0]}_mean", "ratings"] + [f"{cfg.finetune_model}_bgs_{cfg.objectives[0]}"] * cfg.finetune
    write_matrices(out, test, {n: study.embeddings[n] for n in shown}, {"ratings": "euclidean"})
