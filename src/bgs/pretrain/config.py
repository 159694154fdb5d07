"""What the pre-training configs share: their dict form, a stable key for the cache folder,
and the encoder part of the ``VideoMAEConfig`` they build."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, fields
from typing import ClassVar

from bgs.errors import ConfigError
from bgs.models.registry import IMAGENET_MEAN, IMAGENET_STD


class PretrainConfig:
    """Mixin for a frozen dataclass with ``size, patch, frames, tubelet, hidden, layers,
    heads, intermediate`` fields; ``VERSION`` is bumped whenever the same config would train
    a different model, so that cached folders of an older version are not reused."""

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

    def encoder_kwargs(self) -> dict:
        """The encoder's ``VideoMAEConfig`` arguments. It ends with a LayerNorm (as
        MCG-NJU/videomae-base), so its tokens are normalised; the registry pools their mean."""
        return dict(image_size=self.size, patch_size=self.patch, num_channels=3, num_frames=self.frames,
                    tubelet_size=self.tubelet, hidden_size=self.hidden, num_hidden_layers=self.layers,
                    num_attention_heads=self.heads, intermediate_size=self.intermediate,
                    hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, layer_norm_eps=1e-6,
                    use_mean_pooling=False)

    def preprocessor(self) -> dict:
        """``preprocessor_config.json`` of the saved encoder: ImageNet normalisation at ``size``."""
        return {"image_processor_type": "VideoMAEImageProcessor", "do_normalize": True,
                "image_mean": list(IMAGENET_MEAN), "image_std": list(IMAGENET_STD),
                "do_resize": True, "size": {"shortest_edge": self.size},
                "do_center_crop": True, "crop_size": {"height": self.size, "width": self.size},
                "do_rescale": True, "rescale_factor": 1 / 255, "num_frames": self.frames}
