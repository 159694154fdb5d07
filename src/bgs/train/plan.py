"""``bgs train --dry-run``: validate the config and the data and resolve the plan of a run
(stimuli and triplets per split, batch, steps, trainable parameters) without training.

The backbone is loaded and wrapped exactly as for training, so its parameter counts are
the run's; no video is decoded (the plan says how many clips the store still lacks).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from bgs.errors import ConfigError
from bgs.train.config import TrainConfig


def _clips(config: TrainConfig, data, backbone) -> dict:
    """Video files that exist, and how many of them the clip store already holds."""
    from bgs.media.decode import DecodeParams
    from bgs.media.store import ClipStore
    from bgs.train.data import stimulus_files

    ids = np.concatenate([data.train_ids, data.val_ids, data.test_ids])
    files = [Path(config.data.videos) / f for f in stimulus_files(data.stimuli, ids)]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise ConfigError(f"{len(missing)} video files of {config.data.stimuli} are missing under "
                          f"{config.data.videos} (e.g. {missing[0]}). Fix: data.videos must be the "
                          f"folder of the files the stimulus table names")
    root = Path(config.data.store or Path(config.data.videos) / ".bgs-clip-store")
    store = ClipStore(root, DecodeParams(backbone.frames, backbone.size, config.data.resize))
    held = sum(i in store for i in ids)
    return {"clips": len(ids), "clips_to_decode": len(ids) - held, "frames": backbone.frames,
            "size": backbone.size, "store": str(store.path)}


def training_plan(config: TrainConfig, log=lambda *_: None) -> dict:
    """The resolved plan of ``config`` as a dict (see :func:`plan_rows` for its reading)."""
    from bgs.models.embed import quiet_transformers
    from bgs.models.registry import parse_model
    from bgs.train.data import load_training_data
    from bgs.train.model import BGSModel
    from bgs.train.restore import bare_encoder

    quiet_transformers()
    config.validate()
    data = load_training_data(config)
    spec = parse_model(config.model.backbone)
    if spec.kind.family in ("video", "image") and not config.data.videos:
        raise ConfigError(f"{spec} trains on videos: set data.videos")
    if spec.kind.family == "text" and not config.data.captions:
        raise ConfigError(f"{spec} trains on captions: set data.captions")
    model = BGSModel(bare_encoder(spec, config.model, "cpu"), spec.kind, config.model, str(spec))
    if config.behavior.active:
        from bgs.behavior.training import build_behavior_objective

        model.add_module("behavior", build_behavior_objective(config.behavior, data, model, log))
    plan = {"backbone": str(spec), "objective": config.objective.name, "device": config.run.device,
            **data.summary(), **model.parameter_counts()}
    if spec.kind.family in ("video", "image"):
        plan.update(_clips(config, data, model.encoder.backbone))
    batch = config.optim.batch_triplets
    automatic = batch == 0
    if automatic and not config.run.device.startswith("cuda"):
        from bgs.train.autobatch import CPU_TRIPLETS

        batch = CPU_TRIPLETS
    plan["batch_triplets"] = batch or None  # None: chosen from free GPU memory at the start
    plan["batch_automatic"] = automatic
    if batch:
        steps = math.ceil(len(data.train) / batch)
        if config.optim.max_steps_per_epoch:
            steps = min(steps, config.optim.max_steps_per_epoch)
        plan["steps_per_epoch"] = steps
        plan["max_steps"] = steps * config.optim.epochs
    plan.update(epochs=config.optim.epochs, early_stopping=config.optim.early_stopping,
                select=config.optim.select, select_start=config.optim.select_start, lr=config.optim.lr,
                log=config.run.log or None)
    return plan


def plan_rows(plan: dict) -> list[tuple[str, str]]:
    """(setting, value) rows for a table of the plan."""
    def n(x):
        return f"{x:,}" if isinstance(x, int) else str(x)

    rows = [("backbone", plan["backbone"]), ("objective", plan["objective"]), ("device", plan["device"])]
    for split in ("train", "val", "test"):
        rows.append((f"{split} split", f"{n(plan[f'n_{split}_stimuli'])} stimuli, "
                                       f"{n(plan[f'n_{split}_triplets'])} triplets"))
    rows.append(("triplets lost to the split", n(plan["n_triplets_lost_to_split"])))
    if "clips" in plan:
        rows.append(("clips", f"{n(plan['clips'])} ({plan['frames']} frames at {plan['size']}²), "
                              f"{n(plan['clips_to_decode'])} still to decode"))
    batch = plan["batch_triplets"]
    rows.append(("batch", ("chosen from free GPU memory at the start" if batch is None else
                           f"{n(batch)} triplets") + (" (automatic)" if plan["batch_automatic"] else "")))
    if "steps_per_epoch" in plan:
        stop = ("the last epoch is kept" if plan["select"] == "last" else
                f"early stopping after {plan['early_stopping']} epochs without a better validation RSA"
                + ("; the model before training is kept if no epoch beats it" if plan.get("select_start") else ""))
        rows.append(("steps", f"{n(plan['steps_per_epoch'])} per epoch × {plan['epochs']} epochs = "
                              f"{n(plan['max_steps'])} at most ({stop})"))
    else:
        rows.append(("epochs", n(plan["epochs"])))
    rows.append(("parameters", f"{n(plan['trainable'])} trainable, {n(plan['frozen'])} frozen"))
    rows.append(("learning rate", str(plan["lr"])))
    rows.append(("log", plan["log"] or "metrics.jsonl only"))
    return rows
