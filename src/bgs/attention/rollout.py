"""Attention rollout and gradient-weighted rollout, from the embedding token to the patches.

Both methods multiply per-layer token-mixing matrices ``M_l`` (rows: the updated token,
columns: the tokens it reads) from the first layer to the last, ``R = M_L ⋯ M_1``, and
read the row of the token the embedding is taken from (or a weighted mix of rows):

* **rollout** (Abnar & Zuidema 2020): ``M_l = ½ (mean_heads A_l + I)`` — the identity
  stands for the residual connection, and each row still sums to one;
* **gradient-weighted rollout** (Chefer et al. 2021): ``M_l = I + mean_heads (∂s/∂A_l ⊙
  A_l)⁺`` for a scalar ``s`` of the embedding (see :mod:`bgs.attention.maps`), i.e. the
  update ``R ← R + Ā_l R``; the result is ``R − I``, the relevance that reached each token
  *through attention*. For a CLS model this changes only the CLS entry (dropped anyway); for
  a mean-pooled model (no CLS) it removes the uniform 1/N that each token's own residual path
  would add, which otherwise swamps the small gradient terms.

Only one row (or one mix of rows) of ``R`` is needed, so the product is never formed:
a row vector ``v`` is pushed down from the last layer, ``v ← v M_l`` — O(N²) per layer
instead of O(N³), which is what makes TimeSformer's 1,569 tokens cheap.

Token layouts:

* ``joint`` (VideoMAE, V-JEPA 2, CLIP and SigLIP per frame): one N×N attention per layer;
* ``divided`` (TimeSformer): per layer a *temporal* attention among the T frames of each
  patch position (the CLS token does not take part), then a *spatial* attention among the
  patches of each frame plus a copy of the CLS token; the CLS outputs of the T copies are
  averaged. Each sub-attention is one mixing step with its own identity term; the CLS row of
  the spatial step is the mean over frames of each frame's CLS row. Approximation: the
  temporal residual passes through ``temporal_dense`` (a linear map, not the identity) and
  LayerNorms/MLPs are ignored, as in every rollout.

Patch tokens of TimeSformer are ordered patch-major (token ``1 + p·T + t``); the spatial
attentions come as a batch of ``B·T`` frames, the temporal ones as ``B·P`` patch positions.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

METHODS = ("rollout", "grad_rollout")


def head_mean(attn: torch.Tensor, grad: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over heads (dim 1) of ``A`` (rollout) or of ``(∂s/∂A ⊙ A)⁺`` (gradient-weighted)."""
    if grad is None:
        return attn.mean(dim=1)
    return (grad * attn).clamp(min=0).mean(dim=1)


def _step(v: torch.Tensor, a: torch.Tensor, method: str) -> torch.Tensor:
    """``v M`` for one mixing matrix ``a`` (batched: v (..., N), a (..., N, N))."""
    va = torch.einsum("...i,...ij->...j", v, a)
    return 0.5 * (va + v) if method == "rollout" else v + va


def joint_rollout(attn: Sequence[torch.Tensor], start: torch.Tensor, method: str = "rollout",
                  grads: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
    """Relevance (B, N) of every input token for the embedding.

    ``attn[l]``: (B, heads, N, N) attention probabilities of layer ``l`` (first layer first);
    ``grads``: their gradients (gradient-weighted rollout); ``start``: (B, N) or (N,) — the
    embedding's weights on the last layer's tokens (one-hot on CLS, uniform for mean pooling).
    """
    _check(method, grads)
    v0 = start.expand(attn[0].shape[0], -1).to(attn[0].dtype)
    v = v0
    for layer in reversed(range(len(attn))):
        a = head_mean(attn[layer], grads[layer] if grads is not None else None)
        v = _step(v, a, method)
    return v - v0 if method == "grad_rollout" else v


def divided_rollout(spatial: Sequence[torch.Tensor], temporal: Sequence[torch.Tensor],
                    n_frames: int, start: torch.Tensor, method: str = "rollout",
                    spatial_grads: Sequence[torch.Tensor] | None = None,
                    temporal_grads: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
    """TimeSformer's divided space-time attention: relevance (B, 1 + P·T) in the model's
    token order (CLS, then patch-major ``p·T + t``).

    ``spatial[l]``: (B·T, heads, 1+P, 1+P); ``temporal[l]``: (B·P, heads, T, T).
    """
    _check(method, spatial_grads)
    t = n_frames
    bt, _, n1, _ = spatial[0].shape
    b, p = bt // t, n1 - 1
    v0 = start.expand(b, -1).to(spatial[0].dtype)
    v = v0
    for layer in reversed(range(len(spatial))):
        s = head_mean(spatial[layer], spatial_grads[layer] if spatial_grads is not None else None)
        tm = head_mean(temporal[layer], temporal_grads[layer] if temporal_grads is not None else None)
        s = s.reshape(b, t, n1, n1)
        tm = tm.reshape(b, p, t, t)
        # spatial step (applied last in the layer, so first on the way down)
        cls, patches = v[:, :1], v[:, 1:].reshape(b, p, t)
        u = torch.cat([(cls / t)[:, None, :].expand(b, t, 1), patches.transpose(1, 2)], dim=2)  # (b,t,1+p)
        w = torch.einsum("bti,btij->btj", u, s)
        vs = torch.cat([w[:, :, 0].sum(dim=1, keepdim=True),
                        w[:, :, 1:].transpose(1, 2).reshape(b, p * t)], dim=1)
        v = 0.5 * (vs + v) if method == "rollout" else v + vs
        # temporal step: CLS is untouched (identity row), patches mix along time
        cls, patches = v[:, :1], v[:, 1:].reshape(b, p, t)
        vt = torch.einsum("bpt,bptu->bpu", patches, tm).reshape(b, p * t)
        vt = torch.cat([torch.zeros_like(cls), vt], dim=1)
        if method == "rollout":
            v = 0.5 * (torch.cat([cls, vt[:, 1:]], dim=1) + v)  # CLS: ½(cls + cls) = cls
        else:
            v = v + vt
    return v - v0 if method == "grad_rollout" else v


def _check(method: str, grads) -> None:
    if method not in METHODS:
        from bgs.errors import ConfigError

        raise ConfigError(f"unknown attention method {method!r}; choose one of {', '.join(METHODS)}")
    if method == "grad_rollout" and grads is None:
        raise ValueError("gradient-weighted rollout needs the attention gradients")
