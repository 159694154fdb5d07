"""Variance partitioning: subset R² vs independent fits, the partition identities, planted
cases, stimulus-fold cross-validation vs a brute-force re-implementation, and the CLI."""

import json
from itertools import combinations

import numpy as np
import pytest
import typer
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy.stats import linregress
from typer.testing import CliRunner

from bgs.commands.partition import register
from bgs.data.splits import StimulusSplit
from bgs.embeddings import Embeddings
from bgs.errors import BGSError, ConfigError, DataFileError
from bgs.human.similarity import HumanSimilarity
from bgs.metrics.distance import dissimilarity_matrix
from bgs.metrics.partition import (
    VariancePartition,
    model_dissimilarities,
    stimulus_folds,
    variance_partition,
)


# ---------------------------------------------------------------------- helpers
def sym(values: np.ndarray, n: int) -> np.ndarray:
    """Symmetric N×N matrix (zero diagonal) from upper-triangle values (i < j order)."""
    m = np.zeros((n, n))
    i, j = np.triu_indices(n, k=1)
    m[i, j] = values
    m[j, i] = values
    return m


def make_human(d: np.ndarray, cooc: np.ndarray | None = None) -> HumanSimilarity:
    """A HumanSimilarity whose dissimilarity is ``d`` wherever ``cooc > 0``."""
    n = len(d)
    cooc = np.ones((n, n)) - np.eye(n) if cooc is None else cooc
    return HumanSimilarity.from_matrices(np.arange(n), (1.0 - d) * cooc, cooc)


def planted(n: int, rng, coef=(1.0, 0.5, 0.0), noise: float = 0.5, unobserved: float = 0.0):
    """Human D = Σ coef·model + noise over ``n`` stimuli; three random models."""
    p = n * (n - 1) // 2
    xs = [rng.normal(size=p) for _ in coef]
    y = sum(c * x for c, x in zip(coef, xs)) + noise * rng.normal(size=p)
    cooc_v = rng.integers(1, 5, size=p).astype(float)
    cooc_v[rng.random(p) < unobserved] = 0.0
    models = {name: sym(x, n) for name, x in zip("abc", xs)}
    return make_human(sym(y, n), sym(cooc_v, n)), models


def observed_vectors(human, models):
    i, j = np.triu_indices(human.n_stimuli, k=1)
    obs = human.observed[i, j]
    i, j = i[obs], j[obs]
    return human.dissimilarity[i, j], {k: m[i, j] for k, m in models.items()}, (i, j)


def ols_r2(y, xs, w=None):
    """R² of OLS with intercept by the normal equations (independent of the module)."""
    w = np.ones(len(y)) if w is None else w
    X = np.column_stack([np.ones(len(y)), *xs])
    beta = np.linalg.solve(X.T @ (w[:, None] * X), X.T @ (w * y))
    resid = y - X @ beta
    ybar = (w @ y) / w.sum()
    return 1 - (w @ resid**2) / (w @ (y - ybar) ** 2)


def explicit_parts(r2: dict, names: list[str]) -> dict:
    """The textbook formulas for 2 and 3 models."""
    R = lambda *ms: r2["+".join(ms)]  # noqa: E731
    if len(names) == 2:
        a, b = names
        return {"unique:" + a: R(a, b) - R(b), "unique:" + b: R(a, b) - R(a),
                f"shared:{a}+{b}": R(a) + R(b) - R(a, b), "unexplained": 1 - R(a, b)}
    a, b, c = names
    return {"unique:" + a: R(a, b, c) - R(b, c), "unique:" + b: R(a, b, c) - R(a, c),
            "unique:" + c: R(a, b, c) - R(a, b),
            f"shared:{a}+{b}": R(a, c) + R(b, c) - R(c) - R(a, b, c),
            f"shared:{a}+{c}": R(a, b) + R(b, c) - R(b) - R(a, b, c),
            f"shared:{b}+{c}": R(a, b) + R(a, c) - R(a) - R(a, b, c),
            f"shared:{a}+{b}+{c}": (R(a) + R(b) + R(c) - R(a, b) - R(a, c) - R(b, c)
                                    + R(a, b, c)),
            "unexplained": 1 - R(a, b, c)}


