"""Benchmark: training throughput, achieved TFLOP/s and peak memory of four ways to train
the same model, in one run.

All four train the same model — a randomly initialised TimeSformer saved with
``save_pretrained`` and loaded through ``bgs.models``, LoRA r 8 on the registry's targets,
the projection head, AdamW — on the same synthetic judgments (``bgs.synthetic.make_dataset``)
and mp4 files (3-second clips written with PyAV, 320×240 at 30 fps by default):

* **stock** — the model alone, eager attention (what ``transformers`` ships for
  TimeSformer): forward + backward + AdamW on ``--model-clips`` random clips already on the
  device. The ceiling of a loop that uses the stock model.
* **fused** — the same with bgs's fused attention (``attention = "sdpa"``,
  :mod:`bgs.models.attention_impl`), plus ``torch.compile`` of the blocks with ``--compile``.
* **ours** — the full ``Trainer._step`` and update: frames from the clip store (built once,
  timed separately) in pinned memory, copied asynchronously and normalised on the device,
  the batch's unique stimuli embedded once, triplet + RSA loss from those embeddings
  without a host sync, one backward, gradient clipping, AdamW. Batch: ``--ours-batch``
  triplets (0: ``optim.batch_triplets = 0``, i.e. from free GPU memory on CUDA, 16 on CPU).
* **naive** — the reference design: for each of the batch's ``--batch-triplets`` triplets,
  each of its three clips is decoded from its video file with ``decode_video`` and embedded
  by a forward of its own with the stock (eager) model; a triplet loss per triplet,
  averaged, weighted by α = 0.7; on CUDA fp16 autocast with a ``GradScaler`` and
  ``torch.cuda.empty_cache()`` after every step, as in the reference code. The RSA term
  runs 6 times per epoch on 24 random training clips embedded one at a time (6 with
  gradients); its cost is timed on separate steps and amortised over ``rsa_every`` = steps
  per epoch / 6. Decoding runs in the training process (the reference used 8 loader
  workers; on a machine with many cores that hides part of the decoding).

Units. *clips/s*: clips embedded with gradients per second — what the GPU trains on (for
ours the batch's unique clips; for naive three per triplet). *triplets/s*: judgments
consumed per second. Step times are medians over the timed steps (the means are in the
JSON).

FLOPs: model FLOPs, the convention of "model FLOPs utilisation": the forward + backward
FLOPs of one clip through the backbone + head, counted once with
``torch.utils.flop_counter.FlopCounterMode`` on the eager model (so the fused kernels,
which the counter does not see on CPU, are credited with the same work), times clips/s.
Recomputation under gradient checkpointing is not counted. Fraction of peak: achieved
TFLOP/s over ``--peak-tflops`` (default: the dense bf16 peak of the detected GPU from a
small table — H100 SXM 989, H100 PCIe 756, H200 989, A100 312 — none on CPU).

Peak memory: each loop runs in a fresh child process. On CUDA it is
``torch.cuda.max_memory_allocated`` (reset before the timed steps; also reported above the
memory allocated when they start). On CPU the child resets the kernel's peak-RSS counter by
writing ``5`` to ``/proc/self/clear_refs`` right before the first training step and reads
``VmHWM`` afterwards; the figure is that peak minus the resident set at the start (where
``clear_refs`` cannot be written: ``ru_maxrss``, an upper bound; see ``peak_method``).

Paper-sized epoch: 12,239 triplets (``--epoch-triplets``); ours and naive each take
``ceil(12239 / batch)`` steps of their median step time. For ours the unique clips per step
depend on the number of training stimuli: the default data on CUDA (250 clips → 160
training stimuli after the test and validation splits) matches the paper's 160.

``--size tiny`` (default on CPU): TimeSformer 2 layers, 64 wide, 8 frames at 64²;
``--size base`` (default with ``--device cuda``): TimeSformer-base (12 layers, 768 wide,
12 heads) at 16 frames 224², under bf16 autocast (``--no-amp`` for fp32). Timings are
reported, never asserted.

Run:  python benchmarks/train_throughput.py [--device cpu|cuda] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))

SIZES = {
    "tiny": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
             "intermediate_size": 128, "image_size": 64, "patch_size": 16, "num_frames": 8},
    "base": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
             "intermediate_size": 3072, "image_size": 224, "patch_size": 16, "num_frames": 16},
}
RSA_PER_EPOCH, RSA_CLIPS, RSA_WITH_GRAD = 6, 24, 6  # the reference's RSA schedule


# ---------------------------------------------------------------------- set-up (parent)
def prepare(work: Path, args) -> dict:
    """Synthetic judgments, one mp4 per stimulus, a random TimeSformer and a config."""
    import pandas as pd
    import transformers

    from bgs.models.embed import quiet_transformers
    from bgs.synthetic import SynthConfig, make_dataset
    from embed_store import write_clip

    quiet_transformers()
    syn = work / "syn"
    make_dataset(syn, SynthConfig(seed=args.seed, n_clips=args.clips, n_participants=args.participants,
                                  render=False, ceiling_draws=10))
    files = pd.read_csv(syn / "video_mapping.csv").iloc[:, -1].astype(str).tolist()
    (syn / "videos").mkdir(exist_ok=True)
    t0 = time.perf_counter()
    for k, name in enumerate(files):
        write_clip(syn / "videos" / name, round(args.seconds * args.fps), args.width,
                   args.height, args.fps, args.seed + k)
    write_s = time.perf_counter() - t0
    torch.manual_seed(args.seed)
    size = SIZES[args.size]
    transformers.TimesformerModel(transformers.TimesformerConfig(**size)).save_pretrained(work / "model")
    config = f"""
