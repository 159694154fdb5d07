"""The behavior table: what an audience did with each stimulus.

One record per stimulus, keyed by ``key`` (a stimulus id, file name or URL that the
stimulus table resolves):

* ``views``, ``likes`` — counts (NaN where unknown);
* ``comments`` — comment texts (possibly none);
* ``replay`` — a :class:`ReplayGraph` (markers ``{start, end, replay_score}`` in seconds, or a
  fixed-length vector over the clip) or None;
* optional ``channel``, ``followers`` (channel subscribers), ``upload_date`` (ISO string)
  and ``duration`` (seconds, e.g. BLIFT's ``metadata.length``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class ReplayGraph:
    """Replay scores over windows ``[start, end)`` of a clip.

    ``relative`` graphs come from a fixed-length vector: its K values cover K equal windows
    of the clip, whatever its length (``start``/``end`` are then fractions of the clip).
    """

    start: np.ndarray
    end: np.ndarray
    score: np.ndarray
    relative: bool = False

    @classmethod
    def from_vector(cls, values) -> "ReplayGraph":
        v = np.asarray(values, dtype=np.float64)
        k = len(v)
        edges = np.arange(k + 1) / k
        return cls(edges[:-1], edges[1:], v, relative=True)

    @property
    def span(self) -> float:
        """The end of the last window (1.0 for a relative graph)."""
        return 1.0 if self.relative else float(self.end.max())

    def markers(self) -> list[dict]:
        return [{"start": float(s), "end": float(e), "replay_score": float(v)}
                for s, e, v in zip(self.start, self.end, self.score)]

    def to_json(self):
        """Markers, or the plain vector for a relative graph (the form it was read in)."""
        return [float(v) for v in self.score] if self.relative else self.markers()

    def __eq__(self, other) -> bool:
        return (isinstance(other, ReplayGraph) and self.relative == other.relative
                and all(np.allclose(getattr(self, a), getattr(other, a))
                        for a in ("start", "end", "score")))


@dataclass
class BehaviorTable:
    """Columns of equal length, one row per stimulus; ``rows`` are the records' row numbers
    in ``source`` (for error messages further down the line)."""

    keys: list
    views: np.ndarray
    likes: np.ndarray
    comments: list[list[str]]
    replay: list[ReplayGraph | None]
    channel: list[str | None] = field(default_factory=list)
    followers: np.ndarray | None = None
    upload_date: list[str | None] = field(default_factory=list)
    duration: np.ndarray | None = None
    source: str = ""
    rows: list[int] = field(default_factory=list)

    def __post_init__(self):
        n = len(self.keys)
        self.views = np.asarray(self.views, dtype=np.float64)
        self.likes = np.asarray(self.likes, dtype=np.float64)
        self.channel = list(self.channel) or [None] * n
        self.upload_date = list(self.upload_date) or [None] * n
        self.followers = (np.full(n, np.nan) if self.followers is None
                          else np.asarray(self.followers, dtype=np.float64))
        self.duration = (np.full(n, np.nan) if self.duration is None
                         else np.asarray(self.duration, dtype=np.float64))
        self.rows = list(self.rows) or list(range(1, n + 1))
        for name in ("views", "likes", "comments", "replay", "channel", "followers",
                     "upload_date", "duration", "rows"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"BehaviorTable.{name} has {len(getattr(self, name))} rows, "
                                 f"keys has {n}")

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def has_channels(self) -> bool:
        return any(c is not None for c in self.channel)

    def records(self) -> list[dict]:
        """The table as bgs-format records (see :mod:`bgs.behavior.readers`)."""
        out = []
        for k in range(len(self)):
            rec = {"id": _plain(self.keys[k]), "views": _count(self.views[k]),
                   "likes": _count(self.likes[k]), "comments": list(self.comments[k]),
                   "replay_graph": self.replay[k].to_json() if self.replay[k] is not None else None}
            if self.channel[k] is not None:
                rec["channel"] = self.channel[k]
            if np.isfinite(self.followers[k]):
                rec["followers"] = _count(self.followers[k])
            if self.upload_date[k] is not None:
                rec["upload_date"] = self.upload_date[k]
            if np.isfinite(self.duration[k]):
                rec["duration"] = float(self.duration[k])
            out.append(rec)
        return out

    def subset(self, positions) -> "BehaviorTable":
        p = [int(i) for i in positions]
        return BehaviorTable(
            [self.keys[i] for i in p], self.views[p], self.likes[p], [self.comments[i] for i in p],
            [self.replay[i] for i in p], [self.channel[i] for i in p], self.followers[p],
            [self.upload_date[i] for i in p], self.duration[p], self.source, [self.rows[i] for i in p])


def _plain(v):
    return v.item() if isinstance(v, np.generic) else v


def _count(v):
    v = float(v)
    if not np.isfinite(v):
        return None
    return int(v) if v == int(v) else v
