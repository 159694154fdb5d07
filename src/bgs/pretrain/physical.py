"""A small video ViT pre-trained, supervised, on the physical ground truth of synthetic clips.

No real video checkpoint can be downloaded offline, so bgs builds its own backbone with real
visual knowledge of its synthetic scenes: the analogue of a real model pre-trained on action
recognition. A VideoMAE-architecture encoder (the same ViT the registry loads as
``videomae:<folder>``) is trained to read what the renderer knows about every frame and
agent (:func:`physical_targets`), never the social latents, the scripts or any judgment:

* per token (a tubelet of frames × a patch): the share of its pixels covered by agents, and
  the coverage-weighted velocity, speed, distance to the partner agent and approach rate
  of the agents there;
* per temporal slice (the tokens of one tubelet, mean-pooled): the two principal agents'
  distance, its rate of change, their speeds, facing and heading alignment, the third
  agent's presence, distance and speed, and the pair's midpoint;
* per clip (all tokens mean-pooled, the embedding the registry returns): those quantities'
  means over the clip, plus the distance's spread and change from start to end.

Each target is standardised with the training clips' statistics; the loss is the sum of
the three mean squared errors. The clips come from a separate synthetic dataset (seed
``PHYSICAL_SEED_OFFSET + config.seed``), so no clip any demo evaluates is ever seen; they are
encoded to H.264 and decoded through the clip store exactly as the demo's clips are.

The folder is an ordinary ``save_pretrained`` folder of the encoder (``VideoMAEModel``)::

    <folder>/config.json, model.safetensors   the encoder
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
from bgs.models.registry import IMAGENET_MEAN, IMAGENET_STD
from bgs.pretrain.config import PretrainConfig
from bgs.pretrain.folder import building_folder, complete, default_cache_dir, quiet_progress_bars, torch_threads

#: Bumped whenever the same PhysicalConfig would train a different model.
PHYSICAL_VERSION = 2  # 2: clips encoded without macroblock-tree rate control
#: The pre-training clips' synthetic seed is this plus ``PhysicalConfig.seed``.
PHYSICAL_SEED_OFFSET = 3000


#: Per-frame quantities of a scene (:func:`frame_quantities`), in this order.
FRAME_NAMES = ("distance_ab", "approach_ab", "speed_sum_ab", "speed_diff_ab", "facing_ab",
               "alignment_ab", "third_present", "third_distance", "third_speed",
               "midpoint_x", "midpoint_y")
#: Per-clip targets: the means of :data:`FRAME_NAMES`, then the distance's spread and change.
CLIP_NAMES = (*(f"mean_{n}" for n in FRAME_NAMES), "sd_distance_ab", "change_distance_ab")
#: Per-token channels: agent coverage, then coverage × the covering agent's velocity, speed,
#: distance to its partner and approach rate (:func:`_agent_motion`).
DENSE_NAMES = ("coverage", "vx", "vy", "speed", "partner_distance", "partner_approach")

LOSS_TERMS = ("dense", "slice", "clip")
Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``; stages ``clips``, ``decode``, ``train``."""


@dataclass(frozen=True)
class PhysicalConfig(PretrainConfig):
    """Model, data and schedule of the physical pre-training.

    The encoder is a ViT of ``layers`` blocks of width ``hidden`` over ``tubelet × patch ×
    patch`` tubelets of ``frames`` frames at ``size × size``. AdamW with ``warmup`` steps of
    linear warm-up then cosine decay, ``steps`` steps of ``batch`` clips drawn from
    ``n_clips`` synthetic clips; ``n_val`` more clips, never trained on, measure the loss every
    ``log_every`` steps.
    """

    VERSION: ClassVar[int] = PHYSICAL_VERSION

    frames: int = 16
    size: int = 64
    patch: int = 16
    tubelet: int = 2
    hidden: int = 96
    layers: int = 4
    heads: int = 4
    intermediate: int = 192
    steps: int = 400
    batch: int = 16
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup: int = 20
    n_clips: int = 240
    n_val: int = 32
    log_every: int = 20
    motion_share: float = 0.5
    patch_init_scale: float = 5.0
    global_weight: float = 0.2
    global_start: int = 0
    seed: int = 0

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
        if min(self.seed, self.warmup, self.n_val) < 0 or self.weight_decay < 0 or not self.lr > 0:
            raise ConfigError("PhysicalConfig: seed, warmup, n_val and weight_decay must be >= 0, lr > 0")
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
        """The CI-sized version (8 frames at 32×32, 8-pixel patches)."""
        return cls(frames=8, size=32, patch=8, hidden=64, layers=3, heads=4, intermediate=128,
                   steps=150, batch=16, lr=2e-3, warmup=10, n_clips=96, n_val=16, log_every=25,
                   seed=seed)

    @property
    def grid(self) -> int:
        return self.size // self.patch

    @property
    def slices(self) -> int:
        return self.frames // self.tubelet

    def videomae_config(self):
        from transformers import VideoMAEConfig

        return VideoMAEConfig(**self.encoder_kwargs())


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


