"""Linear probes: ridge regression from embeddings to per-stimulus attribute ratings.

The protocol (DESIGN.md, "Linear probes"):

* **Folds over stimuli.** Either seeded k-fold (:meth:`StimulusSplit.kfold` over the stimuli
  with at least one rating) or one given train/test split. A stimulus is never in the
  training and the held-out part of the same fold.
* **Per attribute, per fold.** Stimuli whose rating of that attribute is missing (NaN) are left
  out of that attribute's fit and evaluation only.
* **Training statistics only.** Inside each training fold the embedding columns and the
  target are standardised (mean 0, population SD 1) with the *training* stimuli's mean and
  SD; held-out stimuli are transformed with those numbers and their predictions are mapped
  back to rating units. Nothing about held-out stimuli (embeddings or ratings) enters the
  fit, the standardisation or the choice of penalty.
* **Penalty chosen inside the training fold.** For each attribute the ridge penalty α is
  picked from a log-spaced grid (default ``10**-3 .. 10**5``, 17 values) by *efficient
  leave-one-out* cross-validation on the training fold: exact LOO residuals
  ``e_i / (1 − H_ii)`` of ridge with an unpenalised intercept, computed in closed form from
  one SVD of the standardised training embeddings (the same criterion as scikit-learn's
  ``RidgeCV`` with its default ``cv=None``). The LOO loop reuses the fold's standardisation
  (as ``RidgeCV`` would on pre-scaled data); only training stimuli enter it. Ties go to the
  smallest α.
* **Scores.** Out-of-fold predictions are pooled (k-fold) or taken on the test part (split).
  Per attribute: ``R² = 1 − SSE/SST`` over the held-out stimuli with SST around the mean of
  those held-out ratings (for k-fold: of all pooled held-out ratings), which is
  ``sklearn.metrics.r2_score`` of the pooled predictions; Pearson r of predictions and
  ratings. R² can be negative (worse than predicting the held-out mean).
  Pooled k-fold scores of a predictor with no signal sit slightly *below* zero (R² < 0 and
  often r < 0): each fold's intercept is its training mean, which moves opposite to the
  held-out ratings. Read a small negative pooled r as "no signal", not as anti-alignment.
* **Confidence intervals.** Percentile bootstrap (95 %) resampling held-out stimuli with
  replacement, the fitted predictions held fixed: it expresses uncertainty over which
  stimuli were evaluated, not refitting variance. Seeded per attribute name, so an
  attribute's interval does not depend on which other attributes are probed.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bgs.data.splits import StimulusSplit
from bgs.embeddings import Embeddings, as_ids
from bgs.errors import ConfigError, DataFileError
from bgs.stats import pearson, percentile_ci

DEFAULT_ALPHAS = np.logspace(-3, 5, 17)
INNER_CV = ("efficient leave-one-out (closed form via SVD) on the standardised training fold, "
            "per attribute; ties to the smallest alpha")
R2_DEFINITION = ("1 - SSE/SST over held-out stimuli, SST around the mean of the held-out "
                 "ratings (k-fold: pooled out-of-fold predictions)")
MIN_TRAIN = 3  # rated training stimuli an attribute needs in every fold
MIN_EVAL = 3  # rated held-out stimuli an attribute needs in all


# ---------------------------------------------------------------------- the ridge fit
@dataclass
class RidgeFit:
    """One attribute's model in one training fold (everything from training stimuli only)."""

    alpha: float
    x_mean: np.ndarray  # (D,) training means of the embedding columns
    x_scale: np.ndarray  # (D,) training SDs (1 where a column is constant)
    y_mean: float
    y_scale: float
    coef: np.ndarray  # (D,) on the standardised scale
    loo_mse: np.ndarray  # (len(alphas),) LOO mean squared error, standardised target units
    n_train: int

    def predict(self, x: np.ndarray) -> np.ndarray:
        z = (np.asarray(x, dtype=np.float64) - self.x_mean) / self.x_scale
        return (z @ self.coef) * self.y_scale + self.y_mean


def _scale(values: np.ndarray, axis=0):
    mean = values.mean(axis=axis)
    sd = values.std(axis=axis)
    sd = np.where(sd > 1e-12 * np.maximum(1.0, np.abs(mean)), sd, 1.0)
    return mean, sd


