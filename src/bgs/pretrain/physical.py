"""A small video ViT pre-trained, supervised, on the physical ground truth of synthetic clips.

No real video checkpoint can be downloaded offline, so bgs builds its own backbone with real
visual knowledge of its synthetic scenes: the analogue of a real model pre-trained on action
recognition. A TimeSformer encoder (the divided space-time ViT the registry loads as
``timesformer:<folder>``; its embedding is the CLS token) is trained to read what the
renderer knows about every frame and agent (:func:`physical_targets`), never the social
latents, the scripts or any judgment.

One linear read-out per token (a frame × a patch) predicts the share of its
pixels covered by agents and, for each agent there, its *local* physical state: position
(from the arena's centre), heading, velocity and speed, and products of them (squared
distance from the centre, heading and velocity towards the centre, heading along the
velocity, squared speed). Each agent's values are spread over its pixels with weights
summing to one per frame, so the mean over a clip's tokens of these channels is the clip
mean of the *sum over agents* of each quantity: low-order moments of the agents' layout and
motion. Relational quantities (how far apart the agents are, whether they face each other)
are functions of those moments, while every target stays local. A second linear read-out,
from the CLS token (the registry's embedding), predicts the clip's moments themselves.
(Read-outs of relational quantities from pooled tokens, tried first, stayed at the level of
predicting the mean: see docs/pretraining.md.)

Each channel is standardised with the training clips' statistics, so a loss of 1 means
"predicting nothing". The clips come from a separate synthetic dataset
(``PHYSICAL_SEED_OFFSET + config.seed``), so no clip any demo evaluates is ever seen; they are
encoded to H.264 and decoded through the clip store exactly as the demo's clips are.

The folder is an ordinary ``save_pretrained`` folder of the encoder (``TimesformerModel``)::

    <folder>/config.json, model.safetensors   the encoder
    <folder>/readout.safetensors               the per-token read-out (bgs.pretrain.readout)
    <folder>/preprocessor_config.json          image_mean / image_std (ImageNet) and size
    <folder>/pretraining.json                  PhysicalConfig, loss curves, seconds

Training is deterministic on the CPU for a given config (seeded initialisation and batch
order, one thread by default). :func:`cached_physical` keeps the result per machine under
``$BGS_MODELS_DIR`` (default ``~/.cache/bgs/models``) in ``physical-vit-<key>``, written under
a temporary name and renamed into place, so a folder that exists is complete.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import ClassVar

import numpy as np

from bgs.errors import BGSError, ConfigError
from bgs.io import write_json
from bgs.models.moment_readout import POOLINGS
from bgs.models.registry import IMAGENET_MEAN, IMAGENET_STD
from bgs.pretrain.config import PretrainConfig
from bgs.pretrain.folder import building_folder, complete, default_cache_dir, quiet_progress_bars, torch_threads
from bgs.pretrain.readout import save_pooling, save_readout

#: Bumped whenever the same PhysicalConfig would train a different model.
PHYSICAL_VERSION = 4  # 2: clips encoded without macroblock-tree rate control; 3: TimeSformer, local targets;
# 4: the conv stem and the moment pooling by default
#: The pre-training clips' synthetic seed is this plus ``PhysicalConfig.seed``.
PHYSICAL_SEED_OFFSET = 3000


#: Per-frame quantities of a scene (:func:`frame_quantities`), in this order.
FRAME_NAMES = ("distance_ab", "approach_ab", "speed_sum_ab", "speed_diff_ab", "facing_ab",
               "alignment_ab", "third_present", "third_distance", "third_speed",
               "midpoint_x", "midpoint_y")
#: Per-clip targets: the means of :data:`FRAME_NAMES`, then the distance's spread and change.
CLIP_NAMES = (*(f"mean_{n}" for n in FRAME_NAMES), "sd_distance_ab", "change_distance_ab")
#: Per-agent local quantities (:func:`agent_state`): ``agents`` is 1 (so its token sum counts
#: the agents), ``x, y`` the position from the arena's centre c, ``r2`` = |p − c|², ``heading_*``
#: the unit heading h, ``heading_centre`` = h·(p − c), velocity v and speed (per clip duration),
#: ``velocity_centre`` = v·(p − c) and its magnitude, ``heading_velocity`` = h·v, ``speed2``.
AGENT_NAMES = ("agents", "x", "y", "r2", "heading_x", "heading_y", "heading_centre", "vx", "vy",
               "speed", "velocity_centre", "abs_velocity_centre", "heading_velocity", "speed2")
N_CUES = 5  # bgs.synthetic.scenes.CUE_NAMES
#: Per-token channels: agent coverage, then :data:`AGENT_NAMES` spread over each agent's pixels.
DENSE_NAMES = ("coverage", *AGENT_NAMES)
Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``; stages ``clips``, ``decode``, ``train``."""