def _agent_motion(scene, n_frames: int) -> np.ndarray:
    """(A, T, 5) per agent and frame: velocity (vx, vy), speed, the distance to its partner
    (agents 0 and 1: each other; a third agent: the pair's midpoint) and the rate at which
    that distance shrinks."""
    pos, _ = scene.arena_poses(scene.frame_times(n_frames))
    vel = np.gradient(pos, axis=1) * (n_frames - 1)
    partner = np.stack([pos[1], pos[0], *([(pos[0] + pos[1]) / 2] * (scene.n_agents - 2))])
    dist = np.linalg.norm(pos - partner, axis=-1)
    approach = -np.gradient(dist, axis=1) * (n_frames - 1)
    return np.concatenate([vel, np.linalg.norm(vel, axis=-1)[..., None], dist[..., None],
                           approach[..., None]], axis=-1)


def _dense(scene, masks: np.ndarray, config: PhysicalConfig) -> np.ndarray:
    """(slices, grid, grid, len(DENSE_NAMES)) per-token coverage and coverage-weighted motion."""
    t, p, ts = config.frames, config.patch, config.tubelet
    per_agent = _agent_motion(scene, t)
    out = np.zeros((t, masks.shape[1], masks.shape[2], len(DENSE_NAMES)))
    for a in range(scene.n_agents):
        cover = masks == a + 1  # (T, H, W)
        out[..., 0] += cover
        out[..., 1:] += cover[..., None] * per_agent[a][:, None, None, :]
    g = config.grid
    return out.reshape(t // ts, ts, g, p, g, p, len(DENSE_NAMES)).mean(axis=(1, 3, 5))


def physical_targets(scenes, masks, config: PhysicalConfig) -> dict[str, np.ndarray]:
    """The raw (unstandardised) targets of clips: ``dense`` (N, slices, grid, grid, 5),
    ``slice`` (N, slices, 11), ``clip`` (N, 13); ``masks[i]`` is scene i's label stack."""
    per_frame = np.stack([frame_quantities(s, config.frames) for s in scenes])  # (N, T, F)
    n = len(scenes)
    slices = per_frame.reshape(n, config.slices, config.tubelet, -1).mean(axis=2)
    dist = per_frame[:, :, 0]
    clip = np.concatenate([per_frame.mean(axis=1), dist.std(axis=1, keepdims=True),
                           (dist[:, -1] - dist[:, 0])[:, None]], axis=1)
    dense = np.stack([_dense(s, m, config) for s, m in zip(scenes, masks)])
    return {"dense": dense, "slice": slices, "clip": clip}


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
        """The encoder and three linear read-outs (tokens, temporal slices, the clip)."""

        def __init__(self, config: PhysicalConfig):
            super().__init__()
            import transformers

            self.config = config
            self.encoder = transformers.VideoMAEModel(config.videomae_config())
            _init_patch_filters(self.encoder, config)
            h = config.hidden
            self.dense = nn.Linear(h, len(DENSE_NAMES))
            self.slice = nn.Linear(h, len(FRAME_NAMES))
            self.clip = nn.Linear(h, len(CLIP_NAMES))

        def forward(self, pixels: torch.Tensor) -> dict[str, torch.Tensor]:
            c = self.config
            tokens = self.encoder(pixels).last_hidden_state  # (B, slices·grid², h), t-major
            b = tokens.shape[0]
            grid = tokens.view(b, c.slices, c.grid, c.grid, -1)
            return {"dense": self.dense(grid), "slice": self.slice(grid.mean(dim=(2, 3))),
                    "clip": self.clip(tokens.mean(dim=1))}

    return PhysicalModel


def _init_patch_filters(encoder, config: PhysicalConfig) -> None:
    """Scale the patch embedding's initial filters by ``patch_init_scale`` (at transformers'
    default sd of 0.02 a patch's content is small beside the sinusoidal position embedding,
    and the tokens learn where they are, not what they show), and make ``motion_share`` of
    them temporal differences (a tubelet's later frames weighted minus its first), which from
    the first step answer only to what moves: the background is static."""
    import torch

    w = encoder.embeddings.patch_embeddings.projection.weight  # (hidden, 3, tubelet, p, p)
    k = round(config.motion_share * config.hidden) if config.tubelet > 1 else 0
    with torch.no_grad():
        w.mul_(config.patch_init_scale)
        if k:
            w[:k, :, 1:] = -w[:k, :, :1] / (config.tubelet - 1)


def _standardiser(train: dict[str, np.ndarray]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per-target (mean, sd) over the training clips (dense: sd per channel, mean 0, so an
    empty token stays 0); constant targets get sd 1."""
    out = {}
    for name, y in train.items():
        flat = y.reshape(-1, y.shape[-1])
        mean = np.zeros(flat.shape[1]) if name == "dense" else flat.mean(axis=0)
        sd = np.sqrt(((flat - mean) ** 2).mean(axis=0))
        out[name] = (mean, np.where(sd > 1e-8, sd, 1.0))
    return out


def _lr_factor(step: int, config: PhysicalConfig) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to zero at ``steps``."""
    if step < config.warmup:
        return (step + 1) / (config.warmup + 1)
    span = max(1, config.steps - config.warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - config.warmup) / span)))