def check_identities(vp: VariancePartition, tol: float = 1e-9):
    names = vp.models
    parts = vp.components()
    assert set(parts) == set(explicit_parts(vp.r2, names))
    for k, v in explicit_parts(vp.r2, names).items():
        assert parts[k] == pytest.approx(v, abs=tol), k
    # all parts sum to R²(all); with unexplained to 1
    assert sum(vp.unique.values()) + sum(vp.shared.values()) == pytest.approx(vp.total, abs=tol)
    assert sum(parts.values()) == pytest.approx(1.0, abs=tol)
    # the parts that involve a model sum to that model's own R²
    for m in names:
        own = vp.unique[m] + sum(v for k, v in vp.shared.items() if m in k.split("+"))
        assert own == pytest.approx(vp.r2[m], abs=tol), m


# ---------------------------------------------------------------------- in-sample
@pytest.mark.parametrize("weighted", [False, True])
def test_subset_r2_matches_independent_fits(weighted):
    rng = np.random.default_rng(1)
    human, models = planted(18, rng, coef=(1.0, -0.4, 0.3), noise=1.0, unobserved=0.3)
    vp = variance_partition(human, models, weighted=weighted)
    y, xs, (i, j) = observed_vectors(human, models)
    w = human.cooccurrence[i, j] if weighted else None
    assert vp.n_pairs == vp.n_observed_pairs == len(y) < 18 * 17 // 2  # unobserved left out
    assert not np.isnan(y).any()
    if not weighted:
        for m in "abc":
            assert vp.r2[m] == pytest.approx(linregress(xs[m], y).rvalue ** 2, abs=1e-10)
    for r in (1, 2, 3):
        for s in combinations("abc", r):
            assert vp.r2["+".join(s)] == pytest.approx(ols_r2(y, [xs[m] for m in s], w), abs=1e-10)
    assert list(vp.r2) == ["a", "b", "c", "a+b", "a+c", "b+c", "a+b+c"]
    check_identities(vp)


def test_weights_are_repeated_pairs():
    """Weighting by integer co-occurrence = counting each pair that many times."""
    rng = np.random.default_rng(2)
    human, models = planted(12, rng, coef=(1.0, 0.5), noise=1.0)
    vp = variance_partition(human, models, weighted=True)
    y, xs, (i, j) = observed_vectors(human, models)
    reps = human.cooccurrence[i, j].astype(int)
    assert reps.max() > 1
    assert vp.r2["a"] == pytest.approx(linregress(np.repeat(xs["a"], reps),
                                                  np.repeat(y, reps)).rvalue ** 2, abs=1e-10)
    assert vp.weighted and not variance_partition(human, models).weighted


def test_two_model_formulas_and_component_names():
    rng = np.random.default_rng(3)
    human, models = planted(15, rng, coef=(1.0, 0.7), noise=1.0)
    models = {"video": models["a"], "caption": models["b"]}
    vp = variance_partition(human, models)
    assert vp.models == ["video", "caption"] and vp.mode == "in_sample"
    assert set(vp.r2) == {"video", "caption", "video+caption"}
    assert set(vp.unique) == {"video", "caption"} and set(vp.shared) == {"video+caption"}
    assert vp.unique["video"] == pytest.approx(vp.r2["video+caption"] - vp.r2["caption"])
    assert vp.shared["video+caption"] == pytest.approx(
        vp.r2["video"] + vp.r2["caption"] - vp.r2["video+caption"])
    assert vp.unexplained == pytest.approx(1 - vp.r2["video+caption"])
    check_identities(vp)
    d = vp.to_dict()
    json.dumps(d)  # serialisable
    assert d["mode"] == "in_sample" and d["explained"] == pytest.approx(vp.total)
    frame = vp.to_frame()
    assert list(frame.columns) == ["component", "value"]
    assert set(frame["component"]) == {"r2:video", "r2:caption", "r2:video+caption",
                                       "unique:video", "unique:caption",
                                       "shared:video+caption", "unexplained"}