@dataclass(frozen=True)
class PhysicalConfig(PretrainConfig):
    """Model, data and schedule of the physical pre-training.

    The encoder is a ViT of ``layers`` blocks of width ``hidden`` over ``tubelet × patch ×
    patch`` tubelets of ``frames`` frames at ``size × size``. AdamW with ``warmup`` steps of
    linear warm-up then cosine decay, ``steps`` steps of ``batch`` clips drawn from
    ``n_clips`` synthetic clips; ``n_val`` more clips, never trained on, measure the loss every
    ``log_every`` steps. ``cue_weight`` > 0 adds a CLS read-out of the visible cues
    (:func:`clip_cues`; tried and not kept: docs/pretraining.md). ``stem_channels`` > 0 puts
    ``stem_layers`` 3×3 convolutions before the patch embedding (:mod:`bgs.models.conv_stem`),
    ``heading_weight`` weights the heading channels of the per-token loss (both measured in
    docs/pretraining.md). ``pooling`` 0, 1 or 2 makes the saved folder's registry embedding the
    CLS, the CLS ‖ the moment pooling of the per-token read-out, or that pooling alone
    (:mod:`bgs.models.moment_readout`). The defaults, a stem of 2 × 16 channels and pooling 1,
    are the backbone whose fine-tuning gains on unseen clips (docs/pretraining.md).
    """

    VERSION: ClassVar[int] = PHYSICAL_VERSION

    frames: int = 8
    size: int = 32
    patch: int = 8
    tubelet: int = 1  # frames per target slice (the TimeSformer embeds every frame)
    hidden: int = 64
    layers: int = 3
    heads: int = 4
    intermediate: int = 128
    steps: int = 600
    batch: int = 32
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup: int = 10
    n_clips: int = 960
    n_val: int = 64
    log_every: int = 100
    patch_init_scale: float = 5.0
    seed: int = 0
    # > 0: the CLS also reads the five visible cues of the shown motion (clip_cues), centred
    # and scaled over the training clips, with this weight beside the per-token loss
    cue_weight: float = 0.0
    # > 0: a conv stem (bgs.models.conv_stem) of stem_layers 3×3 convolutions of this many
    # channels at full resolution before the patch embedding
    stem_channels: int = 16
    stem_layers: int = 2
    # the per-token loss's weight on the heading channels (heading_x, heading_y)
    heading_weight: float = 1.0
    # the registry embedding of the saved folder: 0 the CLS; 1 the CLS ‖ the moment pooling
    # of the per-token read-out; 2 that pooling alone (bgs.models.moment_readout)
    pooling: int = 1

    @property
    def stem(self) -> list[int]:
        """The conv stem's widths (empty: none)."""
        return [self.stem_channels] * self.stem_layers if self.stem_channels else []

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise ConfigError(f"PhysicalConfig.{f.name} must be a number, got {value!r}")
            if f.type in ("int", int):
                if float(value) != int(value):
                    raise ConfigError(f"PhysicalConfig.{f.name} must be an integer, got {value!r}")
                object.__setattr__(self, f.name, int(value))
            else:
                object.__setattr__(self, f.name, float(value))  # 1 and 1.0: one config, one key
        self._check()

    def _check(self) -> None:
        positive = ("frames", "size", "patch", "tubelet", "hidden", "layers", "heads",
                    "intermediate", "steps", "batch", "log_every")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"PhysicalConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.pooling not in range(len(POOLINGS) + 1):
            raise ConfigError(f"PhysicalConfig.pooling must be 0 (the CLS), 1 (CLS ‖ moments) or 2 "
                              f"(moments), got {self.pooling}")
        if self.stem_channels < 0 or self.stem_layers < 1:
            raise ConfigError("PhysicalConfig: stem_channels must be >= 0 and stem_layers >= 1")
        if min(self.seed, self.warmup, self.n_val, self.heading_weight, self.weight_decay) < 0 or not self.lr > 0:
            raise ConfigError("PhysicalConfig: seed, warmup, n_val, heading_weight and weight_decay "
                              "must be >= 0, lr > 0")
        if self.size % self.patch or self.frames % self.tubelet:
            raise ConfigError(f"PhysicalConfig: size {self.size} must be a multiple of patch "
                              f"{self.patch} and frames {self.frames} of tubelet {self.tubelet}. "
                              f"Fix: e.g. size=64, patch=16, frames=16, tubelet=2")
        if self.size < 16 or self.size % 2 or self.frames < 2:
            raise ConfigError(f"PhysicalConfig: size must be even and >= 16 and frames >= 2 (the "
                              f"synthetic renderer's limits), got size {self.size}, frames {self.frames}")
        if self.hidden % self.heads:
            raise ConfigError(f"PhysicalConfig: hidden {self.hidden} must be a multiple of heads {self.heads}")
        if self.n_clips < 6:
            raise ConfigError(f"PhysicalConfig.n_clips must be >= 6 (the synthetic generator's "
                              f"minimum), got {self.n_clips}")

    @classmethod
    def quick(cls, seed: int = 0) -> PhysicalConfig:
        """The CI-sized version: the same model, fewer clips and steps."""
        return cls(steps=150, batch=16, n_clips=192, n_val=16, log_every=25, seed=seed)

    @property
    def grid(self) -> int:
        return self.size // self.patch

    @property
    def slices(self) -> int:
        return self.frames // self.tubelet

    def timesformer_config(self):
        """The encoder: a TimeSformer (divided space-time attention, learned spatial and
        temporal position embeddings, a CLS token, a final LayerNorm). Its learned absolute
        positions let a token say where it is; VideoMAE's fixed 1-D sinusoid over the
        flattened (frame, row, column) index does not give the column linearly."""
        from transformers import TimesformerConfig

        return TimesformerConfig(image_size=self.size, patch_size=self.patch, num_channels=3,
                                 num_frames=self.frames, hidden_size=self.hidden,
                                 num_hidden_layers=self.layers, num_attention_heads=self.heads,
                                 intermediate_size=self.intermediate, hidden_dropout_prob=0.0,
                                 attention_probs_dropout_prob=0.0, layer_norm_eps=1e-6,
                                 attention_type="divided_space_time")


