"""``bgs demo --seeds 0,1,2``: the demo once per seed (each a new synthetic dataset, split and
set of participants; the cached backbone is shared), each into ``OUT/seed-K`` with its full
report, then a summary over the seeds: ``summary.json``, ``seeds.csv`` and ``report.html``.

Per seed and model: the held-out 3-way accuracy and Spearman RSA, and the paired gain over
the base. Over the seeds: the mean gain with a 95 % t-interval (mean ± t(0.975, n − 1) ·
sd / √n; none for one seed) and the number of seeds in which the gain is positive.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from bgs.errors import ConfigError
from bgs.io import require_new_folder, write_json
from bgs.report.rundir import write_table
from bgs.study.demo_compare import KEYS as GAINS


def parse_seeds(text: str) -> list[int]:
    """'0,1,2' → [0, 1, 2]; anything else (not integers, negative, repeated, empty) is one
    :class:`ConfigError` naming the option and the fix."""
    parts = [p.strip() for p in str(text).split(",")]
    fix = "give distinct non-negative integers separated by commas, e.g. --seeds 0,1,2"
    if not all(p.isdigit() for p in parts):
        bad = next(p for p in parts if not p.isdigit())
        raise ConfigError(f"--seeds {text!r}: {bad!r} is not a non-negative integer; {fix}")
    seeds = [int(p) for p in parts]
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds {text!r} repeats a seed; {fix}")
    return seeds


def seed_rows(seed: int, metrics: dict) -> list[dict]:
    """One row per model of a seed's ``metrics.json``: held-out scores, and for fine-tuned
    models the paired gain over the base with its CI over clips."""
    gains = {r["model"]: r for r in metrics.get("comparisons", {}).get("differences", [])
             if r["minus"] == metrics["comparisons"]["base"]}
    rows = []
    for name, entry in metrics["models"].items():
        ev = entry["eval"]
        row = {"seed": seed, "model": name, "label": entry["label"], "stage": entry["stage"],
               "ooo_accuracy": ev["ooo_accuracy"]["value"], "rsa_spearman": ev["rsa_spearman"]["value"]}
        for key in GAINS:
            d = gains.get(name, {}).get(key)
            ci = (d or {}).get("ci_stimuli") or (None, None)
            row.update({f"{key}_gain": d["value"] if d else None,
                        f"{key}_gain_ci_low_clips": ci[0], f"{key}_gain_ci_high_clips": ci[1]})
        rows.append(row)
    return rows


def t_interval(values, level: float = 0.95) -> tuple[float, float] | None:
    """The t-interval of the mean of ``values`` (None for fewer than two)."""
    from scipy.stats import t

    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return None
    half = t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    return float(v.mean() - half), float(v.mean() + half)


def summarise(rows: pd.DataFrame) -> dict:
    """Per fine-tuned model and score: the mean gain over the seeds, its 95 % t-interval and
    the number of seeds with a positive gain."""
    out = {}
    tuned = rows[rows["ooo_accuracy_gain"].notna()]
    for model, per in tuned.groupby("model", sort=False):
        entry = {"label": per["label"].iloc[0], "n_seeds": int(len(per))}
        for key in GAINS:
            g = per[f"{key}_gain"].to_numpy(float)
            entry[key] = {"mean_gain": float(g.mean()), "ci": t_interval(g),
                          "ci_method": "t-interval over seeds", "seeds_positive": int((g > 0).sum()),
                          "gains": g.tolist(), "mean_score": float(per[key].mean())}
        out[model] = entry
    return out


def run_seeds(out: str | Path, seeds: list[int], run_one: Callable[[Path, int], dict],
              log: Callable[[str], None] = print) -> dict:
    """``run_one(OUT/seed-K, K)`` for each seed (it returns that run's metrics), then the
    summary files; returns ``summary.json``'s content."""
    from bgs.report.seeds import write_seeds_report

    out = require_new_folder(out, "give a new --out folder (run directories are never overwritten)")
    out.mkdir(parents=True, exist_ok=True)
    rows, timings = [], {}
    for seed in seeds:
        log(f"[bold]seed {seed}[/bold] → {out / f'seed-{seed}'}")
        metrics = run_one(out / f"seed-{seed}", seed)
        rows += seed_rows(seed, metrics)
        timings[f"seed-{seed}"] = metrics.get("timings", {}).get("total")
    table = pd.DataFrame(rows)
    summary = {"kind": "demo-seeds", "seeds": seeds, "runs": [f"seed-{s}/report.html" for s in seeds],
               "base": "video_base", "models": summarise(table), "timings": timings,
               "note": "gain: the paired difference of a fine-tuned model minus the base on the held-out "
                       "triplets of the seed (its CI resamples clips); over seeds: mean, 95% t-interval "
                       "(t distribution with n - 1 degrees of freedom), seeds with a positive gain"}
    write_table(table, out / "seeds")
    write_json(out / "summary.json", summary)
    write_seeds_report(out, summary, table)
    return summary
