"""Attention maps of a vision backbone (optionally with its fine-tuned head) for clips.

:func:`attention_maps` runs one forward (and, for the gradient-weighted method, one
backward) pass per batch with the attention probabilities recorded, and returns, per clip
and method, a relevance map over the *frames × patch grid* that sums to one over the clip.

Which token is "the embedding" (the row of the rollout that is read):

* TimeSformer, CLIP: the CLS token (CLIP's pooled output is its CLS after a LayerNorm);
* VideoMAE, V-JEPA 2 and 2.1 (no CLS; bgs pools the mean of the last layer's tokens): the mean of
  all rows, i.e. a uniform start vector — the embedding is the mean of the tokens, so each
  token's rollout row counts equally;
* SigLIP (attention-pooling head): the pooling head's attention weights over the tokens
  (mean over its heads) as the start vector.

Image models run per frame; the video embedding is the mean over frames, so each frame's
map gets weight 1/T. VideoMAE and V-JEPA 2 (2.1) embed *tubelets* of ``tubelet_size`` frames; a
tubelet's relevance is split equally over the frames it covers (the model cannot tell them
apart within the tubelet).

The gradient-weighted method needs a scalar of the embedding: ``s = ½‖z‖²`` of the vector
before the final L2 normalisation — the backbone's pooled embedding for a base model, the
projection head's output before normalisation for a fine-tuned one (the normalised vector has
constant norm, so its gradient would vanish). ``∂s/∂A = zᵀ ∂z/∂A``: what moves the embedding
along itself.

Backbones must run with eager attention (``attn_implementation="eager"``): fused attention
kernels do not expose the probabilities. TimeSformer's temporal attentions are not returned
by transformers; they are recorded with forward hooks on each temporal attention's dropout
(the identity in eval mode, whose output is the probability tensor that is used).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from bgs.attention.rollout import METHODS, divided_rollout, joint_rollout
from bgs.errors import ConfigError

SUPPORTED = ("timesformer", "videomae", "vjepa2", "vjepa2.1", "clip", "siglip")


@dataclass(frozen=True)
class Layout:
    """How a backbone's tokens map to frames and the patch grid."""

    kind: str  # "joint" or "divided"
    per_frame: bool  # image model run on B·T frames
    cls: bool  # token 0 is a CLS token
    start: str  # "cls", "mean" or "probe"
    t_tokens: int  # temporal token positions (1 for image models)
    tubelet: int  # frames per temporal token
    grid: int  # patches per side


def _config(model: nn.Module):
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return base, base.config