def test_planted_signal_and_pure_noise():
    rng = np.random.default_rng(4)
    n = 40
    p = n * (n - 1) // 2
    a, b = rng.random(p), rng.random(p)
    human = make_human(sym(2 * a + 0.3 * rng.normal(size=p), n))
    vp = variance_partition(human, {"a": sym(a, n), "b": sym(b, n)})
    assert vp.total > 0.5
    assert vp.unique["a"] == pytest.approx(vp.total, abs=0.01)
    assert abs(vp.unique["b"]) < 0.01
    assert abs(vp.shared["a+b"]) < 0.01
    check_identities(vp)


@pytest.mark.parametrize("copy", [lambda m: m.copy(), lambda m: 3 * m + 1])
def test_copies_share_everything(copy):
    rng = np.random.default_rng(5)
    human, models = planted(20, rng, coef=(1.0,), noise=1.0)
    a = models["a"]
    vp = variance_partition(human, {"a": a, "b": copy(a)})
    assert abs(vp.unique["a"]) < 1e-10 and abs(vp.unique["b"]) < 1e-10
    assert vp.shared["a+b"] == pytest.approx(vp.r2["a"], abs=1e-10)
    assert vp.r2["a"] == pytest.approx(vp.r2["a+b"], abs=1e-10)
    assert vp.r2["a"] > 0.1
    # three models, two of them copies: the copy pair shares; the third keeps its own part
    human3, m3 = planted(20, rng, coef=(1.0, 1.0), noise=1.0)
    vp3 = variance_partition(human3, {"a": m3["a"], "b": copy(m3["a"]), "c": m3["b"]})
    assert abs(vp3.unique["a"]) < 1e-10 and abs(vp3.unique["b"]) < 1e-10
    assert vp3.unique["c"] > 0.1
    check_identities(vp3)


# ---------------------------------------------------------------------- cross-validated
def test_cv_below_in_sample_on_noisy_data():
    """Out-of-fold R² is below in-sample R² on noisy data: on average for every subset, and in
    most replicates for all models together (not in every one: the held-out pairs are a
    different, smaller sample, so a single CV estimate can land above)."""
    gaps = {k: [] for k in ("a", "b", "c", "a+b", "a+c", "b+c", "a+b+c")}
    for seed in range(30):
        rng = np.random.default_rng(100 + seed)
        human, models = planted(12, rng, coef=(0.3, 0.0, 0.0), noise=1.0)
        ins = variance_partition(human, models)
        cv = variance_partition(human, models, cv_folds=3, seed=seed)
        assert cv.mode == "cv" and cv.cv_folds == 3 and cv.seed == seed
        assert ins.mode == "in_sample" and ins.cv_folds is None
        assert cv.n_pairs < ins.n_pairs == cv.n_observed_pairs
        check_identities(cv)
        for k in gaps:
            gaps[k].append(ins.r2[k] - cv.r2[k])
    for k, g in gaps.items():
        assert np.mean(g) > 0.05, k
    assert np.mean(np.array(gaps["a+b+c"]) >= 0) >= 0.7