[data]
triplets = "syn/all_triplets.csv"
stimuli = "syn/video_mapping.csv"
videos = "syn/videos"
train = "syn/train.csv"
test = "syn/test.csv"
store = "store"

[model]
backbone = "timesformer:model"
frames = {size['num_frames']}

[objective]
name = "hybrid"

[optim]
batch_triplets = {args.batch_triplets}
lr = 1e-4

[run]
seed = {args.seed}
device = "{args.device}"
amp = {'true' if args.amp else 'false'}
"""
    (work / "train.toml").write_text(config)
    return {"videos": len(files), "video_write_s": write_s}


# ---------------------------------------------------------------------- the loops (child)
def rss_kb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def hwm_kb() -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class MemoryMeter:
    def __init__(self, device: str):
        self.cuda = device.startswith("cuda")

    def start(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
            return
        self.base_kb = rss_kb()
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # reset the peak resident set (VmHWM) to the current one
            self.method = "VmHWM after clear_refs"
        except OSError:
            self.method = "ru_maxrss (not reset: an upper bound)"

    def stop(self) -> dict:
        if self.cuda:
            torch.cuda.synchronize()
            peak = torch.cuda.max_memory_allocated()
            return {"peak_method": "torch.cuda.max_memory_allocated", "peak_mb": peak / 2**20,
                    "peak_above_start_mb": (peak - self.base) / 2**20}
        hwm = hwm_kb() if self.method.startswith("VmHWM") else None
        peak = hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return {"peak_method": self.method, "peak_mb": peak / 1024,
                "peak_above_start_mb": (peak - self.base_kb) / 1024}


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


PEAK_BF16_TFLOPS = [("H100 PCIe", 756.0), ("H100", 989.0), ("H200", 989.0), ("GH200", 989.0),
                    ("A100", 312.0), ("L40S", 362.0)]  # dense bf16 tensor-core peaks, by name


def peak_tflops(device_name: str) -> float | None:
    for key, value in PEAK_BF16_TFLOPS:
        if key.lower() in device_name.lower():
            return value
    return None


def count_flops(fn) -> float:
    """FLOPs of ``fn()`` (forward + backward as it runs)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return float(counter.get_total_flops())