def layout_for(backbone) -> Layout:
    """The token layout of a :class:`~bgs.models.vision.VisionBackbone`."""
    name = backbone.kind.name
    if name not in SUPPORTED:
        raise ConfigError(f"attention maps are not implemented for {name!r} backbones; "
                          f"supported: {', '.join(SUPPORTED)}")
    _, c = _config(backbone.model)
    if name == "timesformer":
        if getattr(c, "attention_type", "divided_space_time") != "divided_space_time":
            raise ConfigError(f"{backbone.source}: TimeSformer attention_type "
                              f"{c.attention_type!r} is not supported (only divided_space_time)")
        return Layout("divided", False, True, "cls", backbone.frames, 1, c.image_size // c.patch_size)
    if name == "videomae":
        return Layout("joint", False, False, "mean", backbone.frames // c.tubelet_size, c.tubelet_size,
                      c.image_size // c.patch_size)
    if name == "vjepa2":
        return Layout("joint", False, False, "mean", backbone.frames // c.tubelet_size, c.tubelet_size,
                      c.crop_size // c.patch_size)
    if name == "vjepa2.1":  # one frame is an image: one temporal position
        tubelet = 1 if backbone.frames == 1 else c.tubelet_size
        return Layout("joint", False, False, "mean", backbone.frames // tubelet, tubelet,
                      c.image_size // c.patch_size)
    return Layout("joint", True, name == "clip", "cls" if name == "clip" else "probe", 1, 1,
                  c.image_size // c.patch_size)


class _Recorder:
    """Forward hooks that keep the outputs of given modules (attention probabilities)."""

    def __init__(self, modules: list[nn.Module]):
        self.outputs: list[torch.Tensor] = []
        self.handles = [m.register_forward_hook(self._hook) for m in modules]

    def _hook(self, module, inputs, output):
        self.outputs.append(output[1] if isinstance(output, tuple) else output)

    def close(self) -> None:
        for h in self.handles:
            h.remove()


def _timesformer_temporal_dropouts(model: nn.Module) -> list[nn.Module]:
    layers = [m for m in model.modules() if type(m).__name__ == "TimesformerLayer"]
    return [layer.temporal_attention.attention.attn_drop for layer in layers]


def _siglip_pooling_attention(model: nn.Module) -> list[nn.Module]:
    return [m.attention for m in model.modules() if type(m).__name__ == "SiglipMultiheadAttentionPoolingHead"]


def attention_maps(backbone, frames: np.ndarray | torch.Tensor, methods=METHODS,
                   head: Callable[[torch.Tensor], torch.Tensor] | None = None) -> dict[str, np.ndarray]:
    """Relevance maps ``{method: (B, T, grid, grid)}`` for uint8 clips (B, T, H, W, 3).

    Each clip's map sums to 1 over its frames and patches. ``head``: a module applied to
    the pooled embedding before the L2 normalisation (the fine-tuned projection head without
    its normalisation); it only changes the gradient-weighted method.
    """
    for m in methods:
        if m not in METHODS:
            raise ConfigError(f"unknown attention method {m!r}; choose from {', '.join(METHODS)}")
    lay = layout_for(backbone)
    # attention probabilities exist only on the eager path: switch a fused (sdpa) backbone
    # for this call and back afterwards (weights and adapters are untouched)
    previous = getattr(backbone, "attention", "eager")
    if previous != "eager":
        backbone.set_attention("eager")
    model = backbone.model
    want_grad = "grad_rollout" in methods
    clips = backbone.preprocess(torch.as_tensor(np.ascontiguousarray(frames)))
    b, t = clips.shape[:2]
    pixels = clips.reshape(b * t, *clips.shape[2:]) if lay.per_frame else clips
    hooked: list[nn.Module] = []
    if lay.kind == "divided":
        hooked = _timesformer_temporal_dropouts(model)
    probe_rec = _Recorder(_siglip_pooling_attention(model)) if lay.start == "probe" else None
    rec = _Recorder(hooked)
    kwargs = {"output_attentions": True}
    if backbone.kind.name == "vjepa2":
        kwargs["skip_predictor"] = True
    was_training = backbone.training
    backbone.eval()
    try:
        with torch.enable_grad() if want_grad else torch.no_grad():
            if want_grad:
                pixels = pixels.detach().requires_grad_(True)
            out = model(**{backbone.kind.pixel_argument: pixels}, **kwargs)
            attn = list(out.attentions or ())
            if not attn:
                raise ConfigError(f"{backbone.source}: the model returned no attention "
                                  f"probabilities. Fix: load it with attn_implementation='eager'")
            temporal = rec.outputs
            if lay.kind == "divided" and len(temporal) != len(attn):
                raise ConfigError(f"{backbone.source}: recorded {len(temporal)} temporal attentions "
                                  f"for {len(attn)} layers; the temporal attention does not run "
                                  f"through its eager path. Fix: load it with eager attention")
            grads = tgrads = None
            if want_grad:
                z = _pooled(backbone, out, b, t, lay)
                if head is not None:
                    z = head(z)
                s = 0.5 * (z.float() ** 2).sum()
                g = torch.autograd.grad(s, attn + temporal, allow_unused=True)
                g = [torch.zeros_like(a) if gi is None else gi for a, gi in zip(attn + temporal, g)]
                grads, tgrads = g[:len(attn)], g[len(attn):]
            n_tokens = 1 + (attn[-1].shape[-1] - 1) * t if lay.kind == "divided" else attn[-1].shape[-1]
            start = _start(lay, n_tokens, probe_rec).to(attn[-1].device)
            result = {}
            for method in methods:
                gr, tg = (grads, tgrads) if method == "grad_rollout" else (None, None)
                with torch.no_grad():  # float64: the gradient method subtracts nearly equal terms
                    f64 = lambda xs: None if xs is None else [x.detach().double() for x in xs]  # noqa: E731
                    if lay.kind == "divided":
                        v = divided_rollout(f64(attn), f64(temporal), t, start.double(), method,
                                            f64(gr), f64(tg))
                    else:
                        v = joint_rollout(f64(attn), start.double(), method, f64(gr))
                result[method] = _to_grid(v, lay, b, t)
    finally:
        rec.close()
        if probe_rec is not None:
            probe_rec.close()
        backbone.train(was_training)
        if previous != "eager":
            backbone.set_attention(previous)
    return result


def _pooled(backbone, out, b: int, t: int, lay: Layout) -> torch.Tensor:
    """The pooled embedding (B, D), as :meth:`VisionBackbone.forward` computes it."""
    pooled = backbone.pooled_output(out)
    return pooled.reshape(b, t, -1).mean(dim=1) if lay.per_frame else pooled


def _start(lay: Layout, n: int, probe_rec: _Recorder | None) -> torch.Tensor:
    """The embedding's weights on the last layer's ``n`` tokens."""
    if lay.start == "cls":
        v = torch.zeros(n, dtype=torch.float64)
        v[0] = 1.0
        return v
    if lay.start == "mean":
        return torch.full((n,), 1.0 / n, dtype=torch.float64)
    weights = probe_rec.outputs[-1] if probe_rec and probe_rec.outputs else None
    if weights is None:  # no pooling head recorded: fall back to the mean of the tokens
        return torch.full((n,), 1.0 / n, dtype=torch.float64)
    w = weights.detach()
    while w.dim() > 2:  # (B, [heads,] 1, N) -> (B, N)
        w = w.mean(dim=1)
    return w.double()


def _to_grid(v: torch.Tensor, lay: Layout, b: int, t: int) -> np.ndarray:
    """Token relevance → (B, T, grid, grid) over frames and patches, summing to 1 per clip."""
    g = lay.grid
    if lay.kind == "divided":
        patches = v[:, 1:].reshape(b, g * g, t).transpose(1, 2).reshape(b, t, g, g)
    elif lay.per_frame:
        tokens = v[:, 1:] if lay.cls else v
        patches = tokens.reshape(b, t, g, g) / t
    else:
        tokens = v.reshape(b, lay.t_tokens, g, g)
        patches = tokens.repeat_interleave(lay.tubelet, dim=1) / lay.tubelet
    patches = patches.double().clamp(min=0)
    total = patches.sum(dim=(1, 2, 3), keepdim=True)
    patches = patches / torch.where(total > 0, total, torch.ones_like(total))
    return patches.cpu().numpy().astype(np.float64)
