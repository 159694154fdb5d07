"""The figures of the run report (``bgs report``), each written atomically as a PNG.

Every function takes plain JSON-like inputs (the pieces of a run directory's ``metrics.json``
and the arrays of ``matrices.npz``), writes one PNG through :func:`bgs.report.plots.save_figure`
and returns its path. Colours come from the Okabe–Ito palette (distinguishable with the common
colour-vision deficiencies); baseline and fine-tuned models also differ in marker shape, so the
figures read in greyscale too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from bgs.report.plots import _pyplot, plot_training_curves, save_figure

# Okabe & Ito (2008), without black: blue, vermillion, bluish green, orange, reddish purple,
# sky blue, yellow.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#F0E442")
STAGE_STYLE = {  # stage -> (colour, marker, label)
    "baseline": ("#0072B2", "o", "baseline"),
    "fine-tuned": ("#D55E00", "D", "fine-tuned"),
}
OTHER_STAGE = ("#555555", "s", "other")
CEILING_COLOR = "#999999"
MATRIX_CMAP = "viridis"

__all__ = ["PALETTE", "cluster_order", "model_entry", "plot_model_scores", "plot_partition",
           "plot_probes", "plot_similarity_matrices", "plot_training_comparison",
           "plot_training_curves"]


# ---------------------------------------------------------------------- helpers
def _num(v) -> float | None:
    """A finite float, or None."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _ci(v) -> tuple[float, float] | None:
    if isinstance(v, (list, tuple)) and len(v) == 2:
        lo, hi = _num(v[0]), _num(v[1])
        if lo is not None and hi is not None:
            return lo, hi
    return None


def _short(text: str, width: int = 28) -> str:
    text = str(text)
    return text if len(text) <= width else text[: width - 1] + "…"


def model_entry(name: str, entry: Mapping) -> dict:
    """``{"name", "label", "stage", "family", "eval"}`` from either a run directory's model
    entry (with ``eval``) or a bare ``bgs evaluate`` JSON."""
    entry = dict(entry or {})
    if "eval" in entry or "label" in entry or "stage" in entry:
        ev = entry.get("eval") or {}
    else:
        ev = entry
    return {"name": str(name), "label": str(entry.get("label") or name),
            "stage": entry.get("stage"), "family": entry.get("family"), "eval": ev}


def cluster_order(dissimilarity: np.ndarray) -> np.ndarray:
    """Leaf order of average-linkage hierarchical clustering of a (partly observed)
    dissimilarity matrix. Unobserved (NaN) pairs are filled with the mean observed
    dissimilarity for the clustering only."""
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    d = np.array(dissimilarity, dtype=np.float64)
    n = len(d)
    if n < 3:
        return np.arange(n)
    d = np.where(np.isfinite(d), d, np.nan)
    d = np.fmax(d, d.T)  # symmetric; NaN only where both halves are unobserved
    off = ~np.eye(n, dtype=bool)
    observed = d[off & np.isfinite(d)]
    fill = float(observed.mean()) if observed.size else 1.0
    d = np.where(np.isfinite(d), d, fill)
    d = d - min(0.0, float(d[off].min()))  # distances must not be negative
    np.fill_diagonal(d, 0.0)
    return leaves_list(linkage(squareform(d, checks=False), method="average"))


def _rank_matrix(m: np.ndarray) -> np.ndarray:
    """Off-diagonal entries replaced by their percentile rank (0..1, ties averaged) among the
    upper-triangle entries; the diagonal and non-finite entries NaN."""
    from scipy.stats import rankdata

    m = np.asarray(m, dtype=np.float64)
    n = len(m)
    out = np.full((n, n), np.nan)
    iu, ju = np.triu_indices(n, k=1)
    v = m[iu, ju]
    ok = np.isfinite(v)
    if ok.sum() > 1:
        r = (rankdata(v[ok]) - 1) / (ok.sum() - 1)
        vals = np.full(len(v), np.nan)
        vals[ok] = r
        out[iu, ju] = vals
        out[ju, iu] = vals
    return out


