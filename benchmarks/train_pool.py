"""Benchmark: independent training runs one after another on T threads against the same
runs side by side in W worker processes of one thread each (``bgs.study.train_pool``), in
one run.

The runs are those of ``bgs study claims`` (the receiver-behavior experiment's conditions)
on a small synthetic dataset with the physically pre-trained TimeSformer, at a reduced
budget (``--epochs`` × ``--steps``). Both ways train the same configs, so they must give
the same embeddings; the check compares them (exit status 1 when they differ by more than
float rounding across thread counts).

Reported: wall and CPU seconds of each way (CPU: this process and its finished children)
and the ratios sequential / pooled. Timings are reported, never asserted.

Run:  python benchmarks/train_pool.py [--clips 64] [--conditions bgs,behavior] [--json out.json]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import finish  # noqa: E402


def _cpu() -> float:
    from bgs.study.train_pool import children_cpu_s

    return time.process_time() + children_cpu_s()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", type=int, default=64)
    ap.add_argument("--conditions", default="bgs,behavior")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--threads", type=int, default=2, help="threads of the sequential runs")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    import numpy as np

    from bgs.embeddings import Embeddings
    from bgs.media.decode import DecodeParams
    from bgs.media.store import ClipStore
    from bgs.models.registry import parse_model
    from bgs.models.vision import load_vision_backbone
    from bgs.study.behavior import (
        ExperimentConfig,
        _dataset,
        experiment_backbone,
        experiment_train_config,
        synth_config,
    )
    from bgs.study.train_pool import train_runs
    from bgs.synthetic import make_dataset
    from bgs.train.config import ModelConfig, OptimConfig

    cfg = replace(ExperimentConfig(), clips=args.clips, participants=40, model=ModelConfig(),
                  optim=OptimConfig(epochs=args.epochs, max_steps_per_epoch=args.steps, batch_triplets=16, lr=1e-3),
                  conditions=tuple(args.conditions.split(",")))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = tmp / "data"
        make_dataset(data, synth_config(cfg))
        ref = experiment_backbone(cfg, log=lambda _: None)
        backbone = load_vision_backbone(parse_model(ref))
        store = tmp / "store"
        ClipStore(store, DecodeParams(backbone.frames, backbone.size, "crop")).build(
            list(_dataset(data)[0].ids), [data / "videos" / f for f in _dataset(data)[0].files], on_error="fail")
        jobs = [(f"{c}-s{s}", experiment_train_config(data, store, ref, c, s, cfg))
                for c in cfg.conditions for s in (0, 1)]
        timed = {}
        for label, workers, threads in (("sequential", 1, args.threads), ("pooled", args.workers, 1)):
            w, c = time.perf_counter(), _cpu()
            train_runs(jobs, tmp / label, workers, threads, log=lambda _: None)
            timed[label] = {"wall_s": time.perf_counter() - w, "cpu_s": _cpu() - c}
        gap = max(float(np.abs(Embeddings.load(tmp / "sequential" / n / "embeddings.npz").layer(None)
                               - Embeddings.load(tmp / "pooled" / n / "embeddings.npz").layer(None)).max())
                  for n, _ in jobs)
    s, p = timed["sequential"], timed["pooled"]
    rows = [("runs", f"{len(jobs)} ({args.conditions} × seeds 0, 1; {args.epochs} epochs × {args.steps} steps)"),
            (f"sequential, {args.threads} threads", f"{s['wall_s']:.1f} s wall, {s['cpu_s']:.1f} s CPU"),
            (f"pooled, {args.workers} × 1 thread", f"{p['wall_s']:.1f} s wall, {p['cpu_s']:.1f} s CPU"),
            ("wall ratio sequential / pooled", f"{s['wall_s'] / p['wall_s']:.2f}"),
            ("CPU ratio sequential / pooled", f"{s['cpu_s'] / p['cpu_s']:.2f}"),
            ("largest embedding difference", f"{gap:.2e}")]
    results = {"timings": timed, "runs": [n for n, _ in jobs], "max_abs_embedding_difference": gap,
               "config": vars(args)}
    return finish(rows, results, args.json, gap < 1e-3, f"the two ways trained different models ({gap:.2e})")


if __name__ == "__main__":
    raise SystemExit(main())