def fit_ridge_loo(x_train: np.ndarray, y_train: np.ndarray, alphas) -> list[RidgeFit]:
    """Fit ridge for each column of ``y_train`` (N×K, no NaN), α by efficient LOO.

    ``x_train`` and ``y_train`` are the training stimuli only; they are standardised here with
    their own statistics. Returns one :class:`RidgeFit` per target column.
    """
    x = np.asarray(x_train, dtype=np.float64)
    y = np.asarray(y_train, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    alphas = np.asarray(alphas, dtype=np.float64)
    n = len(x)
    x_mean, x_scale = _scale(x)
    y_mean, y_scale = _scale(y)
    z = (x - x_mean) / x_scale
    t = (y - y_mean) / y_scale
    u, s, vt = np.linalg.svd(z, full_matrices=False)
    keep = s > (s[0] if len(s) else 0.0) * max(z.shape) * np.finfo(np.float64).eps
    u, s, vt = u[:, keep], s[keep], vt[keep]  # the rank of z (at most n - 1: it is centred)
    s2 = s * s
    uty = u.T @ t  # (r, K)
    u2 = u * u
    mse = np.empty((len(alphas), y.shape[1]))
    # Written with 1 - d = alpha / (s² + alpha) so that small penalties stay accurate:
    # residual = (part of t outside the column space) + U (1 - d) Uᵀ t,
    # 1 - H_ii = (1 - 1/n - Σ_j U_ij²) + Σ_j U_ij² (1 - d_j).
    resid_perp = t - u @ uty
    free = np.maximum(1.0 - 1.0 / n - u2.sum(axis=1), 0.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for a, alpha in enumerate(alphas):
            shrink = alpha / (s2 + alpha)
            resid = resid_perp + u @ (shrink[:, None] * uty)
            denom = free + u2 @ shrink
            m = np.mean((resid / denom[:, None]) ** 2, axis=0)
            if denom.min() < 1e-12:  # a training stimulus is interpolated: LOO undefined
                m[:] = np.inf
            m[~np.isfinite(m)] = np.inf
            mse[a] = m
    best = np.argmin(mse, axis=0)  # first minimum: the smallest alpha on ties
    fits = []
    for k in range(y.shape[1]):
        alpha = alphas[best[k]]
        coef = vt.T @ ((s / (s2 + alpha)) * uty[:, k])
        fits.append(RidgeFit(float(alpha), x_mean, x_scale, float(y_mean[k]), float(y_scale[k]),
                             coef, mse[:, k].copy(), n))
    return fits


# ---------------------------------------------------------------------- scores
def _r2(y: np.ndarray, p: np.ndarray) -> float:
    sst = float(((y - y.mean()) ** 2).sum())
    return 1.0 - float(((y - p) ** 2).sum()) / sst if sst > 0 else float("nan")


def _bootstrap(y: np.ndarray, p: np.ndarray, n_bootstrap: int, rng, chunk: int = 256):
    """Bootstrap distributions of R² and Pearson r, resampling held-out stimuli."""
    n = len(y)
    r2s, rs = [], []
    with np.errstate(divide="ignore", invalid="ignore"):
        for start in range(0, n_bootstrap, chunk):
            idx = rng.integers(0, n, size=(min(chunk, n_bootstrap - start), n))
            yt, yp = y[idx], p[idx]
            yc = yt - yt.mean(axis=1, keepdims=True)
            pc = yp - yp.mean(axis=1, keepdims=True)
            sst = (yc * yc).sum(axis=1)
            r2s.append(np.where(sst > 0, 1.0 - ((yt - yp) ** 2).sum(axis=1) / sst, np.nan))
            den = np.sqrt(sst * (pc * pc).sum(axis=1))
            rs.append(np.where(den > 0, (yc * pc).sum(axis=1) / den, np.nan))
    return np.concatenate(r2s), np.concatenate(rs)


def _ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    return percentile_ci(values, level) or (float("nan"), float("nan"))


def _attribute_seed(seed: int, name) -> np.random.SeedSequence:
    return np.random.SeedSequence([int(seed) & 0xFFFFFFFF, zlib.crc32(str(name).encode())])


# ---------------------------------------------------------------------- results
def _num(v):
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


@dataclass
class AttributeProbe:
    attribute: str
    r2: float
    r2_ci: tuple[float, float]
    pearson_r: float
    r_ci: tuple[float, float]
    n: int  # held-out stimuli with a rating (pooled over folds)
    alphas: list[float]  # the α chosen in each fold


@dataclass
class ProbeResult:
    """Per-attribute probe scores, the held-out predictions, and the fitted fold models."""

    scores: list[AttributeProbe]
    predictions: pd.DataFrame  # id, attribute, fold, y_true, y_pred (held-out stimuli)
    mode: str  # "kfold" or "split"
    n_folds: int
    alpha_grid: np.ndarray
    n_bootstrap: int
    seed: int
    n_stimuli: int  # stimuli that entered the probe (any fold, any attribute)
    layer: str | None = None
    source: str = ""
    fold_models: list[dict[str, RidgeFit]] = field(default_factory=list, repr=False)
    folds: list[StimulusSplit] = field(default_factory=list, repr=False)

    @property
    def attributes(self) -> list[str]:
        return [s.attribute for s in self.scores]

    def __getitem__(self, attribute: str) -> AttributeProbe:
        for s in self.scores:
            if s.attribute == attribute:
                return s
        raise KeyError(attribute)

    def alphas_at_edge(self) -> dict[str, int]:
        """Attributes whose chosen α hit an end of the grid, with how many folds did."""
        lo, hi = float(self.alpha_grid.min()), float(self.alpha_grid.max())
        out = {}
        for s in self.scores:
            k = sum(1 for a in s.alphas if len(self.alpha_grid) > 1 and a in (lo, hi))
            if k:
                out[s.attribute] = k
        return out

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{
            "attribute": s.attribute, "r2": s.r2, "r2_ci_low": s.r2_ci[0], "r2_ci_high": s.r2_ci[1],
            "pearson_r": s.pearson_r, "r_ci_low": s.r_ci[0], "r_ci_high": s.r_ci[1], "n": s.n,
            "alphas": list(s.alphas)} for s in self.scores],
            columns=["attribute", "r2", "r2_ci_low", "r2_ci_high", "pearson_r", "r_ci_low",
                     "r_ci_high", "n", "alphas"])

    def to_dict(self) -> dict:
        def ci(c):
            return [float(c[0]), float(c[1])] if all(map(math.isfinite, c)) else None

        return {
            "metric": "linear_probe",
            "mode": self.mode,
            "n_folds": self.n_folds,
            "n_stimuli": self.n_stimuli,
            "layer": self.layer,
            "source": self.source,
            "alpha_grid": [float(a) for a in self.alpha_grid],
            "inner_cv": INNER_CV,
            "standardisation": "embeddings and target z-scored with training-fold statistics",
            "r2_definition": R2_DEFINITION,
            "ci": f"95% percentile bootstrap over held-out stimuli ({self.n_bootstrap} resamples)"
                  if self.n_bootstrap else None,
            "n_bootstrap": self.n_bootstrap,
            "seed": self.seed,
            "attributes": [{
                "attribute": s.attribute, "r2": _num(s.r2), "r2_ci": ci(s.r2_ci),
                "pearson_r": _num(s.pearson_r), "r_ci": ci(s.r_ci), "n": int(s.n),
                "alphas": [float(a) for a in s.alphas]} for s in self.scores],
        }