def _loss(out: dict, target: dict, global_weight: float = 1.0):
    """The mean squared errors (standardised units) of the three targets, and their weighted
    sum: the per-token term plus ``global_weight`` times the temporal-slice and clip terms."""
    terms = {k: ((out[k] - target[k]) ** 2).mean() for k in LOSS_TERMS}
    total = sum(v * (1.0 if k == "dense" else global_weight) for k, v in terms.items())
    return total, {k: float(v.detach()) for k, v in terms.items()}


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


def _train(config: PhysicalConfig, frames: np.ndarray, targets: dict, n_train: int,
           report: Progress) -> dict:
    """The training loop; returns the model, the loss curve and the seconds it took."""
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
    y = {k: torch.as_tensor(v, dtype=torch.float32) for k, v in targets.items()}
    val = np.arange(n_train, len(frames))

    @torch.no_grad()
    def val_loss() -> dict | None:
        if not len(val):
            return None
        model.eval()
        parts = [_loss(model(x[i:i + 32]), {k: v[i:i + 32] for k, v in y.items()})[1]
                 for i in range(n_train, len(frames), 32)]
        sizes = [min(32, len(frames) - i) for i in range(n_train, len(frames), 32)]
        model.train()
        return {k: round(float(np.average([p[k] for p in parts], weights=sizes)), 5) for k in parts[0]}

    curve = [{"step": 0, "val": val_loss()}]
    window: list[float] = []
    batches = _batches(np.random.default_rng([config.seed, 11]), n_train, config.batch)
    t0 = time.perf_counter()
    for step in range(config.steps):
        idx = next(batches)
        weight = config.global_weight if step >= config.global_start else 0.0
        loss, _ = _loss(model(x[idx]), {k: v[idx] for k, v in y.items()}, weight)
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
        stats = _standardiser({k: v[:config.n_clips] for k, v in raw.items()})
        targets = {k: (v - stats[k][0]) / stats[k][1] for k, v in raw.items()}
        t_data = time.perf_counter() - t0
        with torch_threads(threads):
            result = _train(config, frames, targets, config.n_clips, report)
        shutil.rmtree(tmp / "work")
        encoder = result["model"].encoder
        encoder.config.architectures = ["VideoMAEModel"]
        with quiet_progress_bars():
            encoder.save_pretrained(tmp)
        write_json(tmp / "preprocessor_config.json", config.preprocessor())
        curve = result["curve"]
        doc = {
            "model": "videomae",
            "what": "supervised pre-training on the renderer's physical ground truth (agent "
                    "coverage, velocity and heading per token; distances, speeds, facing per "
                    "temporal slice and per clip); no social latents, scripts or judgments",
            "key": config.key(), "version": PHYSICAL_VERSION, "config": config.to_dict(),
            "data": {"generator": "bgs.synthetic", "seed": PHYSICAL_SEED_OFFSET + config.seed,
                     "n_train_clips": config.n_clips, "n_val_clips": config.n_val},
            "targets": {"dense": list(DENSE_NAMES), "slice": list(FRAME_NAMES), "clip": list(CLIP_NAMES)},
            "n_parameters": int(sum(p.numel() for p in encoder.parameters())),
            "val_start": curve[0]["val"], "val_end": curve[-1]["val"],
            "train_loss_end": curve[-1].get("train_loss"), "curve": curve,
            "seconds": round(time.perf_counter() - t0, 2),
            "cpu_seconds": round(time.process_time() - c0, 2), "seconds_data": round(t_data, 2),
            "seconds_train": round(result["seconds"], 2), "torch": torch.__version__,
            "transformers": transformers.__version__, "threads": threads or torch.get_num_threads(),
        }
        write_json(tmp / "pretraining.json", doc)
    say(f"  held-out loss (standardised, 1 = predicting the mean) {_fmt(doc['val_start'])} → "
        f"{_fmt(doc['val_end'])} in {doc['seconds']:.0f} s")
    return out_dir


def _fmt(val: dict | None) -> str:
    return "n/a" if not val else " + ".join(f"{k} {v:.3f}" for k, v in val.items())


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
