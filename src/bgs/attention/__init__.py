"""Attention maps of video and image backbones (rollout and gradient-weighted rollout), the
share of attention on masked regions (agents), and its shift with fine-tuning."""

from bgs.attention.maps import SUPPORTED, Layout, attention_maps, layout_for
from bgs.attention.masks import align_mask, mask_shares, patch_fractions, read_mask
from bgs.attention.rollout import METHODS, divided_rollout, joint_rollout

__all__ = ["METHODS", "SUPPORTED", "Layout", "align_mask", "attention_maps", "divided_rollout",
           "joint_rollout", "layout_for", "mask_shares", "patch_fractions", "read_mask"]
