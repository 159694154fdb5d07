"""Linear probes: against a hand-written closed-form ridge, sklearn/scipy scores, planted and
null targets, leakage checks, NaN handling, the given split, errors, garcia2025 and the CLI."""

import json

import numpy as np
import pandas as pd
import pytest
import typer
from scipy.stats import pearsonr
from sklearn.linear_model import RidgeCV
from sklearn.metrics import r2_score
from typer.testing import CliRunner

from bgs.commands.probe import register
from bgs.data.splits import StimulusSplit
from bgs.embeddings import Embeddings, MissingEmbeddingError
from bgs.errors import BGSError, ConfigError
from bgs.metrics.probes import DEFAULT_ALPHAS, ProbeResult, linear_probe

NB = 200  # bootstrap resamples in tests


def _data(n=60, d=8, seed=0, noise=0.5, str_ids=True):
    rng = np.random.default_rng(seed)
    ids = np.array([f"s{i:03d}" for i in range(n)], dtype=object) if str_ids else np.arange(n) * 7
    x = rng.normal(size=(n, d)) * rng.uniform(0.5, 3, size=d) + rng.normal(size=d) * 5
    w = rng.normal(size=d)
    y = pd.DataFrame({"lin": x @ w + noise * rng.normal(size=n) + 10,
                      "other": rng.normal(size=n) + 0.3 * x[:, 0]},
                     index=pd.Index(ids, name="id"))
    return Embeddings.from_array(ids, x), y


def _closed_form(x_tr, y_tr, x_te, alpha):
    """Ridge by hand: z-score X with training stats, solve (ZᵀZ + αI)w = Zᵀ(y − ȳ), + ȳ."""
    mu, sd = x_tr.mean(axis=0), x_tr.std(axis=0)
    z = (x_tr - mu) / sd
    w = np.linalg.solve(z.T @ z + alpha * np.eye(z.shape[1]), z.T @ (y_tr - y_tr.mean()))
    return ((x_te - mu) / sd) @ w + y_tr.mean()


def _emb_rows(emb, ids):
    return emb.align(ids).matrix


