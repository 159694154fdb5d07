"""Receiver behavior (views, likes, comments, replay graphs) as training signal.

:mod:`~bgs.behavior.table` holds the per-stimulus table, :mod:`~bgs.behavior.readers` reads and
validates JSONL/Parquet and BLIFT-style records, :mod:`~bgs.behavior.normalise` turns them into
targets, :mod:`~bgs.behavior.training` plugs the losses of :mod:`bgs.objectives.behavior` into
the trainer; the experiment comparing behavior, BGS and both is :mod:`bgs.study.behavior`.
"""

from bgs.behavior.normalise import (
    engagement_targets,
    like_log_ratio,
    replay_targets,
    resample_replay,
    standardise,
)
from bgs.behavior.readers import detect_format, read_behavior, write_behavior
from bgs.behavior.table import BehaviorTable, ReplayGraph

__all__ = ["BehaviorTable", "ReplayGraph", "detect_format", "engagement_targets", "like_log_ratio",
           "read_behavior", "replay_targets", "resample_replay", "standardise", "write_behavior"]
