"""The receiver-behavior term of a training run: targets aligned to the stimuli, the heads,
and the weighted sum the trainer adds to the BGS objective.

Built once per run (:func:`build_behavior_objective`): the behavior file is read and
validated, its keys resolved through the stimulus table, the engagement targets standardised
with the *training* stimuli's statistics, the replay graphs resampled to the backbone's
temporal tokens and centred per clip, and every stimulus's comments embedded once by the
frozen text encoder (mean of the unit-norm comment embeddings). A step then only indexes these tensors.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn

from bgs.behavior.config import WEIGHTS, BehaviorConfig
from bgs.errors import ConfigError
from bgs.objectives.behavior import (
    BehaviorHeads,
    comment_infonce,
    engagement_loss,
    replay_loss,
)


class BehaviorObjective(nn.Module):
    """``Σ weight·loss`` over the configured behavior losses, for a batch given by stimulus id.

    Targets are buffers indexed like ``ids`` (NaN / all-zero comment rows where a stimulus
    has no such behavior); the heads are the only parameters.
    """

    def __init__(self, config: BehaviorConfig, ids, embed_dim: int, engagement=None, replay=None,
                 comments=None, token_dim: int | None = None):
        super().__init__()
        self.config = config
        self.index = pd.Index(list(ids))
        n = len(self.index)

        def buffer(name, value, shape):
            t = torch.as_tensor(value, dtype=torch.float32) if value is not None else torch.zeros(shape)
            self.register_buffer(name, t, persistent=False)

        buffer("engagement_target", engagement, (n,))
        buffer("replay_target", replay, (n, 0))
        buffer("comment_target", comments, (n, 0))
        self.register_buffer("has_comments", self.comment_target.abs().sum(dim=1) > 0
                             if comments is not None else torch.zeros(n, dtype=torch.bool),
                             persistent=False)
        self.heads = BehaviorHeads(
            embed_dim, token_dim=token_dim if config.replay > 0 else None,
            text_dim=self.comment_target.shape[1] if config.comments > 0 else None,
            engagement=config.engagement > 0, hidden=config.head_hidden)

    def predict_engagement(self, z: torch.Tensor) -> torch.Tensor:
        """The engagement head on the clip embedding scaled to unit RMS per coordinate
        (``z·√d``): the embedding is unit-norm, and a default-initialised MLP reading 128
        coordinates of about 0.09 barely moves in a fine-tuning's few dozen steps (it fitted
        the training likes at R² ≈ 0.1 after 60 steps; docs/receiver-behavior.md)."""
        return self.heads.predict_engagement(z * z.shape[-1] ** 0.5)

    @property
    def needs_temporal(self) -> bool:
        return self.config.replay > 0

    def positions(self, ids) -> torch.Tensor:
        pos = self.index.get_indexer(list(ids))
        if (pos < 0).any():
            raise ConfigError(f"stimuli without a behavior slot: {list(np.asarray(ids)[pos < 0])[:5]}")
        rows = torch.from_numpy(pos.astype(np.int64))
        device = self.engagement_target.device
        return rows.pin_memory().to(device, non_blocking=True) if device.type == "cuda" else rows

    def forward(self, z: torch.Tensor, tokens: torch.Tensor | None, ids,
                sync: bool = True) -> tuple[torch.Tensor, dict]:
        """(weighted sum, parts): each term's raw and weighted value, as floats, or with
        ``sync=False`` (the trainer's step) as detached 0-d tensors (no read-back)."""
        rows = self.positions(ids)
        cfg = self.config
        terms = []
        if cfg.engagement > 0:
            terms.append(("engagement", cfg.engagement,
                          engagement_loss(self.predict_engagement(z), self.engagement_target[rows])))
        if cfg.replay > 0:
            if tokens is None:
                raise ConfigError("behavior.replay needs temporal tokens: a video backbone")
            terms.append(("replay", cfg.replay,
                          replay_loss(self.heads.predict_replay(tokens), self.replay_target[rows])))
        if cfg.comments > 0:
            terms.append(("comments", cfg.comments,
                          comment_infonce(self.heads.project_comments(z), self.comment_target[rows],
                                          cfg.temperature, self.has_comments[rows])))
        scalar = float if sync else (lambda v: v.detach().float())
        total = None
        parts = {}
        for key, weight, raw in terms:
            weighted = weight * raw
            total = weighted if total is None else total + weighted
            parts[key] = scalar(raw.detach())
            parts[f"{key}_weighted"] = scalar(weighted.detach())
        return total, parts

    def add_to(self, loss: torch.Tensor, parts: dict, z, tokens, ids,
               sync: bool = True) -> tuple[torch.Tensor, dict]:
        """The BGS objective's ``(loss, parts)`` with the behavior terms added."""
        extra, more = self(z, tokens, ids, sync=sync)
        loss = loss + extra
        return loss, {**parts, **more, "loss": float(loss.detach()) if sync else loss.detach().float()}


def comment_embeddings(comments: list[list[str]], text_model: str) -> np.ndarray:
    """(N, D) mean of each list's unit-norm comment embeddings, re-normalised; zeros for none."""
    from bgs.models.text import load_text_backbone

    encoder = load_text_backbone(text_model)
    flat = [c for lst in comments for c in lst]
    dim = encoder.hidden_size
    out = np.zeros((len(comments), dim), dtype=np.float32)
    if not flat:
        return out
    vectors = encoder.encode(flat)
    owner = np.repeat(np.arange(len(comments)), [len(lst) for lst in comments])
    np.add.at(out, owner, vectors)
    norm = np.linalg.norm(out, axis=1, keepdims=True)
    return np.where(norm > 0, out / np.where(norm > 0, norm, 1), 0).astype(np.float32)


def build_behavior_objective(config: BehaviorConfig, data, model,
                             log: Callable[[str], None] = print) -> BehaviorObjective:
    """Read ``config.file``, align it to the run's stimuli and build the objective."""
    from bgs.behavior.normalise import engagement_targets, replay_targets
    from bgs.behavior.readers import read_behavior
    from bgs.data.tables import first_row_number

    table = read_behavior(config.file, config.format, config.id_field or None)
    stim_ids = data.stimuli.to_ids(pd.Series(table.keys, dtype=object), config.file,
                                   config.id_field or "id", first_row_number(config.file))
    all_ids = np.concatenate([data.train_ids, data.val_ids, data.test_ids])
    slot = pd.Index(all_ids).get_indexer(stim_ids)
    keep = np.flatnonzero(slot >= 0)  # records of stimuli outside this run are ignored
    table, slot = table.subset(keep), slot[keep]
    in_train = np.isin(np.asarray(stim_ids)[keep], data.train_ids)
    n = len(all_ids)
    engagement = np.full(n, np.nan, np.float32)
    engagement[slot] = engagement_targets(table, fit=in_train, smoothing=config.smoothing,
                                          per_channel=config.per_channel)
    replay, token_dim = None, None
    if config.replay > 0:
        encoder = model.encoder
        if not hasattr(encoder, "temporal_positions"):
            raise ConfigError(f"behavior.replay predicts replay graphs from temporal tokens; "
                              f"{model.backbone_ref} has none. Fix: use a video backbone or set "
                              f"behavior.replay = 0")
        replay = np.full((n, encoder.temporal_positions), np.nan, np.float32)
        replay[slot] = replay_targets(table, encoder.temporal_positions, centre=True)
        token_dim = encoder.temporal_width
    comments = None
    if config.comments > 0:
        emb = comment_embeddings(table.comments, config.text_model)
        comments = np.zeros((n, emb.shape[1]), np.float32)
        comments[slot] = emb
    counts = {"engagement": int(np.isfinite(engagement[np.isin(all_ids, data.train_ids)]).sum()),
              "replay": int(np.isfinite(replay).any(axis=1)[np.isin(all_ids, data.train_ids)].sum())
              if replay is not None else 0,
              "comments": int((np.abs(comments).sum(axis=1) > 0)[np.isin(all_ids, data.train_ids)].sum())
              if comments is not None else 0}
    active = [k for k in WEIGHTS if getattr(config, k) > 0]
    empty = [k for k in active if counts[k] == 0]
    if empty:
        raise ConfigError(f"{config.file}: no training stimulus has {' or '.join(empty)} behavior; "
                          f"set behavior.{empty[0]} = 0 or give records for the training stimuli")
    log(f"behavior {config.file}: {len(table)} records; training stimuli with "
        + ", ".join(f"{k} {counts[k]}/{len(data.train_ids)} (weight {getattr(config, k)})" for k in active))
    return BehaviorObjective(config, all_ids, model.config.head_dim, engagement, replay, comments,
                             token_dim)
