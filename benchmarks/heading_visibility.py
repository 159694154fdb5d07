"""Is an agent's heading in the decoded pixels at the demo's size? A positive control for the
per-token heading read-out, which the physical pre-training does not learn at 32².

Clips of the pre-training's synthetic set (``PHYSICAL_SEED_OFFSET + seed``) are rendered,
encoded to H.264 and decoded through the clip store (``bgs.pretrain.physical.synthetic_clips``,
as the pre-training sees them). For each agent and frame, a ``window × window`` crop centred
on the agent's mask centroid is cut out (the mask says *where* to look, never which way the
agent faces), and a small CNN (two 3×3 convolutions, one hidden layer) is trained to regress
the agent's unit heading. Reported: the held-out R² of the heading's two components and the
mean cosine between the predicted and the true heading, on clips never trained on (a fifth).

    python benchmarks/heading_visibility.py [--clips 800] [--epochs 10] [--size 32]

About 3 minutes on 2 cores. docs/pretraining.md quotes it.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch

from bgs.pretrain.physical import AGENT_NAMES, PHYSICAL_SEED_OFFSET, agent_state, synthetic_clips


def agent_windows(frames: np.ndarray, scenes, masks: np.ndarray, window: int):
    """(crops uint8 (M, window, window, 3), unit headings (M, 2), clip index (M,)) of every
    agent with at least 3 visible pixels in a frame."""
    half = window // 2
    pad = np.pad(frames, ((0, 0), (0, 0), (half, half), (half, half), (0, 0)))
    head = [AGENT_NAMES.index("heading_x"), AGENT_NAMES.index("heading_y")]
    crops, headings, clips = [], [], []
    for n, scene in enumerate(scenes):
        state = agent_state(scene, frames.shape[1])
        for a in range(scene.n_agents):
            for t in range(frames.shape[1]):
                pixels = np.argwhere(masks[n, t] == a + 1)
                if len(pixels) < 3:
                    continue
                r, c = pixels.mean(axis=0).round().astype(int)
                crops.append(pad[n, t, r:r + window, c:c + window])
                headings.append(state[a, t, head])
                clips.append(n)
    return np.stack(crops), np.stack(headings), np.asarray(clips)


def heading_probe(crops: np.ndarray, headings: np.ndarray, train: np.ndarray, epochs: int, seed: int) -> dict:
    """Train the CNN on the ``train`` rows; the held-out rows' R² per component and mean cosine."""
    torch.manual_seed(seed)
    x = torch.tensor(crops, dtype=torch.float32).permute(0, 3, 1, 2) / 255 - 0.5
    y = torch.tensor(headings, dtype=torch.float32)
    nn = torch.nn
    w = crops.shape[1]
    net = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
                        nn.Flatten(), nn.Linear(32 * w * w, 64), nn.ReLU(), nn.Linear(64, 2))
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-4)
    tr, te = torch.as_tensor(train), torch.as_tensor(~train)
    xtr, ytr = x[tr], y[tr]
    for _ in range(epochs):
        for idx in torch.randperm(len(xtr)).split(128):
            loss = ((net(xtr[idx]) - ytr[idx]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        pred, truth = net(x[te]), y[te]
    r2 = 1 - ((pred - truth) ** 2).sum(0) / ((truth - truth.mean(0)) ** 2).sum(0)
    cos = torch.nn.functional.cosine_similarity(pred, truth).mean()
    return {"r2_heading_x": round(float(r2[0]), 3), "r2_heading_y": round(float(r2[1]), 3),
            "mean_cosine": round(float(cos), 3), "n_train": int(tr.sum()), "n_test": int(te.sum())}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", type=int, default=800)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--window", type=int, default=13, help="crop side in pixels (odd)")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        frames, scenes, masks = synthetic_clips(Path(tmp), PHYSICAL_SEED_OFFSET + args.seed, args.clips,
                                                args.frames, args.size, "phys")
    crops, headings, clips = agent_windows(frames, scenes, masks, args.window)
    row = heading_probe(crops, headings, clips < int(0.8 * args.clips), args.epochs, args.seed)
    print(json.dumps({"size": args.size, "window": args.window, "clips": args.clips, **row}))


if __name__ == "__main__":
    main()
