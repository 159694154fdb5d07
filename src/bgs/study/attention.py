"""Where a model looks, before and after fine-tuning: maps, agent shares and their shift.

:func:`attention_study` computes the maps of a base backbone and, given a run directory, of
its fine-tuned version for a set of clips; measures the share of attention on the agents
where masks exist (:mod:`bgs.attention.masks`); and writes into ``out``::

    maps.npz                  ids and one (N, T, g, g) array per model and method
    clips.csv / clips.parquet one row per clip × model × method: agent share, area share, ratio
    summary.json              means over clips with bootstrap CIs, and the fine-tuned − base
                              shift (paired over clips) with its CI
    overlays/<video>.png      frames, agent outlines and one overlay row per model × method
    overlays/<video>.gif      the same, animated (one panel per model × method)

Bootstrap CIs resample clips (percentile intervals, ``n_bootstrap`` draws, seeded).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from bgs.attention.maps import attention_maps
from bgs.attention.masks import align_mask, find_mask, mask_shares, patch_fractions, read_mask
from bgs.attention.rollout import METHODS
from bgs.errors import ConfigError
from bgs.io import atomic_path, write_json

MODEL_LABELS = {"base": "base", "fine-tuned": "fine-tuned"}


def bootstrap_mean_ci(values: np.ndarray, n_bootstrap: int, seed: int = 0,
                      level: float = 0.95) -> tuple[float, float] | None:
    """Percentile CI of the mean, resampling the values (clips) with replacement."""
    from bgs.stats import percentile_ci

    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) < 2 or n_bootstrap < 1:
        return None
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), size=(n_bootstrap, len(values)))
    return percentile_ci(values[idx].mean(axis=1), level)


def summarise(table: pd.DataFrame, n_bootstrap: int = 1000, seed: int = 0) -> dict:
    """Means with CIs per model × method, and the paired fine-tuned − base shift."""
    out: dict = {"models": {}, "shift": {}}
    if table.empty or "agent_share" not in table or table["agent_share"].isna().all():
        return out
    for (model, method), g in table.groupby(["model", "method"], sort=False):
        # a gradient-weighted map can be empty (every grad ⊙ attention ≤ 0): no share, counted
        entry = {"n_clips": int(g["agent_share"].notna().sum()),
                 "n_empty_maps": int((g["agent_share"].isna() & g["area_share"].notna()).sum())}
        for col in ("agent_share", "area_share", "agent_ratio"):
            v = g[col].to_numpy(dtype=float)
            entry[col] = float(np.nanmean(v))
            if col != "area_share":
                entry[f"{col}_ci"] = bootstrap_mean_ci(v, n_bootstrap, seed)
        out["models"].setdefault(model, {})[method] = entry
    if {"base", "fine-tuned"} <= set(table["model"]):
        for method in table["method"].unique():
            sub = table[table["method"] == method]
            wide = sub.pivot(index="id", columns="model", values=["agent_share", "agent_ratio"]).dropna()
            if wide.empty:
                continue
            entry = {"n_clips": int(len(wide))}
            for col in ("agent_share", "agent_ratio"):
                d = (wide[(col, "fine-tuned")] - wide[(col, "base")]).to_numpy(dtype=float)
                entry[f"{col}_change"] = float(d.mean())
                entry[f"{col}_change_ci"] = bootstrap_mean_ci(d, n_bootstrap, seed)
                entry[f"{col}_clips_up"] = int((d > 0).sum())
            out["shift"][method] = entry
    return out


def attention_study(out: str | Path, ids: Sequence, files: Sequence, store, *,
                    base_spec: str | None = None, checkpoint: str | Path | None = None,
                    masks: str | Path | None = None, methods: Sequence[str] = METHODS,
                    batch_size: int = 4, n_bootstrap: int = 1000, seed: int = 0,
                    max_overlays: int = 50, device: str = "cpu", resize: str = "crop",
                    progress: Callable[[int], None] | None = None,
                    backbones: dict | None = None) -> dict:
    """Maps, shares and shift for the clips ``ids`` (video file names ``files``) read from a
    built clip ``store``. ``backbones``: already loaded ``{label: (backbone, head)}`` (tests,
    the demo); otherwise the base comes from ``base_spec`` or the checkpoint's backbone."""
    t0 = time.perf_counter()
    out = Path(out)
    models = backbones or load_models(base_spec, checkpoint, device)
    ids, files = list(ids), [str(f) for f in files]
    if not ids:
        raise ConfigError("no clips to look at; check --stimuli and --split")
    first = next(iter(models.values()))[0]
    frames_n, size = first.frames, first.size
    for label, (bb, _) in models.items():
        if (bb.frames, bb.size) != (frames_n, size):
            raise ConfigError(f"{label} model takes {bb.frames} frames at {bb.size}px, the base "
                              f"{frames_n} at {size}px; they must see the same clips")
    fractions: dict = {}
    if masks is not None:
        masks = Path(masks)
        if not masks.is_dir():
            raise ConfigError(f"--masks {masks} is not a folder. Fix: give the folder of "
                              f"<video stem>.npz mask files (e.g. the synthetic data's masks/)")
    maps: dict[str, list[np.ndarray]] = {f"{m}|{meth}": [] for m in models for meth in methods}
    rows = []
    for start in range(0, len(ids), batch_size):
        bids, bfiles = ids[start:start + batch_size], files[start:start + batch_size]
        frames = np.ascontiguousarray(store.get_batch(bids))
        results = {}
        for label, (bb, head) in models.items():
            results[label] = attention_maps(bb, frames, methods, head=head)
        for k, (sid, f) in enumerate(zip(bids, bfiles)):
            frac = None
            if masks is not None:
                mp = find_mask(masks, f)
                if mp is not None:
                    aligned = align_mask(read_mask(mp), frames_n, size, resize)
                    grid = next(iter(results.values()))[methods[0]].shape[-1]
                    frac = patch_fractions(aligned, grid)
                    fractions[sid] = (aligned, frac)
            for label, res in results.items():
                for meth in methods:
                    rel = res[meth][k]
                    maps[f"{label}|{meth}"].append(rel.astype(np.float32))
                    row = {"id": sid, "file": f, "model": label, "method": meth,
                           "peak_frame": int(rel.sum(axis=(1, 2)).argmax()),
                           "entropy_bits": float(-(rel[rel > 0] * np.log2(rel[rel > 0])).sum())}
                    row.update(mask_shares(rel, frac) if frac is not None else
                               {"agent_share": np.nan, "background_share": np.nan,
                                "area_share": np.nan, "agent_ratio": np.nan})
                    rows.append(row)
            if progress is not None:
                progress(1)
    table = pd.DataFrame(rows)
    _write_maps(out, ids, maps, table)
    summary = summarise(table, n_bootstrap, seed)
    summary.update({"n_clips": len(ids), "n_with_masks": len(fractions), "methods": list(methods),
                    "models": summary.get("models", {}),
                    "backbones": {label: bb.source for label, (bb, _) in models.items()},
                    "checkpoint": str(checkpoint) if checkpoint else None,
                    "frames": frames_n, "size": size, "n_bootstrap": n_bootstrap, "seed": seed})
    summary["overlays"] = _write_overlays(out, ids[:max_overlays], files, store, maps, fractions,
                                          [f"{label}|{meth}" for label in models for meth in methods])
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    write_json(out / "summary.json", json.loads(json.dumps(summary, default=_jsonable)))
    return summary


