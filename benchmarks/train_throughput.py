"""Benchmark: training throughput and peak memory of the bgs trainer's step against a naive
loop in the design of the released reference code.

Both train the same model (a randomly initialised TimeSformer saved with
``save_pretrained`` and loaded through ``bgs.models``, LoRA r 8 on the registry's targets,
the projection head, AdamW) on the same synthetic judgments (``bgs.synthetic.make_dataset``)
and the same mp4 files (3-second clips written with PyAV, 320×240 at 30 fps by default),
taking the same batches of triplets in the same order:

* **ours** — ``Trainer._step`` and the update of ``Trainer.run``: frames come from the clip
  store (built once, timed separately), the batch's unique stimuli are embedded once in one
  forward, and both terms of the hybrid objective (triplet + RSA) come from those
  embeddings; one backward, gradient clipping, AdamW.
* **naive** — the reference design: for each of the batch's triplets, each of its three
  clips is decoded from its video file with ``decode_video`` and embedded by a forward of
  its own; a triplet loss per triplet (cosine distance, margin 0.2; anchor and positive
  the two clips not chosen), averaged over the batch and weighted by α = 0.7. The RSA term
  runs 6 times per epoch on 24 random training clips embedded one at a time (decoded from
  file), of which 6 carry gradients and 18 are embedded under ``no_grad``. Its cost is timed
  on separate RSA steps and amortised: naive seconds per step = triplet step + (RSA step −
  triplet step) / rsa_every, with rsa_every = steps per epoch / 6 on this data (``--rsa-every``
  overrides).

Step times are medians over the timed steps (robust to other work on a shared machine; the
means are in the JSON). Throughput is reported as triplets/s and clips/s (three clips per triplet, the unit both
loops consume; ours embeds fewer, unique clips, reported too), and the ratio ours / naive.

Peak memory. Each loop runs in a fresh child process. On CUDA it is
``torch.cuda.max_memory_allocated`` (reset before the timed steps; also reported above the
memory allocated when they start). On CPU no allocator counts for us, and ``ru_maxrss`` only
ever grows, so the child resets the kernel's peak-RSS counter by writing ``5`` to
``/proc/self/clear_refs`` (Linux ≥ 4.0) right before the first training step and reads
``VmHWM`` (the peak resident set) afterwards; the figure reported is that peak minus the
resident set at the same start point, i.e. what training steps added on top of the loaded
model. Where ``clear_refs`` cannot be written the child falls back to ``ru_maxrss`` at the end
minus the resident set at the start, which overstates the figure when set-up peaked higher
(reported as ``peak_method``).

FLOPs: the first warm-up step of each loop runs under ``torch.utils.flop_counter.FlopCounterMode``
(forward + backward; matmuls, convolutions and attention). Ours embeds a varying number of
unique clips per step, so its FLOPs per step are the counted step's FLOPs per clip times the
mean clips per timed step; achieved TFLOP/s is FLOPs per step over the median step time (for
the naive loop, over its steps without the RSA term).

``--size tiny`` (default on CPU): TimeSformer 2 layers, 64 wide, 8 frames at 64²;
``--size base`` (default with ``--device cuda``): TimeSformer-base (12 layers, 768 wide,
12 heads) at 16 frames 224², under bf16 autocast for both loops (``--no-amp`` for fp32).
Timings are reported, never asserted.

Run:  .venv/bin/python benchmarks/train_throughput.py [--device cpu|cuda] [--json out.json]
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
    from embed_store import write_clip

    from bgs.models.embed import quiet_transformers
    from bgs.synthetic import SynthConfig, make_dataset

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


def count_flops(fn) -> tuple[float, int]:
    """(FLOPs of ``fn()``, its return value: the clips it embedded)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        clips = fn()
    return float(counter.get_total_flops()), clips


