"""The trainable model: a registered backbone wrapped with LoRA, and the projection head.

``BGSModel.encode(ids)`` embeds stimuli by id: frames from the clip store (video and image
backbones) or captions (text backbones), through the backbone, the head, and an L2
normalisation. The head is the paper's Linear(h, d) → LayerNorm → ReLU → Dropout → L2.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from bgs.errors import ConfigError
from bgs.train.config import ModelConfig

HEAD_INITS = ("random", "geometry")
# LayerNorm bias of the "geometry" initialisation. ReLU cuts the LayerNorm outputs below
# -GEOMETRY_OFFSET only (about 16 % of unit-variance outputs at 1); on the demo's 320 held-out
# clips the untrained model's 3-way accuracy and RSA are the backbone's within 0.002. A larger
# offset cuts fewer but shrinks every distance by 1 + offset², which the triplet margin sees.
GEOMETRY_OFFSET = 1.0


def init_geometry_preserving(head: "ProjectionHead", offset: float = GEOMETRY_OFFSET) -> None:
    """Start ``head`` at the backbone's own geometry.

    The Linear is an isometry (orthonormal columns, random) into the subspace orthogonal to the
    all-ones vector, with zero bias, so LayerNorm subtracts nothing and only rescales each
    embedding to norm sqrt(d). Its bias ``offset`` then lifts the outputs above 0, where ReLU
    is the identity (all but those below ``-offset``). The head's cosine similarities are then
    ``(cos + offset²) / (1 + offset²)`` of the backbone's: every distance is scaled alike, so
    every triplet and every rank of the dissimilarity matrix is the backbone's, up to the
    outputs that ReLU cuts. A randomly initialised head instead starts from a random map of
    the backbone's geometry, which costs up to 0.03 Spearman RSA before any training
    (docs/demo.md).
    """
    linear, norm = head.net[0], head.net[1]
    out_dim, in_dim = linear.weight.shape
    if out_dim <= in_dim:
        raise ConfigError(f"model.head_init = 'geometry' needs model.head_dim larger than the "
                          f"backbone's width {in_dim}, got {out_dim}. Fix: set model.head_dim to "
                          f"at least {in_dim + 1}, or model.head_init = 'random'")
    with torch.no_grad():
        a = torch.randn(out_dim, in_dim)
        q, _ = torch.linalg.qr(a - a.mean(dim=0, keepdim=True))
        linear.weight.copy_(q)
        linear.bias.zero_()
        norm.weight.fill_(1.0)
        norm.bias.fill_(offset)


class ProjectionHead(nn.Module):
    def __init__(self, in_dim: int, out_dim: int = 128, dropout: float = 0.3, init: str = "random"):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, out_dim), nn.LayerNorm(out_dim), nn.ReLU(),
                                 nn.Dropout(dropout))
        if init == "geometry":
            init_geometry_preserving(self)
        elif init != "random":
            raise ConfigError(f"model.head_init must be one of {', '.join(HEAD_INITS)}, got {init!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.net(x), dim=-1)


class VideoEncoder(nn.Module):
    """Clips from the clip store through a vision backbone: its pooled output (``layer``
    ``embeddings``) or the pooled hidden state ``layer.K``."""

    def __init__(self, backbone, store, layer: str = "embeddings"):
        super().__init__()
        self.backbone = backbone
        self.store = store
        self.layer = layer
        self._staging = None  # pinned host buffers, made on the first CUDA forward
        self.prefix = None  # a bgs.train.prefix_cache.FrozenPrefix, when the run caches one

    @property
    def inner(self) -> nn.Module:
        return self.backbone.model

    @inner.setter
    def inner(self, module: nn.Module) -> None:
        self.backbone.model = module

    @property
    def hidden_size(self) -> int:
        return self.backbone.hidden_size

    def frames(self, ids: Sequence):
        """uint8 frames of ``ids``: on the CPU a numpy array; on CUDA a device tensor, gathered
        into pinned memory and copied asynchronously (see :mod:`bgs.train.staging`)."""
        ids = list(ids)
        device = self.backbone.device
        if device.type != "cuda":
            return self.store.get_batch(ids)
        if self._staging is None or self._staging.device != device:
            from bgs.train.staging import PinnedStaging

            self._staging = PinnedStaging(device)
        return self._staging.to_device((len(ids), *self.store.shape),
                                       lambda out: self.store.get_batch(ids, out=out))

    @property
    def temporal_positions(self) -> int:
        return self.backbone.temporal_positions

    @property
    def temporal_width(self) -> int:
        return self.backbone.temporal_width

    def forward(self, ids: Sequence, temporal: bool = False):
        """Pooled embeddings (B, h); with ``temporal``, also temporal tokens (B, T', h) from
        the same forward pass."""
        if self.prefix is not None and not temporal:
            return self.prefix.forward(list(ids))
        clips = self.backbone.preprocess(self.frames(ids))
        if temporal:
            out = self.backbone(clips, layers=(self.layer, "temporal"))
            return out[self.layer], out["temporal"]
        return self.backbone(clips, layers=(self.layer,))[self.layer]


class TextEncoder(nn.Module):
    """Captions through a sentence-transformers model: the first caption, or the mean of the
    (unit-norm) embeddings of all captions of a stimulus."""

    def __init__(self, text_backbone, captions: dict, pool: str = "mean"):
        super().__init__()
        if pool not in ("first", "mean"):
            raise ConfigError(f"data.caption_pool must be 'first' or 'mean' for training, got {pool!r}")
        self.st = text_backbone.model
        self.captions = captions
        self.pool = pool

    @property
    def inner(self) -> nn.Module:
        return self.st[0].auto_model

    @inner.setter
    def inner(self, module: nn.Module) -> None:
        self.st[0].auto_model = module

    @property
    def hidden_size(self) -> int:
        size = getattr(self.st, "get_embedding_dimension", None) or self.st.get_sentence_embedding_dimension
        return int(size())

    def forward(self, ids: Sequence) -> torch.Tensor:
        lists = [self.captions[i] if self.pool == "mean" else self.captions[i][:1] for i in ids]
        texts = [c for lst in lists for c in lst]
        device = next(self.st.parameters()).device
        tokenize = getattr(self.st, "preprocess", None) or self.st.tokenize
        features = {k: v.to(device) if torch.is_tensor(v) else v for k, v in tokenize(texts).items()}
        emb = self.st(features)["sentence_embedding"]
        emb = nn.functional.normalize(emb, dim=-1)
        owner = torch.repeat_interleave(torch.arange(len(ids), device=device),
                                        torch.tensor([len(x) for x in lists], device=device))
        summed = torch.zeros(len(ids), emb.shape[1], device=device, dtype=emb.dtype).index_add(0, owner, emb)
        return summed / torch.tensor([len(x) for x in lists], device=device, dtype=emb.dtype)[:, None]


def lora_targets(kind, config: ModelConfig):
    targets = config.lora.targets or kind.lora_targets
    if not targets:
        raise ConfigError(f"no LoRA targets for backbone kind {kind.name!r}; set model.lora.targets")
    return targets if isinstance(targets, str) else list(targets)


class BGSModel(nn.Module):
    """Backbone (frozen, with LoRA adapters, or fully trainable) + projection head."""

    def __init__(self, encoder: nn.Module, kind, config: ModelConfig, backbone_ref: str):
        super().__init__()
        self.encoder = encoder
        self.backbone_ref = backbone_ref
        self.config = config
        self.kind = kind
        if config.full_finetune:
            for p in encoder.parameters():
                p.requires_grad_(True)
        else:
            from peft import LoraConfig, get_peft_model

            for p in encoder.parameters():
                p.requires_grad_(False)
            lora = LoraConfig(r=config.lora.r, lora_alpha=config.lora.alpha,
                              lora_dropout=config.lora.dropout,
                              target_modules=lora_targets(kind, config))
            try:
                encoder.inner = get_peft_model(encoder.inner, lora)
            except ValueError as exc:
                raise ConfigError(f"LoRA could not be applied to {backbone_ref}: {exc}. Fix: set "
                                  f"model.lora.targets to module names of this model") from None
        if config.gradient_checkpointing:
            from bgs.models.checkpointing import enable_gradient_checkpointing

            enable_gradient_checkpointing(encoder.inner, backbone_ref)
        self.head = ProjectionHead(encoder.hidden_size, config.head_dim, config.head_dropout,
                                   config.head_init)

    def forward(self, ids: Sequence, temporal: bool = False):
        """Unit-norm embeddings (B, d); with ``temporal`` (video backbones), the pair
        (embeddings, temporal tokens (B, T', h)) from one backbone pass."""
        if temporal:
            pooled, tokens = self.encoder(ids, temporal=True)
            return self.head(pooled), tokens
        return self.head(self.encoder(ids))

    @torch.no_grad()
    def embed(self, ids: Sequence, batch_size: int = 32) -> np.ndarray:
        """Eval-mode embeddings (restores the previous train/eval mode afterwards)."""
        was_training = self.training
        self.eval()
        try:
            out = [self(list(ids[k:k + batch_size])).float().cpu().numpy()
                   for k in range(0, len(ids), batch_size)]
        finally:
            self.train(was_training)
        return np.concatenate(out) if out else np.zeros((0, self.config.head_dim), np.float32)

    def parameter_counts(self) -> dict[str, int]:
        trainable = sum(p.numel() for p in self.parameters() if p.requires_grad)
        total = sum(p.numel() for p in self.parameters())
        return {"trainable": trainable, "frozen": total - trainable, "total": total}

    # ------------------------------------------------------------------ checkpoint state
    def adapter_state(self) -> dict[str, torch.Tensor]:
        """The backbone weights that training changes: LoRA weights, or all of them."""
        if self.config.full_finetune:
            return {k: v for k, v in self.encoder.inner.state_dict().items()}
        from peft import get_peft_model_state_dict

        return get_peft_model_state_dict(self.encoder.inner)

    def load_adapter_state(self, state: dict[str, torch.Tensor], source: str) -> None:
        """Strict: any missing or unexpected key is an error, never a silently random layer."""
        from bgs.errors import BGSError

        current = self.adapter_state()
        expected = set(current)
        got = set(state)
        wrong_shape = [k for k in expected & got if tuple(current[k].shape) != tuple(state[k].shape)]
        if wrong_shape:
            k = sorted(wrong_shape)[0]
            raise BGSError(f"{source}: the adapter does not fit {self.backbone_ref}: {len(wrong_shape)} "
                           f"weights have another shape (e.g. {k}: {tuple(state[k].shape)} in the file, "
                           f"{tuple(current[k].shape)} in the model; a different LoRA rank?). Fix: load "
                           f"it with the LoRA settings it was trained with (see checkpoint.json)")
        if expected != got:
            missing, unexpected = sorted(expected - got)[:5], sorted(got - expected)[:5]
            raise BGSError(f"{source}: the adapter does not fit {self.backbone_ref} "
                           f"(missing keys {missing}, unexpected keys {unexpected}). Fix: load it "
                           f"with the backbone and LoRA settings it was trained with "
                           f"(see checkpoint.json)")
        if self.config.full_finetune:
            self.encoder.inner.load_state_dict(state, strict=True)
        else:
            from peft import set_peft_model_state_dict

            result = set_peft_model_state_dict(self.encoder.inner, state)
            unexpected = getattr(result, "unexpected_keys", [])
            if unexpected:
                raise BGSError(f"{source}: unexpected adapter keys {unexpected[:5]}")

    def load_head_state(self, state: dict[str, torch.Tensor], source: str) -> None:
        from bgs.errors import BGSError

        try:
            self.head.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            first = str(exc).splitlines()[0]
            raise BGSError(f"{source}: the projection head does not fit ({first}). Fix: load it "
                           f"with the head size it was trained with (see checkpoint.json)") from None
