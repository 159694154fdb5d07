"""Frozen-prefix caching for image backbones (``model.cache_frozen_prefix``).

When LoRA adapts only blocks ``K`` … of a ViT-style encoder, the patch embedding and blocks
``0 … K-1`` are frozen and no backward pass runs through them, so their output (hidden state
``K``) for a stimulus never changes during a run. :class:`FrozenPrefix` computes it once for
every stimulus (eval mode, no gradient) and the encoder then runs only blocks ``K`` … from
it. Same loss, same gradients, same embeddings as the full forward, when the frozen blocks
have no dropout or stochastic depth (checked); the cost of the frozen blocks is paid once per
run instead of at every step.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from bgs.errors import ConfigError

_BLOCK = re.compile(r"(?:^|\.)encoder\.layer\.(\d+)\.")


def _base_model(inner: nn.Module) -> nn.Module:
    """The transformers model under a PEFT wrapper (or ``inner`` itself)."""
    get = getattr(inner, "get_base_model", None)
    return get() if callable(get) else inner


def first_trainable_block(inner: nn.Module) -> int:
    """The index of the first encoder block holding a trainable weight; a ConfigError when a
    trainable weight lies outside the blocks (then nothing before it can be cached)."""
    blocks = []
    for name, p in inner.named_parameters():
        if not p.requires_grad:
            continue
        m = _BLOCK.search(name)
        if m is None:
            raise ConfigError(f"model.cache_frozen_prefix needs every trainable weight inside the "
                              f"encoder blocks, but {name} trains. Fix: set model.cache_frozen_prefix "
                              f"= false, or restrict model.lora.targets to encoder.layer.K modules")
        blocks.append(int(m.group(1)))
    if not blocks:
        raise ConfigError("model.cache_frozen_prefix: the backbone has no trainable weight")
    return min(blocks)


def _check_deterministic(model: nn.Module, start: int) -> None:
    cfg = model.config
    noisy = {k: getattr(cfg, k, 0) for k in ("hidden_dropout_prob", "attention_probs_dropout_prob",
                                               "drop_path_rate")}
    noisy = {k: v for k, v in noisy.items() if v}
    if noisy and start > 0:
        raise ConfigError(f"model.cache_frozen_prefix: the frozen blocks are stochastic in training "
                          f"({noisy}), so a cache would change the model. Fix: set "
                          f"model.cache_frozen_prefix = false")


class FrozenPrefix:
    """Hidden state ``start`` of every stimulus of ``ids``, and the forward from it."""

    def __init__(self, encoder, ids: Sequence, batch_size: int = 32):
        backbone = encoder.backbone
        if backbone.kind.input_layout != "frames":
            raise ConfigError(f"model.cache_frozen_prefix supports image backbones (one frame at a "
                              f"time), not {backbone.kind.name}")
        model = _base_model(encoder.inner)
        if not isinstance(getattr(getattr(model, "encoder", None), "layer", None), nn.ModuleList):
            raise ConfigError(f"model.cache_frozen_prefix: {backbone.kind.name} has no encoder.layer blocks")
        self.start = first_trainable_block(encoder.inner)
        if encoder.layer != f"layer.{len(model.encoder.layer)}":
            raise ConfigError(f"model.cache_frozen_prefix needs model.layer = \"layer.K\" (the "
                              f"hidden state the kept blocks end in), not {encoder.layer!r}")
        _check_deterministic(model, self.start)
        self.model = model
        self.pooling = backbone.kind.hidden_pooling
        self.index = {i: k for k, i in enumerate(ids)}
        self.tokens = self._compute(encoder, list(ids), batch_size)

    @torch.no_grad()
    def _compute(self, encoder, ids: list, batch_size: int) -> torch.Tensor:
        """(N, T, tokens, hidden): hidden state ``start`` of each stimulus, frame by frame."""
        backbone = encoder.backbone
        was_training = self.model.training
        self.model.eval()
        out = []
        try:
            for k in range(0, len(ids), batch_size):
                clips = backbone.preprocess(encoder.frames(ids[k:k + batch_size]))
                b, t = clips.shape[:2]
                h = self.model.embeddings(clips.reshape(b * t, *clips.shape[2:]))
                for block in self.model.encoder.layer[:self.start]:
                    h = _block_output(block(h))
                out.append(h.reshape(b, t, *h.shape[1:]))
        finally:
            self.model.train(was_training)
        return torch.cat(out)

    def forward(self, ids: Sequence) -> torch.Tensor:
        """Pooled hidden state after the encoder's (remaining) blocks, (B, hidden)."""
        rows = [self.index.get(i) for i in ids]
        missing = [i for i, r in zip(ids, rows) if r is None]
        if missing:
            raise KeyError(f"stimuli outside the frozen-prefix cache: {missing[:5]}")
        x = self.tokens[torch.as_tensor(np.asarray(rows), device=self.tokens.device)]
        b, t = x.shape[:2]
        h = x.reshape(b * t, *x.shape[2:])
        for block in self.model.encoder.layer[self.start:]:
            h = _block_output(block(h))
        pooled = h[:, 0] if self.pooling == "cls" else h.mean(dim=1)
        return pooled.reshape(b, t, -1).mean(dim=1)


def _block_output(out):
    return out[0] if isinstance(out, tuple) else out
