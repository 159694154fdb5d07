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

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bgs.embeddings import Embeddings
from bgs.errors import ConfigError
from bgs.report.rundir import write_table

BACKBONE = "image:dinov2-s"
OBJECTIVES = ("hybrid", "triplet", "rsa")


@dataclass
class ZapposConfig:
    """Settings of ``bgs study zappos`` (saved as ``config.json`` in the run)."""

    folds: int = 4  # every shoe held out once; each fold ~21 test shoes, as a 1/4 split
    side_folds: int = 1  # the objectives after the first run on the first side_folds folds
    val_fraction: float = 0.2  # of each fold's training shoes, for model selection
    image_size: int = 112  # the photos are 136×102: 112 keeps their detail at 1/4 of 224's cost
    layer: str = "layer.8"  # the ViT layer the head reads (the best on training shoes; docs/zappos.md)
    objectives: tuple = OBJECTIVES
    epochs: int = 4  # the best validation epoch came early (0–2) in every run measured
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
        if not 0 < self.val_fraction < 1:
            raise ConfigError(f"val_fraction must be between 0 and 1, got {self.val_fraction}")
        if not 2 <= self.folds <= 10 or not 0 <= self.side_folds <= self.folds:
            raise ConfigError(f"--folds must be 2…10 and side_folds 0…folds, got {self.folds}, {self.side_folds}")

    @classmethod
    def quick(cls, **settings) -> "ZapposConfig":
        """The CI-sized run: two folds, one objective, two short epochs, few resamples."""
        return cls(**{"folds": 2, "objectives": ("hybrid",), "epochs": 2, "steps_per_epoch": 2,
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


def fold_folder(out: Path, f: int) -> Path:
    """The shoe ids of fold ``f``'s parts (``pool``, ``test``, ``train``, ``val`` CSV files)."""
    return out / "split" / f"fold{f}"


def _train_config(cfg: ZapposConfig, folder: Path, out: Path, objective: str, fold: int):
    from bgs.train.config import DataConfig, TrainConfig

    parts = fold_folder(out, fold)
    tc = TrainConfig(data=DataConfig(triplets=str(folder / "deconflicted_triplets.csv.zip"), format="zappos",
                                     stimuli=str(out / "split" / "stimuli.csv"), videos=str(folder),
                                     store=str(out / "clip-store"), train=str(parts / "pool.csv"),
                                     test=str(parts / "test.csv"), val_fraction=cfg.val_fraction,
                                     resize="pad"))
    tc.model.backbone = BACKBONE
    tc.model.frames = 1
    tc.model.layer = cfg.layer
    tc.model.image_size = cfg.image_size
    tc.model.lora.targets = lora_targets(cfg)
    tc.model.lora.r = cfg.lora_r
    tc.model.lora.alpha = 2 * cfg.lora_r
    tc.model.cache_frozen_prefix = True  # blocks before lora_from_layer: once per run
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


def _write_split(out: Path, data, folds: list[dict]) -> None:
    (out / "split").mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"id": data.ids, "file": data.files}).to_csv(out / "split" / "stimuli.csv", index=False)
    for f, split in enumerate(folds):
        fold_folder(out, f).mkdir()
        for part in ("pool", "test", "train", "val"):
            pd.DataFrame({"id": split[part]}).to_csv(fold_folder(out, f) / f"{part}.csv", index=False)


def _similarity(emb: Embeddings, ids, layer=None) -> np.ndarray:
    from bgs.metrics.distance import similarity_matrix

    return similarity_matrix(emb.align(ids, "the held-out shoes").layer(layer), "cosine")


def run_zappos(out: str | Path, data_dir: str | Path, config: ZapposConfig | None = None,
               log: Callable[[str], None] = print) -> dict:
    """Run the study into ``out`` (a new folder) and return its ``metrics.json`` content."""
    import os
    import time

    from bgs.data.zappos import load_zappos
    from bgs.report.rundir import RunHeader, command_line
    from bgs.study.run import StudyRun
    from bgs.study.zappos_folds import fold_splits, held_out_triplets

    cpu0, load0 = time.process_time(), [round(x, 2) for x in os.getloadavg()]
    cfg = config or ZapposConfig()
    cfg.validate()
    folder = Path(data_dir)
    run = StudyRun(out, RunHeader("study", f"zappos: a DINOv2 ViT and BGS against human anchor triplets "
                                  f"on 85 shoes, {cfg.folds}-fold cross-validation over shoes",
                                  command_line(["bgs", "study", "zappos"]), {"data": str(folder), **asdict(cfg)}),
                   log)
    out, metrics = run.out, run.metrics
    ev = {"n_bootstrap": cfg.n_bootstrap, "n_permutations": cfg.n_permutations, "seed": cfg.seed}

    with run.step("reading the judgments; the folds over shoes"):
        data = load_zappos(ensure_zappos(folder, log))
        folds = fold_splits(data.ids, cfg.folds, cfg.val_fraction, cfg.seed)
        _write_split(out, data, folds)
        pooled = held_out_triplets(data.triplets, folds, range(cfg.folds))
        metrics["data"] = {**data.triplets.report.to_dict(), **_counts(data, folds, pooled)}
        log(f"  {cfg.folds} folds of {len(folds[0]['test'])}–{len(folds[-1]['test'])} test shoes; "
            f"{len(pooled):,} triplets lie inside one fold's test shoes (held out, pooled)")

    with run.step("baselines: the ViT at every layer, AlexNet, pixels, random"):
        base = baseline_embeddings(data, cfg)
        for name, e in base.items():
            run.save_embeddings(name, e)
        _layer_sweep(metrics, base["dinov2"], data, folds, pooled, cfg, log)
        for name, emb, layer in ((f"dinov2 {cfg.layer}", base["dinov2"], cfg.layer), ("alexnet", base["alexnet"], None),
                                 ("pixels", base["pixels"], None), ("random", base["random"], None)):
            _record(metrics, name, emb, layer, "baseline", pooled, data.triplets, ev, log)

    from bgs.study.zappos_finetune import finetune_folds

    finetune_folds(run, cfg, data, folds, base, log)
    with run.step("tables and figures"):
        _write_outputs(out, metrics)
    metrics["resources"] = resources(cpu0, load0)
    return run.finish()


