"""The measurements behind the claims of ``bgs study claims``, each a paired comparison of
models on the same held-out clips, pooled over training seeds.

A pooled effect is the mean over seeds of each seed's effect; its 95 % CI resamples held-out
clips (the same draws for every model), so it is of the paired difference:

* 3-way accuracy: the per-triplet scores averaged over the seeds' models, minus the
  reference's, through :func:`paired_difference` (its bootstrap over stimuli = clips);
* Spearman RSA: each seed's model against the reference by
  :func:`bgs.metrics.paired.compare_embeddings` (:func:`rsa_claim`);
* probe R²: :func:`bgs.study.behavior.mean_r2_difference`;
* per-clip quantities (attention ratios, class-probe hits): the mean of the per-clip
  differences, :func:`bgs.study.attention.bootstrap_mean_ci` over clips;
* variance partitions: the jackknife over held-out clips (:func:`partition_claims`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bgs.errors import ConfigError
from bgs.metrics.evaluate import embedding_ooo_scores
from bgs.metrics.paired import paired_difference
from bgs.study.behavior import mean_r2_difference
from bgs.study.claims_table import Claim


@dataclass
class Models:
    """Embeddings of one dataset's clips: the reference (untrained) model and each trained
    condition per seed, with the held-out triplets, the probe split and its targets."""

    base: object
    runs: dict  # condition -> {seed: Embeddings}
    test: object  # TripletSet of the held-out clips
    train_ids: list
    test_ids: list
    targets: pd.DataFrame  # probe targets by stimulus id
    n_bootstrap: int
    seed: int
    _probes: dict = field(default_factory=dict)

    def seeds(self, condition: str) -> list:
        return sorted(self.runs.get(condition, {}))

    def probe(self, key, emb) -> pd.DataFrame:
        """Held-out ridge predictions of every target (fitted on the training clips), cached."""
        from bgs.metrics.probes import linear_probe

        if key not in self._probes:
            self._probes[key] = linear_probe(emb, self.targets, split=(self.train_ids, self.test_ids),
                                             n_bootstrap=0, seed=self.seed).predictions
        return self._probes[key]

    def side(self, condition: str) -> list:
        """``[(key, embeddings)]`` of a condition's seeds (``untrained``: the base model)."""
        if condition == "untrained":
            return [(("untrained", None), self.base)]
        return [((condition, s), self.runs[condition][s]) for s in self.seeds(condition)]


def _pair_seeds(a: list, b: list) -> list[tuple]:
    """Seed-wise pairs of two sides (a single reference pairs with every seed)."""
    return [(x, b[0] if len(b) == 1 else b[i]) for i, x in enumerate(a)]


def accuracy_claim(m: Models, after: str, before: str, **text) -> Claim:
    """Held-out 3-way accuracy of ``after`` minus ``before`` (conditions)."""
    a = [embedding_ooo_scores(e, m.test) for _, e in m.side(after)]
    b = [embedding_ooo_scores(e, m.test) for _, e in m.side(before)]
    if not a or not b:
        return _missing(after if not a else before, **text)
    d = paired_difference(np.mean(a, axis=0), np.mean(b, axis=0), m.test, m.n_bootstrap, m.seed)
    lo, hi = d.get("ci_stimuli") or (np.nan, np.nan)
    per_seed = [float(np.mean(x - y)) for x, y in _pair_seeds(a, b)]
    return Claim(effect=d["value"], ci_low=lo, ci_high=hi, seed_effects=per_seed, **text,
                 details={"after": after, "before": before, "n_triplets": d["n_triplets"],
                          "ci_over_triplets": d.get("ci"),
                          "accuracy_after": float(np.mean(a)), "accuracy_before": float(np.mean(b))})


def rsa_claim(m: Models, after: str, before: str, **text) -> Claim:
    """Held-out Spearman RSA of ``after`` minus ``before``, each seed's model compared with
    its reference by :func:`bgs.metrics.paired.compare_embeddings` (paired bootstrap over
    clips). The pooled effect is the mean of the seeds' differences; its interval is the
    mean of the seeds' paired intervals over clips (every seed resamples the same clips,
    but only each seed's interval comes back, not its draws)."""
    from bgs.metrics.evaluate import evaluate_embeddings
    from bgs.metrics.paired import compare_embeddings

    a, b = m.side(after), m.side(before)
    if not a or not b:
        return _missing(after if not a else before, **text)
    rows = [compare_embeddings(x, y, m.test, n_bootstrap=m.n_bootstrap, seed=m.seed)["rsa_spearman"]
            for (_, x), (_, y) in _pair_seeds(a, b)]
    per_seed = [float(r["value"]) for r in rows]
    cis = np.array([r.get("ci_stimuli") or (np.nan, np.nan) for r in rows], float)

    def rsa(side):
        return float(np.mean([evaluate_embeddings(e, m.test, n_bootstrap=0, n_permutations=0)
                              ["rsa_spearman"]["value"] for _, e in side]))

    return Claim(effect=float(np.mean(per_seed)), ci_low=float(cis[:, 0].mean()), ci_high=float(cis[:, 1].mean()),
                 seed_effects=per_seed, **text,
                 details={"after": after, "before": before, "rsa_after": rsa(a), "rsa_before": rsa(b),
                          "seed_ci_over_clips": cis.tolist(),
                          "seed_ci_over_triplets": [r.get("ci") for r in rows],
                          "share_positive_over_clips": [r.get("share_positive_stimuli") for r in rows],
                          "ci_method": "mean of the seeds' paired bootstrap intervals over clips"})