# ---------------------------------------------------------------------- the probe
def _prepare_targets(attributes) -> pd.DataFrame:
    if isinstance(attributes, pd.Series):
        attributes = attributes.to_frame(attributes.name if attributes.name is not None else "target")
    if not isinstance(attributes, pd.DataFrame):
        raise ConfigError("attributes must be a DataFrame indexed by stimulus id, one column per "
                          "attribute")
    if attributes.shape[1] == 0:
        raise ConfigError("no attribute columns to probe")
    if attributes.index.duplicated().any():
        dup = attributes.index[attributes.index.duplicated()]
        raise ConfigError(f"attribute table lists stimuli more than once: {dup[:10].tolist()}")
    bad = [c for c in attributes.columns if not pd.api.types.is_numeric_dtype(attributes[c])]
    if bad:
        raise ConfigError(f"attribute columns must be numeric; not numeric: {bad}")
    y = attributes.astype(np.float64)
    if np.isinf(y.to_numpy()).any():
        raise ConfigError("attribute ratings contain infinite values")
    y.columns = [str(c) for c in y.columns]
    return y


def _alpha_grid(alphas) -> np.ndarray:
    grid = DEFAULT_ALPHAS if alphas is None else np.atleast_1d(np.asarray(alphas, dtype=np.float64))
    if len(grid) == 0 or not np.all(np.isfinite(grid)) or np.any(grid < 0):
        raise ConfigError(f"ridge penalties must be finite and >= 0, got {np.asarray(alphas).tolist()}")
    return np.unique(grid)  # sorted ascending: ties go to the smallest