# ---------------------------------------------------------------------- matrices
def plot_similarity_matrices(ids, human: np.ndarray, models: Mapping[str, np.ndarray],
                             path: str | Path, max_models: int = 4,
                             labels: Mapping[str, str] | None = None,
                             rank_human: bool = True) -> Path:
    """Human dissimilarity next to up to ``max_models`` model dissimilarity matrices.

    Rows and columns follow the average-linkage clustering of the human matrix (unobserved
    pairs filled with the mean observed dissimilarity for the clustering only). Each model
    matrix is rank-transformed (percentile rank of its pairs) so that models on different
    scales are comparable, and so, by default, is the human matrix (over its observed pairs;
    ``rank_human=False`` shows it in its own units) — the ranks are what Spearman RSA
    compares. Unobserved human pairs are grey. ``labels``: display names by model name.
    """
    plt = _pyplot()
    import matplotlib as mpl

    human = np.asarray(human, dtype=np.float64)
    n = len(human)
    ids = np.asarray(ids) if ids is not None else np.arange(n)
    names = list(models)[: max(0, int(max_models))]
    order = cluster_order(human)
    k = 1 + len(names)
    fig, axes = plt.subplots(1, k, figsize=(3.6 * k + 0.4, 3.9), squeeze=False)
    axes = axes[0]
    cmap = mpl.colormaps[MATRIX_CMAP].with_extremes(bad="#d0d0d0")

    h = human.copy()
    np.fill_diagonal(h, np.nan)
    n_obs = int(np.isfinite(h[np.triu_indices(n, k=1)]).sum())
    h = (_rank_matrix(h) if rank_human else h)[np.ix_(order, order)]
    finite = h[np.isfinite(h)]
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if rank_human:
        vmin, vmax = 0.0, 1.0
    im = axes[0].imshow(np.ma.masked_invalid(h), cmap=cmap, vmin=vmin, vmax=vmax,
                        interpolation="nearest")
    axes[0].set_title(f"human: {n_obs:,} of {n * (n - 1) // 2:,} pairs observed\n"
                      f"({'rank of dissimilarity' if rank_human else 'dissimilarity'})",
                      fontsize=10)
    cb = fig.colorbar(im, ax=axes[0], fraction=0.046, pad=0.04)
    cb.set_label(f"{'percentile rank' if rank_human else 'dissimilarity'} (grey: unobserved)",
                 fontsize=8)
    cb.ax.tick_params(labelsize=7)

    for ax, name in zip(axes[1:], names):
        m = np.asarray(models[name], dtype=np.float64)
        if m.shape != human.shape:
            ax.text(0.5, 0.5, f"shape {m.shape}\n≠ human {human.shape}", ha="center",
                    va="center", transform=ax.transAxes, fontsize=9)
            ax.set_axis_off()
            continue
        r = _rank_matrix(m)[np.ix_(order, order)]
        im = ax.imshow(np.ma.masked_invalid(r), cmap=cmap, vmin=0, vmax=1,
                       interpolation="nearest")
        ax.set_title(_short((labels or {}).get(name, name), 30) + "\n(rank of dissimilarity)",
                     fontsize=10)
        cb = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
        cb.set_label("percentile rank", fontsize=8)
        cb.ax.tick_params(labelsize=7)

    for ax in axes:
        if n <= 24:
            ticks = np.arange(n)
            ax.set_xticks(ticks, [str(x) for x in ids[order]], rotation=90, fontsize=6)
            ax.set_yticks(ticks, [str(x) for x in ids[order]], fontsize=6)
        else:
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel(f"{n} stimuli, clustered by human D", fontsize=8)
    more = len(models) - len(names)
    title = "Dissimilarity matrices of the held-out stimuli (order: human clustering)"
    if more > 0:
        title += f" — {more} more model(s) not shown"
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return save_figure(fig, path)


# ---------------------------------------------------------------------- scores
def _first(evals: Sequence[dict], getter):
    for ev in evals:
        try:
            v = getter(ev)
        except (KeyError, TypeError, IndexError):
            continue
        if v is not None:
            return v
    return None