def load_config(work: Path, overrides: list[str]):
    from bgs.train.config import TrainConfig

    return TrainConfig.from_toml(work / "train.toml").override(overrides)


class ClipsEncoder(torch.nn.Module):
    """A backbone fed preprocessed clips directly (the stock and fused rows)."""

    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone

    @property
    def inner(self):
        return self.backbone.model

    @inner.setter
    def inner(self, module):
        self.backbone.model = module

    @property
    def hidden_size(self):
        return self.backbone.hidden_size

    def forward(self, clips):
        return self.backbone(clips)["embeddings"]


def model_only(cfg, attention: str, device: str):
    from bgs.models.registry import parse_model
    from bgs.models.vision import load_vision_backbone
    from bgs.train.model import BGSModel

    spec = parse_model(cfg.model.backbone)
    backbone = load_vision_backbone(spec, frames=cfg.model.frames or None, device=device,
                                    attention=attention)
    return BGSModel(ClipsEncoder(backbone), spec.kind, cfg.model, str(spec)).to(device)


def child(args) -> dict:
    from bgs.models.embed import quiet_transformers
    from bgs.objectives import Objective
    from bgs.train.data import load_training_data
    from bgs.train.trainer import Trainer, build_model

    quiet_transformers()
    if args.threads:
        torch.set_num_threads(args.threads)
    work = Path(args.work)
    os.chdir(work)
    overrides = []
    if args.child in ("fused", "ours"):
        overrides += [f"run.compile={'true' if args.compile else 'false'}",
                      f"model.gradient_checkpointing={'true' if args.checkpointing else 'false'}"]
    if args.child == "ours":
        overrides.append(f"optim.batch_triplets={args.ours_batch}")
    cfg = load_config(work, overrides)
    device = cfg.run.device
    cuda = device.startswith("cuda")
    amp = cuda and cfg.run.amp
    data = load_training_data(cfg)
    torch.manual_seed(cfg.run.seed)  # as Trainer.run does before building the model
    t0 = time.perf_counter()
    if args.child == "ours":
        model = build_model(cfg, data, device, log=lambda *a: None)  # builds the clip store
    elif args.child == "naive":
        model = naive_model(cfg, data, device)
    else:
        model = model_only(cfg, "eager" if args.child == "stock" else "sdpa", device)
    setup_s = time.perf_counter() - t0
    trainer = Trainer(cfg, work / "unused-run-dir", log=lambda *a: None)
    if args.child == "ours" and cfg.optim.batch_triplets == 0:
        from bgs.train.autobatch import auto_batch_triplets

        cfg.optim.batch_triplets = auto_batch_triplets(model, data.train_ids, device, amp)
    if cfg.run.compile:
        from bgs.train.compile import compile_blocks

        compile_blocks(model)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
    objective = Objective(cfg.objective)
    model.train()
    b = cfg.optim.batch_triplets if args.child == "ours" else args.batch_triplets
    order = np.random.default_rng([cfg.run.seed, 0]).permutation(len(data.train))
    n_batches = max(1, len(order) // b)
    steps_per_epoch = math.ceil(len(data.train) / b)
    scaler = torch.amp.GradScaler("cuda") if cuda and args.child == "naive" else None

    def rows_of(step: int) -> np.ndarray:
        k = step % n_batches
        return order[k * b:(k + 1) * b]

    def update(loss) -> None:
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:  # the reference: fp16 with a grad scaler
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(params, cfg.optim.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            torch.cuda.empty_cache()  # the reference empties the cache every step
            return
        loss.backward()
        if cfg.optim.grad_clip:
            torch.nn.utils.clip_grad_norm_(params, cfg.optim.grad_clip)
        optimizer.step()

    clips = None
    if args.child in ("stock", "fused"):
        bb = model.encoder.backbone
        g = torch.Generator().manual_seed(cfg.run.seed)
        frames = torch.randint(0, 256, (args.model_clips, bb.frames, bb.size, bb.size, 3),
                               dtype=torch.uint8, generator=g)
        clips = bb.preprocess(frames.to(device))

    def model_step(step: int) -> int:
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            z = model(clips)
        update(z.float().sum(dim=0).square().sum())  # a loss over the whole batch
        return len(clips)

    def ours_step(step: int) -> int:
        loss, _, n_unique = trainer._step(model, objective, data, rows_of(step), 0)
        update(loss)
        return n_unique

    rsa_rng = np.random.default_rng([cfg.run.seed, 1])
    naive_dtype = torch.float16 if cuda else torch.bfloat16

    def naive_step(step: int, with_rsa: bool = False) -> int:
        loss = naive_triplet_loss(model, data, rows_of(step), cfg, amp, naive_dtype)
        embedded = 3 * len(rows_of(step))
        if with_rsa:
            loss = loss + cfg.objective.beta(0) * naive_rsa_loss(model, data, rsa_rng, device, amp,
                                                                 naive_dtype)
            embedded += RSA_WITH_GRAD
        update(loss)
        return embedded

    step_fn = {"ours": ours_step, "naive": naive_step}.get(args.child, model_step)
    result = {}
    if args.child == "stock":  # model FLOPs of one clip, forward + backward, eager attention
        one = clips[:1]

        def fwd_bwd():
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
                z = model(one)
            z.float().sum().backward()
        result["flops_per_clip"] = count_flops(fwd_bwd)
        optimizer.zero_grad(set_to_none=True)
    meter = MemoryMeter(device)
    meter.start()
    for s in range(args.warmup):
        step_fn(s)
    sync(device)
    times, embedded = [], 0
    for s in range(args.warmup, args.warmup + args.steps):
        t = time.perf_counter()
        embedded += step_fn(s)
        sync(device)
        times.append(time.perf_counter() - t)
    result.update({"setup_s": setup_s, "step_s": float(np.median(times)),
                   "step_s_mean": float(np.mean(times)), "steps": len(times),
                   "clips_per_step": embedded / len(times),
                   "steps_per_epoch": steps_per_epoch, "attention": current_attention(model),
                   "compiled": bool(cfg.run.compile), "n_train_triplets": len(data.train),
                   "n_train_stimuli": len(data.train_ids)})
    if args.child in ("ours", "naive"):
        result["triplets_per_step"] = b
    if args.child == "naive":
        rsa_every = args.rsa_every or max(1, round(steps_per_epoch / RSA_PER_EPOCH))
        rsa_times = []
        for s in range(args.rsa_steps):
            t = time.perf_counter()
            naive_step(args.warmup + args.steps + s, with_rsa=True)
            sync(device)
            rsa_times.append(time.perf_counter() - t)
        rsa_step = float(np.median(rsa_times))
        result.update(rsa_step_s=rsa_step, rsa_every=rsa_every, triplet_step_s=result["step_s"],
                      step_s=result["step_s"] + max(0.0, rsa_step - result["step_s"]) / rsa_every)
    if args.child == "ours":
        result["store_clips"] = len(model.encoder.store)
    result.update(meter.stop())
    return result


def current_attention(model) -> str:
    from bgs.models.attention_impl import current_attention as attention_of

    return attention_of(model.encoder.inner)


def naive_model(cfg, data, device):
    """The same backbone (stock: eager attention), LoRA and head as ``build_model``, but every
    forward decodes its clips from their video files (no clip store)."""
    from bgs.media.decode import DecodeParams, decode_video
    from bgs.models.registry import parse_model
    from bgs.models.vision import load_vision_backbone
    from bgs.train.data import stimulus_files
    from bgs.train.model import BGSModel, VideoEncoder

    spec = parse_model(cfg.model.backbone)
    backbone = load_vision_backbone(spec, frames=cfg.model.frames or None, device=device,
                                    attention="eager")
    params = DecodeParams(backbone.frames, backbone.size, cfg.data.resize)
    ids = np.concatenate([data.train_ids, data.val_ids, data.test_ids])
    files = dict(zip(ids.tolist(), (Path(cfg.data.videos) / f
                                    for f in stimulus_files(data.stimuli, ids)), strict=True))

    class DecodingEncoder(VideoEncoder):
        def forward(self, clip_ids):
            frames = np.stack([decode_video(files[i], params) for i in clip_ids])
            return self.backbone(self.backbone.preprocess(torch.from_numpy(frames)))["embeddings"]

    return BGSModel(DecodingEncoder(backbone, None), spec.kind, cfg.model, str(spec)).to(device)


def naive_triplet_loss(model, data, rows, cfg, amp: bool, dtype) -> torch.Tensor:
    """Per triplet: decode and embed anchor, positive and negative one by one; the triplet
    loss of that triplet (cosine distance, margin); the mean over the batch, times α."""
    ids = data.train_ids
    losses = []
    for r in rows:
        a, p = data.train.pair[r]
        n = data.train.odd_index[r]
        with torch.autocast("cuda", dtype=dtype, enabled=amp):
            za, zp, zn = (model([ids[k].item()]).float() for k in (a, p, n))
        d_ap = 1 - (za * zp).sum()
        d_an = 1 - (za * zn).sum()
        losses.append(torch.relu(d_ap - d_an + cfg.objective.margin))
    return cfg.objective.alpha * torch.stack(losses).mean()


def naive_rsa_loss(model, data, rng, device: str, amp: bool, dtype) -> torch.Tensor:
    """The reference's RSA term: 24 random training clips decoded and embedded one at a time,
    the first 6 with gradients; 1 − Pearson against the human dissimilarity."""
    from bgs.objectives import rsa_loss

    pick = rng.choice(len(data.train_ids), size=min(RSA_CLIPS, len(data.train_ids)), replace=False)
    zs = []
    for k, pos in enumerate(pick):
        with torch.autocast("cuda", dtype=dtype, enabled=amp), torch.set_grad_enabled(k < RSA_WITH_GRAD):
            zs.append(model([data.train_ids[pos].item()]).float())
    target = torch.tensor(data.target[np.ix_(pick, pick)], dtype=torch.float32, device=device)
    return rsa_loss(torch.cat(zs), target)


# ---------------------------------------------------------------------- driver
CHILDREN = ("stock", "fused", "ours", "naive")


def run_child(which: str, work: Path, args) -> dict:
    out = work / f"{which}.json"
    cmd = [sys.executable, __file__, "--child", which, "--work", str(work), "--steps", str(args.steps),
           "--warmup", str(args.warmup), "--rsa-steps", str(args.rsa_steps),
           "--rsa-every", str(args.rsa_every or 0), "--threads", str(args.threads or 0),
           "--batch-triplets", str(args.batch_triplets), "--ours-batch", str(args.ours_batch),
           "--model-clips", str(args.model_clips), "--child-out", str(out)]
    cmd += ["--compile"] * args.compile + ["--checkpointing"] * args.checkpointing
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"the {which} loop failed (exit {proc.returncode})")
    return json.loads(out.read_text())


def summarise(rows: dict, args, flops_per_clip: float, peak: float | None) -> None:
    """Rates, TFLOP/s, fraction of peak and the paper-sized epoch, in place."""
    for name, r in rows.items():
        # the naive loop's TFLOP/s over its steps without the (rarely run) RSA term
        step = r.get("triplet_step_s", r["step_s"])
        r["clips_per_s"] = r["clips_per_step"] / r["step_s"]
        r["tflops_per_s"] = flops_per_clip * r["clips_per_step"] / step / 1e12
        r["fraction_of_peak"] = r["tflops_per_s"] / peak if peak else None
        if "triplets_per_step" in r:
            r["triplets_per_s"] = r["triplets_per_step"] / r["step_s"]
            r["epoch_steps"] = math.ceil(args.epoch_triplets / r["triplets_per_step"])
            r["epoch_s"] = r["epoch_steps"] * r["step_s"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--size", choices=list(SIZES), default=None,
                   help="model size (default: tiny on CPU, base on CUDA)")
    p.add_argument("--clips", type=int, default=0,
                   help="synthetic stimuli (default: 40 on CPU; 250 on CUDA, i.e. the paper's 160 "
                        "training stimuli)")
    p.add_argument("--participants", type=int, default=30)
    p.add_argument("--seconds", type=float, default=3.0, help="clip length (default 3 s)")
    p.add_argument("--fps", type=int, default=30)
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--height", type=int, default=240)
    p.add_argument("--batch-triplets", type=int, default=4,
                   help="naive: triplets per step (reference: 4)")
    p.add_argument("--ours-batch", type=int, default=0,
                   help="ours: triplets per step (default 0: automatic — from free memory on CUDA, "
                        "16 on CPU)")
    p.add_argument("--model-clips", type=int, default=0,
                   help="stock/fused: clips per step (default: 4 on CPU, 32 on CUDA)")
    p.add_argument("--compile", action="store_true", help="fused and ours: torch.compile the blocks")
    p.add_argument("--checkpointing", action="store_true",
                   help="fused and ours: gradient checkpointing")
    p.add_argument("--steps", type=int, default=16, help="timed steps per loop")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    p.add_argument("--rsa-steps", type=int, default=3, help="naive: timed steps with the RSA term")
    p.add_argument("--rsa-every", type=int, default=0,
                   help="naive: steps per RSA term (default: steps per epoch / 6)")
    p.add_argument("--epoch-triplets", type=int, default=12239,
                   help="triplets of the paper-sized epoch (default 12,239)")
    p.add_argument("--peak-tflops", type=float, default=0.0,
                   help="peak TFLOP/s for the fraction of peak (default: the detected GPU's dense "
                        "bf16 peak; none on CPU)")
    p.add_argument("--only", default=",".join(CHILDREN),
                   help=f"comma-separated subset of {','.join(CHILDREN)} (default: all)")
    p.add_argument("--threads", type=int, default=0,
                   help="torch CPU threads in every loop (default: torch's default)")
    p.add_argument("--no-amp", dest="amp", action="store_false", help="CUDA: fp32 instead of bf16")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None, help="write the results here (JSON)")
    p.add_argument("--child", choices=CHILDREN, help=argparse.SUPPRESS)
    p.add_argument("--work", help=argparse.SUPPRESS)
    p.add_argument("--child-out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    from bgs.io import write_json

    if args.child:
        write_json(args.child_out, child(args))
        return 0
    cuda = args.device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        p.error("--device cuda but torch sees no CUDA device")
    args.size = args.size or ("base" if cuda else "tiny")
    args.clips = args.clips or (250 if cuda else 40)
    args.model_clips = args.model_clips or (32 if cuda else 4)
    only = [c.strip() for c in args.only.split(",") if c.strip()]
    unknown = set(only) - set(CHILDREN)
    if unknown or "stock" not in only:
        p.error(f"--only takes a subset of {','.join(CHILDREN)} that includes stock (it counts "
                f"the FLOPs); got {args.only!r}")
    device_name = torch.cuda.get_device_name() if cuda else "cpu"
    peak = args.peak_tflops or (peak_tflops(device_name) if cuda and args.amp else None)
    with tempfile.TemporaryDirectory(prefix="bgs-train-bench-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        info = prepare(work, args)
        prep_s = time.perf_counter() - t0
        rows = {name: run_child(name, work, args) for name in CHILDREN if name in only}
    flops_per_clip = rows["stock"]["flops_per_clip"]
    summarise(rows, args, flops_per_clip, peak)
    size = SIZES[args.size]
    result = {"device": device_name, "torch": torch.__version__,
              "torch_threads": args.threads or torch.get_num_threads(), "size": args.size,
              "model": size, "amp_bf16": cuda and args.amp, "compile": args.compile,
              "checkpointing": args.checkpointing, "clips": args.clips,
              "video": f"{args.seconds:g} s, {args.width}x{args.height} at {args.fps} fps",
              "prepare_s": prep_s, **info, "flops_per_clip": flops_per_clip,
              "peak_tflops": peak, "epoch_triplets": args.epoch_triplets, **rows}
    if "ours" in rows and "naive" in rows:
        result["speedup_clips_per_s"] = rows["ours"]["clips_per_s"] / rows["naive"]["clips_per_s"]
        result["speedup_triplets_per_s"] = rows["ours"]["triplets_per_s"] / rows["naive"]["triplets_per_s"]
    any_row = next(iter(rows.values()))
    print(f"{args.size} TimeSformer ({size['num_hidden_layers']} layers, {size['hidden_size']} wide, "
          f"{size['num_frames']}x{size['image_size']}²) on {device_name}, "
          f"{'bf16 autocast' if result['amp_bf16'] else 'fp32'}, {result['torch_threads']} threads; "
          f"{args.clips} clips, {any_row['n_train_triplets']} training triplets among "
          f"{any_row['n_train_stimuli']} stimuli; {flops_per_clip / 1e9:.3f} GFLOP per clip "
          f"(forward + backward)")
    print(f"{'':7}{'attn':>6}{'batch':>8}{'s/step':>9}{'clips/s':>10}{'trip/s':>9}{'TFLOP/s':>10}"
          f"{'of peak':>9}{'peak MB':>10}{'+MB':>9}{'epoch s':>10}")
    for name, r in rows.items():
        batch = f"{r['triplets_per_step']}t" if "triplets_per_step" in r else f"{r['clips_per_step']:.0f}c"
        frac = f"{100 * r['fraction_of_peak']:.1f}%" if r["fraction_of_peak"] is not None else "—"
        trip = f"{r['triplets_per_s']:.2f}" if "triplets_per_s" in r else "—"
        epoch = f"{r['epoch_s']:.1f}" if "epoch_s" in r else "—"
        print(f"{name:7}{r['attention']:>6}{batch:>8}{r['step_s']:9.4f}{r['clips_per_s']:10.2f}{trip:>9}"
              f"{r['tflops_per_s']:10.4f}{frac:>9}{r['peak_mb']:10.1f}{r['peak_above_start_mb']:9.1f}"
              f"{epoch:>10}")
    if "speedup_clips_per_s" in result:
        print(f"ours / naive: {result['speedup_clips_per_s']:.1f}x clips/s, "
              f"{result['speedup_triplets_per_s']:.1f}x triplets/s; paper-sized epoch "
              f"({args.epoch_triplets:,} triplets): ours {rows['ours']['epoch_s']:.1f} s, naive "
              f"{rows['naive']['epoch_s']:.1f} s")
    if "fused" in rows:
        print(f"fused / stock: {rows['fused']['clips_per_s'] / rows['stock']['clips_per_s']:.2f}x clips/s")
    if "ours" in rows:
        print(f"ours: {rows['ours']['clips_per_step']:.1f} unique clips per step of "
              f"{rows['ours']['triplets_per_step']} triplets; clip store of "
              f"{rows['ours']['store_clips']} clips built in {rows['ours']['setup_s']:.2f} s "
              f"(model load included, once per run)")
    if "naive" in rows:
        n = rows["naive"]
        print(f"naive: triplet step {n['triplet_step_s']:.4f} s, step with the RSA term "
              f"{n['rsa_step_s']:.4f} s, amortised over 1 in {n['rsa_every']} steps")
    print(f"peak memory: {any_row['peak_method']}; 'epoch s': ceil({args.epoch_triplets} / batch) "
          f"steps of the median step")
    if args.json:
        write_json(args.json, result)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