def brute_force_cv(human, models, k, seed):
    """Fold by fold with explicit loops over pairs; normal-equation fits."""
    n = human.n_stimuli
    names = list(models)
    d = human.dissimilarity
    splits = StimulusSplit.kfold(np.arange(n), k=k, seed=seed)
    subsets = [s for r in range(1, len(names) + 1) for s in combinations(names, r)]
    preds = {s: [] for s in subsets}
    targets = []
    for split in splits:
        train_ids, test_ids = set(split["train"].tolist()), set(split["test"].tolist())
        train = [(a, b) for a in range(n) for b in range(a + 1, n)
                 if a in train_ids and b in train_ids and human.cooccurrence[a, b] > 0]
        test = [(a, b) for a in range(n) for b in range(a + 1, n)
                if a in test_ids and b in test_ids and human.cooccurrence[a, b] > 0]
        for (a, b) in test:  # no held-out pair touches a training stimulus
            assert a not in train_ids and b not in train_ids
        if not test:
            continue
        y_tr = np.array([d[a, b] for a, b in train])
        targets += [d[a, b] for a, b in test]
        for s in subsets:
            X = np.array([[1.0] + [models[m][a, b] for m in s] for a, b in train])
            beta = np.linalg.solve(X.T @ X, X.T @ y_tr)
            preds[s] += [float(np.dot([1.0] + [models[m][a, b] for m in s], beta))
                         for a, b in test]
    y = np.array(targets)
    sst = ((y - y.mean()) ** 2).sum()
    return {"+".join(s): 1 - ((y - np.array(preds[s])) ** 2).sum() / sst for s in subsets}, len(y)


@pytest.mark.parametrize("n_models,k,seed", [(2, 3, 0), (3, 4, 7)])
def test_cv_matches_brute_force(n_models, k, seed):
    rng = np.random.default_rng(seed)
    human, models = planted(16, rng, coef=(1.0, 0.5, 0.25)[:n_models], noise=1.0,
                            unobserved=0.2)
    vp = variance_partition(human, models, cv_folds=k, seed=seed)
    expected, n_pairs = brute_force_cv(human, models, k, seed)
    assert vp.n_pairs == n_pairs
    for key, v in expected.items():
        assert vp.r2[key] == pytest.approx(v, abs=1e-9), key
    assert sum(f["n_test_pairs"] for f in vp.fold_pairs) == n_pairs
    held = stimulus_folds(16, k, seed)
    assert np.array_equal(np.sort(np.concatenate(held)), np.arange(16))


def test_cv_ignores_pairs_that_straddle_folds():
    """With 2 folds every pair between the folds has one training and one held-out stimulus in
    both folds, so it is neither fitted nor scored: changing its D changes nothing."""
    rng = np.random.default_rng(8)
    human, models = planted(15, rng, coef=(1.0, 0.5), noise=1.0)
    base = variance_partition(human, models, cv_folds=2, seed=1)
    fold = np.zeros(15, int)
    for f, held in enumerate(stimulus_folds(15, 2, 1)):
        fold[held] = f
    straddle = fold[:, None] != fold[None, :]
    d = human.dissimilarity.copy()
    d[straddle] = rng.normal(size=straddle.sum()) * 100
    d = np.triu(d, 1) + np.triu(d, 1).T
    changed = make_human(d, human.cooccurrence)
    cv = variance_partition(changed, models, cv_folds=2, seed=1)
    for k in base.r2:
        assert cv.r2[k] == pytest.approx(base.r2[k], abs=1e-12)
    assert variance_partition(changed, models).r2["a"] != pytest.approx(
        variance_partition(human, models).r2["a"])


# ---------------------------------------------------------------------- properties
@settings(deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(5, 12), n_models=st.integers(2, 3), seed=st.integers(0, 2**32 - 1),
       weighted=st.booleans(), p_unobserved=st.sampled_from([0.0, 0.3]))
def test_property_r2_in_unit_interval_and_identities(n, n_models, seed, weighted, p_unobserved):
    rng = np.random.default_rng(seed)
    human, models = planted(n, rng, coef=tuple(rng.normal(size=n_models)),
                            noise=float(rng.uniform(0.1, 2)), unobserved=p_unobserved)
    y, _, _ = observed_vectors(human, models)
    assume(len(y) >= 5 and np.ptp(y) > 1e-6)
    vp = variance_partition(human, models, weighted=weighted)
    for key, v in vp.r2.items():
        assert -1e-9 <= v <= 1 + 1e-9, key
    # adding a model never lowers the in-sample R²
    for key, v in vp.r2.items():
        for other, w in vp.r2.items():
            if set(key.split("+")) < set(other.split("+")):
                assert w >= v - 1e-9
    check_identities(vp, tol=1e-8)


