"""A small VideoMAE pre-trained as a masked autoencoder on unlabelled synthetic clips.

No real checkpoint can be downloaded offline, so ``bgs demo`` pre-trains its own video
backbone: a few hundred steps of masked-autoencoder training (VideoMAE: tube masking,
normalised-pixel reconstruction of the masked tubelets) of a tiny ViT on the clips of a
separate synthetic dataset (seed ``1000 + config.seed``, so the clips the demo evaluates on
are never seen), once per machine: :func:`cached_videomae` keeps the result under
``$BGS_MODELS_DIR`` (default ``~/.cache/bgs/models``) in ``demo-videomae-<key>``.

The folder is an ordinary ``save_pretrained`` folder of the ENCODER (``VideoMAEModel``), so
``videomae:<folder>`` loads it like any other backbone::

    <folder>/config.json, model.safetensors   the encoder
    <folder>/preprocessor_config.json          image_mean / image_std (ImageNet) and size
    <folder>/pretraining.json                  MAEConfig, losses (start, end, curve), seconds

What it learns, measured: ``pretraining.json`` also reports ``val_loss_trivial``, the
held-out loss of a predictor that knows nothing about where things are in a clip (zeros for
normalised pixels; the clip's mean visible colour for raw pixels). With the default config
(and also with 2000 steps on 192 clips at the quick size, with 8-, 4-pixel patches, random
instead of tube masking, or raw pixels) the held-out loss falls from its start to about
that level within some 50 steps and no lower: the pre-training fits the statistics of the
targets, not the content of the clips (the phase of a background texture, or where an agent
is, inside a tube masked in every frame). Linear probes of the pooled features find about
what they find in a randomly initialised encoder (background colour R² ≈ 0.97 against 0.99;
agent colour better or worse depending on the seed; agent size, number of agents, script
and social latents not decodable from either). Treat the backbone as a well-defined small
starting point rather than as one with visual knowledge.

Training is deterministic on the CPU for a given config (seeded model initialisation, batch
order, masks and flips; same torch build; one thread by default, so the same weights on any
number of cores). The folder is written under a temporary name and renamed into place, so a
folder that exists is complete.
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

#: Bumped whenever the same MAEConfig would train a different model (data, masking, schedule),
#: so that cached folders of an older version are not reused.
PRETRAIN_VERSION = 2  # 2: clips encoded without macroblock-tree rate control


MASKINGS = ("tube", "random")

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``; stages ``clips``, ``decode``, ``train``."""


