"""`bgs demo --quick --seeds 0,1` end to end: the main job on fresh synthetic data, twice
(slow: a few minutes); the tests of one run read seed 0's folder, a complete quick run."""

import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")
pytest.importorskip("av")
pytest.importorskip("matplotlib")

from bgs.cli import main  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def seeds_run(tmp_path_factory):
    import os

    root = tmp_path_factory.mktemp("demo")
    old = os.environ.get("BGS_MODELS_DIR")
    os.environ["BGS_MODELS_DIR"] = str(root / "models")
    try:
        assert main(["demo", "--quick", "--seeds", "0,1", "--out", str(root / "run")]) == 0
    finally:
        if old is None:
            os.environ.pop("BGS_MODELS_DIR", None)
        else:
            os.environ["BGS_MODELS_DIR"] = old
    return root / "run"


@pytest.fixture(scope="module")
def demo_run(seeds_run):
    return seeds_run / "seed-0"


def test_demo_writes_a_complete_run(demo_run):
    metrics = json.loads((demo_run / "metrics.json").read_text())
    assert metrics["kind"] == "demo"
    assert {"video_base", "ratings", "random", "video_hybrid", "video_hybrid_shuffled"} <= set(metrics["models"])
    for name, entry in metrics["models"].items():
        ev = entry["eval"]
        assert 0 <= ev["ooo_accuracy"]["value"] <= 1 and len(ev["ooo_accuracy"]["ci"]) == 2, name
    assert set(metrics["training"]) == {"hybrid", "hybrid_shuffled"}
    assert metrics["ceilings"]["test"]["ooo_lower"] <= metrics["ceilings"]["test"]["ooo_upper"]
    assert metrics["probes"] and metrics["partition"]["in_sample"]["r2"]
    results = pd.read_csv(demo_run / "tables" / "results.csv")
    assert len(results) == len(metrics["models"])
    for path in ("report.html", "matrices.npz", "plots/contact_sheet.png", "train/hybrid/eval.json",
                 "train/hybrid/training_curves.png", "tables/probes.csv", "config.json"):
        assert (demo_run / path).exists(), path
    html = (demo_run / "report.html").read_text()
    assert "data:image/png;base64," in html and "src=\"http" not in html


def test_planted_structure_is_recovered(demo_run):
    """The attribute ratings (noisy planted latents) beat random vectors on held-out triplets."""
    m = json.loads((demo_run / "metrics.json").read_text())["models"]
    assert m["ratings"]["eval"]["ooo_accuracy"]["ci"][0] > m["random"]["eval"]["ooo_accuracy"]["value"]


def test_demo_never_overwrites(demo_run, capsys):
    assert main(["demo", "--quick", "--out", str(demo_run)]) == 2
    assert "not empty" in capsys.readouterr().err


def test_demo_reports_where_the_models_look(demo_run):
    metrics = json.loads((demo_run / "metrics.json").read_text())
    att = metrics["attention"]
    assert set(att["agent ratio (chance 1)"]) == {"base, rollout", "base, grad_rollout",
                                                  "fine-tuned, rollout", "fine-tuned, grad_rollout"}
    for rel in att["plots"]:
        assert (demo_run / rel).is_file(), rel
    clips = pd.read_csv(demo_run / "attention" / "clips.csv")
    n_test = len(pd.read_csv(demo_run / "data" / "test.csv"))
    assert len(clips) == n_test * 4
    shares = clips.set_index("method")["agent_share"]
    assert shares.loc["rollout"].between(0, 1).all()
    # gradient-weighted maps can be empty (every gradient × attention ≤ 0): no share, NaN
    grad = shares.loc["grad_rollout"]
    assert grad.dropna().between(0, 1).all() and grad.notna().mean() >= 0.5
    html = (demo_run / "report.html").read_text()
    assert 'id="attention"' in html and "agent ratio" in html