def child(args) -> dict:
    from bgs.models.embed import quiet_transformers
    from bgs.objectives import Objective
    from bgs.train.config import TrainConfig
    from bgs.train.data import load_training_data
    from bgs.train.trainer import Trainer, build_model

    quiet_transformers()
    if args.threads:
        torch.set_num_threads(args.threads)
    work = Path(args.work)
    os.chdir(work)
    cfg = TrainConfig.from_toml(work / "train.toml")
    device = cfg.run.device
    amp = device.startswith("cuda") and cfg.run.amp
    data = load_training_data(cfg)
    torch.manual_seed(cfg.run.seed)  # as Trainer.run does before building the model
    t0 = time.perf_counter()
    if args.child == "ours":
        model = build_model(cfg, data, device, log=lambda *a: None)  # builds the clip store
    else:
        model = naive_model(cfg, data, device)
    setup_s = time.perf_counter() - t0
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
    objective = Objective(cfg.objective)
    trainer = Trainer(cfg, work / "unused-run-dir", log=lambda *a: None)
    model.train()
    order = np.random.default_rng([cfg.run.seed, 0]).permutation(len(data.train))
    b = cfg.optim.batch_triplets
    n_batches = len(order) // b
    steps_per_epoch = math.ceil(len(data.train) / b)

    def rows_of(step: int) -> np.ndarray:
        k = step % n_batches
        return order[k * b:(k + 1) * b]

    def update(loss) -> None:
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.optim.grad_clip:
            torch.nn.utils.clip_grad_norm_(params, cfg.optim.grad_clip)
        optimizer.step()

    def ours_step(step: int) -> int:
        loss, _, n_unique = trainer._step(model, objective, data, rows_of(step), 0)
        update(loss)
        return n_unique

    rsa_rng = np.random.default_rng([cfg.run.seed, 1])

    def naive_step(step: int, with_rsa: bool = False) -> int:
        loss = naive_triplet_loss(model, data, rows_of(step), cfg, amp)
        embedded = 3 * len(rows_of(step))
        if with_rsa:
            loss = loss + cfg.objective.beta(0) * naive_rsa_loss(model, data, rsa_rng, device, amp)
            embedded += RSA_CLIPS
        update(loss)
        return embedded

    step_fn = ours_step if args.child == "ours" else naive_step
    meter = MemoryMeter(device)
    meter.start()
    flops, flops_clips = count_flops(lambda: step_fn(0))  # first warm-up step, counted
    for s in range(1, args.warmup):
        step_fn(s)
    sync(device)
    times, embedded = [], 0
    for s in range(args.warmup, args.warmup + args.steps):
        t = time.perf_counter()
        embedded += step_fn(s)
        sync(device)
        times.append(time.perf_counter() - t)
    result = {"setup_s": setup_s, "step_s": float(np.median(times)),
              "step_s_mean": float(np.mean(times)), "steps": len(times),
              "triplets_per_step": b, "embedded_per_step": embedded / len(times),
              "flops_counted_step": flops, "clips_in_counted_step": flops_clips,
              # ours embeds a varying number of unique clips per step: scale by the mean
              "flops_per_step": flops / flops_clips * embedded / len(times),
              "steps_per_epoch": steps_per_epoch,
              "n_train_triplets": len(data.train), "n_train_stimuli": len(data.train_ids)}
    if args.child == "naive":
        rsa_every = args.rsa_every or max(1, round(steps_per_epoch / RSA_PER_EPOCH))
        rsa_times = []
        for s in range(args.rsa_steps):
            t = time.perf_counter()
            naive_step(args.warmup + args.steps + s, with_rsa=True)
            sync(device)
            rsa_times.append(time.perf_counter() - t)
        rsa_step = float(np.median(rsa_times))
        result.update(rsa_step_s=rsa_step, rsa_every=rsa_every,
                      triplet_step_s=result["step_s"],
                      step_s=result["step_s"] + max(0.0, rsa_step - result["step_s"]) / rsa_every)
    else:
        result["store_clips"] = len(model.encoder.store)
    result.update(meter.stop())
    return result