def _split_ids(split, y: pd.DataFrame):
    if isinstance(split, StimulusSplit):
        missing = [p for p in ("train", "test") if p not in split.parts]
        if missing:
            raise ConfigError(f"the split needs parts 'train' and 'test' (has {split.names})")
        train, test = split["train"], split["test"]
    else:
        try:
            train, test = split
        except (TypeError, ValueError):
            raise ConfigError("split must be (train_ids, test_ids) or a StimulusSplit") from None
    train, test = as_ids(list(train)), as_ids(list(test))
    both = pd.Index(train).intersection(pd.Index(test))
    if len(both):
        raise ConfigError(f"stimuli in both the train and the test part: {both[:10].tolist()}")
    for name, ids in (("train", train), ("test", test)):
        unknown = ids[pd.Index(y.index).get_indexer(ids) < 0]
        if len(unknown):
            raise ConfigError(f"the {name} part names {len(unknown)} stimuli the attribute table "
                              f"lacks (first: {unknown[:10].tolist()})")
    return train, test


def linear_probe(embeddings: Embeddings | np.ndarray, attributes: pd.DataFrame, folds: int | None = None,
                 split=None, alphas=None, n_bootstrap: int = 1000, seed: int = 0,
                 layer: str | None = None) -> ProbeResult:
    """Cross-validated ridge probes from ``embeddings`` to each column of ``attributes``.

    ``attributes``: indexed by stimulus id, one numeric column per attribute (NaN: not rated).
    ``embeddings``: an :class:`Embeddings` (rows aligned by id; every rated stimulus that is
    used needs one) or an array whose rows follow ``attributes.index``.
    Give ``folds`` (k-fold over stimuli, seeded by ``seed``; default 5) or ``split``
    (``(train_ids, test_ids)`` or a :class:`StimulusSplit` with parts train/test), not both.
    ``alphas``: the ridge-penalty grid (default ``logspace(-3, 5, 17)``). ``n_bootstrap``: 0
    for no confidence intervals.
    """
    if folds is not None and split is not None:
        raise ConfigError("give either folds (k-fold) or split (train/test), not both")
    if n_bootstrap < 0:
        raise ConfigError(f"n_bootstrap must be >= 0, got {n_bootstrap}")
    y = _prepare_targets(attributes)
    grid = _alpha_grid(alphas)
    rated = y.notna().any(axis=1).to_numpy()
    fold_list, used, mode = _probe_folds(y, rated, folds, split, seed)
    x_all, source = _aligned_embeddings(embeddings, y, used, layer)
    y_used = y.reindex(used).to_numpy()  # rows follow `used`, as do the rows of x_all

    names = list(y.columns)
    preds, fold_models = _fit_folds(x_all, y_used, used, names, fold_list, grid, mode)
    scores = _score_attributes(names, preds, fold_models, n_bootstrap, seed)
    frames = [pd.concat(v, ignore_index=True) for v in preds.values() if v]
    predictions = pd.concat(frames, ignore_index=True)
    return ProbeResult(scores, predictions, mode, len(fold_list), grid, n_bootstrap, seed,
                       n_stimuli=len(used),
                       layer=layer if isinstance(embeddings, Embeddings) else None,
                       source=source, fold_models=fold_models, folds=fold_list)


def _probe_folds(y: pd.DataFrame, rated: np.ndarray, folds, split, seed: int):
    """The probe's folds, the rated stimuli they use (in order) and the mode (split or kfold)."""
    if split is not None:
        train, test = _split_ids(split, y)
        is_rated = pd.Series(rated, index=y.index)
        train = train[is_rated.reindex(train).to_numpy(dtype=bool)]
        test = test[is_rated.reindex(test).to_numpy(dtype=bool)]
        fold_list = [StimulusSplit({"train": train, "test": test})]
        used = np.concatenate([train, test])
        return fold_list, used, "split"
    k = 5 if folds is None else folds
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise ConfigError(f"folds must be an integer >= 2, got {k!r}")
    used = as_ids(list(y.index[rated]))
    if not 2 <= k <= len(used):
        raise ConfigError(f"{k}-fold probes need at least {k} stimuli with ratings; "
                          f"the attribute table has {len(used)}")
    return StimulusSplit.kfold(used, int(k), seed=seed), used, "kfold"