def _reference_lines(ax, key: str, evals: list, true_ceiling, lows: list, highs: list) -> None:
    """Ceilings and chance of the ``key`` panel (extending ``lows``/``highs`` for the limits)."""
    if key == "anchor_accuracy":  # no ceiling without repeated triplets: chance only
        ceil = _first(evals, lambda ev: _num(ev["anchor_accuracy"]["ceiling"]))
        if ceil is not None:
            ax.axvline(ceil, color=CEILING_COLOR, lw=2.5, zorder=1)
            highs.append(ceil)
        ax.axvline(0.5, ls="--", color="#444444", lw=1, zorder=2)
        lows.append(0.5)
    elif key == "ooo_accuracy":
        lo = _first(evals, lambda ev: _num(ev["ooo_accuracy"]["ceiling"]["lower"]))
        hi = _first(evals, lambda ev: _num(ev["ooo_accuracy"]["ceiling"]["upper"]))
        chance = _first(evals, lambda ev: _num(ev["ooo_accuracy"]["chance"])) or 1 / 3
        if lo is not None and hi is not None:
            ax.axvspan(lo, hi, color=CEILING_COLOR, alpha=0.3, lw=0, zorder=1)
            highs.append(hi)
        ax.axvline(chance, ls="--", color="#444444", lw=1, zorder=2)
        lows.append(chance)
        if _num(true_ceiling) is not None:
            ax.axvline(float(true_ceiling), ls=":", color="black", lw=1.8, zorder=2)
            highs.append(float(true_ceiling))
    else:
        ceil = _first(evals, lambda ev: _num(ev["rsa_spearman"]["ceiling"]))
        rel_ci = _first(evals, lambda ev: _ci(ev["ceilings"]["split_half"]["spearman"]["ci"]))
        if ceil is not None:
            if rel_ci is not None and rel_ci[0] > 0:
                ax.axvspan(math.sqrt(rel_ci[0]), math.sqrt(max(rel_ci[1], 0)),
                           color=CEILING_COLOR, alpha=0.3, lw=0, zorder=1)
            ax.axvline(ceil, color=CEILING_COLOR, lw=2.5, zorder=1)
            highs.append(ceil)
        ax.axvline(0, ls="--", color="#444444", lw=1, zorder=2)
        lows.append(0.0)


