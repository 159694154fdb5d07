"""The planted-truth figures of the synthetic dataset (docs/synthetic.md), per seed.

Generates the default design without videos for each seed, then measures what bgs recovers
against what the generator planted: catch screening against the inattentive participants,
the estimated odd-one-out ceiling bounds against the true ceiling, the planted latents'
and the nuisance features' held-out accuracy, and the split-half reliability. Prints one
markdown table, a column per seed.

    python benchmarks/planted_truth.py --seeds 0,11
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bgs.data.garcia2025 import load_garcia2025
from bgs.data.triplets import Screening, read_triplets
from bgs.human.summary import triplet_stats
from bgs.metrics.evaluate import evaluate_embeddings
from bgs.synthetic import SynthConfig, make_dataset, read_truth


def _ci(entry: dict, key: str = "ci_stimuli") -> str:
    lo, hi = entry[key]
    return f"{entry['value']:.3f} ({lo:.2f}–{hi:.2f})"


def seed_column(seed: int, out: Path, n_bootstrap: int) -> dict[str, str]:
    """The table's rows for one seed's dataset, generated into ``out``."""
    make_dataset(out, SynthConfig(seed=seed, render=False))
    truth = read_truth(out)
    c = truth.ceiling
    path = out / "all_triplets.csv"
    screened = triplet_stats(read_triplets(path, format="garcia2025"), n_splits=100, n_bootstrap=n_bootstrap)
    everyone = triplet_stats(read_triplets(path, format="garcia2025",
                                           screening=Screening(max_catch_failure_rate=None)),
                             n_splits=10, n_bootstrap=n_bootstrap)["ooo_ceiling"]
    excluded = set(screened["excluded_participants"])
    g = load_garcia2025(out)
    test = g.split.apply(g.triplets)["test"]

    def held_out(emb) -> str:
        return _ci(evaluate_embeddings(emb, test, metric="euclidean", n_bootstrap=n_bootstrap,
                                       n_permutations=0)["ooo_accuracy"])

    est = screened["ooo_ceiling"]
    return {
        "inattentive excluded by catch screening":
            f"{len(excluded & truth.inattentive)} of {len(truth.inattentive)}, "
            f"{len(excluded - truth.inattentive)} attentive excluded",
        "true ceiling, attentive, shared triads": f"{c['repeated_triads']['attentive']:.3f}",
        "estimated OOO ceiling on screened data: lower (95% CI)":
            f"{est['lower']:.3f} ({est['lower_ci'][0]:.3f}–{est['lower_ci'][1]:.3f})",
        "… upper (95% CI)": f"{est['upper']:.3f} ({est['upper_ci'][0]:.3f}–{est['upper_ci'][1]:.3f})",
        "true ceiling, all participants / unscreened estimate lower–upper":
            f"{c['repeated_triads']['all_participants']:.3f} / {everyone['lower']:.3f}–{everyone['upper']:.3f}",
        "test split: true ceiling (attentive)": f"{c['test_split']['attentive']:.3f}",
        "latent embedding (`truth.latent_embeddings()`), test OOO acc. (CI over stimuli)":
            held_out(truth.latent_embeddings()),
        "nuisance-only embedding, test OOO acc. (CI over stimuli)": held_out(truth.nuisance_embeddings()),
        "split-half reliability (Spearman–Brown)": f"{screened['split_half_spearman_brown']:.2f}",
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="0,11", help="comma-separated dataset seeds (11: the tests' dataset)")
    ap.add_argument("--n-bootstrap", type=int, default=1000)
    args = ap.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        columns = [seed_column(s, Path(tmp) / f"seed{s}", args.n_bootstrap) for s in seeds]
    print("| | " + " | ".join(f"seed {s}" for s in seeds) + " |")
    print("|---|" + "---|" * len(seeds))
    for row in columns[0]:
        print(f"| {row} | " + " | ".join(col[row] for col in columns) + " |")


if __name__ == "__main__":
    main()
