"""The positive control of the demo's video experiment: how much can BGS gain on held-out
clips if the backbone's embedding held a given set of physical quantities *exactly*?

For each feature set, computed from the renderer's ground truth (no pixels), the clip
features are standardised on the training clips and scored on the held-out clips' triplets
(cosine, 3-way odd-one-out accuracy and Spearman RSA: ``bgs.metrics.evaluate``). A linear
projection, trained with the project's triplet loss (``bgs.objectives.triplet``) on the
training clips' triplets, is scored the same way, and so is a small non-linear head (64
hidden units, LayerNorm, ReLU, then linear; 150 steps: it over-fits with more). The gap is the
headroom a perfect physical backbone would give BGS with this much data; a learned backbone
can only do worse.

    python benchmarks/physical_headroom.py [--clips 120] [--participants 60] [--seed 0]

It needs no rendering (the dataset is generated with ``render=False``) and runs in about a
minute on 2 cores. docs/pretraining.md quotes its table.
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np
import torch

from bgs.data.garcia2025 import load_garcia2025
from bgs.embeddings import Embeddings
from bgs.metrics.evaluate import evaluate_embeddings
from bgs.objectives.triplet import triplet_loss
from bgs.pretrain.physical import AGENT_NAMES, agent_state, clip_quantities
from bgs.synthetic import SynthConfig, make_dataset, read_truth
from bgs.synthetic.dataset import build_scenes

LEARNED = ("agents", "x", "y", "r2", "speed", "abs_velocity_centre", "heading_velocity")


def feature_sets(scenes, frames: int) -> dict[str, np.ndarray]:
    """Named (clips, features) arrays: relational clip statistics, the moments a mean over
    the backbone's per-token read-out gives (all, and those it learns), the latents."""
    moments = np.stack([agent_state(s, frames).sum(axis=0).mean(axis=0) for s in scenes])
    learned = moments[:, [AGENT_NAMES.index(n) for n in LEARNED]]
    return {"relational clip statistics": clip_quantities(scenes, frames),
            "agent moments, all": moments, "agent moments, learned channels": learned}


def fit_projection(x: np.ndarray, train, train_rows: np.ndarray, dim: int = 16, steps: int = 300,
                   seed: int = 0, hidden: int = 0) -> np.ndarray:
    """A map trained with the triplet loss on ``train`` (indices into ``train_rows``): linear,
    or with ``hidden`` units one hidden layer (LayerNorm, ReLU) before the linear output."""
    torch.manual_seed(seed)
    xt = torch.tensor(x, dtype=torch.float32)
    pair = torch.tensor(train_rows[train.pair])
    odd = torch.tensor(train_rows[train.odd_index])
    nn = torch.nn
    proj = (nn.Sequential(nn.Linear(x.shape[1], hidden), nn.LayerNorm(hidden), nn.ReLU(), nn.Linear(hidden, dim))
            if hidden else nn.Linear(x.shape[1], dim))
    opt = torch.optim.AdamW(proj.parameters(), lr=1e-2, weight_decay=0.1)
    for _ in range(steps):
        z = torch.nn.functional.normalize(proj(xt), dim=1)
        loss = triplet_loss(z, pair[:, 0], pair[:, 1], odd)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return torch.nn.functional.normalize(proj(xt), dim=1).numpy()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", type=int, default=120)
    ap.add_argument("--participants", type=int, default=60)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    cfg = SynthConfig(seed=args.seed, n_clips=args.clips, n_participants=args.participants,
                      frames=args.frames, render=False)
    with tempfile.TemporaryDirectory() as tmp:
        make_dataset(tmp, cfg)
        data, truth = load_garcia2025(tmp), read_truth(tmp)
    ids = np.asarray(truth.ids)
    test_ids = set(data.split["test"].tolist())
    train_ids = [i for i in ids if i not in test_ids]
    test = data.triplets.restrict(sorted(test_ids))
    train = data.triplets.restrict(train_ids)
    row = {v: i for i, v in enumerate(ids.tolist())}
    train_rows = np.array([row[v] for v in train.stimulus_ids.tolist()])
    sets = {**feature_sets(build_scenes(cfg), args.frames), "latents (upper reference)": truth.latent}

    def score(x):
        r = evaluate_embeddings(Embeddings.from_array(ids, x), test, metric="cosine",
                                n_bootstrap=0, n_permutations=0, seed=args.seed)
        return r["ooo_accuracy"]["value"], r["rsa_spearman"]["value"]

    print(f"{args.clips} clips ({len(test_ids)} held out), {len(train):,} training and "
          f"{len(test):,} held-out triplets; chance 0.333\n")
    print("| features | d | base 3-way, RSA | + linear BGS | gain | + MLP BGS | gain |")
    print("|---|---|---|---|---|---|---|")
    for name, x in sets.items():
        mu, sd = x[train_rows].mean(axis=0), x[train_rows].std(axis=0) + 1e-8
        xs = (x - mu) / sd
        a0, r0 = score(xs)
        cells = [f"{a0:.3f}, {r0:+.3f}"]
        for kw in ({}, {"hidden": 64, "steps": 150}):
            a1, r1 = score(fit_projection(xs, train, train_rows, seed=args.seed, **kw))
            cells += [f"{a1:.3f}, {r1:+.3f}", f"{a1 - a0:+.3f}, {r1 - r0:+.3f}"]
        print(f"| {name} | {x.shape[1]} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