def _score_legend(stages_seen: dict, anchor: bool, true_ceiling: float | None) -> list:
    """The legend of :func:`plot_model_scores`: the stages drawn, then its reference lines."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    rank = {"baseline": 0, "fine-tuned": 1}
    handles = [Line2D([], [], ls="", marker=s[1], color=s[0], mfc=s[0] if lab == "fine-tuned"
                      else "white", mew=1.6, ms=7, label=lab)
               for lab, s in sorted(stages_seen.items(), key=lambda kv: rank.get(kv[0], 2))]
    handles += ([Line2D([], [], ls="--", color="#444444", lw=1, label="chance (1/2; r = 0)")] if anchor else
                [Patch(color=CEILING_COLOR, alpha=0.3, label="odd-one-out ceiling (lower–upper)"),
                 Line2D([], [], color=CEILING_COLOR, lw=2.5, label="RSA ceiling √reliability"),
                 Line2D([], [], ls="--", color="#444444", lw=1, label="chance (1/3; r = 0)")])
    if _num(true_ceiling) is not None:
        handles.insert(-1, Line2D([], [], ls=":", color="black", lw=1.8,
                                  label="true odd-one-out ceiling (simulation)"))
    return handles


def plot_model_scores(models: Mapping[str, Mapping], path: str | Path, title: str = "",
                      true_ceiling: float | None = None) -> Path:
    """Held-out scores per model: 3-way odd-one-out accuracy (left) and Spearman RSA (right),
    each with its 95% CI, next to the noise ceilings of the same triplets.

    ``models``: name → a run directory's model entry (``label``, ``stage``, ``eval``) or a bare
    ``bgs evaluate`` JSON. Odd-one-out: grey band from the ceiling's lower to upper bound,
    dashed line at chance (1/3). RSA: solid line at the ceiling √(split-half reliability), a
    band where the reliability has a CI, dashed line at 0. Baseline (blue circles) and
    fine-tuned (vermillion diamonds) models differ in colour and marker. ``true_ceiling``: the
    known odd-one-out ceiling of simulated data, drawn as a dotted black line.
    """
    plt = _pyplot()
    entries = [model_entry(k, v) for k, v in models.items()]
    entries = [e for e in entries if e["eval"]]
    n = len(entries)
    height = 1.5 + 0.42 * max(n, 2)
    fig, axes = plt.subplots(1, 2, figsize=(11, height), sharey=True)
    y = np.arange(n)[::-1]
    evals = [e["eval"] for e in entries]
    stages_seen: dict[str, tuple] = {}

    anchor = any(ev.get("anchor_accuracy") for ev in evals)  # anchor triplets: two-way accuracy
    panels = ((("anchor_accuracy", "two-way accuracy (95% CI over stimuli)", "ci_stimuli") if anchor
               else ("ooo_accuracy", "3-way odd-one-out accuracy", "ci")),
              ("rsa_spearman", "RSA (Spearman r, model vs human D)", "ci"))
    for ax, (key, xlabel, ci_key) in zip(axes, panels):
        lows, highs = [], []
        for yi, e in zip(y, entries):
            score = e["eval"].get(key) or {}
            v = _num(score.get("value"))
            style = STAGE_STYLE.get(e["stage"]) or (*OTHER_STAGE[:2], str(e["stage"] or "model"))
            stages_seen[style[2]] = style
            if v is None:
                ax.text(0.02, yi, "n/a", va="center", fontsize=8,
                        transform=ax.get_yaxis_transform())
                continue
            ci = _ci(score.get(ci_key))
            xerr = None
            if ci is not None:
                xerr = [[max(0.0, v - ci[0])], [max(0.0, ci[1] - v)]]
                lows.append(ci[0])
                highs.append(ci[1])
            ax.errorbar([v], [yi], xerr=xerr, fmt=style[1], color=style[0], ms=7, capsize=3,
                        elinewidth=1.4, mfc=style[0] if e["stage"] == "fine-tuned" else "white",
                        mew=1.6, zorder=3)
            ax.annotate(f"{v:.3f}", (ci[1] if ci else v, yi), xytext=(5, 0),
                        textcoords="offset points", va="center", fontsize=8, color="#333333")
            lows.append(v)
            highs.append(v)
        _reference_lines(ax, key, evals, true_ceiling, lows, highs)
        if lows and highs:
            span = max(highs) - min(lows) or 0.1
            ax.set_xlim(min(lows) - 0.05 * span, max(highs) + 0.16 * span)
        ax.set_xlabel(xlabel)
        ax.grid(axis="x", color="#e5e5e5", zorder=0)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    axes[0].set_yticks(y, [_short(e["label"], 32) for e in entries])
    axes[0].set_ylim(-0.7, n - 0.3)
    axes[0].set_title("two-way accuracy (anchor triplets)" if anchor else "odd-one-out accuracy", fontsize=10)
    axes[1].set_title("representational similarity", fontsize=10)

    handles = _score_legend(stages_seen, anchor, true_ceiling)
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 6), frameon=False,
               fontsize=8, bbox_to_anchor=(0.5, 0.0))
    fig.suptitle(title or "Held-out alignment with human judgments (95% CIs)", fontsize=11)
    fig.tight_layout(rect=(0, 0.3 / height, 1, 1))
    return save_figure(fig, path)


# ---------------------------------------------------------------------- probes
def plot_probes(probes: Mapping[str, Sequence[Mapping]], path: str | Path,
                labels: Mapping[str, str] | None = None) -> Path:
    """Grouped bars: held-out R² of a linear probe per attribute (groups) and model (bars),
    with 95% bootstrap CI whiskers. ``probes``: model → rows of ``ProbeResult.to_frame()``."""
    plt = _pyplot()
    names = list(probes)
    attributes: list[str] = []
    for rows in probes.values():
        for row in rows:
            a = str(row.get("attribute"))
            if a not in attributes:
                attributes.append(a)
    na, nm = len(attributes), max(len(names), 1)
    width = 0.8 / nm
    fig, ax = plt.subplots(figsize=(min(11.0, max(6.0, 1.0 + 0.45 * na * nm + 0.3 * na)), 4.0))
    x = np.arange(na)
    lows, highs = [0.0], [0.0]
    for k, name in enumerate(names):
        by_attr = {str(r.get("attribute")): r for r in probes[name]}
        vals, err_lo, err_hi = [], [], []
        for a in attributes:
            r = by_attr.get(a, {})
            v = _num(r.get("r2"))
            lo, hi = _num(r.get("r2_ci_low")), _num(r.get("r2_ci_high"))
            vals.append(np.nan if v is None else v)
            err_lo.append(np.nan if v is None or lo is None else max(0.0, v - lo))
            err_hi.append(np.nan if v is None or hi is None else max(0.0, hi - v))
            lows += [q for q in (v, lo) if q is not None]
            highs += [q for q in (v, hi) if q is not None]
        ax.bar(x - 0.4 + width * (k + 0.5), vals, width * 0.92, yerr=[err_lo, err_hi],
               color=PALETTE[k % len(PALETTE)], capsize=2.5, ecolor="#333333",
               error_kw={"elinewidth": 1}, label=_short((labels or {}).get(name, name), 30),
               zorder=3)
    ax.axhline(0, color="#333333", lw=0.8, zorder=2)
    ax.set_xticks(x, [_short(a, 18) for a in attributes],
                  rotation=30 if na > 4 or max(map(len, attributes or [""])) > 10 else 0,
                  ha="right" if na > 4 or max(map(len, attributes or [""])) > 10 else "center")
    span = max(highs) - min(lows) or 1.0
    ax.set_ylim(min(lows) - 0.05 * span, max(highs) + 0.08 * span)
    ax.set_ylabel("held-out R² (95% CI)")
    ax.set_title("Linear probes: attributes decodable from each model's embeddings", fontsize=11)
    ax.grid(axis="y", color="#e5e5e5", zorder=0)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return save_figure(fig, path)


# ---------------------------------------------------------------------- partition
def _partition_parts(part: Mapping) -> list[tuple[str, float]]:
    out = [(f"unique {m}", _num(v)) for m, v in (part.get("unique") or {}).items()]
    out += [(f"shared {k.replace('+', ' ∩ ')}", _num(v))
            for k, v in (part.get("shared") or {}).items()]
    return [(k, 0.0 if v is None else v) for k, v in out]


def plot_partition(partition: Mapping, path: str | Path) -> Path:
    """Variance partitioning of human dissimilarity: one stacked horizontal bar per mode
    (in-sample, and cross-validated when present) made of the unique and shared parts, whose
    sum is R² of all models together (marked with a black tick). Negative parts (suppression,
    or cross-validated loss) are stacked to the left of zero, hatched."""
    plt = _pyplot()
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    modes = [(label, partition.get(key)) for key, label in
             (("in_sample", "in-sample"), ("cross_validated", "cross-validated"))]
    modes = [(label, p) for label, p in modes if p]
    if not modes and "unique" in partition:  # a bare VariancePartition.to_dict()
        modes = [(str(partition.get("mode", "")).replace("_", "-") or "partition", partition)]
    components: list[str] = []
    for _, p in modes:
        for k, _v in _partition_parts(p):
            if k not in components:
                components.append(k)
    colours = {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(components)}
    fig, ax = plt.subplots(figsize=(9, 1.6 + 0.75 * max(len(modes), 1)))
    y = np.arange(len(modes))[::-1]
    def total_of(p, parts):
        t = _num(p.get("explained"))
        return sum(v for _, v in parts) if t is None else t

    lo_all, hi_all = [0.0], [0.0]
    for _, p in modes:
        parts = _partition_parts(p)
        lo_all.append(sum(v for _, v in parts if v < 0))
        hi_all.append(max(sum(v for _, v in parts if v >= 0), total_of(p, parts)))
    span = max(hi_all) - min(lo_all) or 0.1
    for yi, (_, p) in zip(y, modes):
        parts = _partition_parts(p)
        total = total_of(p, parts)
        pos, neg = 0.0, 0.0
        for k, v in parts:
            if v >= 0:
                ax.barh(yi, v, left=pos, color=colours[k], height=0.55, edgecolor="white", zorder=3)
                # label segments wide enough for the text and clear of the total's tick
                if v > 0.075 * span and abs(pos + v / 2 - total) > 0.045 * span:
                    ax.text(pos + v / 2, yi, f"{v:.3f}", ha="center", va="center", fontsize=7,
                            color="white" if colours[k] in PALETTE[:3] + PALETTE[4:5] else "black",
                            zorder=4)
                pos += v
            else:
                ax.barh(yi, v, left=neg, color=colours[k], height=0.55, edgecolor="#333333",
                        hatch="///", zorder=3)
                neg += v
        ax.plot([total, total], [yi - 0.36, yi + 0.36], color="black", lw=2, zorder=5)
        ax.annotate(f"R² all = {total:.3f}", (max(pos, total), yi), xytext=(6, 0),
                    textcoords="offset points", va="center", fontsize=8)
    ax.set_xlim(min(lo_all) - 0.03 * span, max(hi_all) + 0.2 * span)
    ax.axvline(0, color="#333333", lw=0.8, zorder=2)
    ax.set_yticks(y, [label for label, _ in modes])
    ax.set_ylim(-0.6, len(modes) - 0.4)
    ax.set_xlabel("share of variance of human dissimilarity (R²)")
    ax.grid(axis="x", color="#e5e5e5", zorder=0)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    handles = [Patch(color=colours[c], label=c) for c in components]
    handles.append(Line2D([], [], color="black", lw=2, label="R² of all models"))
    if any(v < 0 for _, p in modes for _, v in _partition_parts(p)):
        handles.append(Patch(facecolor="white", edgecolor="#333333", hatch="///",
                             label="negative part (left of 0)"))
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.28 if len(modes) > 1
                                                                      else -0.45),
              ncol=min(4, len(handles)), frameon=False, fontsize=8)
    ax.set_title("Variance partitioning: unique and shared parts of human D", fontsize=11)
    fig.tight_layout()
    return save_figure(fig, path)


# ---------------------------------------------------------------------- training
def plot_training_comparison(training: Mapping[str, Mapping], path: str | Path) -> Path:
    """Validation RSA (left) and validation odd-one-out accuracy (right) per epoch, one line
    per objective, the best epoch of each marked with a star."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
    anchor = any(_num(h.get("val_anchor_accuracy")) is not None  # anchor triplets: two-way accuracy
                 for e in training.values() for h in e.get("history") or [])
    accuracy, name, chance = (("val_anchor_accuracy", "two-way", 1 / 2) if anchor
                              else ("val_ooo_accuracy", "odd-one-out", 1 / 3))
    markers, styles = ("o", "s", "^", "D", "v", "P", "X"), ("-", "--", "-.", ":")
    for k, (name, entry) in enumerate(training.items()):
        hist = entry.get("history") or []
        epochs = [h.get("epoch", i) for i, h in enumerate(hist)]
        colour = PALETTE[k % len(PALETTE)]
        for ax, key in zip(axes, ("val_rsa", accuracy)):
            vals = [np.nan if _num(h.get(key)) is None else float(h[key]) for h in hist]
            # marker and dash differ too, so overlapping objectives stay distinguishable
            ax.plot(epochs, vals, color=colour, marker=markers[k % len(markers)],
                    ls=styles[k % len(styles)], ms=5, mfc="white", mew=1.3,
                    label=_short(name, 30))
            best = entry.get("best_epoch")
            if best in epochs:
                i = epochs.index(best)
                ax.plot([best], [vals[i]], "*", color=colour, ms=13, mec="black", mew=0.6)
    axes[0].set(title="validation RSA (Spearman r)", xlabel="epoch")
    axes[1].set(title=f"validation {name} accuracy", xlabel="epoch")
    axes[1].axhline(chance, ls="--", color="#444444", lw=1, label="chance")
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(color="#e5e5e5")
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    axes[1].legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle("Fine-tuning objectives compared (★ best epoch)", fontsize=11)
    fig.tight_layout()
    return save_figure(fig, path)
