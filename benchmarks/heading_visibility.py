"""Is an agent's heading in the decoded pixels at the demo's size? A positive control for the
per-token heading read-out, which the physical pre-training does not learn at 32².

Clips of the pre-training's synthetic set (``PHYSICAL_SEED_OFFSET + seed``) are rendered,
encoded to H.264 and decoded through the clip store (``bgs.pretrain.physical.synthetic_clips``,
as the pre-training sees them). For each agent and frame, a ``window × window`` crop centred
on the agent's mask centroid is cut out (the mask says *where* to look, never which way the
agent faces), and a small CNN (two 3×3 convolutions, one hidden layer) is trained to regress
the agent's unit heading. With ``--folder`` (a pre-trained encoder of the same frames and
size), an MLP probe (one hidden layer) does the same from the encoder's output token that holds
the agent's centroid: is the heading in what the per-token read-out sees? Reported: the
held-out R² of the heading's two components and the mean cosine between the predicted and
the true heading, on clips the probe never trained on (a fifth). They come from the
pre-training's synthetic seed, so the encoder may have seen them: the token probe asks
whether its tokens carry the heading at all, not whether it generalises.

    python benchmarks/heading_visibility.py [--clips 800] [--epochs 10] [--size 32] [--folder F]

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


def agent_frames(scenes, masks: np.ndarray):
    """(clip, frame, centroid row, centroid column, unit heading x, y) (M, 6) of every agent
    with at least 3 visible pixels in a frame."""
    head = [AGENT_NAMES.index("heading_x"), AGENT_NAMES.index("heading_y")]
    rows = []
    for n, scene in enumerate(scenes):
        state = agent_state(scene, masks.shape[1])
        for a in range(scene.n_agents):
            for t in range(masks.shape[1]):
                pixels = np.argwhere(masks[n, t] == a + 1)
                if len(pixels) >= 3:
                    r, c = pixels.mean(axis=0).round().astype(int)
                    rows.append([n, t, r, c, *state[a, t, head]])
    return np.asarray(rows)


def agent_windows(frames: np.ndarray, agents: np.ndarray, window: int) -> np.ndarray:
    """(M, window, window, 3) uint8 crops centred on each :func:`agent_frames` row."""
    half = window // 2
    pad = np.pad(frames, ((0, 0), (0, 0), (half, half), (half, half), (0, 0)))
    n, t, r, c = agents[:, :4].astype(int).T
    return np.stack([pad[i, j, y:y + window, x:x + window] for i, j, y, x in zip(n, t, r, c)])


def agent_tokens(folder: Path, frames: np.ndarray, agents: np.ndarray, batch: int = 16) -> np.ndarray:
    """(M, hidden) the pre-trained encoder's output token (frame × patch) holding each
    agent's centroid: what the per-token read-out sees."""
    from bgs.media.decode import to_float_tensor
    from bgs.models.conv_stem import load_timesformer
    from bgs.models.registry import IMAGENET_MEAN, IMAGENET_STD

    encoder = load_timesformer(folder)
    cfg = encoder.config
    g, t = cfg.image_size // cfg.patch_size, cfg.num_frames
    hidden = []
    with torch.inference_mode():
        for i in range(0, len(frames), batch):
            h = encoder(to_float_tensor(frames[i:i + batch], IMAGENET_MEAN, IMAGENET_STD)).last_hidden_state
            hidden.append(h[:, 1:].reshape(h.shape[0], g, g, t, -1).numpy())  # (B, row, column, frame, hidden)
    hidden = np.concatenate(hidden)
    n, f, r, c = agents[:, :4].astype(int).T
    return hidden[n, r // cfg.patch_size, c // cfg.patch_size, f]


def heading_probe(x: torch.Tensor, headings: np.ndarray, train: np.ndarray, epochs: int, seed: int) -> dict:
    """Train a probe on the ``train`` rows: the CNN on crops (M, 3, w, w), an MLP (one hidden
    layer of 64) on vectors (M, d); the held-out rows' R² per component and mean cosine."""
    torch.manual_seed(seed)
    y = torch.tensor(headings, dtype=torch.float32)
    nn = torch.nn
    if x.ndim == 4:
        w = x.shape[-1]
        net = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
                            nn.Flatten(), nn.Linear(32 * w * w, 64), nn.ReLU(), nn.Linear(64, 2))
    else:
        net = nn.Sequential(nn.LayerNorm(x.shape[1]), nn.Linear(x.shape[1], 64), nn.ReLU(), nn.Linear(64, 2))
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
    ap.add_argument("--folder", help="also probe this pre-trained encoder's output tokens (of --frames, --size)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        frames, scenes, masks = synthetic_clips(Path(tmp), PHYSICAL_SEED_OFFSET + args.seed, args.clips,
                                                args.frames, args.size, "phys")
    agents = agent_frames(scenes, masks)
    train = agents[:, 0] < int(0.8 * args.clips)
    crops = torch.tensor(agent_windows(frames, agents, args.window), dtype=torch.float32).permute(0, 3, 1, 2)
    pixels = heading_probe(crops / 255 - 0.5, agents[:, 4:], train, args.epochs, args.seed)
    out = {"size": args.size, "clips": args.clips, f"pixels, {args.window}² window": pixels}
    if args.folder:
        tokens = torch.tensor(agent_tokens(Path(args.folder), frames, agents))
        out["encoder token"] = heading_probe(tokens, agents[:, 4:], train, args.epochs, args.seed)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
