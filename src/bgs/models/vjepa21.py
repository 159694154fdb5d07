"""V-JEPA 2.1's video encoder, written in bgs (no remote code, no dependency on Meta's repo).

The architecture of Meta's ``app/vjepa_2_1`` encoder, with the same parameter names so its
checkpoints load tensor for tensor (see :mod:`bgs.models.vjepa21_weights`):

* a 3-D tubelet patch embedding (``patch_embed``: Conv3d, ``tubelet_size`` frames ×
  ``patch_size``²) for clips and a one-frame one (``patch_embed_img``) for single images —
  a clip of exactly one frame is an image — each followed by a learned modality embedding
  (``video_mod_embed`` / ``img_mod_embed``) added to every token;
* no absolute position table: every block applies 3-axis rotary embeddings to its queries
  and keys (:func:`rotary_tables`);
* pre-norm blocks (``norm1`` → attention ``qkv``/``proj`` → residual, ``norm2`` → MLP
  ``fc1``/GELU/``fc2`` → residual), LayerNorm eps 1e-6;
* one LayerNorm per hierarchical level (``norms_block``, after blocks [2, 5, 8, 11] for depth
  12, [5, 11, 17, 23] for 24, [9, 19, 29, 39] for 40, [11, 23, 37, 47] for 48). The output
  (``last_hidden_state``) is the last block's tokens through the *last level's* norm; the
  distillation target (``hierarchical_state``) is the four normed levels concatenated.

Tokens are ordered frame-major: token ``n = (t·H + h)·W + w``. ``hidden_states`` (when
asked) are the raw residual stream: index 0 the embedded patches, index k the output of
block k.

The model is a ``transformers`` ``PreTrainedModel`` so that peft, gradient checkpointing
(each block is a ``GradientCheckpointingLayer``), regional compilation and bgs's attention
switch treat it like the other backbones.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.utils import ModelOutput

from bgs.errors import ConfigError

# hierarchical levels of Meta's encoder, by depth (block indices, 0-based)
HIERARCHY = {12: (2, 5, 8, 11), 24: (5, 11, 17, 23), 40: (9, 19, 29, 39), 48: (11, 23, 37, 47)}
# heads of the released sizes, by width (ViT-B, ViT-L, ViT-g, ViT-G; head dimension 64)
HEADS_BY_WIDTH = {768: 12, 1024: 16, 1408: 22, 1664: 26}


def default_levels(depth: int) -> tuple[int, ...]:
    """Meta's levels for its depths; otherwise the ends of four equal quarters."""
    if depth in HIERARCHY:
        return HIERARCHY[depth]
    if depth < 4:
        return tuple(range(depth))
    return tuple(round(depth * q / 4) - 1 for q in (1, 2, 3, 4))


class VJEPA21Config(PretrainedConfig):
    """Sizes and options of a V-JEPA 2.1 encoder (defaults: ViT-B at 384²)."""

    model_type = "bgs_vjepa2_1"

    def __init__(self, hidden_size: int = 768, num_hidden_layers: int = 12,
                 num_attention_heads: int = 12, intermediate_size: int = 3072,
                 patch_size: int = 16, tubelet_size: int = 2, image_size: int = 384,
                 num_channels: int = 3, layer_norm_eps: float = 1e-6, qkv_bias: bool = True,
                 interpolate_rope: bool = True, rope_grid: int | None = None,
                 rope_theta: float = 10000.0, modality_embedding: bool = True,
                 hierarchical_layers: list[int] | None = None, attention_dropout: float = 0.0,
                 hidden_dropout: float = 0.0, initializer_range: float = 0.02, **kwargs):
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.patch_size = patch_size
        self.tubelet_size = tubelet_size
        self.image_size = image_size
        self.num_channels = num_channels
        self.layer_norm_eps = layer_norm_eps
        self.qkv_bias = qkv_bias
        self.interpolate_rope = interpolate_rope
        # the patch grid of pre-training (256 px at patch 16, 252 px at patch 14) that
        # interpolated positions are scaled to
        self.rope_grid = rope_grid or (252 if patch_size == 14 else 256) // patch_size
        self.rope_theta = rope_theta
        self.modality_embedding = modality_embedding
        self.hierarchical_layers = list(hierarchical_layers or
                                        default_levels(num_hidden_layers))
        self.attention_dropout = attention_dropout
        self.hidden_dropout = hidden_dropout
        self.initializer_range = initializer_range
        super().__init__(**kwargs)
        if hidden_size % num_attention_heads:
            raise ConfigError(f"V-JEPA 2.1 config: hidden_size {hidden_size} is not a multiple of "
                              f"num_attention_heads {num_attention_heads}")


# ----------------------------------------------------------------------------- rotary