@dataclass(frozen=True)
class MAEConfig(PretrainConfig):
    """Model, data and schedule of the masked-autoencoder pre-training.

    The encoder is a ViT of ``layers`` blocks of width ``hidden`` over ``tubelet × patch ×
    patch`` tubelets of ``frames`` frames at ``size × size``; the decoder (used only in
    pre-training, not saved) is a narrower one. ``masking="tube"``: ``mask_ratio`` of the
    spatial positions are masked, the same ones in every tubelet of a clip (VideoMAE's tube
    masking); ``"random"``: ``mask_ratio`` of all tokens. ``norm_pix``: the targets are each
    tubelet's pixels normalised to mean 0, sd 1 per channel (VideoMAE's ``norm_pix_loss``),
    else raw pixels in [0, 1]. AdamW with ``warmup`` steps of linear warm-up, then cosine
    decay to zero, for ``steps`` steps of ``batch`` clips drawn from ``n_clips`` unlabelled
    synthetic clips (each flipped left-right with probability 1/2 when ``flip``); ``n_val``
    more clips, never trained on, measure the reconstruction loss with fixed masks every
    ``log_every`` steps. ``bgs demo --quick`` uses :meth:`quick`.
    """

    VERSION: ClassVar[int] = PRETRAIN_VERSION

    frames: int = 16
    size: int = 64
    patch: int = 16
    tubelet: int = 2
    hidden: int = 96
    layers: int = 4
    heads: int = 4
    intermediate: int = 192
    decoder_hidden: int = 64
    decoder_layers: int = 2
    decoder_heads: int = 4
    decoder_intermediate: int = 128
    mask_ratio: float = 0.75
    steps: int = 300
    batch: int = 16
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup: int = 20
    n_clips: int = 96
    n_val: int = 16
    flip: bool = True
    masking: str = "tube"
    norm_pix: bool = True
    log_every: int = 10
    seed: int = 0

    def __post_init__(self):
        ints = {f.name for f in fields(self) if f.type in ("int", int)}
        for name in ints:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ConfigError(f"MAEConfig.{name} must be an integer, got {value!r}")
            object.__setattr__(self, name, int(value))
        for name in (f.name for f in fields(self) if f.type in ("float", float)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise ConfigError(f"MAEConfig.{name} must be a number, got {value!r}")
            object.__setattr__(self, name, float(value))  # 1 and 1.0: one config, one key
        for name in ("flip", "norm_pix"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ConfigError(f"MAEConfig.{name} must be true or false, got {getattr(self, name)!r}")
            object.__setattr__(self, name, bool(getattr(self, name)))
        for name in ints - {"seed", "warmup", "n_val"}:
            if getattr(self, name) < 1:
                raise ConfigError(f"MAEConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.seed < 0 or self.warmup < 0 or self.n_val < 0:
            raise ConfigError("MAEConfig.seed, warmup and n_val must be >= 0")
        if self.size % self.patch:
            raise ConfigError(f"MAEConfig: size {self.size} is not a multiple of patch {self.patch}. "
                              f"Fix: choose e.g. size=64, patch=16 (or size=32, patch=8)")
        if self.frames % self.tubelet:
            raise ConfigError(f"MAEConfig: frames {self.frames} is not a multiple of tubelet "
                              f"{self.tubelet}. Fix: use an even number of frames with tubelet=2")
        if self.size < 16 or self.size % 2:
            raise ConfigError(f"MAEConfig.size must be even and >= 16 (the synthetic renderer's "
                              f"limit), got {self.size}")
        if self.frames < 2:
            raise ConfigError(f"MAEConfig.frames must be >= 2, got {self.frames}")
        if self.hidden % self.heads or self.decoder_hidden % self.decoder_heads:
            raise ConfigError("MAEConfig: hidden must be a multiple of heads (and decoder_hidden "
                              "of decoder_heads)")
        if not 0.0 < float(self.mask_ratio) < 1.0:
            raise ConfigError(f"MAEConfig.mask_ratio must be in (0, 1), got {self.mask_ratio}")
        if not 0 < self.n_masked < self.n_spatial:
            raise ConfigError(f"MAEConfig: mask_ratio {self.mask_ratio} masks {self.n_masked} of "
                              f"{self.n_spatial} spatial patches; at least one must be masked and "
                              f"one visible")
        if not float(self.lr) > 0 or float(self.weight_decay) < 0:
            raise ConfigError("MAEConfig: lr must be > 0 and weight_decay >= 0")
        if self.masking not in MASKINGS:
            raise ConfigError(f"MAEConfig.masking must be one of {', '.join(MASKINGS)}, got "
                              f"{self.masking!r}")
        if self.n_clips < 6:
            raise ConfigError(f"MAEConfig.n_clips must be >= 6 (the synthetic generator's "
                              f"minimum), got {self.n_clips}")

    @classmethod
    def quick(cls, seed: int = 0) -> MAEConfig:
        """The CI-sized version (8 frames at 32×32, 8-pixel patches, 40 steps, 24 clips)."""
        return cls(frames=8, size=32, patch=8, hidden=64, layers=3, heads=4, intermediate=128,
                   decoder_hidden=48, decoder_layers=1, decoder_heads=4, decoder_intermediate=96,
                   steps=40, batch=8, lr=2e-3, warmup=5, n_clips=24, n_val=8, log_every=5,
                   seed=seed)

    @property
    def n_spatial(self) -> int:
        return (self.size // self.patch) ** 2

    @property
    def n_tokens(self) -> int:
        return (self.frames // self.tubelet) * self.n_spatial

    @property
    def n_masked(self) -> int:
        """Masked spatial positions per clip."""
        return round(float(self.mask_ratio) * self.n_spatial)

    def videomae_config(self):
        """The ``transformers.VideoMAEConfig`` of the model (encoder and decoder)."""
        from transformers import VideoMAEConfig

        return VideoMAEConfig(
            **self.encoder_kwargs(),
            decoder_hidden_size=self.decoder_hidden, decoder_num_hidden_layers=self.decoder_layers,
            decoder_num_attention_heads=self.decoder_heads,
            decoder_intermediate_size=self.decoder_intermediate, norm_pix_loss=self.norm_pix)


# ---------------------------------------------------------------------------- data
def _unlabelled_clips(work: Path, config: MAEConfig, report: Progress) -> np.ndarray:
    """uint8 (n_clips + n_val, T, H, W, 3): a synthetic dataset with another seed, decoded
    through the clip store exactly as the demo decodes its own clips."""
    from bgs.media import ClipStore, DecodeParams
    from bgs.synthetic import SynthConfig, make_dataset

    n = config.n_clips + config.n_val
    synth = SynthConfig(seed=1000 + config.seed, n_clips=n, frames=config.frames,
                        size=config.size, n_participants=2, sets_per_participant=1,
                        ceiling_draws=2, name_prefix="mae")
    data = work / "clips"
    make_dataset(data, synth, progress=lambda stage, done, total:
                 report("clips", done, total) if stage == "videos" else None)
    ids = list(range(n))
    files = [data / "videos" / f"mae_{i:04d}.mp4" for i in ids]
    store = ClipStore(work / "store", DecodeParams(config.frames, config.size, "crop"))
    store.build(ids, files, on_error="fail", progress=lambda done, total, _: report("decode", done, total))
    return store.get_batch(ids)


def _tube_masks(rng: np.random.Generator, config: MAEConfig, batch: int) -> np.ndarray:
    """bool (batch, n_tokens): per clip ``n_masked`` random spatial positions, masked in every
    tubelet (token index = t * n_spatial + h * W' + w, the order of VideoMAE's patch embedding)."""
    spatial = np.zeros((batch, config.n_spatial), dtype=bool)
    for b in range(batch):
        spatial[b, rng.permutation(config.n_spatial)[:config.n_masked]] = True
    return np.tile(spatial, (1, config.frames // config.tubelet))


def _masks(rng: np.random.Generator, config: MAEConfig, batch: int) -> np.ndarray:
    if config.masking == "tube":
        return _tube_masks(rng, config, batch)
    n_mask = round(float(config.mask_ratio) * config.n_tokens)
    out = np.zeros((batch, config.n_tokens), dtype=bool)
    for b in range(batch):
        out[b, rng.permutation(config.n_tokens)[:n_mask]] = True
    return out


def _lr_factor(step: int, config: MAEConfig) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to zero at ``steps``."""
    if step < config.warmup:
        return (step + 1) / (config.warmup + 1)
    span = max(1, config.steps - config.warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - config.warmup) / span)))


# ---------------------------------------------------------------------------- training
def _pretraining_record(config: MAEConfig, result: dict, encoder, seconds: float, cpu_seconds: float,
                        t_data: float, threads: int | None) -> dict:
    """``pretraining.json``: what was trained on what, the loss curve and the time it took."""
    import torch
    import transformers

    curve = result["curve"]
    return {
        "model": "videomae",
        "what": f"masked-autoencoder pre-training ({config.masking} masking of "
                f"{config.mask_ratio:.0%}, {'normalised-' if config.norm_pix else ''}pixel "
                f"loss) on unlabelled synthetic clips; the encoder is saved",
        "key": config.key(), "version": PRETRAIN_VERSION, "config": config.to_dict(),
        "data": {"generator": "bgs.synthetic", "seed": 1000 + config.seed,
                 "n_train_clips": config.n_clips, "n_val_clips": config.n_val},
        "n_parameters": {"encoder": int(sum(p.numel() for p in encoder.parameters())),
                         "total": int(sum(p.numel() for p in result["model"].parameters()))},
        "loss_start": curve[0]["train_loss"], "loss_end": curve[-1]["train_loss"],
        "val_loss_start": curve[0].get("val_loss"), "val_loss_end": curve[-1].get("val_loss"),
        "val_loss_trivial": result["val_loss_trivial"],
        "curve": curve,
        "seconds": round(seconds, 2), "cpu_seconds": round(cpu_seconds, 2),
        "seconds_data": round(t_data, 2),
        "seconds_train": round(result["seconds"], 2),
        "torch": torch.__version__, "transformers": transformers.__version__,
        "threads": threads or torch.get_num_threads(),
    }


def pretrain_videomae(out_dir: str | os.PathLike, config: MAEConfig | None = None,
                      progress: Progress | None = None,
                      log: Callable[[str], None] | None = print, threads: int | None = 1) -> Path:
    """Pre-train a small VideoMAE on unlabelled synthetic clips; save its encoder to ``out_dir``.

    ``out_dir`` must not exist or be empty; it appears complete or not at all (written under a
    temporary name beside it, then renamed). Returns ``out_dir``. See the module docstring
    for what the folder holds.

    ``threads``: torch CPU threads while training (restored afterwards); ``None`` leaves
    torch's setting. One thread is the default: the model is so small that a second thread
    gains little (about 1.6× on an idle machine), while on a busy machine OpenMP threads
    waiting on each other can make each step ten times slower; and one thread gives the same
    weights on any number of cores.
    """
    import transformers

    config = config or MAEConfig()
    out_dir = Path(out_dir)
    say = log or (lambda _msg: None)
    report = progress or (lambda stage, done, total: None)
    with building_folder(out_dir) as tmp:
        t0, c0 = time.perf_counter(), time.process_time()
        say(f"pre-training a small VideoMAE ({config.layers}×{config.hidden}, {config.frames} "
            f"frames at {config.size}², {config.steps} steps on {config.n_clips} unlabelled "
            f"synthetic clips) into {out_dir}")
        clips = _unlabelled_clips(tmp / "work", config, report)
        t_data = time.perf_counter() - t0
        train, val = clips[:config.n_clips], clips[config.n_clips:]
        with torch_threads(threads):
            result = _train(config, train, val, report)
        encoder = transformers.VideoMAEModel(result["model"].config)
        # every encoder weight, nothing else (strict: a missing or extra key is an error)
        encoder.load_state_dict(result["model"].videomae.state_dict(), strict=True)
        encoder.config.architectures = ["VideoMAEModel"]
        shutil.rmtree(tmp / "work")
        with quiet_progress_bars():
            encoder.save_pretrained(tmp)
        write_json(tmp / "preprocessor_config.json", config.preprocessor())
        seconds = time.perf_counter() - t0
        doc = _pretraining_record(config, result, encoder, seconds, time.process_time() - c0, t_data, threads)
        write_json(tmp / "pretraining.json", doc)
    say(f"  reconstruction loss {doc['loss_start']:.3f} → {doc['loss_end']:.3f}; held-out "
        f"{_fmt(doc['val_loss_start'])} → {_fmt(doc['val_loss_end'])} (predicting nothing: "
        f"{_fmt(doc['val_loss_trivial'])}) in {seconds:.0f} s")
    return out_dir


def _fmt(x) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _train(config: MAEConfig, train: np.ndarray, val: np.ndarray, report: Progress) -> dict:
    """The training loop; returns the model, the loss curve and the seconds it took."""
    import torch
    import transformers

    from bgs.media.decode import to_float_tensor

    rng = np.random.default_rng([config.seed, 7])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = transformers.VideoMAEForPreTraining(config.videomae_config())
    model.train()
    # weight decay on the weight matrices, not on biases, norms or the mask token
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "mask_token" not in n]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2 or "mask_token" in n]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": float(config.weight_decay)},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=float(config.lr), betas=(0.9, 0.95))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(s, config))

    def pixels(frames: np.ndarray) -> torch.Tensor:
        return to_float_tensor(frames, IMAGENET_MEAN, IMAGENET_STD)

    val_x = pixels(val) if len(val) else None
    val_mask = (torch.from_numpy(_masks(np.random.default_rng([config.seed, 8]), config, len(val)))
                if len(val) else None)
    trivial = _trivial_loss(val_x, val_mask, config) if val_x is not None else None

    @torch.no_grad()
    def val_loss() -> float | None:
        if val_x is None:
            return None
        model.eval()
        losses = [float(_loss(model, val_x[i:i + 16], val_mask[i:i + 16], config))
                  * len(val_x[i:i + 16]) for i in range(0, len(val_x), 16)]
        model.train()
        return sum(losses) / len(val_x)

    n = len(train)
    order = rng.permutation(n)
    pos = 0
    curve = [{"step": 0, "train_loss": None, "val_loss": _round(val_loss())}]
    window: list[float] = []
    t0 = time.perf_counter()
    for step in range(config.steps):
        idx = []
        while len(idx) < config.batch:  # epochs of shuffled clips
            if pos == n:
                order, pos = rng.permutation(n), 0
            take = order[pos:pos + config.batch - len(idx)]
            idx.extend(take.tolist())
            pos += len(take)
        frames = train[idx]
        if config.flip:
            flips = rng.random(len(idx)) < 0.5
            frames = np.where(flips[:, None, None, None, None], frames[:, :, :, ::-1], frames)
        mask = torch.from_numpy(_masks(rng, config, len(idx)))
        loss = _loss(model, pixels(np.ascontiguousarray(frames)), mask, config)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        window.append(loss.item())
        if step == 0:
            curve[0]["train_loss"] = _round(window[0])  # the loss before any update
        if (step + 1) % config.log_every == 0 or step + 1 == config.steps:
            curve.append({"step": step + 1, "train_loss": _round(float(np.mean(window))),
                          "val_loss": _round(val_loss()), "lr": _round(sched.get_last_lr()[0], 8),
                          "seconds": round(time.perf_counter() - t0, 2)})
            window = []
        report("train", step + 1, config.steps)
    model.eval()
    return {"model": model, "curve": curve, "seconds": time.perf_counter() - t0,
            "val_loss_trivial": _round(trivial)}


def _targets(pixels, config: MAEConfig, eps: float = 1e-6):
    """The reconstruction targets of every token (B, n_tokens, tubelet·patch²·3), as
    ``VideoMAEForPreTraining`` computes them: each tubelet's pixels (in [0, 1]), with
    ``norm_pix`` normalised per channel to mean 0 and (unbiased) sd 1 (``eps`` added to the sd)."""
    b, t, c, h, w = pixels.shape
    ts, p = config.tubelet, config.patch
    mean = pixels.new_tensor(IMAGENET_MEAN).view(1, 1, 3, 1, 1)
    std = pixels.new_tensor(IMAGENET_STD).view(1, 1, 3, 1, 1)
    x = pixels * std + mean
    x = x.view(b, t // ts, ts, c, h // p, p, w // p, p).permute(0, 1, 4, 6, 2, 5, 7, 3)
    x = x.reshape(b, -1, ts * p * p, c)
    if config.norm_pix:
        x = (x - x.mean(dim=-2, keepdim=True)) / (x.var(dim=-2, unbiased=True, keepdim=True).sqrt() + eps)
    return x.reshape(b, x.shape[1], -1)


def _trivial_loss(pixels, mask, config: MAEConfig) -> float:
    """The loss of a predictor that knows nothing of where things are: with ``norm_pix``, zeros
    (the mean of every normalised tubelet); without, the mean colour of the clip's visible
    tubelets everywhere. A model has learned about the clips' content only below this."""
    import torch

    with torch.no_grad():
        y = _targets(pixels, config)
        if config.norm_pix:
            return float((y[mask] ** 2).mean())
        b, n, d = y.shape
        y = y.view(b, n, d // 3, 3)
        vis = (~mask).to(y.dtype)[:, :, None, None]
        colour = (y * vis).sum(dim=(1, 2)) / (vis.sum(dim=(1, 2)) * (d // 3))  # (B, 3)
        return float(((y - colour[:, None, None, :]) ** 2)[mask].mean())


def _loss(model, pixels, mask, config: MAEConfig):
    return model(pixels, bool_masked_pos=mask).loss


def _round(x, nd: int = 5):
    return None if x is None else round(float(x), nd)


# ---------------------------------------------------------------------------- cache
def cached_videomae(config: MAEConfig | None = None, cache_dir: str | os.PathLike | None = None,
                    progress: Progress | None = None,
                    log: Callable[[str], None] | None = print, threads: int | None = 1) -> Path:
    """The folder of the pre-trained encoder for ``config``: ``<cache_dir>/demo-videomae-<key>``,
    pre-trained (:func:`pretrain_videomae`) only when it is not there yet."""
    config = config or MAEConfig()
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    folder = folder / f"demo-videomae-{config.key()}"
    if complete(folder):
        if log:
            log(f"using the pre-trained VideoMAE in {folder}")
        return folder
    if folder.exists():  # not complete: not written by pretrain_videomae (it renames into place)
        with contextlib.suppress(OSError):
            folder.rmdir()  # an empty folder is harmless; anything else is left to the user
        if folder.exists():
            raise BGSError(f"{folder} exists but is not a complete pre-trained model (no "
                           f"pretraining.json / model.safetensors). Fix: delete the folder")
    return pretrain_videomae(folder, config, progress=progress, log=log, threads=threads)
