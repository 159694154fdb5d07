"""The ``[behavior]`` section of a ``bgs train`` config: receiver-behavior objectives.

All weights default to 0 (off). With any weight above 0 the trainer adds
``engagement·L_engagement + replay·L_replay + comments·L_comments`` to the BGS objective
(``objective.name = "none"`` trains on behavior alone); see :mod:`bgs.objectives.behavior`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bgs.errors import ConfigError

WEIGHTS = ("engagement", "replay", "comments")


@dataclass
class BehaviorConfig:
    file: str = ""  # behavior records (JSONL or Parquet), e.g. the synthetic behavior.jsonl
    format: str = "auto"  # auto | bgs | blift
    id_field: str = ""  # record field naming the stimulus (default: id, video_name, permalink, url)
    engagement: float = 0.0  # weight of the like log-ratio regression
    replay: float = 0.0  # weight of the replay-graph prediction (video backbones)
    comments: float = 0.0  # weight of the comment–content InfoNCE
    smoothing: float = 0.5  # s in log((likes + s) / (views + 2s))
    per_channel: bool = True  # standardise engagement within channels when records name them
    temperature: float = 0.07  # InfoNCE temperature
    text_model: str = "minilm"  # frozen comment encoder (text model source: minilm, mpnet, folder)
    head_hidden: int = 64  # width of the engagement head

    def __post_init__(self):
        for key in WEIGHTS + ("smoothing", "temperature"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value < 0:
                raise ConfigError(f"behavior.{key} must be a finite number >= 0, got {value!r}")
            setattr(self, key, float(value))
        if self.smoothing <= 0 or self.temperature <= 0:
            raise ConfigError("behavior.smoothing and behavior.temperature must be positive")
        if self.format not in ("auto", "bgs", "blift"):
            raise ConfigError(f"behavior.format must be auto, bgs or blift, got {self.format!r}")
        if not isinstance(self.per_channel, bool):
            raise ConfigError(f"behavior.per_channel must be true or false, got {self.per_channel!r}")
        if isinstance(self.head_hidden, bool) or not isinstance(self.head_hidden, int) or self.head_hidden < 1:
            raise ConfigError(f"behavior.head_hidden must be a positive integer, got {self.head_hidden!r}")

    @property
    def active(self) -> bool:
        return any(getattr(self, k) > 0 for k in WEIGHTS)

    def validate(self) -> None:
        if self.active and not self.file:
            raise ConfigError("a behavior weight is set but behavior.file is empty; set it to the "
                              "behavior records (e.g. behavior.jsonl of `bgs synth make`)")