def axis_dim(head_dim: int) -> int:
    """Channels of each head rotated per axis (frame, height, width): the largest even number
    ≤ head_dim / 3. The remaining ``head_dim − 3·axis_dim`` channels are left unrotated."""
    return 2 * ((head_dim // 3) // 2)


def token_positions(t: int, h: int, w: int, rope_grid: int | None, device=None) -> torch.Tensor:
    """(t·h·w, 3) float positions (frame, row, column) of the frame-major token grid.

    With ``rope_grid`` (interpolated rotary embeddings) rows and columns are rescaled so the
    grid spans the pre-training grid: ``row · (rope_grid − 1) / (h − 1)``; frames never are.
    """
    n = torch.arange(t * h * w, device=device)
    frame, rest = n // (h * w), n % (h * w)
    row, col = (rest // w).float(), (rest % w).float()
    if rope_grid is not None:
        if h > 1:
            row = row * (rope_grid - 1) / (h - 1)
        if w > 1:
            col = col * (rope_grid - 1) / (w - 1)
    return torch.stack([frame.float(), row, col], dim=1)


def rotary_tables(positions: torch.Tensor, head_dim: int, theta: float = 10000.0):
    """cos and sin tables (N, 3·axis_dim) for positions (N, 3).

    Within each axis block of ``d = axis_dim`` channels, channel pair ``j`` (channels 2j and
    2j+1) turns by the angle ``position · theta^(−j / (d/2))``; the blocks are, in order, the
    frame, the row and the column axis.
    """
    d = axis_dim(head_dim)
    omega = 1.0 / theta ** (torch.arange(d // 2, dtype=torch.float32, device=positions.device) / (d / 2.0))
    angles = torch.cat([positions[:, a:a + 1] * omega for a in range(3)], dim=1)  # (N, 3·d/2)
    angles = angles.repeat_interleave(2, dim=1)
    return angles.cos(), angles.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate channel pairs of ``x`` (..., N, head_dim) by the tables; channels past the
    tables' width pass unchanged."""
    r = cos.shape[-1]
    xr = x[..., :r]
    x1, x2 = xr.unflatten(-1, (-1, 2)).unbind(-1)
    turned = torch.stack((-x2, x1), dim=-1).flatten(-2)
    out = xr * cos.to(x.dtype) + turned * sin.to(x.dtype)
    return torch.cat([out, x[..., r:]], dim=-1) if r < x.shape[-1] else out


# ----------------------------------------------------------------------------- modules


class TubeletEmbedding(nn.Module):
    """(B, C, T, H, W) → (B, T/tubelet · H/p · W/p, D) tokens, frame-major."""

    def __init__(self, config: VJEPA21Config, tubelet: int):
        super().__init__()
        p = config.patch_size
        self.proj = nn.Conv3d(config.num_channels, config.hidden_size, kernel_size=(tubelet, p, p),
                              stride=(tubelet, p, p))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class VJEPA21Attention(nn.Module):
    """Multi-head self-attention with 3-axis rotary queries and keys; fused (``sdpa``) or
    ``eager`` per ``config._attn_implementation`` (only eager returns the probabilities)."""

    def __init__(self, config: VJEPA21Config):
        super().__init__()
        self.config = config
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // self.num_heads
        self.scale = self.head_dim ** -0.5
        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size, bias=config.qkv_bias)
        self.proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.attn_drop = nn.Dropout(config.attention_dropout)
        self.proj_drop = nn.Dropout(config.hidden_dropout)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                output_attentions: bool = False):
        b, n, c = x.shape
        q, k, v = self.qkv(x).unflatten(-1, (3, self.num_heads, -1)).permute(2, 0, 3, 1, 4)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        weights = None
        if output_attentions or self.config._attn_implementation != "sdpa":
            weights = self.attn_drop(((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1))
            context = weights @ v
        else:
            p = self.attn_drop.p if self.training else 0.0
            context = nn.functional.scaled_dot_product_attention(q, k, v, dropout_p=p, scale=self.scale)
        out = self.proj_drop(self.proj(context.transpose(1, 2).reshape(b, n, c)))
        return out, weights


class VJEPA21MLP(nn.Module):
    def __init__(self, config: VJEPA21Config):
        super().__init__()
        self.fc1 = nn.Linear(config.hidden_size, config.intermediate_size)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(config.intermediate_size, config.hidden_size)
        self.drop = nn.Dropout(config.hidden_dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class VJEPA21Block(GradientCheckpointingLayer):
    def __init__(self, config: VJEPA21Config):
        super().__init__()
        self.norm1 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.attn = VJEPA21Attention(config)
        self.norm2 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = VJEPA21MLP(config)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                output_attentions: bool = False):
        y, weights = self.attn(self.norm1(x), cos, sin, output_attentions=output_attentions)
        x = x + y
        return x + self.mlp(self.norm2(x)), weights


@dataclass
class VJEPA21Output(ModelOutput):
    last_hidden_state: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None
    hierarchical_state: torch.Tensor | None = None


class VJEPA21Model(PreTrainedModel):
    """The V-JEPA 2.1 encoder; input ``pixel_values_videos`` (B, T, C, H, W), normalised.

    A clip of one frame is an image (the image patch embedding and modality embedding);
    any other length is cut into tubelets (a trailing odd frame is dropped, as a strided
    convolution does).
    """

    config_class = VJEPA21Config
    base_model_prefix = "vjepa21"
    main_input_name = "pixel_values_videos"
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _no_split_modules = ["VJEPA21Block"]  # noqa: RUF012 - transformers reads a list

    def __init__(self, config: VJEPA21Config):
        super().__init__(config)
        d = config.hidden_size
        self.patch_embed = TubeletEmbedding(config, config.tubelet_size)
        self.patch_embed_img = TubeletEmbedding(config, 1)
        if config.modality_embedding:
            self.img_mod_embed = nn.Parameter(torch.zeros(1, 1, d))
            self.video_mod_embed = nn.Parameter(torch.zeros(1, 1, d))
        self.blocks = nn.ModuleList(VJEPA21Block(config) for _ in range(config.num_hidden_layers))
        self.norms_block = nn.ModuleList(nn.LayerNorm(d, eps=config.layer_norm_eps)
                                         for _ in config.hierarchical_layers)
        self._tables: dict = {}
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        std = self.config.initializer_range
        if isinstance(module, (nn.Linear, nn.Conv3d)):
            nn.init.trunc_normal_(module.weight, std=std, a=-2 * std, b=2 * std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, VJEPA21Model) and module.config.modality_embedding:
            nn.init.normal_(module.img_mod_embed, std=1e-6)
            nn.init.normal_(module.video_mod_embed, std=1e-6)

    def get_input_embeddings(self) -> nn.Module:
        return self.patch_embed

    def set_attn_implementation(self, attn_implementation: str, **kwargs) -> None:
        """'sdpa' (fused) or 'eager'; bgs's own switch (transformers' needs its attention
        interface, which this model does not use)."""
        if attn_implementation not in ("sdpa", "eager"):
            raise ConfigError(f"V-JEPA 2.1 attention must be 'sdpa' or 'eager', got {attn_implementation!r}")
        self.config._attn_implementation_internal = attn_implementation

    def rotary(self, t: int, h: int, w: int, device) -> tuple[torch.Tensor, torch.Tensor]:
        """The (cached) cos/sin tables of a t×h×w token grid."""
        key = (t, h, w, str(device))
        if key not in self._tables:
            c = self.config
            pos = token_positions(t, h, w, c.rope_grid if c.interpolate_rope else None, device)
            self._tables = {key: rotary_tables(pos, c.hidden_size // c.num_attention_heads, c.rope_theta)}
        return self._tables[key]

    def embed(self, pixel_values_videos: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int, int]]:
        """Tokens (B, N, D) with the modality embedding added, and the token grid (t, h, w)."""
        x = pixel_values_videos.permute(0, 2, 1, 3, 4)  # (B, C, T, H, W)
        _, _, t, hh, ww = x.shape
        p = self.config.patch_size
        image = t == 1
        if not image and t < self.config.tubelet_size:
            raise ConfigError(f"V-JEPA 2.1 needs 1 frame (an image) or at least "
                              f"{self.config.tubelet_size} frames, got {t}")
        tokens = (self.patch_embed_img if image else self.patch_embed)(x)
        if self.config.modality_embedding:
            tokens = tokens + (self.img_mod_embed if image else self.video_mod_embed)
        grid = (t if image else t // self.config.tubelet_size, hh // p, ww // p)
        return tokens, grid

    def forward(self, pixel_values_videos: torch.Tensor, output_hidden_states: bool = False,
                output_attentions: bool = False, output_hierarchical: bool = False,
                return_dict: bool = True, **_) -> VJEPA21Output:
        x, grid = self.embed(pixel_values_videos)
        cos, sin = self.rotary(*grid, x.device)
        hidden, attentions, levels = [x], [], []
        level_of = {layer: i for i, layer in enumerate(self.config.hierarchical_layers)}
        for i, block in enumerate(self.blocks):
            x, weights = block(x, cos, sin, output_attentions=output_attentions)
            hidden.append(x)
            attentions.append(weights)
            if output_hierarchical and i in level_of:
                levels.append(self.norms_block[level_of[i]](x))
        return VJEPA21Output(
            last_hidden_state=self.norms_block[-1](x),
            hidden_states=tuple(hidden) if output_hidden_states else None,
            attentions=tuple(attentions) if output_attentions else None,
            hierarchical_state=torch.cat(levels, dim=-1) if output_hierarchical else None)
