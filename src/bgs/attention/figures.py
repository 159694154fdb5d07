"""The agent share of attention, base vs fine-tuned, as a figure (matplotlib)."""

from __future__ import annotations

from pathlib import Path

from bgs.report.plots import _pyplot, save_figure


def plot_agent_ratio(summary: dict, path: str | Path, title: str = "") -> Path:
    """Agent ratio (attention share on the agents / their area share; chance 1) per model and
    method, mean over clips with bootstrap 95% CIs."""
    plt = _pyplot()
    models = summary.get("models", {})
    methods = list(summary.get("methods") or next(iter(models.values()), {}).keys())
    labels = list(models)
    fig, ax = plt.subplots(figsize=(1.8 + 1.6 * len(methods), 3.0))
    colours = {"base": "#999999", "fine-tuned": "#0072B2"}
    width = 0.8 / max(1, len(labels))
    for j, label in enumerate(labels):
        for i, meth in enumerate(methods):
            e = models[label].get(meth)
            if not e:
                continue
            x = i + (j - (len(labels) - 1) / 2) * width
            ci = e.get("agent_ratio_ci")
            err = [[e["agent_ratio"] - ci[0]], [ci[1] - e["agent_ratio"]]] if ci else None
            ax.errorbar([x], [e["agent_ratio"]], yerr=err, fmt="o", color=colours.get(label, "C%d" % j),
                        capsize=4, label=label if i == 0 else None)
    ax.axhline(1.0, color="k", lw=0.8, ls="--")
    ax.set_xticks(range(len(methods)), [m.replace("_", " ") for m in methods])
    ax.set_xlim(-0.6, len(methods) - 0.4)
    ax.set_ylabel("attention on agents / agents' area")
    ax.set_title(title or f"Agent share of attention ({summary.get('n_with_masks', '?')} clips; 1 = chance)",
                 fontsize=9)
    ax.legend(frameon=False, fontsize=8)
    return save_figure(fig, path)