def resources(cpu0: float, load0: list) -> dict:
    """CPU seconds of this process (every thread) since ``cpu0``, and the load average: the
    wall time of a run on a shared machine says little without them."""
    import os
    import time

    return {"cpu_seconds": round(time.process_time() - cpu0, 1), "cpu_count": os.cpu_count(),
            "load_average_at_start": load0,
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
            "torch_threads": _torch_threads()}


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def _layer_sweep(metrics, vit, data, folds, pooled, cfg, log) -> None:
    """Two-way accuracy of the untuned ViT per layer: on each fold's training shoes (where the
    layer is chosen), on the pooled held-out triplets, on all triplets."""
    from bgs.metrics.anchor import anchor_accuracy

    train_sets = [data.triplets.restrict(part["train"]) for part in folds]
    metrics["layers"] = {}
    for layer in vit.layer_names:
        train = [anchor_accuracy(_similarity(vit, part["train"], layer), t) for part, t in zip(folds, train_sets)]
        metrics["layers"][layer] = {
            "train": float(np.mean(train)), "train_per_fold": train,
            "held_out": anchor_accuracy(_similarity(vit, pooled.stimulus_ids, layer), pooled),
            "all": anchor_accuracy(_similarity(vit, data.ids, layer), data.triplets)}
    best = max(metrics["layers"], key=lambda k: metrics["layers"][k]["train"])
    metrics["best_layer_on_train"] = best
    log(f"  ViT two-way accuracy on the training shoes (mean over folds) by layer: best {best} "
        f"({metrics['layers'][best]['train']:.3f}); the head reads {cfg.layer}")


def _counts(data, folds: list, pooled) -> dict:
    return {"n_triplets": len(data.triplets), "n_folds": len(folds),
            "n_test_shoes_per_fold": [int(len(p["test"])) for p in folds],
            "n_train_shoes_per_fold": [int(len(p["train"])) for p in folds],
            "n_val_shoes_per_fold": [int(len(p["val"])) for p in folds],
            "n_train_triplets_per_fold": [len(data.triplets.restrict(p["train"])) for p in folds],
            "n_val_triplets_per_fold": [len(data.triplets.restrict(p["val"])) for p in folds],
            "n_held_out_triplets": len(pooled),
            "n_held_out_triplets_per_fold": [len(data.triplets.restrict(p["test"])) for p in folds]}


def _record(metrics, name, emb, layer, stage, test, everything, ev, log) -> None:
    from bgs.metrics.anchor import evaluate_anchor_embeddings

    entry = {"label": name, "family": name.split()[0], "stage": stage, "metric": "cosine", "layer": layer,
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
    """The models on the pooled held-out triplets, with CIs over triplets and over shoes."""
    rows = []
    for name, m in metrics["models"].items():
        a, r = m["eval"]["anchor_accuracy"], m["eval"]["rsa_spearman"]
        rows.append({"model": name, "stage": m["stage"], "n_triplets": m["eval"]["n_triplets"],
                     "two_way_accuracy": a["value"], "ci_low": a["ci"][0], "ci_high": a["ci"][1],
                     "shoe_ci_low": a["ci_stimuli"][0], "shoe_ci_high": a["ci_stimuli"][1],
                     "rsa_spearman": r["value"], "rsa_ci_low": r["ci"][0], "rsa_ci_high": r["ci"][1],
                     "all_triplets_accuracy": m.get("all_triplets_accuracy")})
    return pd.DataFrame(rows)


def differences_table(metrics: dict) -> pd.DataFrame:
    """Each tuned objective minus the untuned ViT and minus AlexNet, on its folds' triplets."""
    rows = []
    ft = metrics["finetuning"]
    for name, d in ft["differences"].items():
        for against, diff in (("untuned ViT", d), ("AlexNet", ft["versus_alexnet"][name])):
            for metric in ("anchor_accuracy", "rsa_spearman"):
                e = diff[metric]
                rows.append({"model": name, "minus": against, "metric": metric, "folds": len(d["folds"]),
                             "n_triplets": d["n_triplets"], "difference": e["value"],
                             "ci_low": e["ci"][0], "ci_high": e["ci"][1],
                             "shoe_ci_low": e["ci_stimuli"][0], "shoe_ci_high": e["ci_stimuli"][1]})
    return pd.DataFrame(rows)


def _write_outputs(out: Path, metrics: dict) -> None:
    from bgs.study.zappos_report import plot_layers

    write_table(results_table(metrics), out / "tables" / "results_held_out")
    write_table(differences_table(metrics), out / "tables" / "differences")
    folds = pd.DataFrame(metrics["folds"])
    for col in ("difference_ci", "difference_shoe_ci"):
        folds[[f"{col}_low", f"{col}_high"]] = pd.DataFrame(folds.pop(col).tolist(), index=folds.index)
    write_table(folds, out / "tables" / "folds")
    write_table(pd.DataFrame([{"layer": k, **{p: v[p] for p in ("train", "held_out", "all")}}
                              for k, v in metrics["layers"].items()]), out / "tables" / "layers")
    plot_layers(metrics["layers"], out / "plots" / "layers.png")
