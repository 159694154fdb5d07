"""`bgs demo --quick` end to end: the main job on fresh synthetic data (slow: about a minute)."""

import json

import pandas as pd
import pytest

pytest.importorskip("torch")
pytest.importorskip("av")
pytest.importorskip("matplotlib")

from bgs.cli import main  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    import os

    root = tmp_path_factory.mktemp("demo")
    old = os.environ.get("BGS_MODELS_DIR")
    os.environ["BGS_MODELS_DIR"] = str(root / "models")
    try:
        assert main(["demo", "--quick", "--out", str(root / "run")]) == 0
    finally:
        if old is None:
            os.environ.pop("BGS_MODELS_DIR", None)
        else:
            os.environ["BGS_MODELS_DIR"] = old
    return root / "run"


def test_demo_writes_a_complete_run(demo_run):
    metrics = json.loads((demo_run / "metrics.json").read_text())
    assert metrics["kind"] == "demo"
    assert {"video_base", "ratings", "random", "video_hybrid", "video_triplet", "video_rsa"} <= set(metrics["models"])
    for name, entry in metrics["models"].items():
        ev = entry["eval"]
        assert 0 <= ev["ooo_accuracy"]["value"] <= 1 and len(ev["ooo_accuracy"]["ci"]) == 2, name
    assert set(metrics["training"]) == {"hybrid", "triplet", "rsa"}
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