# ---------------------------------------------------------------------------- ground truth
def frame_quantities(scene, n_frames: int) -> np.ndarray:
    """(n_frames, len(FRAME_NAMES)) physical quantities of a scene at its clip's frames, in
    arena units per clip (velocities: per clip duration). Agents 0 and 1 are the principal
    pair; the third agent's columns are 0 when there is none."""
    pos, head = scene.arena_poses(scene.frame_times(n_frames))  # (A, T, 2), (A, T)
    vel = np.gradient(pos, axis=1) * (n_frames - 1)
    speed = np.linalg.norm(vel, axis=-1)
    ab = pos[1] - pos[0]
    dist = np.linalg.norm(ab, axis=-1)
    approach = -np.gradient(dist) * (n_frames - 1)
    bearing_a = np.arctan2(ab[:, 1], ab[:, 0])
    facing = 0.5 * (np.cos(head[0] - bearing_a) + np.cos(head[1] - bearing_a - np.pi))
    mid = (pos[0] + pos[1]) / 2
    zero = np.zeros(n_frames)
    third = scene.n_agents > 2
    return np.stack([
        dist, approach, speed[0] + speed[1], np.abs(speed[0] - speed[1]), facing,
        np.cos(head[0] - head[1]), zero + float(third),
        np.linalg.norm(pos[2] - mid, axis=-1) if third else zero, speed[2] if third else zero,
        mid[:, 0], mid[:, 1]], axis=1)


def clip_quantities(scenes, n_frames: int) -> np.ndarray:
    """(N, len(CLIP_NAMES)) per clip: the means of :func:`frame_quantities` over the frames,
    the distance's spread and its change from first to last frame (what the probes read)."""
    per_frame = np.stack([frame_quantities(s, n_frames) for s in scenes])  # (N, T, F)
    dist = per_frame[:, :, 0]
    return np.concatenate([per_frame.mean(axis=1), dist.std(axis=1, keepdims=True),
                           (dist[:, -1] - dist[:, 0])[:, None]], axis=1)


