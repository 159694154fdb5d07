"""Turning raw behavior into training targets.

* **Engagement** — the log of the smoothed like rate,
  ``log((likes + s) / (views + 2s))`` (``s = 0.5`` by default: the add-½ estimate, finite for
  0 likes and for likes = views), then standardised: per channel (mean 0, SD 1 within each
  channel) when channels are known — the Behavior-LLaVA point that likes mean different
  things on a big and a small channel — else over all stimuli. Statistics come from the
  stimuli passed as ``fit`` (the training stimuli), never from held-out ones; a channel with
  fewer than two fitted values, or no spread, uses the global statistics.
* **Replay** — a replay graph resampled to ``n`` equal bins over the clip (the model's
  temporal tokens): each bin is the overlap-weighted mean of the marker scores it covers;
  a bin no marker covers is NaN (left out of the loss). Marker graphs span
  ``[0, duration]`` (the record's duration, else the end of its last marker); vector graphs
  span the whole clip. The training target is then **centred per clip** (its mean over
  the covered bins subtracted): the loss asks *when* a clip is replayed, not how much, so
  the average profile over clips is no longer a cheap solution that ignores the clip.
"""

from __future__ import annotations

import numpy as np

from bgs.behavior.table import BehaviorTable, ReplayGraph


def like_log_ratio(likes, views, smoothing: float = 0.5) -> np.ndarray:
    """``log((likes + s) / (views + 2s))``; NaN where likes or views is unknown."""
    if smoothing <= 0:
        raise ValueError(f"smoothing must be positive, got {smoothing}")
    likes = np.asarray(likes, dtype=np.float64)
    views = np.asarray(views, dtype=np.float64)
    return np.log((likes + smoothing) / (views + 2 * smoothing))


def standardise(values, channels=None, fit=None, min_count: int = 2) -> np.ndarray:
    """z-scores of ``values`` (NaN stays NaN), per channel when ``channels`` are given.

    ``fit``: boolean mask of the values whose statistics are used (default: all finite ones).
    SD is the population SD; a zero SD counts as 1.
    """
    x = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(x) if fit is None else (np.asarray(fit, bool) & np.isfinite(x))
    if not ok.any():
        return np.full_like(x, np.nan)
    mu, sd = x[ok].mean(), x[ok].std()
    out = (x - mu) / (sd if sd > 0 else 1.0)
    if channels is None:
        return out
    ch = np.array([c if c is not None else "\0none" for c in channels], dtype=object)
    for c in np.unique(ch):
        if c == "\0none":
            continue
        here = ch == c
        fitted = here & ok
        if fitted.sum() >= min_count and x[fitted].std() > 0:
            out[here] = (x[here] - x[fitted].mean()) / x[fitted].std()
    return out


def engagement_targets(table: BehaviorTable, fit=None, smoothing: float = 0.5,
                       per_channel: bool = True) -> np.ndarray:
    """Standardised like log-ratio per record (see the module docstring)."""
    ratio = like_log_ratio(table.likes, table.views, smoothing)
    channels = table.channel if per_channel and table.has_channels else None
    return standardise(ratio, channels, fit)


def resample_replay(graph: ReplayGraph | None, n: int, duration: float | None = None) -> np.ndarray:
    """The graph as ``n`` bins over the clip (overlap-weighted means; NaN where uncovered)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if graph is None:
        return np.full(n, np.nan)
    span = 1.0 if graph.relative else float(duration if duration and np.isfinite(duration) else graph.span)
    edges = np.linspace(0.0, span, n + 1)
    lo = np.maximum(edges[:-1, None], graph.start[None, :])
    hi = np.minimum(edges[1:, None], graph.end[None, :])
    w = np.clip(hi - lo, 0.0, None)  # (n bins, markers) overlap in seconds
    total = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (w @ graph.score) / total
    out[total <= 1e-12 * max(span, 1.0)] = np.nan
    return out


def centre_per_clip(targets: np.ndarray) -> np.ndarray:
    """Each row minus its mean over its finite bins (NaN bins stay NaN)."""
    targets = np.asarray(targets, dtype=np.float64)
    if targets.size == 0:
        return targets.copy()
    finite = np.isfinite(targets)
    counts = finite.sum(axis=1, keepdims=True)
    means = np.where(finite, targets, 0.0).sum(axis=1, keepdims=True) / np.maximum(counts, 1)
    return targets - means


def replay_targets(table: BehaviorTable, n: int, centre: bool = False) -> np.ndarray:
    """(records, n) replay graphs resampled to ``n`` temporal tokens; ``centre=True``: each
    centred per clip (the training target)."""
    graphs = (np.stack([resample_replay(g, n, d) for g, d in zip(table.replay, table.duration)])
              if len(table) else np.zeros((0, n)))
    return centre_per_clip(graphs) if centre else graphs
