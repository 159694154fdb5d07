"""Gradient (activation) checkpointing for the vision and text backbones, LoRA or not.

Checkpointing keeps only each transformer block's input during the forward and recomputes
the block in the backward: less activation memory for about one more forward's compute.
bgs always uses the non-reentrant implementation (``use_reentrant=False``): it needs no
input that requires grad — with a frozen backbone and LoRA adapters the block inputs do
not — it honours ``torch.autograd.grad`` and keyword arguments, and it restores the RNG
state so dropout masks in the recomputation equal the original ones (the gradients are
those of the plain model).

The order relative to peft does not matter: when peft wraps a model that is already
checkpointing it calls ``enable_input_require_grads``, which bgs makes tuple-safe for
backbones whose input embedding returns a tuple (TimeSformer; see
:func:`bgs.models.vision.make_input_grads_tuple_safe`).
"""

from __future__ import annotations

from torch import nn

from bgs.errors import ConfigError


def _base_model(model: nn.Module) -> nn.Module:
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def checkpointed_blocks(model: nn.Module) -> int:
    """How many transformer blocks of ``model`` recompute their forward in the backward."""
    from transformers.modeling_layers import GradientCheckpointingLayer

    return sum(1 for m in _base_model(model).modules()
               if isinstance(m, GradientCheckpointingLayer) and getattr(m, "gradient_checkpointing", False))


def enable_gradient_checkpointing(model: nn.Module, name: str = "the backbone") -> int:
    """Turn on non-reentrant checkpointing of every block of a transformers model (or the
    model inside a peft wrapper); returns the number of checkpointed blocks. A model with
    no block to checkpoint is an error, never a silent no-op."""
    base = _base_model(model)
    if not getattr(base, "supports_gradient_checkpointing", False):
        raise ConfigError(f"{name} ({type(base).__name__}) does not support gradient checkpointing. "
                          f"Fix: set model.gradient_checkpointing = false")
    kwargs = {"use_reentrant": False}
    if hasattr(base, "activation_checkpointing_enable"):  # transformers ≥ 5
        base.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:  # pragma: no cover - older transformers
        base.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    n = checkpointed_blocks(base)
    if n == 0:
        raise ConfigError(f"{name} ({type(base).__name__}) has no block that gradient checkpointing "
                          f"applies to. Fix: set model.gradient_checkpointing = false")
    return n