def clip_cues(scenes) -> np.ndarray:
    """(N, len(CUE_NAMES)) the visible cues of each scene's shown motion
    (``bgs.synthetic.scenes.visible_cues``): physical statistics of the positions and headings
    the clip shows, never its latents, script or any judgment."""
    return np.stack([s.cues() for s in scenes])


def agent_state(scene, n_frames: int) -> np.ndarray:
    """(A, T, len(AGENT_NAMES)) each agent's local physical state at the clip's frames, in
    arena units from the arena's centre (velocities per clip duration)."""
    pos, head = scene.arena_poses(scene.frame_times(n_frames))
    c = pos - 0.5
    vel = np.gradient(pos, axis=1) * (n_frames - 1)
    h = np.stack([np.cos(head), np.sin(head)], axis=-1)
    speed = np.linalg.norm(vel, axis=-1)
    vc = (vel * c).sum(-1)
    return np.concatenate([np.ones_like(speed)[..., None], c, (c * c).sum(-1)[..., None], h,
                           (h * c).sum(-1)[..., None], vel, speed[..., None], vc[..., None],
                           np.abs(vc)[..., None], (h * vel).sum(-1)[..., None],
                           (speed * speed)[..., None]], axis=-1)


def _dense(scene, masks: np.ndarray, config: PhysicalConfig) -> np.ndarray:
    """(slices, grid, grid, len(DENSE_NAMES)): per token, the agents' pixel share, then each
    agent's state weighted by the share of that agent's pixels (in its frame) the token holds,
    averaged over the tubelet's frames."""
    t, p, ts = config.frames, config.patch, config.tubelet
    state = agent_state(scene, t)
    out = np.zeros((t, masks.shape[1], masks.shape[2], len(DENSE_NAMES)))
    for a in range(scene.n_agents):
        cover = masks == a + 1  # (T, H, W)
        out[..., 0] += cover
        share = cover / np.maximum(cover.sum(axis=(1, 2), keepdims=True), 1)  # sums to 1 per frame
        out[..., 1:] += share[..., None] * state[a][:, None, None, :]
    g = config.grid
    tokens = out.reshape(t // ts, ts, g, p, g, p, len(DENSE_NAMES))
    # coverage: the pixel share; the agent channels: summed over the token's pixels
    return np.concatenate([tokens[..., :1].mean(axis=(1, 3, 5)),
                           tokens[..., 1:].sum(axis=(3, 5)).mean(axis=1)], axis=-1)


def physical_targets(scenes, masks, config: PhysicalConfig) -> np.ndarray:
    """The raw (unstandardised) per-token targets (N, slices, grid, grid, len(DENSE_NAMES));
    ``masks[i]`` is scene i's label stack."""
    return np.stack([_dense(s, m, config) for s, m in zip(scenes, masks)])


def synthetic_clips(work: Path, seed: int, n: int, frames: int, size: int, prefix: str,
                    report: Progress | None = None):
    """(frames uint8 (n, T, H, W, 3) decoded through the clip store, scenes, masks (n, T, H, W))
    of a fresh synthetic dataset with ``seed`` written under ``work``."""
    from bgs.media import ClipStore, DecodeParams
    from bgs.synthetic import SynthConfig, make_dataset
    from bgs.synthetic.dataset import build_scenes

    report = report or (lambda stage, done, total: None)
    synth = SynthConfig(seed=seed, n_clips=n, frames=frames, size=size, n_participants=2,
                        sets_per_participant=1, ceiling_draws=2, name_prefix=prefix)
    data = work / "clips"
    make_dataset(data, synth, progress=lambda stage, done, total:
                 report("clips", done, total) if stage == "videos" else None)
    ids = list(range(n))
    store = ClipStore(work / "store", DecodeParams(frames, size, "crop"))
    store.build(ids, [data / "videos" / f"{prefix}_{i:04d}.mp4" for i in ids], on_error="fail",
                progress=lambda done, total, _: report("decode", done, total))
    masks = np.stack([np.load(data / "masks" / f"{prefix}_{i:04d}.npz")["masks"] for i in ids])
    return store.get_batch(ids), build_scenes(synth), masks


# ---------------------------------------------------------------------------- model
def _model_class():
    import torch
    from torch import nn

    class PhysicalModel(nn.Module):
        """The encoder, a linear read-out per token, and one from the CLS token (the
        registry's embedding) of the tokens' mean targets: the clip's moments."""

        def __init__(self, config: PhysicalConfig):
            super().__init__()
            import transformers

            self.config = config
            from bgs.models.attention_impl import set_attention
            from bgs.models.conv_stem import add_conv_stem

            self.encoder = transformers.TimesformerModel(config.timesformer_config())
            add_conv_stem(self.encoder, config.stem)
            set_attention(self.encoder, "sdpa")  # bgs's fused kernel; the same weights
            _init_patch_filters(self.encoder, config)
            self.dense = nn.Linear(config.hidden, len(DENSE_NAMES))
            self.cls = nn.Linear(config.hidden, len(DENSE_NAMES))
            self.cue = nn.Linear(config.hidden, N_CUES) if config.cue_weight else None

        def forward(self, pixels: torch.Tensor) -> tuple:
            """(per token (B, frames, grid, grid, channels), from the CLS (B, channels), the
            cues from the CLS (B, cues) or None)."""
            c = self.config
            hidden = self.encoder(pixels).last_hidden_state  # (B, 1 + grid²·frames, h)
            b = hidden.shape[0]
            tokens = hidden[:, 1:].reshape(b, c.grid, c.grid, c.frames, -1).permute(0, 3, 1, 2, 4)
            tokens = tokens.reshape(b, c.slices, c.tubelet, c.grid, c.grid, -1).mean(dim=2)
            cues = self.cue(hidden[:, 0]) if self.cue is not None else None
            return self.dense(tokens), self.cls(hidden[:, 0]), cues

    return PhysicalModel


def _init_patch_filters(encoder, config: PhysicalConfig) -> None:
    """Scale the patch embedding's initial filters by ``patch_init_scale``: at transformers'
    default sd of 0.02 a patch's content is small beside the position embedding, and the
    tokens learn where they are, not what they show."""
    import torch

    from bgs.models.conv_stem import patch_projection

    with torch.no_grad():
        patch_projection(encoder).weight.mul_(config.patch_init_scale)


def _target_scale(targets: np.ndarray, n_train: int) -> np.ndarray:
    """Each channel's root mean square over the training clips' tokens (1 for a constant-zero
    channel): the targets are divided by it, without centring, so a token without agents
    stays 0."""
    flat = targets[:n_train].reshape(-1, targets.shape[-1])
    rms = np.sqrt((flat ** 2).mean(axis=0))
    return np.where(rms > 1e-8, rms, 1.0)


def _centred(values: np.ndarray, n_train: int) -> np.ndarray:
    """(N, K) each column centred and scaled by the training rows' mean and sd."""
    mu, sd = values[:n_train].mean(axis=0), values[:n_train].std(axis=0)
    return (values - mu) / np.where(sd > 1e-8, sd, 1.0)


def _lr_factor(step: int, config: PhysicalConfig) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to zero at ``steps``."""
    if step < config.warmup:
        return (step + 1) / (config.warmup + 1)
    span = max(1, config.steps - config.warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - config.warmup) / span)))


def _channel_errors(out, target):
    """Mean squared error per channel of the per-token and the CLS read-outs, summed
    (standardised units: 1 = predicting zero everywhere)."""
    dense, cls = out[:2]
    return (((dense - target) ** 2).flatten(0, -2).mean(dim=0)
            + ((cls - target.mean(dim=(1, 2, 3))) ** 2).mean(dim=0))


def _cue_errors(out, cues):
    """Mean squared error per cue of the CLS cue read-out (1 = predicting the mean)."""
    return ((out[2] - cues) ** 2).mean(dim=0)


def _channel_weights(config: PhysicalConfig) -> np.ndarray:
    """Each per-token channel's weight in the loss: ``heading_weight`` for the heading."""
    return np.array([config.heading_weight if n in ("heading_x", "heading_y") else 1.0 for n in DENSE_NAMES])


def _loss(out, target, cues, config: PhysicalConfig):
    """The per-token and CLS losses (the heading channels weighted by ``heading_weight``),
    plus ``cue_weight`` times the cue loss."""
    errors = _channel_errors(out, target)
    if config.heading_weight != 1.0:
        errors = errors * errors.new_tensor(_channel_weights(config))
    loss = errors.mean()
    return loss + config.cue_weight * _cue_errors(out, cues).mean() if config.cue_weight else loss


def _batches(rng: np.random.Generator, n: int, batch: int):
    """Endless batches of indices: epochs of shuffled clips."""
    order, pos = rng.permutation(n), 0
    while True:
        idx = []
        while len(idx) < batch:
            if pos == n:
                order, pos = rng.permutation(n), 0
            take = order[pos:pos + batch - len(idx)]
            idx.extend(take.tolist())
            pos += len(take)
        yield idx


def _train(config: PhysicalConfig, frames: np.ndarray, targets: np.ndarray, n_train: int,
           report: Progress, cues: np.ndarray | None = None) -> dict:
    """The training loop; returns the model, the loss curve and the seconds it took.
    ``cues`` (N, N_CUES), standardised: the CLS cue read-out's targets when ``cue_weight`` > 0."""
    import torch

    from bgs.media.decode import to_float_tensor

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = _model_class()(config)
    model.train()
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=config.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(s, config))
    x = to_float_tensor(frames, IMAGENET_MEAN, IMAGENET_STD)
    y = torch.as_tensor(targets, dtype=torch.float32)
    cue_y = torch.as_tensor(cues, dtype=torch.float32) if cues is not None else None

    @torch.no_grad()
    def val_loss() -> dict | None:
        """The held-out clips' loss, overall and per channel."""
        if n_train == len(frames):
            return None
        model.eval()
        starts = range(n_train, len(frames), 32)
        outs = [(model(x[i:i + 32]), i) for i in starts]
        errors = torch.stack([_channel_errors(o, y[i:i + 32]) for o, i in outs])
        sizes = torch.tensor([min(32, len(frames) - i) for i in starts], dtype=torch.float32)
        per_channel = (errors * sizes[:, None]).sum(dim=0) / sizes.sum()
        model.train()
        out = {"dense": round(float(per_channel.mean()), 5),
               **{name: round(float(e), 4) for name, e in zip(DENSE_NAMES, per_channel)}}
        if config.cue_weight:
            cue = torch.stack([_cue_errors(o, cue_y[i:i + 32]) for o, i in outs])
            out["cues"] = [round(float(e), 4) for e in (cue * sizes[:, None]).sum(dim=0) / sizes.sum()]
        return out

    curve = [{"step": 0, "val": val_loss()}]
    window: list[float] = []
    batches = _batches(np.random.default_rng([config.seed, 11]), n_train, config.batch)
    t0 = time.perf_counter()
    for step in range(config.steps):
        idx = next(batches)
        loss = _loss(model(x[idx]), y[idx], cue_y[idx] if cue_y is not None else None, config)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        window.append(loss.item())
        if (step + 1) % config.log_every == 0 or step + 1 == config.steps:
            curve.append({"step": step + 1, "train_loss": round(float(np.mean(window)), 5),
                          "val": val_loss(), "seconds": round(time.perf_counter() - t0, 2)})
            window = []
        report("train", step + 1, config.steps)
    model.eval()
    return {"model": model, "curve": curve, "seconds": time.perf_counter() - t0}


