"""Zero-shot style transfer of BGS alignment, and where the models look (docs/attention-transfer.md).

The pipeline is :mod:`bgs.study.transfer`: two synthetic styles of the same clips, the small
physically pre-trained video ViT of ``bgs demo --quick`` fine-tuned on each, every model
scored on both styles' held-out clips, and the agent share of attention before and after
fine-tuning::

    python benchmarks/transfer.py --out transfer-run [--clips 120 --epochs 5 --steps 20]

Writes ``OUT/transfer.csv`` / ``transfer.md`` (the table), ``OUT/attention.md`` and
``OUT/timings.json``. CPU, one torch thread by default.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path


def main() -> None:
    from bgs.study.transfer import TransferConfig, run_transfer

    defaults = TransferConfig()
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, required=True)
    for name in ("clips", "participants", "frames", "size", "epochs", "steps", "seed"):
        p.add_argument(f"--{name}", type=int, default=getattr(defaults, name))
    p.add_argument("--lr", type=float, default=defaults.lr)
    p.add_argument("--n-bootstrap", type=int, default=defaults.n_bootstrap)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()

    import torch

    torch.set_num_threads(a.threads)
    cfg = TransferConfig(clips=a.clips, participants=a.participants, frames=a.frames, size=a.size,
                         epochs=a.epochs, steps=a.steps, lr=a.lr, seed=a.seed, n_bootstrap=a.n_bootstrap)
    result = run_transfer(a.out, cfg)
    print((a.out / "transfer.md").read_text())
    print((a.out / "attention.md").read_text())
    print(json.dumps(result["timings"], indent=2))


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