# ---------------------------------------------------------------------- exactness
def test_kfold_matches_closed_form_ridge_and_sklearn_scores():
    emb, y = _data()
    y = y.sample(frac=1.0, random_state=3)  # rows in another order than the embeddings
    res = linear_probe(emb, y, folds=4, alphas=[2.0], n_bootstrap=NB, seed=5)
    assert isinstance(res, ProbeResult) and res.mode == "kfold" and res.n_folds == 4
    folds = StimulusSplit.kfold(np.asarray(y.index), 4, seed=5)
    for name in y.columns:
        expected = []
        for f, part in enumerate(folds):
            tr, te = part["train"], part["test"]
            p = _closed_form(_emb_rows(emb, tr), y.loc[tr, name].to_numpy(), _emb_rows(emb, te), 2.0)
            expected.append(pd.Series(p, index=te))
        expected = pd.concat(expected)
        got = res.predictions[res.predictions.attribute == name].set_index("id")
        assert len(got) == len(y) and set(got.index) == set(y.index)
        np.testing.assert_allclose(got.loc[expected.index, "y_pred"], expected, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(got["y_true"], y.loc[got.index, name])
        s = res[name]
        assert s.r2 == pytest.approx(r2_score(got["y_true"], got["y_pred"]), abs=1e-12)
        assert s.pearson_r == pytest.approx(pearsonr(got["y_true"], got["y_pred"])[0], abs=1e-12)
        assert s.n == len(y) and s.alphas == [2.0] * 4


def test_given_split_matches_closed_form_and_r2_uses_test_mean():
    emb, y = _data(n=50, str_ids=False)
    ids = np.asarray(y.index)
    train, test = ids[::3], np.setdiff1d(ids, ids[::3])
    res = linear_probe(emb, y, split=(train, test), alphas=[0.7], n_bootstrap=NB)
    assert res.mode == "split" and res.n_folds == 1 and res.n_stimuli == len(ids)
    for name in y.columns:
        p = _closed_form(_emb_rows(emb, train), y.loc[train, name].to_numpy(), _emb_rows(emb, test), 0.7)
        yt = y.loc[test, name].to_numpy()
        got = res.predictions[res.predictions.attribute == name].set_index("id").loc[test]
        np.testing.assert_allclose(got["y_pred"], p, rtol=1e-9, atol=1e-9)
        assert res[name].r2 == pytest.approx(r2_score(yt, p), abs=1e-12)
        assert res[name].r2 == pytest.approx(1 - ((yt - p) ** 2).sum() / ((yt - yt.mean()) ** 2).sum())
        assert res[name].pearson_r == pytest.approx(pearsonr(yt, p)[0], abs=1e-12)
        assert res[name].n == len(test)
    # a StimulusSplit works the same way
    res2 = linear_probe(emb, y, split=StimulusSplit({"train": train, "test": test}), alphas=[0.7],
                        n_bootstrap=NB)
    pd.testing.assert_frame_equal(res.to_frame(), res2.to_frame())


def test_alpha_is_chosen_by_loo_inside_each_training_fold():
    emb, y = _data(n=80, d=12, noise=4.0, seed=2)
    res = linear_probe(emb, y, folds=5, n_bootstrap=0, seed=1)
    for part, models in zip(StimulusSplit.kfold(np.asarray(y.index), 5, seed=1), res.fold_models):
        x = _emb_rows(emb, part["train"])
        z = (x - x.mean(0)) / x.std(0)
        for name in y.columns:
            t = y.loc[part["train"], name].to_numpy()
            ref = RidgeCV(alphas=DEFAULT_ALPHAS).fit(z, (t - t.mean()) / t.std())
            assert models[name].alpha == pytest.approx(ref.alpha_)
            np.testing.assert_allclose(models[name].coef, ref.coef_, rtol=1e-6, atol=1e-10)


def test_different_folds_pick_different_alphas_deterministically():
    # two folds: one trains on stimuli where y is linear in X, the other on pure noise
    rng = np.random.default_rng(0)
    n, d = 120, 10
    ids = np.arange(n)
    x = rng.normal(size=(n, d))
    a, b = (p["test"] for p in StimulusSplit.kfold(ids, 2, seed=3))
    y = np.empty(n)
    y[a] = x[a] @ rng.normal(size=d) + 0.05 * rng.normal(size=len(a))
    y[b] = rng.normal(size=len(b))
    attrs = pd.DataFrame({"t": y}, index=ids)
    res = linear_probe(x, attrs, folds=2, seed=3, n_bootstrap=NB)
    alphas = res["t"].alphas
    assert alphas[1] <= 0.01 and alphas[0] >= 10  # fold 2 trains on the linear part
    again = linear_probe(x, attrs, folds=2, seed=3, n_bootstrap=NB)
    pd.testing.assert_frame_equal(res.to_frame(), again.to_frame())
    pd.testing.assert_frame_equal(res.predictions, again.predictions)
    other = linear_probe(x, attrs, folds=2, seed=4, n_bootstrap=NB)
    assert not np.allclose(other.predictions.sort_values("id")["y_pred"].to_numpy(),
                           res.predictions.sort_values("id")["y_pred"].to_numpy())


# ---------------------------------------------------------------------- planted / null
def test_planted_linear_target_is_recovered():
    emb, y = _data(n=200, d=16, noise=0.2, seed=4)
    res = linear_probe(emb, y[["lin"]], folds=5, n_bootstrap=NB)
    s = res["lin"]
    assert s.r2 > 0.9 and s.pearson_r > 0.95
    assert 0.85 < s.r2_ci[0] <= s.r2_ci[1] <= 1 and s.r_ci[0] > 0.9


def test_target_independent_of_x_scores_no_better_than_chance():
    rng = np.random.default_rng(11)
    n = 300
    x = rng.normal(size=(n, 20))
    attrs = pd.DataFrame({"noise": rng.normal(size=n)})
    res = linear_probe(x, attrs, folds=5, n_bootstrap=NB, seed=0)
    s = res["noise"]
    assert s.r2 <= 0.01 and s.r2_ci[0] < 0
    assert s.r_ci[0] < 0 < s.r_ci[1]
    assert min(s.alphas) >= 1e3  # heavy shrinkage chosen for a target without signal


def test_bootstrap_is_seeded_and_per_attribute():
    emb, y = _data()
    a = linear_probe(emb, y, folds=4, n_bootstrap=NB, seed=2)
    b = linear_probe(emb, y, folds=4, n_bootstrap=NB, seed=2)
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())
    # an attribute's interval does not depend on the other attributes probed
    alone = linear_probe(emb, y[["other"]], folds=4, n_bootstrap=NB, seed=2)
    pd.testing.assert_frame_equal(alone.to_frame(), a.to_frame().iloc[[1]].reset_index(drop=True))
    none = linear_probe(emb, y, folds=4, n_bootstrap=0, seed=2).to_dict()
    assert none["attributes"][0]["r2_ci"] is None and none["ci"] is None