def test_demo_reports_its_split(demo_run):
    """Model selection runs on validation triads that mix validation and training clips; the
    split's triplet counts add up to the valid triplets and the report shows them."""
    data = json.loads((demo_run / "metrics.json").read_text())["data"]
    assert data["split_validation"] == "mixed"
    parts = ("split_train_triplets", "split_val_triplets", "split_test_triplets", "split_triplets_lost_to_split")
    assert sum(data[k] for k in parts) == data["n_valid"]
    assert data["split_val_triplets"] > data["split_test_triplets"] > 0  # far more than within-only triads
    assert "split val triplets" in (demo_run / "report.html").read_text()


def test_demo_report_renders_in_a_browser(demo_run, report_in_browser, tmp_path):
    report_in_browser(demo_run, tmp_path / "demo_report.png")


def test_demo_compares_every_model_with_the_base(demo_run):
    """Paired differences vs the base: the values are the differences of the models' own
    held-out scores, the CIs are intervals, and the shuffled-label control is judged."""
    metrics = json.loads((demo_run / "metrics.json").read_text())
    models, comp = metrics["models"], metrics["comparisons"]
    assert [(r["model"], r["minus"]) for r in comp["differences"]] == [
        ("video_hybrid", "video_base"), ("video_hybrid_shuffled", "video_base")]
    for r in comp["differences"]:
        for key in ("ooo_accuracy", "rsa_spearman"):
            d = r[key]
            own = models[r["model"]]["eval"][key]["value"] - models[r["minus"]]["eval"][key]["value"]
            assert d["value"] == pytest.approx(own, abs=1e-9), (r["model"], key)
            for ci in ("ci", "ci_stimuli"):
                assert d[ci][0] <= d[ci][1], (r["model"], key, ci)
            assert 0 <= d["share_positive"] <= 1 and 0 <= d["share_positive_stimuli"] <= 1
        assert r["n_triplets"] == models["video_base"]["eval"]["n_triplets"]
    claims = {f["claim"]: f for f in comp["findings"]}
    control = claims["the shuffled-label control stays within its CI of the base"]
    assert isinstance(control["holds"], bool)
    table = pd.read_csv(demo_run / "tables" / "comparisons.csv")
    assert len(table) == 2 and {"ooo_ci_low_clips", "rsa_share_positive_clips"} <= set(table.columns)
    html = (demo_run / "report.html").read_text()
    assert 'id="comparisons"' in html and "Paired difference vs base" in html
    assert control["text"].split("?")[0] in html


def test_demo_headline_names_the_hybrid(demo_run):
    html = (demo_run / "report.html").read_text()
    header = html[html.index("<header>"):html.index("</header>")]
    assert "On held-out stimuli, video model + BGS (hybrid) (the hybrid objective" in header


def test_demo_over_seeds_summarises_the_gains(seeds_run):
    from scipy import stats

    summary = json.loads((seeds_run / "summary.json").read_text())
    assert summary["seeds"] == [0, 1] and summary["runs"] == ["seed-0/report.html", "seed-1/report.html"]
    gains = {k: {r["model"]: r for r in json.loads((seeds_run / f"seed-{k}" / "metrics.json").read_text())
                 ["comparisons"]["differences"] if r["minus"] == "video_base"} for k in (0, 1)}
    assert set(summary["models"]) == {"video_hybrid", "video_hybrid_shuffled"}
    for name, entry in summary["models"].items():
        for key in ("ooo_accuracy", "rsa_spearman"):
            g = np.array([gains[k][name][key]["value"] for k in (0, 1)])
            e = entry[key]
            assert e["mean_gain"] == pytest.approx(g.mean()) and e["seeds_positive"] == int((g > 0).sum())
            want = stats.t.interval(0.95, 1, loc=g.mean(), scale=stats.sem(g))
            assert e["ci"] == pytest.approx(want)
    seeds = pd.read_csv(seeds_run / "seeds.csv")
    n_models = len(json.loads((seeds_run / "seed-0" / "metrics.json").read_text())["models"])
    assert len(seeds) == 2 * n_models and set(seeds["seed"]) == {0, 1}
    html = (seeds_run / "report.html").read_text()
    assert "t-interval" in html and 'href="seed-1/report.html"' in html
    assert (seeds_run / "seed-1" / "report.html").is_file()
