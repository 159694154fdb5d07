"""Variance partitioning of human dissimilarity among 2 or 3 models (commonality analysis).

Over the *observed* pairs (upper triangle ``i < j``, pairs that shared a triplet) the human
dissimilarity ``D`` is regressed on the models' dissimilarity vectors by ordinary least
squares with an intercept, once for every non-empty subset ``S`` of the models, giving
``R²(S)``. Write ``R(a)``, ``R(ab)``, ... for these; ``R(∅) = 0``.

Two models a, b::

    unique(a)  = R(ab) − R(b)
    unique(b)  = R(ab) − R(a)
    shared(ab) = R(a) + R(b) − R(ab)
    unexplained = 1 − R(ab)

Three models a, b, c (the standard 7-part decomposition)::

    unique(a)   = R(abc) − R(bc)                          (likewise b, c)
    shared(ab)  = R(ac) + R(bc) − R(c) − R(abc)           (ab only, not c; likewise ac, bc)
    shared(abc) = R(a) + R(b) + R(c) − R(ab) − R(ac) − R(bc) + R(abc)
    unexplained = 1 − R(abc)

Both are the Möbius inversion of ``f(U) = R(all) − R(all ∖ U)`` over the subsets ``U`` of
the models: ``C(T) = Σ_{U ⊆ T} (−1)^{|T|−|U|} f(U)``, where ``C(T)`` is the part shared by
exactly the models in ``T``. Identities: the 2^m − 1 parts sum to ``R(all)``, and the parts
that involve a model sum to that model's own ``R²``. Shared parts can be negative
(suppression); that is a property of the data, not an error.

Modes:

- ``in_sample``: every R² is the fit's R² on all observed pairs.
- ``cv`` (cross-validated over stimuli): the stimuli are split into ``k`` seeded folds
  (:meth:`bgs.data.splits.StimulusSplit.kfold`). For each fold the regression is fitted on the
  pairs whose two stimuli are both training stimuli and predicts the pairs whose two stimuli
  are both held out; pairs straddling the two are used by neither. The out-of-fold
  predictions are pooled over the folds and ``R² = 1 − SSE/SST``, with SST around the mean of
  the pooled held-out targets. Cross-validated R² may be negative, and so may parts.

Optionally (``weighted=True``) every pair is weighted by its co-occurrence count, in the fit
and in SSE/SST (weighted mean); off by default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from bgs.errors import ConfigError

MODES = ("in_sample", "cv")
SEP = "+"


# ---------------------------------------------------------------------- result
@dataclass(frozen=True)
class VariancePartition:
    """R² of every subset fit and its decomposition into unique and shared parts.

    ``r2``: subset name (model names joined by ``+`` in model order, e.g. ``"video+caption"``)
    → R². ``unique``: model → the part only it explains. ``shared``: subset name (2 or more
    models) → the part shared by exactly those models. ``unexplained = 1 − R²(all)``.
    ``n_pairs``: the pairs the R² values are computed over (in-sample: the observed pairs; cv:
    the pooled held-out pairs).
    """

    models: list[str]
    mode: str
    r2: dict[str, float]
    unique: dict[str, float]
    shared: dict[str, float]
    unexplained: float
    n_pairs: int
    n_observed_pairs: int
    n_stimuli: int
    weighted: bool = False
    cv_folds: int | None = None
    seed: int | None = None
    fold_pairs: list[dict[str, int]] = field(default_factory=list)

    @property
    def total(self) -> float:
        """R² of all models together."""
        return self.r2[SEP.join(self.models)]

    @property
    def definition(self) -> str:
        w = "; pairs weighted by co-occurrence count" if self.weighted else ""
        if self.mode == "in_sample":
            return ("in-sample: OLS with intercept of human D on model dissimilarities over the "
                    f"observed pairs; R² of each subset fit on the same pairs{w}")
        return (f"cross-validated over stimuli: {self.cv_folds} folds (seed {self.seed}); fit on "
                "pairs among training stimuli, predict pairs with both stimuli held out, "
                f"R² = 1 − SSE/SST of the pooled out-of-fold predictions{w}")

    def components(self) -> dict[str, float]:
        """The 2^m − 1 parts and ``unexplained``, by component name."""
        out = {f"unique:{m}": v for m, v in self.unique.items()}
        out.update({f"shared:{k}": v for k, v in self.shared.items()})
        out["unexplained"] = self.unexplained
        return out

    def to_dict(self) -> dict:
        return {"mode": self.mode, "definition": self.definition, "models": list(self.models),
                "n_stimuli": self.n_stimuli, "n_observed_pairs": self.n_observed_pairs,
                "n_pairs": self.n_pairs, "weighted": self.weighted, "cv_folds": self.cv_folds,
                "seed": self.seed, "r2": _clean(self.r2), "unique": _clean(self.unique),
                "shared": _clean(self.shared), "explained": _num(self.total),
                "unexplained": _num(self.unexplained),
                **({"fold_pairs": self.fold_pairs} if self.fold_pairs else {})}

    def to_frame(self) -> pd.DataFrame:
        """Tidy rows ``component, value``: ``r2:<subset>``, ``unique:<model>``,
        ``shared:<subset>`` and ``unexplained``."""
        rows = [(f"r2:{k}", v) for k, v in self.r2.items()]
        rows += list(self.components().items())
        return pd.DataFrame(rows, columns=["component", "value"])


def _num(v: float):
    v = float(v)
    return v if np.isfinite(v) else None


def _clean(d: Mapping[str, float]) -> dict:
    return {k: _num(v) for k, v in d.items()}


# ---------------------------------------------------------------------- pieces
def model_subsets(models: Iterable[str]) -> list[tuple[int, ...]]:
    """Every non-empty subset of model positions, by size then model order."""
    m = len(list(models))
    return [s for r in range(1, m + 1) for s in combinations(range(m), r)]


def decompose(r2: Mapping[tuple[int, ...], float], m: int) -> dict[tuple[int, ...], float]:
    """Parts ``C(T)`` for every non-empty subset ``T`` of ``range(m)`` from subset R² values
    (keys: sorted position tuples), by Möbius inversion of ``f(U) = R(all) − R(all ∖ U)``."""
    full = tuple(range(m))

    def R(s: tuple[int, ...]) -> float:
        return 0.0 if not s else r2[s]

    def f(u: tuple[int, ...]) -> float:
        return R(full) - R(tuple(i for i in full if i not in u))

    out = {}
    for t in model_subsets(range(m)):
        out[t] = sum((-1) ** (len(t) - len(u)) * f(u)
                     for r in range(0, len(t) + 1) for u in combinations(t, r))
    return out


def _fit_predict(x: np.ndarray, y: np.ndarray, w: np.ndarray | None,
                 x_new: np.ndarray) -> np.ndarray:
    """(Weighted) OLS with intercept fitted on (x, y); predictions at ``x_new``."""
    if w is None:
        w = np.ones(len(y))
    sw = w.sum()
    xm = w @ x / sw
    ym = w @ y / sw
    r = np.sqrt(w)
    beta = np.linalg.lstsq((x - xm) * r[:, None], (y - ym) * r, rcond=None)[0]
    return ym + (x_new - xm) @ beta


def _r2(y: np.ndarray, pred: np.ndarray, w: np.ndarray | None) -> float:
    w = np.ones(len(y)) if w is None else w
    mean = w @ y / w.sum()
    sst = w @ (y - mean) ** 2
    if not sst > 0:
        raise ConfigError("human dissimilarity is constant over the scored pairs; R² is undefined")
    return float(1.0 - (w @ (y - pred) ** 2) / sst)


def stimulus_folds(n_stimuli: int, k: int, seed: int = 0) -> list[np.ndarray]:
    """Held-out stimulus positions of each of ``k`` seeded folds (they partition
    ``range(n_stimuli)``), as :meth:`StimulusSplit.kfold` draws them."""
    from bgs.data.splits import StimulusSplit

    return [s["test"] for s in StimulusSplit.kfold(np.arange(n_stimuli), k=k, seed=seed)]


def _check_models(human, models: Mapping[str, np.ndarray]) -> tuple[list[str], list[np.ndarray]]:
    if not isinstance(models, Mapping):
        raise ConfigError("models must be a mapping of model name to an N×N dissimilarity matrix")
    names = [str(k) for k in models]
    if not 2 <= len(names) <= 3:
        raise ConfigError(f"variance partitioning takes 2 or 3 models, got {len(names)}"
                          + (f" ({', '.join(names)})" if names else ""))
    for nm in names:
        if not nm or SEP in nm:
            raise ConfigError(f"model name {nm!r} must be non-empty and contain no {SEP!r}")
    if len(set(names)) != len(names):
        raise ConfigError(f"model names must be distinct, got {names}")
    n = human.n_stimuli
    mats = []
    for nm, mat in models.items():
        mat = np.asarray(mat, dtype=np.float64)
        if mat.shape != (n, n):
            raise ConfigError(f"model {nm!r} dissimilarity has shape {mat.shape}; expected "
                              f"({n}, {n}) over the human similarity's stimuli")
        mats.append(mat)
    return names, mats


# ---------------------------------------------------------------------- main
def variance_partition(human, models: Mapping[str, np.ndarray], *, cv_folds: int | None = None,
                       seed: int = 0, weighted: bool = False) -> VariancePartition:
    """Partition the variance of human ``D`` among 2 or 3 models (see the module docstring).

    ``human``: a :class:`~bgs.human.similarity.HumanSimilarity`; ``models``: name → N×N model
    dissimilarity over ``human.stimulus_ids`` in the same order. ``cv_folds=None`` (or 0):
    in-sample; ``cv_folds=k``: cross-validated over ``k`` seeded stimulus folds.
    """
    names, mats = _check_models(human, models)
    n = human.n_stimuli
    i, j = human.i, human.j
    if len(i) < 3:
        raise ConfigError(f"only {len(i)} observed pair(s); variance partitioning needs more")
    y = human.pair_dissimilarity.astype(np.float64)
    x = np.column_stack([mat[i, j] for mat in mats])
    bad = ~np.isfinite(x).all(axis=0)
    if bad.any():
        raise ConfigError(f"model(s) {', '.join(np.asarray(names)[bad])} have NaN or infinite "
                          "dissimilarities on observed pairs")
    w = human.n_cooccur.astype(np.float64) if weighted else None
    subsets = model_subsets(names)
    m = len(names)

    if not cv_folds:
        r2 = {s: _r2(y, _fit_predict(x[:, s], y, w, x[:, s]), w) for s in subsets}
        mode, n_pairs, fold_pairs, seed_out = "in_sample", len(y), [], None
    else:
        if cv_folds < 2:
            raise ConfigError(f"cv_folds must be at least 2 (or 0 for in-sample), got {cv_folds}")
        preds = {s: [] for s in subsets}
        ys, ws, fold_pairs = [], [], []
        for k, held in enumerate(stimulus_folds(n, cv_folds, seed)):
            out = np.zeros(n, dtype=bool)
            out[held] = True
            test = out[i] & out[j]
            train = ~out[i] & ~out[j]
            fold_pairs.append({"fold": k, "n_test_stimuli": int(out.sum()),
                               "n_train_pairs": int(train.sum()), "n_test_pairs": int(test.sum())})
            if not test.any():
                continue
            if train.sum() < m + 1:
                raise ConfigError(f"fold {k} has {int(train.sum())} training pair(s); too few to "
                                  f"fit {m} models — use fewer folds or more data")
            wt = None if w is None else w[train]
            for s in subsets:
                preds[s].append(_fit_predict(x[train][:, s], y[train], wt, x[test][:, s]))
            ys.append(y[test])
            ws.append(None if w is None else w[test])
        if not ys:
            raise ConfigError("no fold has an observed pair with both stimuli held out; use fewer "
                              "folds or more data")
        y_out = np.concatenate(ys)
        w_out = None if w is None else np.concatenate(ws)
        r2 = {s: _r2(y_out, np.concatenate(preds[s]), w_out) for s in subsets}
        mode, n_pairs, seed_out = "cv", len(y_out), seed

    parts = decompose(r2, m)
    key = lambda s: SEP.join(names[t] for t in s)  # noqa: E731
    full = tuple(range(m))
    return VariancePartition(
        models=names, mode=mode, r2={key(s): v for s, v in r2.items()},
        unique={names[t[0]]: v for t, v in parts.items() if len(t) == 1},
        shared={key(t): v for t, v in parts.items() if len(t) > 1},
        unexplained=1.0 - r2[full], n_pairs=int(n_pairs), n_observed_pairs=int(len(y)),
        n_stimuli=n, weighted=bool(weighted), cv_folds=int(cv_folds) if cv_folds else None,
        seed=seed_out, fold_pairs=fold_pairs)


def model_dissimilarities(embeddings: Mapping, stimulus_ids, metric: str = "cosine",
                          layer: str | None = None) -> dict[str, np.ndarray]:
    """name → N×N model dissimilarity over ``stimulus_ids`` (rows aligned by id; an id without
    an embedding is an error naming it). ``layer``: which layer of each (default: the first)."""
    from bgs.metrics.distance import dissimilarity_matrix

    ids = list(stimulus_ids)
    return {name: dissimilarity_matrix(e.align(ids, what="the human similarity's stimuli")
                                       .layer(layer), metric)
            for name, e in embeddings.items()}


def partition_report(triplets, embeddings: Mapping, *, metric: str = "cosine",
                     layer: str | None = None, cv_folds: int = 5, seed: int = 0,
                     weighted: bool = False, paths: Mapping | None = None) -> dict:
    """The JSON object of ``bgs partition``: in-sample and cross-validated (``cv_folds``
    stimulus folds; 0: none) partitions of the human dissimilarity of ``triplets`` among
    ``embeddings`` (name → :class:`~bgs.embeddings.Embeddings`, 2 or 3 models)."""
    from bgs.human.similarity import human_similarity

    if not 2 <= len(embeddings) <= 3:
        raise ConfigError(f"give 2 or 3 models to partition, got {len(embeddings)}")
    human = human_similarity(triplets)
    keep = human.observed.any(axis=1)  # stimuli in no observed pair carry no information
    human = human.subset(human.stimulus_ids[keep])
    models = model_dissimilarities(embeddings, human.stimulus_ids, metric=metric, layer=layer)
    in_sample = variance_partition(human, models, weighted=weighted)
    cv = (variance_partition(human, models, cv_folds=cv_folds, seed=seed, weighted=weighted)
          if cv_folds else None)
    return {
        "models": list(embeddings),
        "embeddings": {k: str(v) for k, v in (paths or {}).items()},
        "metric": metric, "layer": layer, "weighted": weighted,
        "triplets": {"source": str(triplets.source), "n_valid": len(triplets),
                     "n_used": len(triplets), "split": None, "n_stimuli": int(human.n_stimuli)},
        "in_sample": in_sample.to_dict(),
        "cross_validated": None if cv is None else cv.to_dict(),
    }
