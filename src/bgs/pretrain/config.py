"""What a pre-training config carries besides its fields: its dict form, a stable key for the
cache folder, and the preprocessor file saved beside the encoder."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, fields
from typing import ClassVar

from bgs.errors import ConfigError
from bgs.models.registry import IMAGENET_MEAN, IMAGENET_STD


class PretrainConfig:
    """Mixin for a frozen dataclass with ``size`` and ``frames`` fields. ``VERSION`` is bumped
    whenever the same config would train a different model, so that cached folders of an
    older version are not reused."""

    VERSION: ClassVar[int]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict):
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ConfigError(f"unknown {cls.__name__} field(s) {', '.join(sorted(unknown))}; "
                              f"known: {', '.join(sorted(names))}")
        return cls(**d)

    def key(self) -> str:
        """Short stable hash of the config and the pre-training version (the cache folder)."""
        text = json.dumps({**self.to_dict(), "version": self.VERSION}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def preprocessor(self) -> dict:
        """``preprocessor_config.json`` of the saved encoder: ImageNet normalisation at ``size``."""
        return {"image_processor_type": "VideoMAEImageProcessor", "do_normalize": True,
                "image_mean": list(IMAGENET_MEAN), "image_std": list(IMAGENET_STD),
                "do_resize": True, "size": {"shortest_edge": self.size},
                "do_center_crop": True, "crop_size": {"height": self.size, "width": self.size},
                "do_rescale": True, "rescale_factor": 1 / 255, "num_frames": self.frames}
