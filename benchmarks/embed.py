"""Benchmark: embedding clips with a video backbone, frames from the clip store vs decoding
each clip from its mp4 per access.

Both paths run the real loading code: a randomly initialised TimeSformer is built from a
config, saved with ``save_pretrained`` and loaded back through ``bgs.models``. Then

* **store**: the clip store is built once (timed separately), and ``embed_clips`` reads the
  uint8 frames memory-mapped, normalises them on the device and runs the model;
* **decode**: every batch decodes its clips from the mp4 files, then preprocesses and runs
  the same model.

It prints clips/s of both and their ratio, and checks that the two give the same embeddings.
``--size tiny`` (default on CPU) is a 2-layer model at 8 × 64²; ``--size base`` (default on
CUDA) is TimeSformer-base (12 layers, 768 wide) at 16 × 224², run under bf16 autocast.
Timings are reported, never asserted.

Run:  .venv/bin/python benchmarks/embed.py [--device cpu|cuda] [--clips 32] [--json out.json]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bgs.io import write_json
from bgs.media import ClipStore, DecodeParams, decode_video
from bgs.models.embed import embed_clips, quiet_transformers
from bgs.models.registry import parse_model
from bgs.models.vision import load_vision_backbone

sys.path.insert(0, str(Path(__file__).parent))
from embed_store import write_clip  # noqa: E402

SIZES = {
    "tiny": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128,
                 image_size=64, patch_size=16, num_frames=8),
    "base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                 intermediate_size=3072, image_size=224, patch_size=16, num_frames=16),
}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--size", choices=list(SIZES), default=None)
    p.add_argument("--clips", type=int, default=32)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    size = args.size or ("base" if args.device.startswith("cuda") else "tiny")
    cfg = SIZES[size]
    quiet_transformers()
    import transformers

    torch.manual_seed(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        files = []
        for k in range(args.clips):
            files.append(tmp / f"clip{k:03d}.mp4")
            write_clip(files[-1], 90, 320, 240, 30, args.seed + k)
        transformers.TimesformerModel(transformers.TimesformerConfig(**cfg)).save_pretrained(tmp / "model")
        backbone = load_vision_backbone(parse_model(f"timesformer:{tmp / 'model'}"),
                                        device=args.device)
        params = DecodeParams(backbone.frames, backbone.size, "crop")
        ids = list(range(args.clips))
        store = ClipStore(tmp / "store", params)
        t0 = time.perf_counter()
        store.build(ids, files)
        build_s = time.perf_counter() - t0
        amp = args.device.startswith("cuda")

        embed_clips(backbone, store, ids[: args.batch], batch_size=args.batch)  # warm-up
        sync = torch.cuda.synchronize if amp else (lambda: None)
        sync()
        t0 = time.perf_counter()
        from_store = embed_clips(backbone, store, ids, batch_size=args.batch).matrix
        sync()
        store_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        chunks = []
        with torch.inference_mode():
            for start in range(0, len(ids), args.batch):
                frames = np.stack([decode_video(f, params) for f in files[start:start + args.batch]])
                with torch.autocast(backbone.device.type, dtype=torch.bfloat16, enabled=amp):
                    chunks.append(backbone(backbone.preprocess(frames))["embeddings"].float().cpu().numpy())
        sync()
        decode_s = time.perf_counter() - t0
        same = bool(np.allclose(np.concatenate(chunks), from_store, atol=1e-4 if not amp else 5e-2))

    result = {"device": args.device, "model": f"TimeSformer {size} (random weights)",
              "frames": params.frames, "size": params.size, "clips": args.clips, "batch": args.batch,
              "store_build_s": build_s, "store_clips_per_s": args.clips / store_s,
              "decode_clips_per_s": args.clips / decode_s, "ratio": decode_s / store_s,
              "embeddings_equal": same, "torch": torch.__version__}
    print(f"{result['model']} at {params.frames}×{params.size}² on {args.device}, "
          f"{args.clips} clips, batch {args.batch}")
    print(f"  store build (decode once): {build_s:8.2f} s")
    print(f"  embed from the store     : {result['store_clips_per_s']:8.1f} clips/s")
    print(f"  decode per access + embed: {result['decode_clips_per_s']:8.1f} clips/s")
    print(f"  ratio                    : {result['ratio']:8.2f}×   embeddings equal: {same}")
    if args.json:
        write_json(args.json, result)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