# ---------------------------------------------------------------------- leakage
def test_held_out_stimuli_do_not_touch_the_fit_in_a_given_split():
    emb, y = _data(n=60, d=6)
    ids = np.asarray(y.index)
    train, test = ids[:45], ids[45:]
    base = linear_probe(emb, y, split=(train, test), n_bootstrap=NB)
    x = emb.matrix.copy()
    x[45:] += 1e6  # held-out embeddings shifted by a huge constant
    y2 = y.copy()
    y2.loc[test] = y2.loc[test] * -50 + 1e4  # held-out ratings changed too
    shifted = linear_probe(Embeddings.from_array(emb.ids, x), y2, split=(train, test), n_bootstrap=NB)
    for name in y.columns:
        m0, m1 = base.fold_models[0][name], shifted.fold_models[0][name]
        assert m0.alpha == m1.alpha and m0.y_mean == m1.y_mean and m0.y_scale == m1.y_scale
        np.testing.assert_array_equal(m0.x_mean, m1.x_mean)
        np.testing.assert_array_equal(m0.x_scale, m1.x_scale)
        np.testing.assert_array_equal(m0.coef, m1.coef)
        np.testing.assert_array_equal(m0.loo_mse, m1.loo_mse)
        assert m0.n_train == len(train)


def test_kfold_prediction_of_a_stimulus_ignores_its_fold_mates():
    emb, y = _data(n=40, d=5, seed=7)
    base = linear_probe(emb, y, folds=4, n_bootstrap=0, seed=0)
    folds = StimulusSplit.kfold(np.asarray(y.index), 4, seed=0)
    victim = folds[0]["test"][0]
    x = emb.matrix.copy()
    x[list(emb.ids).index(victim)] += 1e3
    y2 = y.copy()
    y2.loc[victim] += 1e3
    moved = linear_probe(Embeddings.from_array(emb.ids, x), y2, folds=4, n_bootstrap=0, seed=0)
    p0 = base.predictions.set_index(["attribute", "id"])["y_pred"]
    p1 = moved.predictions.set_index(["attribute", "id"])["y_pred"].loc[p0.index]
    same_fold = p0.index.get_level_values("id").isin(folds[0]["test"])
    others = same_fold & (p0.index.get_level_values("id") != victim)
    np.testing.assert_array_equal(p0[others], p1[others])  # fold-mates: untouched
    assert not np.allclose(p0[~same_fold], p1[~same_fold])  # the victim trains the other folds


