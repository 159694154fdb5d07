"""The figure of ``bgs study zappos`` that the shared report does not draw: the untuned ViT's
two-way accuracy by layer (the rest of report.html comes from :mod:`bgs.report.html`)."""

from __future__ import annotations

from pathlib import Path


def plot_layers(layers: dict, path: Path) -> Path | None:
    """``path``: accuracy per hidden state on the training shoes (mean over folds), on the
    pooled held-out triplets and on all triplets; None without matplotlib."""
    from bgs.report.plots import _pyplot, save_figure

    try:
        plt = _pyplot()
    except ImportError:  # matplotlib is the plots extra
        return None
    names = list(layers)
    fig, ax = plt.subplots(figsize=(7, 3))
    for key, label in (("train", "training shoes (mean over folds)"), ("held_out", "held-out triplets"),
                       ("all", "all triplets")):
        ax.plot(range(len(names)), [layers[k][key] for k in names], marker="o", label=label)
    ax.set_xticks(range(len(names)), [n.replace("layer.", "") for n in names])
    ax.set_xlabel("hidden state (embeddings: final-norm CLS)")
    ax.set_ylabel("two-way accuracy")
    ax.axhline(0.5, color="grey", ls=":")
    ax.legend(frameon=False, fontsize=8)
    ax.set_title("The untuned ViT by layer (mean-pooled tokens)", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)