# ---------------------------------------------------------------------- errors
def test_errors():
    rng = np.random.default_rng(9)
    human, models = planted(8, rng)
    with pytest.raises(ConfigError, match="2 or 3 models, got 1"):
        variance_partition(human, {"a": models["a"]})
    with pytest.raises(ConfigError, match="2 or 3 models, got 4"):
        variance_partition(human, {**models, "d": models["a"]})
    with pytest.raises(ConfigError, match="2 or 3"):
        variance_partition(human, {})
    with pytest.raises(ConfigError, match=r"shape \(7, 7\); expected \(8, 8\)"):
        variance_partition(human, {"a": models["a"], "b": models["b"][:7, :7]})
    with pytest.raises(ConfigError, match="shape"):
        variance_partition(human, {"a": models["a"], "b": models["b"].ravel()})
    with pytest.raises(ConfigError, match="contain no"):
        variance_partition(human, {"a+b": models["a"], "c": models["c"]})
    bad = models["b"].copy()
    bad[0, 1] = np.nan
    with pytest.raises(ConfigError, match="NaN"):
        variance_partition(human, {"a": models["a"], "b": bad})
    with pytest.raises(ConfigError, match="at least 2"):
        variance_partition(human, models, cv_folds=1)
    with pytest.raises(ConfigError, match="k-fold"):
        variance_partition(human, models, cv_folds=9)
    with pytest.raises(ConfigError, match="constant"):
        variance_partition(make_human(np.full((8, 8), 0.5)), models)
    assert issubclass(ConfigError, BGSError)


def test_model_dissimilarities_align_by_id():
    rng = np.random.default_rng(10)
    ids = np.array([10, 20, 30, 40, 50])
    x = rng.normal(size=(5, 4))
    perm = rng.permutation(5)
    embs = {"a": Embeddings.from_array(ids[perm], x[perm]),
            "b": Embeddings.from_array(ids, x[:, :2])}
    out = model_dissimilarities(embs, ids, metric="euclidean")
    assert np.allclose(out["a"], dissimilarity_matrix(x, "euclidean"))
    assert np.allclose(out["b"], dissimilarity_matrix(x[:, :2], "euclidean"))
    with pytest.raises(DataFileError, match="60"):
        model_dissimilarities(embs, [10, 60], metric="cosine")
    with pytest.raises(ConfigError, match="metric"):
        model_dissimilarities(embs, ids, metric="manhattan")


# ---------------------------------------------------------------------- CLI on real data
SOCIAL = ["joint_action", "communication", "valence", "arousal", "intimacy", "dominance"]
VISUAL = ["indoor", "expanse", "object"]


@pytest.fixture(scope="module")
def rating_models(garcia_dir, tmp_path_factory):
    from bgs.data.garcia2025 import load_garcia2025

    attrs = load_garcia2025(garcia_dir).stimuli.attributes
    folder = tmp_path_factory.mktemp("partition")
    paths = {}
    for name, cols in (("social", SOCIAL), ("visual", VISUAL)):
        paths[name] = Embeddings.from_array(attrs.index.to_numpy(), attrs[cols].to_numpy()).save(
            folder / f"{name}.npz")
    return paths


@pytest.fixture(scope="module")
def cli_app():
    app = typer.Typer()

    @app.callback()
    def _root():
        pass

    register(app)
    return app


def invoke(app, *args):
    return CliRunner().invoke(app, ["partition", *map(str, args)])


def check_report_dict(d: dict, names):
    vp = VariancePartition(models=d["models"], mode=d["mode"], r2=d["r2"], unique=d["unique"],
                           shared=d["shared"], unexplained=d["unexplained"], n_pairs=d["n_pairs"],
                           n_observed_pairs=d["n_observed_pairs"], n_stimuli=d["n_stimuli"])
    assert vp.models == names
    check_identities(vp, tol=1e-9)