def _aligned_embeddings(embeddings, y: pd.DataFrame, used, layer: str | None):
    """The embedding rows of ``used`` (float64, all finite) and the embeddings' source file."""
    if isinstance(embeddings, Embeddings):
        source = embeddings.source
        x_all = np.asarray(embeddings.align(used, what="the rated stimuli", fix="embed every rated stimulus, or drop the unembedded stimuli from the ratings").layer(layer),
                           dtype=np.float64)
    else:
        source = ""
        x_full = np.asarray(embeddings, dtype=np.float64)
        if x_full.ndim != 2 or len(x_full) != len(y):
            raise ConfigError(f"an embedding array must be (N, D) with one row per row of the "
                              f"attribute table (N={len(y)}); got shape {x_full.shape}")
        x_all = x_full[pd.Index(y.index).get_indexer(used)]
    if not np.isfinite(x_all).all():
        bad = used[~np.isfinite(x_all).all(axis=1)]
        raise DataFileError(source or "(embeddings)", f"NaN or infinite embedding values for "
                            f"stimuli {bad[:10].tolist()}", "re-embed those stimuli")
    return x_all, source


def _fit_folds(x_all: np.ndarray, y_used: np.ndarray, used, names: list[str], fold_list,
               grid: np.ndarray, mode: str):
    """Fit every attribute's ridge on each fold's train part; predict its rated test stimuli."""
    preds: dict[str, list] = {a: [] for a in names}
    fold_models: list[dict[str, RidgeFit]] = []
    row_of = pd.Index(used)
    for f, part in enumerate(fold_list):
        tr_rows = row_of.get_indexer(part["train"])
        te_rows = row_of.get_indexer(part["test"])
        where = f"fold {f + 1} of {len(fold_list)}" if mode == "kfold" else "the train part"
        models: dict[str, RidgeFit] = {}
        for ks in _shared_train_groups(y_used, tr_rows, names, where).values():
            ok = ~np.isnan(y_used[tr_rows, ks[0]])
            rows = tr_rows[ok]
            fits = fit_ridge_loo(x_all[rows], y_used[np.ix_(rows, ks)], grid)
            for k, fit in zip(ks, fits):
                models[names[k]] = fit
                te = te_rows[~np.isnan(y_used[te_rows, k])]
                if len(te):
                    preds[names[k]].append(pd.DataFrame({
                        "id": used[te], "attribute": names[k], "fold": f,
                        "y_true": y_used[te, k], "y_pred": fit.predict(x_all[te])}))
        fold_models.append(models)
    return preds, fold_models


def _shared_train_groups(y_used: np.ndarray, tr_rows: np.ndarray, names: list[str],
                         where: str) -> dict[bytes, list[int]]:
    """Attribute columns grouped by their rated training stimuli (a group shares one SVD)."""
    groups: dict[bytes, list[int]] = {}
    for k in range(len(names)):
        ok = ~np.isnan(y_used[tr_rows, k])
        if ok.sum() < MIN_TRAIN:
            raise ConfigError(f"attribute {names[k]!r} has {int(ok.sum())} rated training "
                              f"stimuli in {where}; a probe needs at least {MIN_TRAIN}")
        groups.setdefault(np.packbits(ok).tobytes(), []).append(k)
    return groups


def _score_attributes(names: list[str], preds: dict[str, list], fold_models, n_bootstrap: int,
                      seed: int) -> list[AttributeProbe]:
    """Each attribute's held-out R² and r (with bootstrap CIs) and its per-fold penalties."""
    scores = []
    for name in names:
        p = pd.concat(preds[name], ignore_index=True) if preds[name] else pd.DataFrame()
        if len(p) < MIN_EVAL:
            raise ConfigError(f"attribute {name!r} has {len(p)} rated held-out stimuli; a probe "
                              f"needs at least {MIN_EVAL}")
        yt, yp = p["y_true"].to_numpy(), p["y_pred"].to_numpy()
        r2, r = _r2(yt, yp), pearson(yt, yp)
        if n_bootstrap:
            b_r2, b_r = _bootstrap(yt, yp, n_bootstrap, np.random.default_rng(_attribute_seed(seed, name)))
            r2_ci, r_ci = _ci(b_r2), _ci(b_r)
        else:
            r2_ci = r_ci = (float("nan"), float("nan"))
        scores.append(AttributeProbe(name, r2, r2_ci, r, r_ci, len(p),
                                     [m[name].alpha for m in fold_models]))
    return scores
