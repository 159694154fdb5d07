"""Cross-validation over shoes for ``bgs study zappos``: the folds, and the pooled held-out
scores.

Every shoe is held out once: fold ``f`` tests on the triplets whose three shoes are all in
its test part, and trains on the triplets among the other folds' shoes. A fine-tuned model
exists per fold, so the held-out triplets of all folds are scored together through one
*pooled* similarity matrix: entry (x, y) is the similarity under the model of the fold that
held out both x and y (NaN for shoes of different folds, which no held-out triplet pairs).
Accuracy, RSA and the paired differences against the base model are then computed on the
pooled triplets by the same functions as for any model, and resampling shoes resamples all
85 shoes at once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bgs.data.anchor import AnchorTripletSet


def fold_splits(ids: np.ndarray, k: int, val_fraction: float, seed: int) -> list[dict[str, np.ndarray]]:
    """``k`` folds over the shoes: each a test part (the folds partition the shoes), the pool
    of the other shoes, and the training / validation parts of the pool (the trainer draws the
    same validation shoes from the same seed)."""
    from bgs.data.splits import StimulusSplit

    out = []
    for outer in StimulusSplit.kfold(ids, k, seed=seed):
        inner = StimulusSplit.random(outer["train"], {"train": 1 - val_fraction, "val": val_fraction},
                                     seed=seed)
        out.append({"train": inner["train"], "val": inner["val"], "test": outer["test"],
                    "pool": outer["train"]})
    return out


def fold_of(ids: np.ndarray, folds: list[dict]) -> np.ndarray:
    """The fold that holds out each shoe of ``ids``."""
    where = pd.Index(ids)
    out = np.full(len(ids), -1)
    for f, part in enumerate(folds):
        out[where.get_indexer(part["test"])] = f
    return out


def held_out_triplets(triplets: AnchorTripletSet, folds: list[dict], which) -> AnchorTripletSet:
    """The triplets whose three shoes one fold of ``which`` holds out, re-indexed onto the
    shoes they use."""
    label = fold_of(triplets.stimulus_ids, folds)[triplets.triplets]
    keep = (label[:, 0] == label[:, 1]) & (label[:, 0] == label[:, 2]) & np.isin(label[:, 0], list(which))
    return triplets.select(keep).used_stimuli()


def pooled_similarity(ids: np.ndarray, folds: list[dict], per_fold: dict[int, np.ndarray]) -> np.ndarray:
    """(len(ids), len(ids)): entry (x, y) from ``per_fold[f]`` (a similarity over ``ids``) when
    fold ``f`` holds out both x and y; NaN otherwise."""
    label = fold_of(ids, folds)
    out = np.full((len(ids), len(ids)), np.nan)
    for f, sim in per_fold.items():
        block = np.flatnonzero(label == f)
        out[np.ix_(block, block)] = sim[np.ix_(block, block)]
    return out


def pooled_eval(sim: np.ndarray, triplets: AnchorTripletSet, n_bootstrap: int, seed: int) -> dict:
    """Two-way accuracy and RSA of a pooled similarity on the pooled held-out triplets (no
    permutation p-value: a permutation would pair shoes of different folds)."""
    from bgs.metrics.anchor import evaluate_anchor_similarity

    return {"metric": "cosine", "layer": None, "pooled_over_folds": True,
            **evaluate_anchor_similarity(sim, triplets, 1.0 - sim, n_bootstrap=n_bootstrap,
                                         n_permutations=0, seed=seed)}


def fold_row(f: int, objective: str, part: dict, test: AnchorTripletSet, tuned: np.ndarray,
             base: np.ndarray, best_epoch, n_bootstrap: int, seed: int) -> dict:
    """One fold's held-out scores: tuned and base on the fold's test triplets, their paired
    difference with CIs over triplets and over the fold's shoes."""
    from bgs.metrics.anchor import anchor_accuracy, anchor_rsa, paired_difference

    d = paired_difference(tuned, base, test, n_bootstrap, seed)["anchor_accuracy"]
    return {"fold": f, "objective": objective, "n_train_shoes": len(part["train"]),
            "n_val_shoes": len(part["val"]), "n_test_shoes": len(part["test"]), "n_test_triplets": len(test),
            "best_epoch": best_epoch, "tuned_accuracy": anchor_accuracy(tuned, test),
            "base_accuracy": anchor_accuracy(base, test), "difference": d["value"],
            "difference_ci": d["ci"], "difference_shoe_ci": d["ci_stimuli"],
            "tuned_rsa": anchor_rsa(1.0 - tuned, test), "base_rsa": anchor_rsa(1.0 - base, test)}
