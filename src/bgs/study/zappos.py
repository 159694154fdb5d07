"""``bgs study zappos``: a real pretrained ViT fine-tuned with BGS on real human judgments.

85 shoe images and 283,770 anchor triplets (``bgs datasets fetch zappos``) → a seeded
stimulus-level split into train / validation / test shoes (a triplet belongs to a part when
its three shoes do) → baselines on the held-out shoes: the DINOv2 ViT-S/14 (``image:dinov2-s``)
at every layer, the AlexNet features shipped with the data, raw pixels and random vectors →
LoRA fine-tuning of the ViT on the training shoes' triplets (hybrid, triplet-only, RSA-only),
model selection on the validation shoes → held-out two-way accuracy and RSA, with paired
95 % CIs against the untuned ViT over triplets and over shoes → tables, plots, report.html.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bgs.embeddings import Embeddings
from bgs.errors import ConfigError
from bgs.io import write_json
from bgs.report.rundir import write_table

BACKBONE = "image:dinov2-s"
OBJECTIVES = ("hybrid", "triplet", "rsa")


@dataclass
class ZapposConfig:
    """Settings of ``bgs study zappos`` (saved as ``config.json`` in the run)."""

    test_fraction: float = 0.25
    val_fraction: float = 0.2  # of the remaining (training) shoes
    image_size: int = 112  # the photos are 136×102: 112 keeps their detail at 1/4 of 224's cost
    layer: str = "layer.8"  # the ViT layer the head reads (the best on training shoes; docs/zappos.md)
    objectives: tuple = OBJECTIVES
    epochs: int = 8
    steps_per_epoch: int = 6
    # A step costs one pass over the batch's unique shoes, and 64 triplets already touch
    # nearly all 51 training shoes: a large batch adds signal at almost no cost.
    batch_triplets: int = 256
    lr: float = 5e-4
    lora_r: int = 8
    lora_from_layer: int = 4  # LoRA on blocks lora_from_layer.. below the layer read: no
    #                           backward pass through the blocks before it
    n_bootstrap: int = 1000
    n_permutations: int = 100
    seed: int = 0

    def validate(self) -> None:
        bad = [o for o in self.objectives if o not in OBJECTIVES]
        if bad:
            raise ConfigError(f"unknown objective(s) {bad}; choose from {', '.join(OBJECTIVES)}")
        for name in ("test_fraction", "val_fraction"):
            v = getattr(self, name)
            if not 0 < v < 1:
                raise ConfigError(f"{name} must be between 0 and 1, got {v}")

    @classmethod
    def quick(cls, **settings) -> "ZapposConfig":
        """The CI-sized run: one objective, two short epochs, few resamples."""
        return cls(**{"objectives": ("hybrid",), "epochs": 2, "steps_per_epoch": 2,
                      "batch_triplets": 64, "image_size": 56, "n_bootstrap": 100,
                      "n_permutations": 10, **settings})


def ensure_zappos(directory: Path, log: Callable[[str], None]) -> Path:
    """The dataset folder, fetched (checksum-verified) when any file is missing."""
    from bgs.data.registry import fetch, get_dataset

    if all((directory / f.name).exists() for f in get_dataset("zappos").files):
        return directory
    log(f"  {directory} lacks the dataset: fetching zappos (bgs datasets fetch)")
    fetch("zappos", directory)
    return directory


def split_shoes(ids: np.ndarray, cfg: ZapposConfig) -> dict[str, np.ndarray]:
    """Seeded stimulus-level split: test shoes, then validation shoes among the rest (the
    trainer draws the same validation shoes from the same seed)."""
    from bgs.data.splits import StimulusSplit

    outer = StimulusSplit.random(ids, {"pool": 1 - cfg.test_fraction, "test": cfg.test_fraction},
                                 seed=cfg.seed)
    inner = StimulusSplit.random(outer["pool"], {"train": 1 - cfg.val_fraction, "val": cfg.val_fraction},
                                 seed=cfg.seed)
    return {"train": inner["train"], "val": inner["val"], "test": outer["test"], "pool": outer["pool"]}


def _frames(folder: Path, files: list[str], size: int) -> np.ndarray:
    """(85, 1, size, size, 3) uint8: each photo fitted inside the square on white."""
    from bgs.media.decode import DecodeParams, decode_video

    params = DecodeParams(frames=1, size=size, resize="pad")
    return np.stack([decode_video(folder / f, params) for f in files])


class _ArrayStore:
    """The clip-store reading interface over frames already in memory."""

    def __init__(self, ids, frames: np.ndarray):
        self.index = {int(i): k for k, i in enumerate(ids)}
        self.frames = frames

    def get_batch(self, ids, out=None):
        return self.frames[[self.index[int(i)] for i in ids]]


def baseline_embeddings(data, cfg: ZapposConfig) -> dict[str, Embeddings]:
    """The untuned ViT (every layer), AlexNet features, raw pixels and random vectors."""
    import torch

    from bgs.data.zappos import FEATURES_FILE, read_alexnet_features
    from bgs.models.dinov2_onnx import assemble_dinov2, dinov2_folder, onnx_file
    from bgs.models.embed import embed_clips
    from bgs.models.registry import parse_model
    from bgs.models.vision import layer_names, load_vision_backbone

    if dinov2_folder() is None and onnx_file() is not None:  # once; else the hub id
        assemble_dinov2()
    backbone = load_vision_backbone(parse_model(BACKBONE), frames=1, size=cfg.image_size)
    layers = layer_names(",".join(str(k) for k in range(backbone.n_layers + 1)) + ",embeddings",
                         backbone.n_layers)
    torch.manual_seed(cfg.seed)
    vit = embed_clips(backbone, _ArrayStore(data.ids, _frames(data.folder, data.files, cfg.image_size)),
                      data.ids, layers, batch_size=17)
    out = {"dinov2": vit}
    out["alexnet"] = Embeddings.from_array(data.ids, read_alexnet_features(data.folder / FEATURES_FILE),
                                           source="AlexNet features (cnn_feats.csv)")
    from PIL import Image

    pixels = np.stack([np.asarray(Image.open(data.folder / f).convert("RGB").resize((32, 24), Image.BILINEAR),
                                  dtype=np.float32).ravel() for f in data.files])
    out["pixels"] = Embeddings.from_array(data.ids, pixels, source="raw pixels, 32×24")
    out["random"] = Embeddings.from_array(data.ids, np.random.default_rng(cfg.seed).normal(size=(len(data.ids), 64)),
                                          source="random 64-d vectors")
    return out


def _train_config(cfg: ZapposConfig, folder: Path, out: Path, objective: str):
    from bgs.train.config import DataConfig, TrainConfig

    tc = TrainConfig(data=DataConfig(triplets=str(folder / "deconflicted_triplets.csv.zip"), format="zappos",
                                     stimuli=str(out / "split" / "stimuli.csv"), videos=str(folder),
                                     store=str(out / "clip-store"), train=str(out / "split" / "pool.csv"),
                                     test=str(out / "split" / "test.csv"), val_fraction=cfg.val_fraction,
                                     resize="pad"))
    tc.model.backbone = BACKBONE
    tc.model.frames = 1
    tc.model.layer = cfg.layer
    tc.model.image_size = cfg.image_size
    tc.model.lora.targets = lora_targets(cfg)
    tc.model.lora.r = cfg.lora_r
    tc.model.lora.alpha = 2 * cfg.lora_r
    tc.objective.name = objective
    tc.optim.epochs = cfg.epochs
    tc.optim.max_steps_per_epoch = cfg.steps_per_epoch
    tc.optim.batch_triplets = cfg.batch_triplets
    tc.optim.lr = cfg.lr
    tc.run.seed = cfg.seed
    tc.run.eval_bootstrap = 0  # the study scores the held-out shoes itself, once per model
    tc.run.eval_permutations = 0
    return tc


# the attention and MLP projections of a DINOv2 block (transformers 5 names, then 4.x names)
_BLOCK_MODULES = ("attention.q_proj", "attention.k_proj", "attention.v_proj", "attention.o_proj",
                  "attention.attention.query", "attention.attention.key", "attention.attention.value",
                  "attention.output.dense", "mlp.fc1", "mlp.fc2")


def lora_targets(cfg: ZapposConfig) -> list[str]:
    """Module-name suffixes of the blocks ``lora_from_layer`` … the one before the layer read."""
    last = int(cfg.layer.split(".")[1]) - 1 if cfg.layer.startswith("layer.") else 11
    return [f"encoder.layer.{k}.{m}" for k in range(min(cfg.lora_from_layer, last), last + 1)
            for m in _BLOCK_MODULES]


def _write_split(out: Path, data, split: dict) -> None:
    folder = out / "split"
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"id": data.ids, "file": data.files}).to_csv(folder / "stimuli.csv", index=False)
    for part in ("pool", "test", "train", "val"):
        pd.DataFrame({"id": split[part]}).to_csv(folder / f"{part}.csv", index=False)


def _similarity(emb: Embeddings, ids, layer=None) -> np.ndarray:
    from bgs.metrics.distance import similarity_matrix

    return similarity_matrix(emb.align(ids, "the held-out shoes").layer(layer), "cosine")


def run_zappos(out: str | Path, data_dir: str | Path, config: ZapposConfig | None = None,
               log: Callable[[str], None] = print) -> dict:
    """Run the study into ``out`` (a new folder) and return its ``metrics.json`` content."""
    from bgs.data.zappos import load_zappos
    from bgs.metrics.anchor import anchor_accuracy, paired_difference
    from bgs.report.rundir import RunHeader, command_line
    from bgs.study.finetune import finetune
    from bgs.study.run import StudyRun

    cfg = config or ZapposConfig()
    cfg.validate()
    folder = Path(data_dir)
    t_start = time.perf_counter()
    run = StudyRun(out, RunHeader("study", "zappos: a DINOv2 ViT and BGS against human anchor triplets "
                                  "on 85 shoes", command_line(["bgs", "study", "zappos"]),
                                  {"data": str(folder), **asdict(cfg)}), log)
    out, metrics = run.out, run.metrics
    metrics.update(layers={}, finetuning={})
    ev = {"n_bootstrap": cfg.n_bootstrap, "n_permutations": cfg.n_permutations, "seed": cfg.seed}

    with run.step("reading the judgments; the shoe split"):
        data = load_zappos(ensure_zappos(folder, log))
        split = split_shoes(data.ids, cfg)
        _write_split(out, data, split)
        parts = {p: data.triplets.restrict(split[p]) for p in ("train", "val", "test")}
        test = parts["test"]
        metrics["data"] = {**data.triplets.report.to_dict(), **_counts(data, split, parts)}
        log("  " + ", ".join(f"{p}: {len(split[p])} shoes, {len(parts[p]):,} triplets"
                             for p in ("train", "val", "test"))
            + f"; {metrics['data']['n_triplets_across_parts']:,} triplets span parts and are not used")

    with run.step("baselines: the ViT at every layer, AlexNet, pixels, random"):
        base = baseline_embeddings(data, cfg)
        for name, e in base.items():
            run.save_embeddings(name, e)
        vit = base["dinov2"]
        for layer in vit.layer_names:  # layer choice on training shoes only; test shown beside
            metrics["layers"][layer] = {
                p: anchor_accuracy(_similarity(vit, split[p], layer), parts[p]) for p in ("train", "test")}
        metrics["layers_all"] = {layer: anchor_accuracy(_similarity(vit, data.ids, layer), data.triplets)
                                 for layer in vit.layer_names}
        best = max(metrics["layers"], key=lambda k: metrics["layers"][k]["train"])
        metrics["best_layer_on_train"] = best
        log(f"  ViT two-way accuracy on the training shoes by layer: best {best} "
            f"({metrics['layers'][best]['train']:.3f}); the head reads {cfg.layer}")
        for name, emb, layer in ((f"dinov2 {cfg.layer}", vit, cfg.layer), ("alexnet", base["alexnet"], None),
                                 ("pixels", base["pixels"], None), ("random", base["random"], None)):
            _record(metrics, name, emb, layer, "baseline", test, data.triplets, ev, log)

    base_sim = _similarity(vit, test.stimulus_ids, cfg.layer)
    alexnet_sim = _similarity(base["alexnet"], test.stimulus_ids)
    metrics["finetuning"] = {"base": f"dinov2 {cfg.layer}", "differences": {}, "versus_alexnet": {}}
    for objective in cfg.objectives:
        with run.step(f"BGS fine-tuning of the ViT (LoRA): {objective}"):
            tuned = finetune(_train_config(cfg, folder, out, objective), out / "train" / objective, log)
            metrics["training"][objective] = tuned.entry(out)
            name = f"dinov2 + BGS ({objective})"
            _record(metrics, name, tuned.embeddings, None, "fine-tuned", test, None, ev, log)
            sim = _similarity(tuned.embeddings, test.stimulus_ids)
            diff = paired_difference(sim, base_sim, test, cfg.n_bootstrap, cfg.seed)
            metrics["finetuning"]["differences"][name] = diff
            metrics["finetuning"]["versus_alexnet"][name] = paired_difference(
                sim, alexnet_sim, test, cfg.n_bootstrap, cfg.seed)
            a = diff["anchor_accuracy"]
            log(f"  held-out two-way accuracy vs the untuned ViT: {a['value']:+.3f} "
                f"[{a['ci'][0]:+.3f}, {a['ci'][1]:+.3f}] over triplets, "
                f"[{a['ci_stimuli'][0]:+.3f}, {a['ci_stimuli'][1]:+.3f}] over shoes")

    with run.step("tables, figures and report"):
        _write_outputs(out, metrics)
    run.timings["total"] = round(time.perf_counter() - t_start, 2)
    write_json(out / "metrics.json", metrics)
    return metrics


def _counts(data, split: dict, parts: dict) -> dict:
    counts = {f"n_{p}_shoes": int(len(split[p])) for p in ("train", "val", "test")}
    counts.update({f"n_{p}_triplets": len(t) for p, t in parts.items()})
    counts["n_triplets"] = len(data.triplets)
    counts["n_triplets_across_parts"] = len(data.triplets) - sum(len(t) for t in parts.values())
    return counts


def _record(metrics, name, emb, layer, stage, test, everything, ev, log) -> None:
    from bgs.metrics.anchor import evaluate_anchor_embeddings

    entry = {"label": name, "stage": stage, "layer": layer,
             "eval": evaluate_anchor_embeddings(emb, test, layer=layer, **ev)}
    if everything is not None:
        entry["all_triplets_accuracy"] = evaluate_anchor_embeddings(
            emb, everything, layer=layer, n_bootstrap=0, n_permutations=0)["anchor_accuracy"]["value"]
    metrics["models"][name] = entry
    a = entry["eval"]["anchor_accuracy"]
    log(f"  {name:<28} held-out two-way {a['value']:.3f} [{a['ci'][0]:.3f}, {a['ci'][1]:.3f}], "
        f"RSA {entry['eval']['rsa_spearman']['value']:.3f}"
        + (f"; all triplets {entry['all_triplets_accuracy']:.3f}" if everything is not None else ""))


def results_table(metrics: dict) -> pd.DataFrame:
    rows = []
    for name, m in metrics["models"].items():
        a, r = m["eval"]["anchor_accuracy"], m["eval"]["rsa_spearman"]
        d = metrics.get("finetuning", {}).get("differences", {}).get(name)
        rows.append({"model": name, "stage": m["stage"], "n_triplets": m["eval"]["n_triplets"],
                     "two_way_accuracy": a["value"], "ci_low": a["ci"][0], "ci_high": a["ci"][1],
                     "shoe_ci_low": a["ci_stimuli"][0], "shoe_ci_high": a["ci_stimuli"][1],
                     "rsa_spearman": r["value"], "rsa_ci_low": r["ci"][0], "rsa_ci_high": r["ci"][1],
                     "all_triplets_accuracy": m.get("all_triplets_accuracy"),
                     "difference_vs_base": d["anchor_accuracy"]["value"] if d else None,
                     "difference_ci": d["anchor_accuracy"]["ci"] if d else None,
                     "difference_shoe_ci": d["anchor_accuracy"]["ci_stimuli"] if d else None,
                     "rsa_difference_vs_base": d["rsa_spearman"]["value"] if d else None,
                     "rsa_difference_shoe_ci": d["rsa_spearman"]["ci_stimuli"] if d else None})
    return pd.DataFrame(rows)


def _write_outputs(out: Path, metrics: dict) -> None:
    from bgs.study.zappos_report import write_zappos_report

    table = results_table(metrics)
    write_table(table.astype({c: str for c in ("difference_ci", "difference_shoe_ci", "rsa_difference_shoe_ci")}),
                out / "tables" / "results_test")
    write_table(pd.DataFrame([{"layer": k, **v, "all": metrics["layers_all"][k]}
                              for k, v in metrics["layers"].items()]), out / "tables" / "layers")
    write_zappos_report(out, metrics, table)
