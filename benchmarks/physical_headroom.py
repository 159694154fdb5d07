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

    python benchmarks/physical_headroom.py [--clips 120] [--participants 60] [--test-share 0.2]
        [--seeds 0,1,2] [--only "moment pooling"]

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
from bgs.metrics.paired import compare_embeddings
from bgs.objectives.triplet import triplet_loss
from bgs.pretrain.moments import MOMENT_NAMES, moment_features
from bgs.pretrain.physical import AGENT_NAMES, agent_state, clip_quantities
from bgs.synthetic import SynthConfig, make_dataset, read_truth
from bgs.synthetic.dataset import build_scenes

LEARNED = ("agents", "x", "y", "r2", "speed", "abs_velocity_centre", "heading_velocity")
#: The moment features that need no heading (what the backbone's per-token read-out learns).
NO_HEADING = [i for i, n in enumerate(MOMENT_NAMES) if not n.endswith(("cov", "facing", "heading_mean2"))]


def exact_moments(scenes, frames: int, agents: slice = slice(None)) -> np.ndarray:
    """(clips, len(MOMENT_NAMES)) the moment pooling (``bgs.pretrain.moments``) of the exact
    per-token targets. A frame's token sums of those targets are its agents' summed states
    (each agent's weights sum to one per frame), so each agent stands in for its tokens;
    ``agents`` selects which (``slice(0, 2)``: the principal pair only)."""
    return np.concatenate([moment_features(agent_state(s, frames)[agents].transpose(1, 0, 2)[None], AGENT_NAMES)
                           for s in scenes])


def feature_sets(scenes, frames: int) -> dict[str, np.ndarray]:
    """Named (clips, features) arrays: relational clip statistics, the moments a mean over
    the backbone's per-token read-out gives (all, and those it learns), and the per-frame
    moment pooling of its exact targets (all agents, the principal pair, without heading)."""
    moments = np.stack([agent_state(s, frames).sum(axis=0).mean(axis=0) for s in scenes])
    learned = moments[:, [AGENT_NAMES.index(n) for n in LEARNED]]
    pooled = exact_moments(scenes, frames)
    return {"relational clip statistics": clip_quantities(scenes, frames),
            "agent moments, all": moments, "agent moments, learned channels": learned,
            "per-frame moment pooling, all agents": pooled,
            "per-frame moment pooling, the principal pair only": exact_moments(scenes, frames, slice(0, 2)),
            "per-frame moment pooling without heading": pooled[:, NO_HEADING]}


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


def _split(cfg: SynthConfig):
    """:func:`split_triplets` of a freshly generated dataset without pixels."""
    with tempfile.TemporaryDirectory() as tmp:
        make_dataset(tmp, cfg)
        return split_triplets(tmp)


def split_triplets(data_dir):
    """(held-out triplets, training triplets, their rows into the clip order, clip ids, truth)
    of the synthetic dataset in ``data_dir``."""
    data, truth = load_garcia2025(data_dir), read_truth(data_dir)
    ids = np.asarray(truth.ids)
    test_ids = set(data.split["test"].tolist())
    test = data.triplets.restrict(sorted(test_ids))
    train = data.triplets.restrict([i for i in ids if i not in test_ids])
    row = {v: i for i, v in enumerate(ids.tolist())}
    train_rows = np.array([row[v] for v in train.stimulus_ids.tolist()])
    return test, train, train_rows, ids, truth


def headroom_rows(cfg: SynthConfig, n_bootstrap: int = 1000, only: str = "") -> list[str]:
    """One table row per feature set (those whose name contains ``only``): base, + linear BGS
    with its paired gain (95 % CI over held-out clips), + MLP BGS and its gain."""
    test, train, train_rows, ids, truth = _split(cfg)
    sets = {**feature_sets(build_scenes(cfg), cfg.frames), "latents (upper reference)": truth.latent}
    sets = {k: v for k, v in sets.items() if only in k}

    def emb(x):
        return Embeddings.from_array(ids, x)

    def score(x):
        r = evaluate_embeddings(emb(x), test, metric="cosine", n_bootstrap=0, n_permutations=0, seed=cfg.seed)
        return r["ooo_accuracy"]["value"], r["rsa_spearman"]["value"]

    def gain(x, base):
        d = compare_embeddings(emb(x), emb(base), test, n_bootstrap=n_bootstrap, seed=cfg.seed)
        o, r = d["ooo_accuracy"], d["rsa_spearman"]
        ci = lambda e: f"[{e['ci_stimuli'][0]:+.3f}, {e['ci_stimuli'][1]:+.3f}]"  # noqa: E731
        return f"**{o['value']:+.3f}** {ci(o)}, **{r['value']:+.3f}** {ci(r)}"

    rows = []
    for name, x in sets.items():
        mu, sd = x[train_rows].mean(axis=0), x[train_rows].std(axis=0) + 1e-8
        xs = (x - mu) / sd
        a0, r0 = score(xs)
        linear = fit_projection(xs, train, train_rows, seed=cfg.seed)
        mlp = fit_projection(xs, train, train_rows, seed=cfg.seed, hidden=64, steps=150)
        (a1, r1), (a2, r2) = score(linear), score(mlp)
        rows.append(f"| {name} | {cfg.seed} | {a0:.3f}, {r0:+.3f} | {a1:.3f}, {r1:+.3f} | {gain(linear, xs)} "
                    f"| {a2:.3f}, {r2:+.3f} | {a2 - a0:+.3f}, {r2 - r0:+.3f} |")
    return rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", type=int, default=120)
    ap.add_argument("--participants", type=int, default=60)
    ap.add_argument("--test-share", type=float, default=0.2, help="share of the clips held out")
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--seeds", default="0", help="comma-separated dataset seeds, e.g. 0,1,2")
    ap.add_argument("--n-bootstrap", type=int, default=1000)
    ap.add_argument("--only", default="", help="run only the feature sets whose name contains this")
    args = ap.parse_args(argv)
    print("| features | seed | base 3-way, RSA | + linear BGS | gain (95 % CI over held-out clips) "
          "| + MLP BGS | gain |")
    print("|---|---|---|---|---|---|---|")
    for seed in (int(s) for s in args.seeds.split(",")):
        cfg = SynthConfig(seed=seed, n_clips=args.clips, n_participants=args.participants,
                          test_share=args.test_share, frames=args.frames, render=False)
        for row in headroom_rows(cfg, args.n_bootstrap, args.only):
            print(row, flush=True)


if __name__ == "__main__":
    main()