def test_standardisation_uses_training_statistics_only():
    emb, y = _data(n=30, d=4)
    ids = np.asarray(y.index)
    train, test = ids[:20], ids[20:]
    res = linear_probe(emb, y, split=(train, test), alphas=[1.0], n_bootstrap=0)
    m = res.fold_models[0]["lin"]
    x_tr = _emb_rows(emb, train)
    np.testing.assert_allclose(m.x_mean, x_tr.mean(0))
    np.testing.assert_allclose(m.x_scale, x_tr.std(0))
    assert m.y_mean == pytest.approx(y.loc[train, "lin"].mean())
    assert m.y_scale == pytest.approx(y.loc[train, "lin"].std(ddof=0))


# ---------------------------------------------------------------------- missing ratings
def test_nan_targets_are_left_out_per_attribute():
    emb, y = _data(n=60)
    y = y.copy()
    gone = list(y.index[[1, 5, 9, 20, 33, 47]])
    y.loc[gone, "other"] = np.nan
    unrated = "s059"
    y.loc[unrated] = np.nan  # rated on nothing: dropped, needs no embedding
    emb = emb.align([i for i in emb.ids if i != unrated])
    res = linear_probe(emb, y, folds=5, n_bootstrap=NB)
    assert res.n_stimuli == 59
    assert res["lin"].n == 59 and res["other"].n == 53
    other = res.predictions[res.predictions.attribute == "other"]
    assert not other["id"].isin(gone).any() and other["y_true"].notna().all()
    folds = StimulusSplit.kfold(np.asarray(y.index[y.notna().any(axis=1)]), 5, seed=0)
    for part, models in zip(folds, res.fold_models):
        tr = part["train"]
        assert models["lin"].n_train == len(tr)
        assert models["other"].n_train == len(np.setdiff1d(tr, gone))
        kept = np.setdiff1d(tr, gone)
        assert models["other"].y_mean == pytest.approx(y.loc[kept, "other"].mean())
    # 'lin' alone gives the same answer (same folds: the same stimuli are rated on something)
    alone = linear_probe(emb, y[["lin"]].drop(index=unrated), folds=5, n_bootstrap=NB)
    assert alone["lin"].r2 == pytest.approx(res["lin"].r2)


# ---------------------------------------------------------------------- errors
def test_errors():
    emb, y = _data(n=12)
    with pytest.raises(MissingEmbeddingError, match="s011") as e:
        linear_probe(emb.align(emb.ids[:11]), y, folds=3)
    assert isinstance(e.value, BGSError)
    with pytest.raises(ConfigError, match="13-fold"):
        linear_probe(emb, y, folds=13)
    with pytest.raises(ConfigError):
        linear_probe(emb, y, folds=1)
    with pytest.raises(ConfigError, match="not both"):
        linear_probe(emb, y, folds=3, split=(y.index[:6], y.index[6:]))
    with pytest.raises(ConfigError, match="both the train and the test"):
        linear_probe(emb, y, split=(y.index[:7], y.index[5:]))
    with pytest.raises(ConfigError, match="lacks"):
        linear_probe(emb, y, split=(list(y.index[:6]) + ["nope"], y.index[6:]))
    with pytest.raises(ConfigError, match="at least 3"):
        linear_probe(emb, y, split=(y.index[:2], y.index[2:]))
    with pytest.raises(ConfigError, match="shape"):
        linear_probe(np.zeros((5, 3)), y, folds=3)
    with pytest.raises(ConfigError, match="numeric"):
        linear_probe(emb, y.assign(txt="a"), folds=3)
    with pytest.raises(ConfigError, match="penalties"):
        linear_probe(emb, y, folds=3, alphas=[-1.0])
    sparse = y.copy()
    sparse.loc[sparse.index[2:], "other"] = np.nan
    with pytest.raises(ConfigError, match="'other'"):
        linear_probe(emb, sparse, folds=3)