# ---------------------------------------------------------------------------- folder
def pretrain_physical(out_dir: str | os.PathLike, config: PhysicalConfig | None = None,
                      progress: Progress | None = None,
                      log: Callable[[str], None] | None = print, threads: int | None = 1) -> Path:
    """Pre-train the encoder on the physical ground truth of synthetic clips; save it to
    ``out_dir`` (which must not exist or be empty; it appears complete or not at all).

    ``threads``: torch CPU threads while training (restored afterwards); ``None`` leaves
    torch's setting. One thread gives the same weights on any number of cores, and on a busy
    machine avoids OpenMP threads waiting on each other.
    """
    import torch
    import transformers

    config = config or PhysicalConfig()
    out_dir = Path(out_dir)
    say = log or (lambda _msg: None)
    report = progress or (lambda stage, done, total: None)
    with building_folder(out_dir) as tmp:
        t0, c0 = time.perf_counter(), time.process_time()
        say(f"pre-training a small video ViT ({config.layers}×{config.hidden}, {config.frames} "
            f"frames at {config.size}²) on the physical ground truth of {config.n_clips} synthetic "
            f"clips, {config.steps} steps, into {out_dir}")
        n = config.n_clips + config.n_val
        frames, scenes, masks = synthetic_clips(tmp / "work", PHYSICAL_SEED_OFFSET + config.seed, n,
                                                config.frames, config.size, "phys", report)
        raw = physical_targets(scenes, masks, config)
        scale = _target_scale(raw, config.n_clips)
        targets = raw / scale
        cues = _centred(clip_cues(scenes), config.n_clips) if config.cue_weight else None
        t_data = time.perf_counter() - t0
        with torch_threads(threads):
            result = _train(config, frames, targets, config.n_clips, report, cues)
        shutil.rmtree(tmp / "work")
        encoder = result["model"].encoder
        encoder.config.architectures = ["TimesformerModel"]
        with quiet_progress_bars():
            encoder.save_pretrained(tmp)
        save_readout(tmp, result["model"].dense, scale)
        if config.pooling:
            save_pooling(tmp, result["model"].dense, scale, frames[:config.n_clips],
                         POOLINGS[config.pooling - 1], config.tubelet, DENSE_NAMES)
        write_json(tmp / "preprocessor_config.json", config.preprocessor())
        curve = result["curve"]
        doc = {
            "model": "timesformer",
            "what": "supervised pre-training on the renderer's physical ground truth (per "
                    "token: agent coverage and each agent's position, heading, velocity and "
                    "their products); no social latents, scripts or judgments",
            "key": config.key(), "version": PHYSICAL_VERSION, "config": config.to_dict(),
            "data": {"generator": "bgs.synthetic", "seed": PHYSICAL_SEED_OFFSET + config.seed,
                     "n_train_clips": config.n_clips, "n_val_clips": config.n_val},
            "targets": list(DENSE_NAMES),
            "n_parameters": int(sum(p.numel() for p in encoder.parameters())),
            "val_start": curve[0]["val"], "val_end": curve[-1]["val"],
            "train_loss_end": curve[-1].get("train_loss"), "curve": curve,
            "seconds": round(time.perf_counter() - t0, 2),
            "cpu_seconds": round(time.process_time() - c0, 2), "seconds_data": round(t_data, 2),
            "seconds_train": round(result["seconds"], 2), "torch": torch.__version__,
            "transformers": transformers.__version__, "threads": threads or torch.get_num_threads(),
        }
        write_json(tmp / "pretraining.json", doc)
    if doc["val_end"]:
        say(f"  held-out per-token loss (standardised, 1 = predicting nothing) "
            f"{doc['val_start']['dense']:.3f} → {doc['val_end']['dense']:.3f} in {doc['seconds']:.0f} s")
    return out_dir


