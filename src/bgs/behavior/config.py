"""The ``[behavior]`` section of a ``bgs train`` config: receiver-behavior objectives.

All weights default to 0 (off). With any weight above 0 the trainer adds
``engagement·L_engagement + replay·L_replay + comments·L_comments`` to the BGS objective
(``objective.name = "none"`` trains on behavior alone); see :mod:`bgs.objectives.behavior`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bgs.constraints import FLAG, TEXT, Interval, Options, check
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

    SECTION: ClassVar[str] = "behavior"
    CONSTRAINTS: ClassVar[dict] = {
        "file": [TEXT], "format": [Options("auto", "bgs", "blift")], "id_field": [TEXT],
        **{k: [Interval(float, 0, None)] for k in WEIGHTS},
        "smoothing": [Interval(float, 0, None, closed="neither")],
        "temperature": [Interval(float, 0, None, closed="neither")],
        "per_channel": [FLAG], "text_model": [TEXT], "head_hidden": [Interval(int, 1, None)]}

    def __post_init__(self):
        check(self)
        for key in WEIGHTS + ("smoothing", "temperature"):
            setattr(self, key, float(getattr(self, key)))

    @property
    def active(self) -> bool:
        return any(getattr(self, k) > 0 for k in WEIGHTS)

    def validate(self) -> None:
        if self.active and not self.file:
            raise ConfigError("a behavior weight is set but behavior.file is empty; set it to the "
                              "behavior records (e.g. behavior.jsonl of `bgs synth make`)")