def test_layers_and_serialisation():
    emb, y = _data(n=40)
    rng = np.random.default_rng(0)
    two = Embeddings(emb.ids, {"embeddings": rng.normal(size=(40, 3)), "deep": emb.matrix})
    deep = linear_probe(two, y, folds=4, layer="deep", n_bootstrap=NB)
    same = linear_probe(emb, y, folds=4, n_bootstrap=NB)
    pd.testing.assert_frame_equal(deep.to_frame(), same.to_frame())
    with pytest.raises(BGSError, match="no layer"):
        linear_probe(two, y, folds=4, layer="nope")
    frame = deep.to_frame()
    assert list(frame.columns) == ["attribute", "r2", "r2_ci_low", "r2_ci_high", "pearson_r",
                                   "r_ci_low", "r_ci_high", "n", "alphas"]
    d = deep.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["layer"] == "deep" and len(d["alpha_grid"]) == 17 and d["attributes"][0]["n"] == 40


# ---------------------------------------------------------------------- garcia2025
@pytest.fixture(scope="module")
def garcia(garcia_dir):
    from bgs.data.garcia2025 import load_garcia2025
    from bgs.data.stimuli import read_stimuli

    g = load_garcia2025(garcia_dir)
    stimuli = read_stimuli(garcia_dir / "video_mapping.csv").with_attributes(garcia_dir / "annotations.csv")
    split = StimulusSplit.from_files(stimuli, train=garcia_dir / "train.csv", test=garcia_dir / "test.csv")
    return g, stimuli, split


def test_garcia_random_embedding_has_no_signal(garcia):
    _, stimuli, split = garcia
    attrs = stimuli.attributes
    assert attrs.shape == (250, 11)
    emb = Embeddings.from_array(stimuli.ids, np.random.default_rng(0).normal(size=(250, 64)))
    res = linear_probe(emb, attrs, split=split, n_bootstrap=NB, seed=0)
    f = res.to_frame()
    assert (f["n"] == 50).all()
    assert (f["r2"] < 0.02).all() and f["r2"].mean() < 0
    covers = (f["r_ci_low"] < 0) & (f["r_ci_high"] > 0)
    assert covers.sum() >= 9  # 95% intervals: about one of 11 may miss by chance


@pytest.mark.parametrize("target", ["valence", "intimacy", "indoor"])
def test_garcia_other_ratings_predict_a_rating(garcia, target):
    _, stimuli, split = garcia
    attrs = stimuli.attributes
    others = attrs.drop(columns=[target])
    emb = Embeddings.from_array(attrs.index, others.to_numpy())
    res = linear_probe(emb, attrs[[target]], split=split, n_bootstrap=NB, seed=0)
    s = res[target]
    assert s.r2 > 0.1 and s.pearson_r > 0.4 and s.r_ci[0] > 0.15


# ---------------------------------------------------------------------- the command
def _cli():
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root():  # keep `probe` a subcommand, as in the bgs app
        pass

    return app


def _invoke(*args):
    return CliRunner().invoke(_cli(), ["probe", *map(str, args)])


