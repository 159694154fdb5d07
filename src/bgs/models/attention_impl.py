"""Attention implementation of the vision backbones: fused (``sdpa``) or ``eager``.

``sdpa`` is PyTorch's ``scaled_dot_product_attention``, which dispatches to the flash or
memory-efficient kernels on a GPU and never materialises the (N, N) attention
probabilities. ``eager`` is the textbook ``softmax(QKᵀ/√d)·V``; it is the only path that
can return attention weights (``output_attentions=True``, e.g. for attention rollout).

Most registered backbones have an sdpa implementation in ``transformers`` and get it from
the library (``model.set_attn_implementation``). TimeSformer has none — its divided
space–time attention is eager-only and ``from_pretrained(..., attn_implementation="sdpa")``
is refused — so :class:`TimesformerSdpaSelfAttention` replaces each of its self-attention
modules. The replacement takes over the original ``qkv`` Linear and dropout modules, so
parameter names, state dicts and peft LoRA target modules (``qkv``) are unchanged: the same
pretrained weights and adapters load either way, and :func:`set_attention` switches an
already loaded (or LoRA-wrapped) model back and forth.
"""

from __future__ import annotations

import torch
from torch import nn

from bgs.errors import ConfigError

ATTENTION_CHOICES = ("sdpa", "eager")
DEFAULT_ATTENTION = "sdpa"


def _timesformer_classes():
    from transformers.models.timesformer import modeling_timesformer as m

    return m.TimesformerSelfAttention


def _make_sdpa_class():
    eager_cls = _timesformer_classes()

    class TimesformerSdpaSelfAttention(eager_cls):
        """TimeSformer's self-attention (spatial and temporal) through the fused kernel.

        A subclass of the eager module so ``isinstance`` checks keep working; it owns the
        same submodules (``qkv``, ``attn_drop``). With ``output_attentions=True`` it computes
        the eager path (the fused kernel does not return probabilities).
        """

        def __init__(self, eager: nn.Module):  # noqa: D107 - takes over ``eager``'s modules
            nn.Module.__init__(self)
            self.num_heads = eager.num_heads
            self.scale = eager.scale
            self.qkv = eager.qkv
            self.attn_drop = eager.attn_drop

        def forward(self, hidden_states: torch.Tensor, output_attentions: bool = False):
            if output_attentions:
                return eager_cls.forward(self, hidden_states, output_attentions=True)
            b, n, c = hidden_states.shape
            qkv = self.qkv(hidden_states).reshape(b, n, 3, self.num_heads, c // self.num_heads)
            q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
            p = self.attn_drop.p if self.training else 0.0
            context = nn.functional.scaled_dot_product_attention(q, k, v, dropout_p=p, scale=self.scale)
            return (context.transpose(1, 2).reshape(b, n, c),)

        def to_eager(self) -> nn.Module:
            """The stock module owning the same submodules."""
            eager = eager_cls.__new__(eager_cls)
            nn.Module.__init__(eager)
            eager.num_heads, eager.scale = self.num_heads, self.scale
            eager.qkv, eager.attn_drop = self.qkv, self.attn_drop
            return eager

    return TimesformerSdpaSelfAttention


_SDPA_CLASS = None


def timesformer_sdpa_class():
    """The fused TimeSformer self-attention class (built lazily: transformers is optional)."""
    global _SDPA_CLASS
    if _SDPA_CLASS is None:
        _SDPA_CLASS = _make_sdpa_class()
    return _SDPA_CLASS


def _replace_modules(model: nn.Module, convert) -> int:
    """Replace every submodule ``m`` for which ``convert(m)`` is not None; returns the count."""
    targets = [(name, module) for name, module in model.named_modules() if name]
    replaced = 0
    for name, module in targets:
        new = convert(module)
        if new is None:
            continue
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, new)
        replaced += 1
    return replaced


def _base_model(model: nn.Module) -> nn.Module:
    """The transformers model inside a peft wrapper (or the model itself)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def library_supports_sdpa(model: nn.Module) -> bool:
    return bool(getattr(_base_model(model), "_supports_sdpa", False))


def is_timesformer(model: nn.Module) -> bool:
    return type(_base_model(model)).__name__.startswith("Timesformer")


def check_attention(attention: str) -> str:
    if attention not in ATTENTION_CHOICES:
        raise ConfigError(f"attention must be one of {', '.join(ATTENTION_CHOICES)}, got {attention!r}. "
                          f"Fix: use 'sdpa' (fused, fast) or 'eager' (returns attention weights)")
    return attention


def set_attention(model: nn.Module, attention: str) -> str:
    """Switch a loaded transformers vision model (optionally peft-wrapped) to ``attention``.

    Returns the implementation now in use. Weights are untouched: only the attention
    computation changes.
    """
    check_attention(attention)
    base = _base_model(model)
    if is_timesformer(base):
        eager_cls, sdpa_cls = _timesformer_classes(), timesformer_sdpa_class()
        if attention == "sdpa":
            _replace_modules(base, lambda m: sdpa_cls(m) if type(m) is eager_cls else None)
        else:
            _replace_modules(base, lambda m: m.to_eager() if type(m) is sdpa_cls else None)
        return attention
    if attention == "sdpa" and not library_supports_sdpa(base):
        raise ConfigError(f"{type(base).__name__} has no fused attention in the installed "
                          f"transformers and none in bgs. Fix: use attention = 'eager'")
    if getattr(base.config, "_attn_implementation", None) != attention:
        base.set_attn_implementation(attention)
    return attention


def current_attention(model: nn.Module) -> str:
    """'sdpa' or 'eager': what ``model`` computes its attention with now."""
    base = _base_model(model)
    if is_timesformer(base):
        sdpa_cls = timesformer_sdpa_class()
        return "sdpa" if any(type(m) is sdpa_cls for m in base.modules()) else "eager"
    return "sdpa" if getattr(base.config, "_attn_implementation", "eager") == "sdpa" else "eager"
