"""The demo's comparison and seed summary without running the demo: the findings stated from
paired CIs, the t-interval over seeds, the summary of a seed table, and bad ``--seeds``."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bgs.cli import main
from bgs.errors import ConfigError
from bgs.study.demo import DemoConfig
from bgs.study.demo_compare import compared_pairs, findings
from bgs.study.demo_seeds import parse_seeds, seed_rows, summarise, t_interval


def diff(model, minus, acc_ci, rsa_ci):
    def entry(ci):
        return {"value": (ci[0] + ci[1]) / 2, "ci": ci, "ci_stimuli": ci, "share_positive": 0.5,
                "share_positive_stimuli": 0.5}
    return {"model": model, "minus": minus, "ooo_accuracy": entry(acc_ci), "rsa_spearman": entry(rsa_ci)}


def test_pairs_cover_the_base_and_the_hybrids_alternatives():
    pairs = compared_pairs(["hybrid", "triplet", "rsa", "hybrid_shuffled", "budget_matched", "hybrid_language"])
    assert pairs[:6] == [(f"video_{n}", "video_base") for n in
                         ("hybrid", "triplet", "rsa", "hybrid_shuffled", "budget_matched", "hybrid_language")]
    alternatives = ("triplet", "rsa", "budget_matched", "hybrid_language")
    assert pairs[6:] == [("video_hybrid", f"video_{n}") for n in alternatives]
    assert compared_pairs(["triplet"]) == [("video_triplet", "video_base")]


def test_findings_follow_the_cis_over_clips():
    rows = [diff("video_hybrid", "video_base", (0.01, 0.09), (0.02, 0.2)),
            diff("video_hybrid", "video_triplet", (-0.05, 0.02), (0.01, 0.1)),
            diff("video_hybrid", "video_rsa", (-0.08, -0.01), (-0.2, 0.05)),
            diff("video_hybrid_shuffled", "video_base", (-0.03, 0.04), (-0.1, 0.1))]
    f = {x["claim"]: x for x in findings(rows)}
    assert f["BGS hybrid beats the base model"]["holds"] is True
    assert f["BGS hybrid beats triplet-only"]["holds"] is None  # RSA above 0, accuracy not
    assert f["BGS hybrid beats RSA-only"]["holds"] is False
    control = f["the shuffled-label control stays within its CI of the base"]
    assert control["holds"] is True and "Yes: both paired CIs include 0" in control["text"]
    beaten = findings([diff("video_hybrid_shuffled", "video_base", (0.01, 0.05), (-0.1, 0.1))])[0]
    assert beaten["holds"] is False and "3-way accuracy difference's CI is above 0" in beaten["text"]


def test_t_interval_matches_scipy():
    g = np.array([0.04, -0.015, 0.021])
    want = stats.t.interval(0.95, len(g) - 1, loc=g.mean(), scale=stats.sem(g))
    assert t_interval(g) == pytest.approx(want, abs=1e-12)
    assert t_interval([0.1]) is None


def _metrics(gain: float) -> dict:
    models = {"video_base": {"label": "base", "stage": "baseline",
                             "eval": {"ooo_accuracy": {"value": 0.3}, "rsa_spearman": {"value": 0.0}}},
              "video_hybrid": {"label": "hybrid", "stage": "fine-tuned",
                               "eval": {"ooo_accuracy": {"value": 0.3 + gain}, "rsa_spearman": {"value": 2 * gain}}}}
    return {"models": models, "comparisons": {"base": "video_base", "differences": [
        diff("video_hybrid", "video_base", (gain - 0.02, gain + 0.02), (2 * gain - 0.1, 2 * gain + 0.1))]}}


def test_summary_over_seeds():
    gains = [0.04, -0.01, 0.03]
    table = pd.DataFrame([r for k, g in enumerate(gains) for r in seed_rows(k, _metrics(g))])
    assert len(table) == 6 and table["ooo_accuracy_gain"].isna().sum() == 3  # the base has no gain
    s = summarise(table)
    assert set(s) == {"video_hybrid"}
    acc = s["video_hybrid"]["ooo_accuracy"]
    assert acc["mean_gain"] == pytest.approx(np.mean(gains)) and acc["seeds_positive"] == 2
    assert acc["ci"] == pytest.approx(t_interval(gains)) and acc["ci_method"] == "t-interval over seeds"
    assert s["video_hybrid"]["rsa_spearman"]["mean_gain"] == pytest.approx(2 * np.mean(gains))


@pytest.mark.parametrize("text", ["0,x", "1,1", "", "0,,2", "-1", "0;1"])
def test_bad_seeds_are_one_config_error(text):
    with pytest.raises(ConfigError, match="--seeds"):
        parse_seeds(text)
    assert parse_seeds(" 0, 1,2") == [0, 1, 2]


@pytest.mark.parametrize("args", [["--seeds", "0,a"], ["--seeds", "2,2"], ["--seed", "1", "--seeds", "0,1"]])
def test_bad_seeds_on_the_command_line_exit_2(args, tmp_path, capsys):
    assert main(["demo", "--quick", "--out", str(tmp_path / "run"), *args]) == 2
    err = capsys.readouterr().err
    assert "--seeds" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_unknown_fine_tuning_run_is_a_config_error():
    with pytest.raises(ConfigError, match="hybrid_shuffled"):
        DemoConfig(objectives=("hybrid", "contrastive")).validate()


def test_language_distillation_without_captions_is_skipped(tmp_path):
    """No caption model installed: the language run is skipped, said in the log and in
    ``metrics["skipped"]`` (the report shows it), and nothing is trained."""
    from bgs.report.comparisons import comparisons_section
    from bgs.report.rundir import RunHeader
    from bgs.study.demo import _finetune
    from bgs.study.run import StudyRun

    logged = []
    run = StudyRun(tmp_path / "run", RunHeader("demo", "t", ["bgs", "demo"], {}), logged.append)
    embeddings = {}
    _finetune(run, tmp_path, "timesformer:unused", DemoConfig(), "hybrid_language", embeddings, {})
    assert embeddings == {} and run.metrics["skipped"] == {"hybrid_language": "no caption model installed"}
    assert any("bgs[text]" in m for m in logged) and not (tmp_path / "run" / "train").exists()
    metrics = {**run.metrics, "comparisons": {"differences": [
        {**diff("video_hybrid", "video_base", (0.0, 0.1), (0.0, 0.1)), "n_triplets": 10, "n_stimuli": 5}]}}
    assert "Not run: hybrid_language (no caption model installed)" in comparisons_section(metrics)
