"""Benchmark: reading clips from the clip store vs. decoding each clip from its video per access.

What it measures
----------------
Training and embedding need, for a batch of stimulus ids, a float tensor
``(B, T, 3, H, W)`` normalised for the backbone. The reference code decoded the video files
again for every access; bgs decodes each video once into the clip store
(``bgs.media.ClipStore``) and reads uint8 frames memory-mapped. This script

1. writes ``--clips`` H.264 mp4 files (``--seconds`` at ``--fps``, ``--width``×``--height``,
   moving squares over a drifting gradient with mild noise, seeded) into a temporary folder (not timed);
2. builds the clip store for ``DecodeParams(--frames, --size, --resize)`` and reports the
   build time: the one-time cost of decoding every video once;
3. times the **store** path: for each batch of ``--batch`` ids (all clips, shuffled),
   ``store.get_batch(ids)`` then ``to_float_tensor(..., mean 0.45, std 0.225)``;
   also the uint8 read alone;
4. times the **decode** path: for each batch, ``decode_video`` of every clip's mp4, stacked,
   then the same ``to_float_tensor``;
5. checks the two paths give identical float tensors for every clip (exit 1 if not);
6. prints clips/s of both paths and their ratio. Each path's time is the best of
   ``--repeats`` passes over all clips.

The store's files are in the OS page cache after the build (as they are during training
once the first epoch has read them); a cold read from disk is slower and is not measured.
Timings are reported, never asserted.

Run:  .venv/bin/python benchmarks/embed_store.py [--clips 64] [--json results.json]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bgs.media import ClipStore, DecodeParams, decode_video, to_float_tensor

sys.path.insert(0, str(Path(__file__).parent))
from common import finish  # noqa: E402

MEAN, STD = 0.45, 0.225


def write_clip(path: Path, n_frames: int, width: int, height: int, fps: int, seed: int) -> None:
    """A clip of a few moving squares over a drifting colour gradient, plus mild noise."""
    import av  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 180 // width, yy * 180 // height, np.full_like(xx, 90)], -1) + 30
    base = base.astype(np.int16)
    noise = rng.integers(-4, 5, (4, height, width, 3), dtype=np.int16)
    squares = [(rng.uniform(0, width), rng.uniform(0, height), rng.uniform(-4, 4),
                rng.uniform(-4, 4), int(rng.integers(10, 40)), rng.integers(0, 256, 3))
               for _ in range(4)]
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = width, height, "yuv420p"
        s.options = {"crf": "23", "preset": "veryfast"}
        for i in range(n_frames):
            img = np.roll(base, 2 * i, axis=1) + noise[i % len(noise)]
            for x0, y0, vx, vy, r, col in squares:
                cx, cy = int((x0 + vx * i) % width), int((y0 + vy * i) % height)
                img[max(0, cy - r):cy + r, max(0, cx - r):cx + r] = col
            frame = av.VideoFrame.from_ndarray(np.clip(img, 0, 255).astype(np.uint8), format="rgb24")
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def batches(ids: list, size: int):
    for k in range(0, len(ids), size):
        yield ids[k:k + size]


def best_pass(fn, order: list, batch: int, repeats: int) -> float:
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        for ids in batches(order, batch):
            fn(ids)
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clips", type=int, default=64)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--fps", type=int, default=30)
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--height", type=int, default=240)
    p.add_argument("--frames", type=int, default=16, help="DecodeParams.frames")
    p.add_argument("--size", type=int, default=224, help="DecodeParams.size")
    p.add_argument("--resize", default="crop", choices=["crop", "squash"])
    p.add_argument("--batch", type=int, default=8, help="clips per batch")
    p.add_argument("--repeats", type=int, default=3, help="each path: best of N passes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = p.parse_args(argv)
    if args.clips < 1 or args.batch < 1:
        raise SystemExit("--clips and --batch must be at least 1")

    params = DecodeParams(frames=args.frames, size=args.size, resize=args.resize)
    n_frames = max(1, round(args.seconds * args.fps))
    ids = list(range(args.clips))
    order = list(np.random.default_rng(args.seed).permutation(args.clips))

    with tempfile.TemporaryDirectory(prefix="bgs-embed-store-") as tmp:
        tmp = Path(tmp)
        files = [tmp / "videos" / f"clip{i:04d}.mp4" for i in ids]
        files[0].parent.mkdir()
        t0 = time.perf_counter()
        for i, f in zip(ids, files):
            write_clip(f, n_frames, args.width, args.height, args.fps, args.seed * 100_003 + i)
        gen_s = time.perf_counter() - t0
        video_bytes = sum(f.stat().st_size for f in files)

        store = ClipStore(tmp / "store", params)
        t0 = time.perf_counter()
        report = store.build(ids, files, on_error="fail")
        build_s = time.perf_counter() - t0
        store_bytes = sum(f.stat().st_size for f in store.clips_dir.glob("*.npy"))
        t0 = time.perf_counter()
        rebuild = store.build(ids, files, on_error="fail")
        rebuild_s = time.perf_counter() - t0

        def from_store(batch_ids):
            return to_float_tensor(store.get_batch(batch_ids), MEAN, STD)

        def from_store_uint8(batch_ids):
            return store.get_batch(batch_ids)

        def from_video(batch_ids):
            return to_float_tensor(np.stack([decode_video(files[i], params) for i in batch_ids]),
                                   MEAN, STD)

        # identical results, for every clip
        equal = True
        for batch_ids in batches(order, args.batch):
            if not bool((from_store(batch_ids) == from_video(batch_ids)).all()):
                equal = False

        store_s = best_pass(from_store, order, args.batch, args.repeats)
        uint8_s = best_pass(from_store_uint8, order, args.batch, args.repeats)
        decode_s = best_pass(from_video, order, args.batch, args.repeats)

    import torch  # noqa: PLC0415

    store_cps, decode_cps, uint8_cps = args.clips / store_s, args.clips / decode_s, args.clips / uint8_s
    results = {
        "clips": args.clips, "source_frames": n_frames, "source_size": [args.width, args.height],
        "fps": args.fps, "params": params.to_dict(), "batch": args.batch,
        "repeats": args.repeats, "seed": args.seed,
        "video_bytes": video_bytes, "store_bytes": store_bytes, "generate_s": gen_s,
        "build_s": build_s, "build_decodes": report.decodes,
        "rebuild_s": rebuild_s, "rebuild_decodes": rebuild.decodes,
        "store_float_s": store_s, "store_uint8_s": uint8_s, "decode_float_s": decode_s,
        "store_clips_per_s": store_cps, "store_uint8_clips_per_s": uint8_cps,
        "decode_clips_per_s": decode_cps, "speedup": store_cps / decode_cps,
        "identical": equal, "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__,
    }
    rows = [
        ("clips", f"{args.clips} x {n_frames} frames, {args.width}x{args.height} at {args.fps} fps "
                  f"({video_bytes / 1e6:.1f} MB of mp4)"),
        ("decode params", f"{params.frames} frames, {params.size}x{params.size}, {params.resize}"),
        ("store build (decode once)", f"{build_s:.2f} s, {report.decodes} decodes "
                                      f"({store_bytes / 1e6:.1f} MB of uint8)"),
        ("store rebuild (all reused)", f"{rebuild_s * 1e3:.1f} ms, {rebuild.decodes} decodes"),
        (f"store -> float tensor (batch {args.batch})", f"{store_cps:,.1f} clips/s"),
        ("store -> uint8 only", f"{uint8_cps:,.1f} clips/s"),
        (f"decode mp4 -> float tensor (batch {args.batch})", f"{decode_cps:,.1f} clips/s"),
        ("speed-up (store / decode)", f"{store_cps / decode_cps:,.1f}x"),
        ("identical tensors", "yes" if equal else "NO"),
    ]
    return finish(rows, results, args.json, equal,
                  "the store and per-access decoding gave different tensors")


if __name__ == "__main__":
    sys.exit(main())