def naive_model(cfg, data, device):
    """The same backbone, LoRA and head as ``build_model``, but every forward decodes its
    clips from their video files (no clip store)."""
    from bgs.media.decode import DecodeParams, decode_video
    from bgs.models.registry import parse_model
    from bgs.models.vision import load_vision_backbone
    from bgs.train.data import stimulus_files
    from bgs.train.model import BGSModel, VideoEncoder

    spec = parse_model(cfg.model.backbone)
    backbone = load_vision_backbone(spec, frames=cfg.model.frames or None, device=device)
    params = DecodeParams(backbone.frames, backbone.size, cfg.data.resize)
    ids = np.concatenate([data.train_ids, data.val_ids, data.test_ids])
    files = dict(zip(ids.tolist(), (Path(cfg.data.videos) / f
                                    for f in stimulus_files(data.stimuli, ids)), strict=True))

    class DecodingEncoder(VideoEncoder):
        def forward(self, clip_ids):
            frames = np.stack([decode_video(files[i], params) for i in clip_ids])
            return self.backbone(self.backbone.preprocess(torch.from_numpy(frames)))["embeddings"]

    return BGSModel(DecodingEncoder(backbone, None), spec.kind, cfg.model, str(spec)).to(device)


def naive_triplet_loss(model, data, rows, cfg, amp: bool) -> torch.Tensor:
    """Per triplet: decode and embed anchor, positive and negative one by one; the triplet
    loss of that triplet (cosine distance, margin); the mean over the batch, times α."""
    ids = data.train_ids
    losses = []
    for r in rows:
        a, p = data.train.pair[r]
        n = data.train.odd_index[r]
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            za, zp, zn = (model([ids[k].item()]).float() for k in (a, p, n))
        d_ap = 1 - (za * zp).sum()
        d_an = 1 - (za * zn).sum()
        losses.append(torch.relu(d_ap - d_an + cfg.objective.margin))
    return cfg.objective.alpha * torch.stack(losses).mean()


def naive_rsa_loss(model, data, rng, device: str, amp: bool) -> torch.Tensor:
    """The reference's RSA term: 24 random training clips decoded and embedded one at a time,
    the first 6 with gradients; 1 − Pearson against the human dissimilarity."""
    from bgs.objectives import rsa_loss

    pick = rng.choice(len(data.train_ids), size=min(RSA_CLIPS, len(data.train_ids)), replace=False)
    zs = []
    for k, pos in enumerate(pick):
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp), \
                torch.set_grad_enabled(k < RSA_WITH_GRAD):
            zs.append(model([data.train_ids[pos].item()]).float())
    target = torch.tensor(data.target[np.ix_(pick, pick)], dtype=torch.float32, device=device)
    return rsa_loss(torch.cat(zs), target)


