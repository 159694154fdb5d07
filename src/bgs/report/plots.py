"""Matplotlib figures written atomically as PNG (the Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

from bgs.io import atomic_path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | Path) -> Path:
    plt = _pyplot()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return Path(path)


def _scored_epochs(history: list[dict], key: str) -> tuple[list, list]:
    """The epochs that have the score ``key`` and its values (``optim.score_every`` leaves
    some epochs without one)."""
    kept = [h for h in history if h.get(key) is not None]
    return [h["epoch"] for h in kept], [h[key] for h in kept]


def plot_training_curves(history: list[dict], path: str | Path, title: str = "") -> Path:
    """Training loss, and validation RSA and odd-one-out accuracy, per epoch."""
    plt = _pyplot()
    epochs = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    axes[0].plot(epochs, [h["train_loss"] for h in history], "o-", color="black")
    axes[0].set(title="training loss", xlabel="epoch")
    for key, label, color in (("train_rsa", "train", "tab:gray"), ("val_rsa", "validation", "tab:blue")):
        xs, ys = _scored_epochs(history, key)
        if xs:
            axes[1].plot(xs, ys, "o-", label=label, color=color)
    axes[1].set(title="RSA (Spearman r)", xlabel="epoch")
    if axes[1].lines:
        axes[1].legend(frameon=False)
    anchor = any(h.get("val_anchor_accuracy") is not None for h in history)  # anchor triplets: two-way
    key, name, chance = (("val_anchor_accuracy", "two-way", 1 / 2) if anchor
                         else ("val_ooo_accuracy", "odd-one-out", 1 / 3))
    axes[2].plot(*_scored_epochs(history, key), "o-", color="tab:blue")
    axes[2].axhline(chance, ls=":", color="gray", label="chance")
    axes[2].set(title=f"validation {name} accuracy", xlabel="epoch")
    axes[2].legend(frameon=False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)
