"""Model backbones: the registry, loaders for vision and text models, and embedding."""

from bgs.models.registry import KINDS, BackboneKind, ModelSpec, parse_model

__all__ = ["KINDS", "BackboneKind", "ModelSpec", "parse_model"]