# ---------------------------------------------------------------------- driver
def run_child(which: str, work: Path, args) -> dict:
    out = work / f"{which}.json"
    cmd = [sys.executable, __file__, "--child", which, "--work", str(work), "--steps", str(args.steps),
           "--warmup", str(args.warmup), "--rsa-steps", str(args.rsa_steps),
           "--rsa-every", str(args.rsa_every or 0), "--threads", str(args.threads or 0),
           "--child-out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"the {which} loop failed (exit {proc.returncode})")
    return json.loads(out.read_text())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--size", choices=list(SIZES), default=None,
                   help="model size (default: tiny on CPU, base on CUDA)")
    p.add_argument("--clips", type=int, default=40, help="synthetic stimuli (default 40)")
    p.add_argument("--participants", type=int, default=30)
    p.add_argument("--seconds", type=float, default=3.0, help="clip length (default 3 s)")
    p.add_argument("--fps", type=int, default=30)
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--height", type=int, default=240)
    p.add_argument("--batch-triplets", type=int, default=4, help="triplets per step (reference: 4)")
    p.add_argument("--steps", type=int, default=16, help="timed steps per loop")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first (the first counts FLOPs)")
    p.add_argument("--rsa-steps", type=int, default=3, help="naive: timed steps with the RSA term")
    p.add_argument("--rsa-every", type=int, default=0,
                   help="naive: steps per RSA term (default: steps per epoch / 6)")
    p.add_argument("--threads", type=int, default=0,
                   help="torch CPU threads in both loops (default: torch's default)")
    p.add_argument("--no-amp", dest="amp", action="store_false", help="CUDA: fp32 instead of bf16")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None, help="write the results here (JSON)")
    p.add_argument("--child", choices=("ours", "naive"), help=argparse.SUPPRESS)
    p.add_argument("--work", help=argparse.SUPPRESS)
    p.add_argument("--child-out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    from bgs.io import write_json

    if args.child:
        write_json(args.child_out, child(args))
        return 0
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        p.error("--device cuda but torch sees no CUDA device")
    args.size = args.size or ("base" if args.device.startswith("cuda") else "tiny")
    args.warmup = max(1, args.warmup)
    with tempfile.TemporaryDirectory(prefix="bgs-train-bench-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        info = prepare(work, args)
        prep_s = time.perf_counter() - t0
        ours = run_child("ours", work, args)
        naive = run_child("naive", work, args)

    b = args.batch_triplets
    for r in (ours, naive):
        r["triplets_per_s"] = b / r["step_s"]
        r["clips_per_s"] = 3 * b / r["step_s"]
    # achieved TFLOP/s over steps without the (rarely run) naive RSA term
    ours["tflops_per_s"] = ours["flops_per_step"] / ours["step_s"] / 1e12
    naive["tflops_per_s"] = naive["flops_per_step"] / naive["triplet_step_s"] / 1e12
    ours["unique_clips_per_s"] = ours["embedded_per_step"] / ours["step_s"]
    size = SIZES[args.size]
    result = {
        "device": args.device if not args.device.startswith("cuda") else torch.cuda.get_device_name(),
        "torch_threads": args.threads or torch.get_num_threads(), "size": args.size, "model": size,
        "amp_bf16": args.device.startswith("cuda") and args.amp,
        "clips": args.clips, "video": f"{args.seconds:g} s, {args.width}x{args.height} at {args.fps} fps",
        "batch_triplets": b, "prepare_s": prep_s, **info,
        "ours": ours, "naive": naive,
        "speedup": ours["triplets_per_s"] / naive["triplets_per_s"],
        "peak_memory_ratio_naive_over_ours": (naive["peak_above_start_mb"]
                                              / max(ours["peak_above_start_mb"], 1e-9)),
    }
    print(f"{args.size} TimeSformer ({size['num_hidden_layers']} layers, {size['hidden_size']} wide, "
          f"{size['num_frames']}x{size['image_size']}²) on {result['device']}, "
          f"{result['torch_threads']} threads; {args.clips} clips ({result['video']}), "
          f"{ours['n_train_triplets']} training triplets among {ours['n_train_stimuli']} stimuli, "
          f"{b} triplets per step")
    print(f"{'':8}{'s/step':>9}{'triplets/s':>12}{'clips/s':>10}{'peak MB':>10}{'+MB':>9}"
          f"{'GFLOP/step':>12}{'TFLOP/s':>9}")
    for name, r in (("ours", ours), ("naive", naive)):
        print(f"{name:8}{r['step_s']:9.4f}{r['triplets_per_s']:12.2f}{r['clips_per_s']:10.2f}"
              f"{r['peak_mb']:10.1f}{r['peak_above_start_mb']:9.1f}{r['flops_per_step'] / 1e9:12.3f}"
              f"{r['tflops_per_s']:9.4f}")
    print(f"speed-up (ours / naive triplets/s): {result['speedup']:.1f}x; peak memory added by "
          f"training, naive / ours: {result['peak_memory_ratio_naive_over_ours']:.2f}x "
          f"({ours['peak_method']})")
    print(f"ours: {ours['embedded_per_step']:.1f} unique clips embedded per step "
          f"({ours['unique_clips_per_s']:.1f}/s); clip store of {ours['store_clips']} clips built "
          f"in {ours['setup_s']:.2f} s (model load included, once per run: the time of "
          f"{ours['setup_s'] / naive['step_s']:.1f} naive steps)")
    print(f"naive: triplet step {naive['triplet_step_s']:.4f} s, step with the RSA term "
          f"{naive['rsa_step_s']:.4f} s, amortised over 1 in {naive['rsa_every']} steps "
          f"({naive['steps_per_epoch']} steps per epoch, RSA {RSA_PER_EPOCH} times per epoch)")
    if args.json:
        write_json(args.json, result)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
