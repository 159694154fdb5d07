"""Cross-validation over stimuli for anchor triplets (bgs.study.zappos_folds) against brute
force, and the shared report's sections for anchor-triplet runs."""

import numpy as np
import pytest

from bgs.data.anchor import AnchorTripletSet


def _triplets(n=30, m=4000, seed=0):
    rng = np.random.default_rng(seed)
    t = np.array([rng.choice(n, 3, replace=False) for _ in range(m)])
    return AnchorTripletSet.from_arrays(t[:, 0] + 100, t[:, 1] + 100, t[:, 2] + 100,
                                        stimulus_ids=np.arange(n) + 100)


def _sim(n, seed):
    x = np.random.default_rng(seed).normal(size=(n, 5))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x @ x.T


def test_folds_partition_the_stimuli_and_the_inner_split_is_the_trainers():
    from bgs.data.splits import StimulusSplit
    from bgs.study.zappos_folds import fold_splits

    ids = np.arange(85)
    folds = fold_splits(ids, 4, 0.2, seed=3)
    tests = np.concatenate([f["test"] for f in folds])
    assert sorted(tests) == list(ids) and [len(f["test"]) for f in folds] == [22, 21, 21, 21]
    for f in folds:
        assert sorted(np.concatenate([f["train"], f["val"], f["test"]])) == list(ids)
        trainer = StimulusSplit.random(f["pool"], {"train": 0.8, "val": 0.2}, seed=3)  # as load_training_data
        assert (trainer["val"] == f["val"]).all() and (trainer["train"] == f["train"]).all()


def test_pooled_scores_are_the_per_fold_scores_put_together():
    from bgs.metrics.anchor import anchor_scores, paired_difference
    from bgs.study.zappos_folds import fold_splits, held_out_triplets, pooled_eval, pooled_similarity

    triplets = _triplets()
    ids = triplets.stimulus_ids
    folds = fold_splits(ids, 3, 0.25, seed=0)
    per_fold = {f: _sim(len(ids), f + 1) for f in range(3)}
    pooled = held_out_triplets(triplets, folds, range(3))
    sim = pooled_similarity(ids, folds, per_fold)
    index = np.searchsorted(ids, pooled.stimulus_ids)
    sim = sim[np.ix_(index, index)]
    # brute force: each triplet scored by the model of the fold holding out its three stimuli
    fold_of = {s: f for f, part in enumerate(folds) for s in part["test"]}
    want, base_want = [], []
    base = _sim(len(ids), 99)
    pos = {s: k for k, s in enumerate(ids)}
    for h, c, far in triplets.triplets:
        sh, sc, sf = ids[h], ids[c], ids[far]
        if fold_of[sh] == fold_of[sc] == fold_of[sf]:
            s = per_fold[fold_of[sh]]
            want.append((np.sign(s[pos[sh], pos[sc]] - s[pos[sh], pos[sf]]) + 1) / 2)
            base_want.append((np.sign(base[pos[sh], pos[sc]] - base[pos[sh], pos[sf]]) + 1) / 2)
    assert len(pooled) == len(want) == sum(len(triplets.restrict(p["test"])) for p in folds)
    assert np.sort(anchor_scores(sim, pooled)).tolist() == np.sort(want).tolist()
    ev = pooled_eval(sim, pooled, n_bootstrap=50, seed=0)
    assert ev["anchor_accuracy"]["value"] == pytest.approx(np.mean(want))
    assert "p_value" not in ev["anchor_accuracy"] and np.isfinite(ev["rsa_spearman"]["value"])
    lo, hi = ev["anchor_accuracy"]["ci_stimuli"]
    assert lo <= np.mean(want) <= hi
    diff = paired_difference(sim, base[np.ix_(index, index)], pooled, 50, 0)["anchor_accuracy"]
    assert diff["value"] == pytest.approx(np.mean(want) - np.mean(base_want))
    # the RSA pairs only stimuli of one fold: the human matrix of the pooled triplets has no others
    from bgs.human.anchor import anchor_similarity

    observed = ~np.isnan(anchor_similarity(pooled).dissimilarity)
    np.fill_diagonal(observed, False)
    assert not np.isnan(sim[observed]).any()


def test_the_shared_report_shows_anchor_results_differences_and_folds(tmp_path):
    from bgs.metrics.anchor import evaluate_anchor_similarity, paired_difference
    from bgs.report.html import render_report
    from bgs.report.rundir import RunHeader, write_run

    triplets = _triplets(n=20, m=1500)
    a, b = _sim(20, 1), _sim(20, 2)
    ev = {k: evaluate_anchor_similarity(s, triplets, 1 - s, n_bootstrap=30, n_permutations=5)
          for k, s in (("tuned", a), ("base", b))}
    diff = {**paired_difference(a, b, triplets, 30, 0), "folds": [0, 1], "n_triplets": len(triplets)}
    metrics = {"models": {"base": {"label": "the base", "family": "x", "stage": "baseline", "eval": ev["base"]},
                          "tuned": {"label": "the tuned", "family": "x", "stage": "fine-tuned", "eval": ev["tuned"]}},
               "finetuning": {"base": "base", "differences": {"tuned": diff}},
               "folds": [{"fold": 0, "objective": "hybrid", "n_train_shoes": 8, "n_val_shoes": 2, "n_test_shoes": 10,
                          "n_test_triplets": 100, "best_epoch": 1, "base_accuracy": 0.5, "tuned_accuracy": 0.6,
                          "difference": 0.1, "difference_ci": [0.05, 0.15], "difference_shoe_ci": [-0.01, 0.2],
                          "base_rsa": 0.1, "tuned_rsa": 0.3}],
               "resources": {"cpu_seconds": 12.5}}
    run = write_run(tmp_path / "run", RunHeader("study", "anchor test", ["bgs", "study"], {}), metrics)
    html = render_report(run)
    acc = ev["tuned"]["anchor_accuracy"]
    assert f"{acc['value']:.3f} [{acc['ci'][0]:.3f}, {acc['ci'][1]:.3f}]" in html
    assert f"[{acc['ci_stimuli'][0]:.3f}, {acc['ci_stimuli'][1]:.3f}]" in html
    d = diff["anchor_accuracy"]
    assert f"{d['value']:+.3f} [{d['ci'][0]:.3f}, {d['ci'][1]:.3f}]" in html
    assert "+0.100 [0.050, 0.150]" in html and "cpu seconds" in html
    assert "two-way ceiling" in html and "odd-one-out acc. (3-way)" not in html
    assert (run / "plots" / "model_scores.png").exists()