def test_cli_synthetic_kfold_json_and_out(tmp_path):
    emb, y = _data(n=40)
    emb.save(tmp_path / "e.npz")
    y.reset_index().to_csv(tmp_path / "ratings.csv", index=False)
    r = _invoke("--embeddings", tmp_path / "e.npz", "--attributes", tmp_path / "ratings.csv",
                "--folds", 4, "--n-bootstrap", NB, "--json", "--out", tmp_path / "o" / "p.json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["mode"] == "kfold" and d["n_folds"] == 4
    assert [a["attribute"] for a in d["attributes"]] == ["lin", "other"]
    assert json.loads((tmp_path / "o" / "p.json").read_text()) == d
    direct = linear_probe(emb, y, folds=4, n_bootstrap=NB)
    assert d["attributes"][0]["r2"] == pytest.approx(direct["lin"].r2)
    r = _invoke("--embeddings", tmp_path / "e.npz", "--attributes", tmp_path / "ratings.csv",
                "--folds", 4, "--n-bootstrap", NB, "--columns", "other", "--alphas", "0.1,1,10")
    assert r.exit_code == 0, r.output
    assert "other" in r.output and "lin" not in r.output and "R²" in r.output


def test_cli_errors(tmp_path):
    emb, y = _data(n=20)
    emb.align(emb.ids[:18]).save(tmp_path / "e.npz")
    y.reset_index().to_csv(tmp_path / "ratings.csv", index=False)
    args = ["--embeddings", tmp_path / "e.npz", "--attributes", tmp_path / "ratings.csv"]
    r = _invoke(*args, "--folds", 3)
    assert isinstance(r.exception, MissingEmbeddingError) and "s018" in str(r.exception)
    r = _invoke(*args, "--folds", 3, "--train", tmp_path / "ratings.csv", "--test", tmp_path / "ratings.csv")
    assert isinstance(r.exception, ConfigError) and "not both" in str(r.exception)
    r = _invoke(*args, "--train", tmp_path / "ratings.csv")
    assert isinstance(r.exception, ConfigError) and "--test" in str(r.exception)
    r = _invoke(*args, "--columns", "nope")
    assert isinstance(r.exception, ConfigError) and "lin" in str(r.exception)
    r = _invoke(*args, "--alphas", "a,b")
    assert isinstance(r.exception, ConfigError)
    r = _invoke("--embeddings", tmp_path / "none.npz", "--attributes", tmp_path / "ratings.csv")
    assert isinstance(r.exception, BGSError) and "none.npz" in str(r.exception)


def test_cli_garcia_split_with_stimuli_table(tmp_path, garcia_dir, garcia):
    _, stimuli, split = garcia
    rng = np.random.default_rng(0)
    x = rng.normal(size=(250, 64))
    Embeddings.from_array(stimuli.ids, x).save(tmp_path / "by_id.npz")
    common = ["--attributes", garcia_dir / "annotations.csv", "--train", garcia_dir / "train.csv",
              "--test", garcia_dir / "test.csv", "--n-bootstrap", NB, "--json"]
    r = _invoke("--embeddings", tmp_path / "by_id.npz", "--stimuli", garcia_dir / "video_mapping.csv",
                *common, "--columns", "valence,rating-arousal")
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["mode"] == "split" and [a["attribute"] for a in d["attributes"]] == ["valence", "arousal"]
    assert all(a["n"] == 50 for a in d["attributes"])
    ref = linear_probe(Embeddings.from_array(stimuli.ids, x), stimuli.attributes[["valence", "arousal"]],
                       split=split, n_bootstrap=NB)
    assert d["attributes"][0]["r2"] == pytest.approx(ref["valence"].r2)
    # embeddings keyed by file name: re-keyed through --stimuli, or used directly without it
    Embeddings.from_array(stimuli.files, x).save(tmp_path / "by_file.npz")
    r2 = _invoke("--embeddings", tmp_path / "by_file.npz", "--stimuli",
                 garcia_dir / "video_mapping.csv", *common, "--columns", "valence,arousal")
    assert r2.exit_code == 0, r2.output
    assert json.loads(r2.output)["attributes"] == d["attributes"]
    # without --stimuli the ids are the file names; test.csv's first column (index) falls back
    r3 = _invoke("--embeddings", tmp_path / "by_file.npz", *common, "--columns", "valence,arousal")
    assert r3.exit_code == 0, r3.output
    assert json.loads(r3.output)["attributes"] == d["attributes"]
    # by-id embeddings against a file-keyed table: the missing stimuli are named
    r4 = _invoke("--embeddings", tmp_path / "by_id.npz", *common)
    assert isinstance(r4.exception, MissingEmbeddingError) and ".mp4" in str(r4.exception)