def r2_claim(m: Models, after: str, before: str, names: list[str], **text) -> Claim:
    """Held-out probe R² (mean over ``names``) of ``after`` minus ``before``."""
    a = [m.probe(k, e) for k, e in m.side(after)]
    b = [m.probe(k, e) for k, e in m.side(before)] if before else []
    if not a or (before and not b):
        return _missing(after if not a else before, **text)
    value, (lo, hi), _ = mean_r2_difference(a, b, names, m.n_bootstrap, m.seed)
    per_seed = [mean_r2_difference([x], [y] if b else [], names, 0, m.seed)[0]
                for x, y in _pair_seeds(a, b or [None])]
    per_attr = {n: mean_r2_difference(a, b, [n], 0, m.seed)[0] for n in names}
    return Claim(effect=value, ci_low=lo, ci_high=hi, seed_effects=per_seed, **text,
                 details={"after": after, "before": before or None, "attributes": names,
                          "per_attribute_effect": per_attr,
                          "r2_after": mean_r2_difference(a, [], names, 0, m.seed)[0],
                          "r2_before": mean_r2_difference(b, [], names, 0, m.seed)[0] if b else None})


def per_clip_claim(diffs: dict, n_bootstrap: int, seed: int, details: dict, **text) -> Claim:
    """A claim on per-clip differences ``{seed: pd.Series by clip id}``: the pooled effect
    is the mean over clips of the seeds' mean difference, its CI a bootstrap over clips."""
    from bgs.study.attention import bootstrap_mean_ci

    if not diffs:
        return _missing("the per-clip measurement", **text)
    wide = pd.concat(diffs, axis=1).dropna()
    pooled = wide.mean(axis=1).to_numpy(float)
    ci = bootstrap_mean_ci(pooled, n_bootstrap, seed) or (np.nan, np.nan)
    return Claim(effect=float(pooled.mean()), ci_low=ci[0], ci_high=ci[1],
                 seed_effects=[float(wide[s].mean()) for s in wide.columns], **text,
                 details={**details, "n_clips": int(len(wide)), "clips_up": int((pooled > 0).sum())})


def _missing(what: str, **text) -> Claim:
    return Claim(effect=np.nan, ci_low=np.nan, ci_high=np.nan, prerequisite_ok=False,
                 **{**text, "prerequisite": f"{what} was measured"})


# ---------------------------------------------------------------------- claim 2
def partition_parts(test, video, captions, seed: int) -> dict:
    """Cross-validated (3 folds over clips) unique video and shared video–caption parts of
    the held-out human dissimilarity (:func:`bgs.metrics.partition.partition_report`)."""
    from bgs.metrics.partition import partition_report

    cv = partition_report(test, {"video": video, "captions": captions}, cv_folds=3, seed=seed)["cross_validated"]
    return {"unique_video": cv["unique"]["video"], "shared": cv["shared"]["video+captions"],
            "unique_captions": cv["unique"]["captions"]}


def jackknife_ci(full: float, leave_one_out: np.ndarray, z: float = 1.959964) -> tuple[float, float]:
    """Normal 95 % interval from the jackknife standard error of the leave-one-out values
    (``SE² = (n − 1)/n · Σ (θᵢ − θ̄)²``), centred on the full-sample value."""
    v = np.asarray(leave_one_out, float)
    v = v[np.isfinite(v)]
    if len(v) < 2:
        return (np.nan, np.nan)
    se = float(np.sqrt((len(v) - 1) / len(v) * ((v - v.mean()) ** 2).sum()))
    return (full - z * se, full + z * se)


def partition_claims(m: Models, captions, texts: tuple[dict, dict]) -> list[Claim]:
    """Claims 2a (unique video variance grows with BGS) and 2b (the part shared with the
    captions grows). CI over held-out clips by the jackknife: each clip left out in turn,
    base and fine-tuned models re-partitioned on the triplets among the others (a
    cross-validated partition cannot hold a resampled clip twice, so no bootstrap)."""
    ids = np.asarray(m.test.stimulus_ids)
    bgs = [e for _, e in m.side("bgs")]
    if captions is None or not bgs:
        return [_missing("the caption model (all-MiniLM-L6-v2)" if captions is None else "bgs", **t)
                for t in texts]

    def effects(test) -> np.ndarray:
        before = partition_parts(test, m.base, captions, m.seed)
        after = [partition_parts(test, e, captions, m.seed) for e in bgs]
        return np.array([[a[k] - before[k] for k in ("unique_video", "shared")] for a in after])

    full = effects(m.test)  # (seeds, 2)
    loo = []
    for k in range(len(ids)):
        try:
            loo.append(effects(m.test.restrict(np.delete(ids, k))).mean(axis=0))
        except ConfigError:  # too few pairs left to cross-validate
            loo.append(np.full(2, np.nan))
    loo = np.array(loo)
    out = []
    for k, text in enumerate(texts):
        lo, hi = jackknife_ci(float(full[:, k].mean()), loo[:, k])
        out.append(Claim(effect=float(full[:, k].mean()), ci_low=float(lo), ci_high=float(hi),
                         seed_effects=[float(v) for v in full[:, k]], **text,
                         details={"before": partition_parts(m.test, m.base, captions, m.seed),
                                  "ci_method": "jackknife over held-out clips",
                                  "n_leave_one_out": int(np.isfinite(loo[:, k]).sum())}))
    return out