def test_cli_partition_on_garcia2025(cli_app, rating_models, garcia_dir, tmp_path):
    out = tmp_path / "partition.json"
    res = invoke(cli_app, "--embeddings", rating_models["social"], "--embeddings",
                 rating_models["visual"], "--triplets", garcia_dir / "all_triplets.csv",
                 "--format", "garcia2025", "--json", "--out", out)
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert json.loads(out.read_text()) == report
    assert report["models"] == ["social", "visual"] and report["metric"] == "cosine"
    ins, cv = report["in_sample"], report["cross_validated"]
    assert ins["mode"] == "in_sample" and cv["mode"] == "cv" and cv["cv_folds"] == 5
    assert report["triplets"]["n_stimuli"] == 250
    assert ins["n_pairs"] == 250 * 249 // 2 > cv["n_pairs"] > 0
    for part in (ins, cv):
        check_report_dict(part, ["social", "visual"])
    # both rating sets explain some variance, social ratings more than visual ones
    assert 0 < ins["r2"]["visual"] < ins["r2"]["social"] < ins["r2"]["social+visual"] < 0.5
    assert ins["unique"]["social"] > 0 and ins["unique"]["visual"] > 0
    assert cv["r2"]["social+visual"] > 0


def test_cli_partition_split_table_and_names(cli_app, rating_models, garcia_dir):
    res = invoke(cli_app, "-e", rating_models["social"], "-e", rating_models["visual"],
                 "-e", rating_models["social"], "--names", "soc,vis,soc2",
                 "-t", garcia_dir / "all_triplets.csv", "-f", "garcia2025",
                 "--split", garcia_dir / "test.csv", "--cv-folds", "3", "--metric", "euclidean")
    assert res.exit_code == 0, res.output
    assert "unique vis" in res.stdout and "shared soc+vis+soc2" in res.stdout
    assert "cross-validated (3 folds)" in res.stdout
    # split by file name through the stimulus table; in-sample only
    res = invoke(cli_app, "-e", rating_models["social"], "-e", rating_models["visual"],
                 "-t", garcia_dir / "all_triplets.csv", "-f", "garcia2025",
                 "--stimuli", garcia_dir / "video_mapping.csv",
                 "--split", garcia_dir / "test.csv", "--cv-folds", "0", "--json")
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["cross_validated"] is None
    assert report["triplets"]["n_stimuli"] == 50 and report["triplets"]["n_used"] < 1000
    check_report_dict(report["in_sample"], ["social", "visual"])


def test_cli_partition_errors(cli_app, rating_models, garcia_dir, tmp_path):
    base = ["-t", garcia_dir / "all_triplets.csv", "-f", "garcia2025"]
    one = invoke(cli_app, "-e", rating_models["social"], *base)
    assert isinstance(one.exception, ConfigError) and "2 or 3" in str(one.exception)
    names = invoke(cli_app, "-e", rating_models["social"], "-e", rating_models["visual"],
                   "--names", "a", *base)
    assert isinstance(names.exception, ConfigError) and "--names" in str(names.exception)
    same = invoke(cli_app, "-e", rating_models["social"], "-e", rating_models["social"], *base)
    assert isinstance(same.exception, ConfigError)
    missing = invoke(cli_app, "-e", rating_models["social"], "-e", tmp_path / "nope.npz", *base)
    assert isinstance(missing.exception, DataFileError) and "nope.npz" in str(missing.exception)
    split = tmp_path / "split.csv"
    split.write_text("video_name\nnot_a_video.mp4\n")
    bad = invoke(cli_app, "-e", rating_models["social"], "-e", rating_models["visual"], *base,
                 "--split", split)
    assert isinstance(bad.exception, DataFileError) and "--stimuli" in str(bad.exception)
