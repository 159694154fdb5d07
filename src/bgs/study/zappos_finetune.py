"""The fine-tuning half of ``bgs study zappos``: one LoRA run per fold and objective, the
per-fold scores, and the pooled held-out scores with paired differences against the
untuned ViT and AlexNet.

The first objective (hybrid by default) runs on every fold, so its held-out triplets cover
all 85 shoes and it is the headline; the others run on the first ``side_folds`` folds and are
compared with the base model on those folds' triplets only."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bgs.study.zappos import ZapposConfig, _similarity, _train_config


def objective_folds(cfg: ZapposConfig) -> dict[str, list[int]]:
    """The folds each objective runs on."""
    return {o: list(range(cfg.folds if k == 0 else min(cfg.side_folds, cfg.folds)))
            for k, o in enumerate(cfg.objectives)}


def finetune_folds(run, cfg: ZapposConfig, data, folds: list[dict], base: dict,
                   log: Callable[[str], None]) -> None:
    """Train every (objective, fold), then fill ``metrics`` ``training``, ``folds``, the
    pooled ``models`` entries and ``finetuning`` (paired differences)."""
    from bgs.study.finetune import finetune
    from bgs.study.zappos_folds import fold_row

    metrics, out = run.metrics, run.out
    ids = data.ids
    base_sim = _similarity(base["dinov2"], ids, cfg.layer)
    alexnet_sim = _similarity(base["alexnet"], ids)
    metrics["folds"] = []
    tuned: dict[str, dict[int, np.ndarray]] = {}
    for objective, which in objective_folds(cfg).items():
        for f in which:
            with run.step(f"BGS fine-tuning of the ViT (LoRA): {objective}, fold {f + 1} of {cfg.folds}"):
                result = finetune(_train_config(cfg, data.folder, out, objective, f),
                                  out / "train" / objective / f"fold{f}", log)
                metrics["training"][f"{objective} fold {f}"] = result.entry(out)
                sim = _similarity(result.embeddings, ids)
                tuned.setdefault(objective, {})[f] = sim
                test = data.triplets.restrict(folds[f]["test"])
                index = np.searchsorted(ids, folds[f]["test"])
                block = np.ix_(index, index)
                row = fold_row(f, objective, folds[f], test, sim[block], base_sim[block],
                               result.summary["best_epoch"], cfg.n_bootstrap, cfg.seed)
                metrics["folds"].append(row)
                log(f"  fold {f}: held-out two-way {row['tuned_accuracy']:.3f} vs untuned "
                    f"{row['base_accuracy']:.3f} ({row['difference']:+.3f} "
                    f"[{row['difference_shoe_ci'][0]:+.3f}, {row['difference_shoe_ci'][1]:+.3f}] over shoes)")
    with run.step("pooled held-out scores and paired differences"):
        _pool(metrics, cfg, data, folds, tuned, base_sim, alexnet_sim, log)


def _pool(metrics: dict, cfg: ZapposConfig, data, folds, tuned: dict, base_sim, alexnet_sim, log) -> None:
    from bgs.metrics.anchor import paired_difference
    from bgs.study.zappos_folds import held_out_triplets, pooled_eval, pooled_similarity

    metrics["finetuning"] = {"base": f"dinov2 {cfg.layer}", "differences": {}, "versus_alexnet": {},
                             "folds_per_objective": objective_folds(cfg)}
    for objective, per_fold in tuned.items():
        test = held_out_triplets(data.triplets, folds, per_fold)
        index = np.searchsorted(data.ids, test.stimulus_ids)
        block = np.ix_(index, index)
        sim = pooled_similarity(data.ids, folds, per_fold)[block]
        name = f"dinov2 + BGS ({objective})"
        every_fold = len(per_fold) == cfg.folds
        if every_fold:  # scored on the same pooled triplets as the baselines
            metrics["models"][name] = {"label": name, "family": "dinov2", "stage": "fine-tuned",
                                       "metric": "cosine", "folds": sorted(per_fold),
                                       "eval": pooled_eval(sim, test, cfg.n_bootstrap, cfg.seed)}
        diff = paired_difference(sim, base_sim[block], test, cfg.n_bootstrap, cfg.seed)
        diff.update(folds=sorted(per_fold), n_triplets=len(test), n_stimuli=test.n_stimuli)
        metrics["finetuning"]["differences"][name] = diff
        metrics["finetuning"]["versus_alexnet"][name] = {
            **paired_difference(sim, alexnet_sim[block], test, cfg.n_bootstrap, cfg.seed),
            "folds": sorted(per_fold), "n_triplets": len(test), "n_stimuli": test.n_stimuli}
        a = diff["anchor_accuracy"]
        log(f"  {name} on {len(test):,} held-out triplets of {len(per_fold)} fold(s): {a['value']:+.3f} "
            f"[{a['ci'][0]:+.3f}, {a['ci'][1]:+.3f}] over triplets, "
            f"[{a['ci_stimuli'][0]:+.3f}, {a['ci_stimuli'][1]:+.3f}] over shoes vs the untuned ViT")