# ---------------------------------------------------------------------------- cache
def cached_physical(config: PhysicalConfig | None = None, cache_dir: str | os.PathLike | None = None,
                    progress: Progress | None = None,
                    log: Callable[[str], None] | None = print, threads: int | None = 1) -> Path:
    """The folder of the pre-trained encoder for ``config``: ``<cache_dir>/physical-vit-<key>``,
    pre-trained (:func:`pretrain_physical`) only when it is not there yet."""
    config = config or PhysicalConfig()
    folder = (Path(cache_dir) if cache_dir is not None else default_cache_dir()) / f"physical-vit-{config.key()}"
    if complete(folder):
        if log:
            log(f"using the pre-trained video ViT in {folder}")
        return folder
    if folder.exists():
        with contextlib.suppress(OSError):
            folder.rmdir()
        if folder.exists():
            raise BGSError(f"{folder} exists but is not a complete pre-trained model (no "
                           f"pretraining.json / model.safetensors). Fix: delete the folder")
    return pretrain_physical(folder, config, progress=progress, log=log, threads=threads)


def physical_backbone(frames: int, size: int, overrides: dict | None = None,
                      log: Callable[[str], None] | None = print) -> Path:
    """The cached pre-trained encoder at a clip size (:func:`cached_physical`): the full
    :class:`PhysicalConfig`, or with ``overrides`` ``{"quick": True}`` its CI-sized version;
    the other keys of ``overrides`` are PhysicalConfig fields."""
    from dataclasses import replace

    overrides = dict(overrides or {})
    base = PhysicalConfig.quick() if overrides.pop("quick", False) else PhysicalConfig()
    return cached_physical(replace(base, **overrides, frames=frames, size=size), log=log)