def _write_maps(out: Path, ids: list, maps: dict, table: pd.DataFrame) -> None:
    """``maps.npz`` (ids and one array per model × method) and ``clips.csv``/``.parquet``."""
    from bgs.report.rundir import write_table

    out.mkdir(parents=True, exist_ok=True)
    arrays = {"ids": np.asarray(ids) if not isinstance(ids[0], str) else np.asarray(ids, dtype=str)}
    arrays.update({k.replace("|", "__"): np.stack(v) for k, v in maps.items()})
    with atomic_path(out / "maps.npz", suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
    write_table(table, out / "clips")


def _write_overlays(out: Path, ids: list, files: list, store, maps: dict, fractions: dict,
                    keys: list[str]) -> list[str]:
    """A PNG sheet and a GIF per clip of ``ids``; returns the sheets' paths under ``out``."""
    from bgs.attention.overlay import write_gif, write_sheet

    written = []
    for k, (sid, f) in enumerate(zip(ids, files)):
        frames = np.asarray(store.get(sid))
        mask = fractions.get(sid, (None, None))[0]
        clip_maps = {key.replace("|", " | "): maps[key][k] for key in keys}
        stem = Path(f).stem
        write_sheet(out / "overlays" / f"{stem}.png", frames, clip_maps, mask, title=f"{stem} (id {sid})")
        write_gif(out / "overlays" / f"{stem}.gif", frames, clip_maps, mask)
        written.append(f"overlays/{stem}.png")
    return written


def _jsonable(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, np.ndarray):
        return v.tolist()
    return str(v)


def load_models(base_spec: str | None, checkpoint: str | Path | None, device: str = "cpu") -> dict:
    """``{"base": (backbone, None), "fine-tuned": (backbone, head)}`` with eager attention."""
    from bgs.models.embed import quiet_transformers
    from bgs.models.registry import parse_model
    from bgs.models.vision import load_vision_backbone

    quiet_transformers()
    models: dict = {}
    ft = None
    if checkpoint is not None:
        from bgs.train.restore import load_finetuned_vision

        model, backbone, meta = load_finetuned_vision(checkpoint, device, attn_implementation="eager")
        if base_spec is not None and str(parse_model(base_spec)) != meta.get("backbone"):
            raise ConfigError(f"--model {base_spec} is not the backbone {checkpoint} was trained on "
                              f"({meta.get('backbone')}). Fix: leave --model out, or give that one")
        base_spec = base_spec or meta["backbone"]
        ft = (backbone, model.head.net)
    if base_spec is None:
        raise ConfigError("give --model KIND:SOURCE, or --checkpoint RUN (its backbone is the base)")
    spec = parse_model(base_spec)
    frames = ft[0].frames if ft is not None else None
    models["base"] = (load_vision_backbone(spec, frames=frames if not spec.kind.frames_from_config else None,
                                           device=device, attn_implementation="eager"), None)
    if ft is not None:
        models["fine-tuned"] = ft
    return models
