"""``OUT/report.html`` of ``bgs demo --seeds``: each seed's held-out scores and paired gains
over the base, then the mean gain over the seeds with its t-interval; self-contained, with
links to each seed's own report."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from bgs.io import atomic_path

GAINS = {"ooo_accuracy": "3-way accuracy", "rsa_spearman": "Spearman RSA"}


def _gain(row, key: str) -> str:
    from bgs.report.html import _ci, _num

    g = _num(row.get(f"{key}_gain"))
    if g is None:
        return "—"
    return f"{g:+.3f}" + _ci((row.get(f"{key}_gain_ci_low_clips"), row.get(f"{key}_gain_ci_high_clips")))


def _per_seed(table: pd.DataFrame) -> str:
    from bgs.report.html import _f, _table

    rows = [(int(r["seed"]), r["label"], _f(r["ooo_accuracy"]), _gain(r, "ooo_accuracy"), _f(r["rsa_spearman"]),
             _gain(r, "rsa_spearman")) for r in table.to_dict("records")]
    return _table(("seed", "model", "held-out 3-way", "gain over base [95% CI over clips]", "held-out RSA",
                   "gain over base [95% CI over clips]"), rows, numeric=range(2, 6))


def _over_seeds(models: Mapping) -> str:
    from bgs.report.html import _ci, _f, _table

    rows = []
    for entry in models.values():
        cells = []
        for key in GAINS:
            g = entry[key]
            cells += [_f(g["mean_score"]), f"{g['mean_gain']:+.3f}{_ci(g.get('ci'))}",
                      f"{g['seeds_positive']} of {entry['n_seeds']}"]
        rows.append((entry["label"], *cells))
    return _table(("model", "mean 3-way", "mean gain [95% t-interval over seeds]", "seeds with a gain > 0",
                   "mean RSA", "mean gain [95% t-interval over seeds]", "seeds with a gain > 0"), rows,
                  numeric=range(1, 7))


def render_seeds_report(summary: Mapping, table: pd.DataFrame) -> str:
    """The HTML of the summary over seeds."""
    from bgs.report.html import CSS, _e, _p_

    seeds = ", ".join(str(s) for s in summary["seeds"])
    links = "".join(f'<li><a href="{_e(r)}">{_e(r)}</a></li>' for r in summary["runs"])
    body = (f"<header><h1>bgs demo over seeds {_e(seeds)}</h1>"
            + _p_("Each seed is a new synthetic dataset, split and set of participants; the cached "
                  "pre-trained backbone is the same. A gain is the paired difference of a fine-tuned "
                  "model minus the base model on that seed's held-out triplets (its 95% CI resamples "
                  "the clips). Over the seeds: the mean gain with a 95% t-interval (t distribution with "
                  "n − 1 degrees of freedom; none for a single seed) and the number of seeds in which "
                  "the gain is above 0.", "lead") + "</header>"
            + "<h2>Mean over the seeds</h2>" + _over_seeds(summary["models"])
            + "<h2>Each seed</h2>" + _per_seed(table)
            + f"<h2>The runs</h2><ul>{links}</ul>"
            + _p_("Files: summary.json, seeds.csv (one row per seed and model).", "note"))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>bgs demo over seeds {_e(seeds)}</title><style>{CSS}</style></head>"
            f"<body><main>{body}</main></body></html>\n")


def write_seeds_report(out: Path, summary: Mapping, table: pd.DataFrame) -> Path:
    """``out/report.html``, written atomically."""
    target = Path(out) / "report.html"
    with atomic_path(target, suffix=".html") as tmp:
        tmp.write_text(render_seeds_report(summary, table), encoding="utf-8")
    return target
