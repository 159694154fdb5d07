"""Figures and report.html of ``bgs study zappos`` (held-out two-way accuracy and RSA with
paired CIs, the layer sweep, the training curves the trainer wrote)."""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from bgs.io import atomic_path


def _plots(out: Path, metrics: dict, table: pd.DataFrame) -> list[tuple[str, str]]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    figs = []
    fig, ax = plt.subplots(figsize=(7, 3.2))
    y = range(len(table))
    ax.barh(list(y), table["two_way_accuracy"], color=["#4c72b0" if s == "baseline" else "#dd8452"
                                                      for s in table["stage"]])
    ax.errorbar(table["two_way_accuracy"], list(y), xerr=[table["two_way_accuracy"] - table["shoe_ci_low"],
                                                          table["shoe_ci_high"] - table["two_way_accuracy"]],
                fmt="none", ecolor="black", capsize=3)
    ax.set_yticks(list(y), table["model"])
    ax.axvline(0.5, color="grey", ls=":")
    ax.set_xlim(0.45, 0.8)
    ax.set_xlabel("held-out two-way accuracy (95 % CI over shoes)")
    fig.tight_layout()
    fig.savefig(out / "plots" / "accuracy.png", dpi=120)
    plt.close(fig)
    figs.append(("plots/accuracy.png", "Held-out two-way accuracy; bars: 95 % CI resampling shoes."))
    layers = metrics["layers"]
    fig, ax = plt.subplots(figsize=(7, 3))
    names = list(layers)
    for part in ("train", "test"):
        ax.plot(range(len(names)), [layers[k][part] for k in names], marker="o", label=f"{part} shoes")
    ax.set_xticks(range(len(names)), [n.replace("layer.", "") for n in names])
    ax.set_xlabel("hidden state (embeddings: final-norm CLS)")
    ax.set_ylabel("two-way accuracy")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "plots" / "layers.png", dpi=120)
    plt.close(fig)
    figs.append(("plots/layers.png", "The untuned ViT by layer (mean-pooled tokens)."))
    for objective in metrics.get("training", {}):
        curve = Path("train") / objective / "training_curves.png"
        if (out / curve).exists():
            figs.append((str(curve), f"Training curves: {objective}."))
    return figs


def write_zappos_report(out: Path, metrics: dict, table: pd.DataFrame) -> Path:
    """``out/report.html``: the data, the results table, the figures."""
    figs = _plots(out, metrics, table)
    d = metrics["data"]
    shown = table.drop(columns=["stage"]).round(3)
    parts = [f"<h1>{html.escape(metrics['title'])}</h1>",
             "<p>" + html.escape(", ".join(f"{k}: {v}" for k, v in d.items() if k.startswith("n_"))) + "</p>",
             "<p>Two-way accuracy: correct when sim(head, close) &gt; sim(head, far); chance 0.5. "
             "No ceiling: every (head, {close, far}) was answered once and there are no participant ids.</p>",
             "<h2>Held-out shoes</h2>", shown.to_html(index=False, na_rep="—")]
    parts += [f"<figure><img src='{html.escape(p)}' alt='{html.escape(c)}'><figcaption>{html.escape(c)}"
              f"</figcaption></figure>" for p, c in figs]
    doc = ("<!doctype html><html><head><meta charset='utf-8'><title>bgs study zappos</title>"
           "<style>body{font-family:sans-serif;max-width:70em;margin:2em auto}table{border-collapse:"
           "collapse;font-size:90%}td,th{border:1px solid #ccc;padding:2px 6px}img{max-width:100%}</style>"
           "</head><body>" + "\n".join(parts) + "</body></html>")
    path = out / "report.html"
    with atomic_path(path) as tmp:
        tmp.write_text(doc)
    return path
