"""The run report: figures (non-empty PNGs), the self-contained HTML and ``bgs report``."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from bgs.errors import BGSError
from bgs.report import figures
from bgs.report.html import render_report, write_report

OOO_CEIL = {"lower": 0.612, "upper": 0.701, "lower_ci": [0.58, 0.64], "upper_ci": [0.67, 0.73],
            "ci_level": 0.95, "n_triads": 900, "n_repeated_triads": 120, "n_responses": 400,
            "chance": 1 / 3, "definition": "majority answer of repeated triads (leave-one-out)"}


def fake_eval(acc: float, r: float, two_way: float, rho: float = 0.64, n: int = 30) -> dict:
    """A ``bgs evaluate``-like JSON with plausible numbers."""
    ceiling = float(np.sqrt(rho))
    return {
        "n_triplets": 1500, "n_stimuli": n, "n_pairs": 310, "seed": 0, "n_bootstrap": 200,
        "n_permutations": 200, "ci_level": 0.95, "metric": "cosine", "layer": "pooled",
        "ooo_accuracy": {"value": acc, "chance": 1 / 3, "ties": "fractional",
                         "ceiling": {"lower": OOO_CEIL["lower"], "upper": OOO_CEIL["upper"]},
                         "fraction_of_ceiling": {"lower": acc / OOO_CEIL["lower"],
                                                 "upper": acc / OOO_CEIL["upper"]},
                         "ci": [acc - 0.021, acc + 0.02], "ci_stimuli": [acc - 0.04, acc + 0.038],
                         "p_value": 0.004975 if acc > 0.36 else 0.41},
        "two_way_accuracy_symmetric": {"value": two_way, "chance": 0.5,
                                       "label": "anchor two-way (2AFC) accuracy",
                                       "ci": [two_way - 0.015, two_way + 0.016],
                                       "ci_stimuli": [two_way - 0.03, two_way + 0.03],
                                       "p_value": 0.004975},
        "rsa_spearman": {"value": r, "method": "spearman", "explained_variance": r * r,
                         "reliability": rho, "ceiling": ceiling,
                         "fraction_of_ceiling": r / ceiling, "explained_variance_ceiling": rho,
                         "ci": [r - 0.08, r + 0.07], "ci_triplets": [r - 0.05, r + 0.05],
                         "p_value": 0.0002 if r > 0.1 else 0.37},
        "rsa_pearson": {"value": r + 0.02, "method": "pearson",
                        "explained_variance": (r + 0.02) ** 2,
                        "ci": [r - 0.06, r + 0.09], "p_value": 0.0004},
        "rsa_kendall_tau_a": {"value": r * 0.7, "method": "kendall_tau_a",
                              "explained_variance": (r * 0.7) ** 2},
        "ceilings": {"ooo": OOO_CEIL, "split_half": {
            "spearman": {"raw": 0.47, "spearman_brown": rho, "ci": [rho - 0.08, rho + 0.06]},
            "pearson": {"raw": 0.5, "spearman_brown": 0.66, "ci": None}}},
    }


def fake_history(n_epochs: int, start: float, gain: float) -> list[dict]:
    return [{"epoch": e, "lr": 1e-4, "train_loss": 1.1 * np.exp(-0.3 * e) + 0.4,
             "train_rsa": start + gain * (1 - np.exp(-0.5 * e)) + 0.05,
             "val_rsa": start + gain * (1 - np.exp(-0.5 * e)),
             "val_ooo_accuracy": 0.4 + 0.5 * gain * (1 - np.exp(-0.4 * e))}
            for e in range(1, n_epochs + 1)]


def fake_matrices(n: int = 30, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(4, 6))
    latent = centres[rng.integers(0, 4, n)] + 0.6 * rng.normal(size=(n, 6))
    d = np.linalg.norm(latent[:, None] - latent[None], axis=-1)
    human = d / d.max() + 0.05 * rng.normal(size=(n, n))
    human = (human + human.T) / 2
    unobserved = np.triu(rng.random((n, n)) < 0.3, 1)
    human[unobserved | unobserved.T] = np.nan
    np.fill_diagonal(human, np.nan)
    video = d + 0.8 * rng.normal(size=(n, n))
    caption = 1 - np.corrcoef(latent + rng.normal(size=latent.shape))
    return {"ids": np.arange(100, 100 + n), "human": human,
            "model.video": (video + video.T) / 2, "model.caption": caption,
            "model.video_bgs": d + 0.3 * rng.normal(size=(n, n))}


PARTITION = {
    "models": ["video", "caption"], "metric": "cosine", "layer": None, "weighted": False,
    "in_sample": {"mode": "in_sample", "definition": "in-sample: OLS with intercept",
                  "models": ["video", "caption"], "n_stimuli": 30, "n_observed_pairs": 310,
                  "n_pairs": 310, "r2": {"video": 0.21, "caption": 0.12, "video+caption": 0.27},
                  "unique": {"video": 0.15, "caption": 0.06}, "shared": {"video+caption": 0.06},
                  "explained": 0.27, "unexplained": 0.73},
    "cross_validated": {"mode": "cv", "definition": "cross-validated over stimuli: 5 folds",
                        "models": ["video", "caption"], "n_stimuli": 30, "n_observed_pairs": 310,
                        "n_pairs": 70, "cv_folds": 5, "seed": 0,
                        "r2": {"video": 0.17, "caption": 0.08, "video+caption": 0.19},
                        "unique": {"video": 0.11, "caption": 0.02},
                        "shared": {"video+caption": 0.06}, "explained": 0.19, "unexplained": 0.81},
}


def probe_rows(shift: float) -> list[dict]:
    out = []
    for k, attr in enumerate(("speed", "distance", "intensity", "valence")):
        r2 = 0.55 - 0.15 * k + shift
        out.append({"attribute": attr, "r2": r2, "r2_ci_low": r2 - 0.1, "r2_ci_high": r2 + 0.08,
                    "pearson_r": float(np.sqrt(max(r2, 0.01))), "r_ci_low": 0.1,
                    "r_ci_high": 0.9, "n": 30, "alphas": [10.0] * 5})
    return out


def fake_metrics() -> dict:
    return {
        "schema": 1, "kind": "demo", "title": "BGS demo on synthetic interactions",
        "created": "2026-05-09T10:00:00+00:00",
        "command": ["bgs", "demo", "--out", "runs/demo", "--seed", "0"],
        "config": {"seed": 0,
                   "data": {"n_clips": 60, "n_participants": 40},
                   "train": {"epochs": 6, "objectives": ["triplet", "rsa"]}},
        "data": {"source": "triplets.csv", "n_rows": 2100, "n_valid": 2000,
                 "n_participants": 40, "n_catch": 80, "n_catch_failed": 9,
                 "n_catch_unscorable": 0, "n_stimuli": 60, "n_triads": 1700,
                 "n_repeated_triads": 120, "n_pairs": 1770, "n_observed_pairs": 1300,
                 "mean_cooccurrence_observed": 3.4, "split_half_spearman_brown": 0.71,
                 "split_half_spearman_brown_ci": [0.65, 0.77], "ooo_ceiling": OOO_CEIL,
                 "dropped": {"odd one out not in triad": 20}, "screened": {"catch failures": 80},
                 "excluded_participants": {"p07": "failed 3 of 4 catch trials"},
                 "true_ceiling": {"definition": "population's most probable choice",
                                  "value": 0.735, "attentive": 0.781,
                                  "test_split": {"all_participants": 0.742, "attentive": 0.79}},
                 "n_clips": 60, "inattentive_found": 3, "inattentive_planted": 4},
        "ceilings": {"all": {"ooo_lower": 0.61, "ooo_upper": 0.70, "ooo_lower_ci": [0.6, 0.62],
                             "split_half_spearman_brown": 0.71, "n_triplets": 2000},
                     "test": {"ooo_lower": 0.612, "ooo_upper": 0.701,
                              "split_half_spearman_brown": 0.64,
                              "split_half_spearman_brown_ci": [0.56, 0.70],
                              "n_triplets": 1500}},
        "models": {
            "video": {"label": "Video encoder", "family": "video", "stage": "baseline",
                      "eval": fake_eval(0.478, 0.312, 0.655)},
            "caption": {"label": "Caption embedding", "family": "caption", "stage": "baseline",
                        "eval": fake_eval(0.431, 0.224, 0.612)},
            "random": {"label": "Random features", "family": "random", "stage": "baseline",
                       "eval": fake_eval(0.336, 0.012, 0.501)},
            "video_bgs": {"label": "Video + BGS (triplet)", "family": "video",
                          "stage": "fine-tuned", "eval": fake_eval(0.566, 0.523, 0.731)},
        },
        "training": {"triplet": {"run": "train/triplet", "history": fake_history(6, 0.3, 0.22),
                                 "best_epoch": 5},
                     "rsa": {"run": "train/rsa", "history": fake_history(6, 0.3, 0.17),
                             "best_epoch": 6}},
        "probes": {"video": probe_rows(0.0), "video_bgs": probe_rows(0.08)},
        "partition": PARTITION,
        "timings": {"synthesise": 12.5, "simulate judgments": 1.2, "embed": 41.0,
                    "train": 315.0, "evaluate": 22.4, "total": 400.0},
    }


def with_header(metrics: dict) -> dict:
    """``metrics`` under the run-directory header (what every command writes first)."""
    header = {"schema": 1, "kind": "evaluate", "title": "", "command": [], "config": {}}
    return {**header, **metrics}


def make_run(path, metrics=None, matrices=True):
    path.mkdir(parents=True, exist_ok=True)
    (path / "metrics.json").write_text(json.dumps(fake_metrics() if metrics is None else with_header(metrics)))
    if matrices:
        np.savez(path / "matrices.npz", **fake_matrices())
    return path


def _png_ok(path):
    import matplotlib.image as mpimg

    assert path.is_file() and path.stat().st_size > 2000
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[2] in (3, 4) and min(img.shape[:2]) > 100
    return img.shape


FIGURES = ("model_scores.png", "similarity_matrices.png", "probes.png", "partition.png",
           "training_triplet.png", "training_rsa.png", "training_comparison.png")


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """A demo-like run directory without plots/: its report draws every figure on the fly.
    Drawn once per module; other tests copy its plots/ so that nothing is drawn again."""
    run = make_run(tmp_path_factory.mktemp("report") / "demo")
    path = write_report(run)
    return run, path.read_text()


def run_with_plots(full_run, path, metrics=None, matrices=False, drop=()):
    import shutil

    run = make_run(path, metrics, matrices=matrices)
    shutil.copytree(full_run[0] / "plots", run / "plots")
    for name in drop:
        (run / "plots" / name).unlink()
    return run


# ---------------------------------------------------------------------- figures
def test_figures_write_pngs(full_run, tmp_path):
    run, _ = full_run
    shapes = {name: _png_ok(run / "plots" / name) for name in FIGURES}
    h, w, _ = shapes["similarity_matrices.png"]
    assert w > 2.5 * h  # human + three models side by side
    assert not list((run / "plots").glob(".*.tmp"))  # atomic: no temporary files left
    # a bare evaluate JSON (no label or stage) and a partition without cross-validation
    _png_ok(figures.plot_model_scores({"a": fake_eval(0.5, 0.3, 0.6)}, tmp_path / "bare.png"))
    _png_ok(figures.plot_partition({**PARTITION, "cross_validated": None}, tmp_path / "p1.png"))


def test_cluster_order_groups_blocks_and_ignores_unobserved():
    d = np.full((6, 6), 1.0)
    for block in ((0, 2, 4), (1, 3, 5)):
        for i in block:
            for j in block:
                d[i, j] = 0.1
    d[0, 2] = d[2, 0] = np.nan
    order = list(figures.cluster_order(d))
    assert sorted(order) == list(range(6))
    first = set(order[:3])
    assert first in ({0, 2, 4}, {1, 3, 5})


def test_similarity_matrices_small_with_tick_labels(tmp_path):
    mats = fake_matrices(n=8, seed=1)
    ids = np.array([f"clip_{i}" for i in range(8)])
    p = figures.plot_similarity_matrices(ids, mats["human"], {"video": mats["model.video"]},
                                         tmp_path / "m.png", max_models=4, rank_human=False)
    _png_ok(p)


# ---------------------------------------------------------------------- the HTML report
def test_report_is_self_contained_with_all_sections(full_run, tmp_path_factory):
    run, text = full_run
    assert [p.name for p in run.glob("*.html")] == ["report.html"]
    for heading in ("What was run", "Data and noise ceilings", "Baselines", "Fine-tuning",
                    "Held-out results", "Linear probes", "Variance partitioning", "Timings",
                    "How to reproduce"):
        assert f". {heading}</h2>" in text or f">{heading}</h2>" in text, heading
    assert "Attention" not in text  # absent from metrics.json: skipped
    # values, formatted
    assert "0.478 [0.457, 0.498]" in text  # odd-one-out accuracy of the video model, with CI
    assert "0.566" in text and "0.523" in text
    assert "anchor 2AFC" in text and "paper" in text
    assert "0.735" in text and "0.742 / 0.790" in text  # true ceiling
    assert "0.610 [0.600, 0.620]" in text and "1,500" in text  # ceilings table
    assert "inattentive found" in text
    assert "2,000" in text and "0.710 [0.650, 0.770]" in text
    assert "bgs demo --out runs/demo --seed 0" in text
    assert "5 min 15 s" in text and "6 min 40 s" in text  # training time, recorded total
    assert "Run the command that made this run directory" in text
    # self-contained
    n_img = text.count('<img src="data:image/png;base64,')
    assert n_img == len(FIGURES) == text.count("<img")
    assert not re.search(r'(src|href)\s*=\s*"(https?:)?//', text)
    assert "<link" not in text and "<script" not in text and "@import" not in text
    assert "figure-error" not in text
    # the missing figures were drawn into plots/
    assert sorted(p.name for p in (run / "plots").iterdir()) == sorted(FIGURES)
    assert str(tmp_path_factory.getbasetemp()) not in text  # no absolute paths of this machine


def test_existing_plots_are_reused_and_extra_plots_shown(full_run, tmp_path):
    run = run_with_plots(full_run, tmp_path / "demo")
    scores = run / "plots" / "model_scores.png"
    mtime = scores.stat().st_mtime_ns
    (run / "plots" / "contact_sheet.png").write_bytes((run / "plots" / "probes.png").read_bytes())
    (run / "plots" / "extra_diagnostic.png").write_bytes(scores.read_bytes())
    text = write_report(run).read_text()
    assert scores.stat().st_mtime_ns == mtime  # not redrawn
    assert "Other figures" in text and "extra diagnostic" in text
    assert "Example stimuli" in text
    assert text.count("<img") == len(FIGURES) + 2


def test_minimal_run_directory_skips_absent_sections(full_run, tmp_path):
    run = run_with_plots(full_run, tmp_path / "ev", {"kind": "evaluate", "models": {
        "m": {"eval": fake_eval(0.45, 0.2, 0.6)}}}, drop=FIGURES[1:])
    text = write_report(run).read_text()
    assert "Held-out results" in text and "0.450" in text
    assert "records no command" in text
    for absent in ("Fine-tuning", "Linear probes", "Variance partitioning", "Attention",
                   "Timings", "Data and noise ceilings"):
        assert absent not in text, absent
    run2 = make_run(tmp_path / "empty", {}, matrices=False)
    text = write_report(run2).read_text()
    assert "How to reproduce" in text and "<h2>1." not in text


def test_attention_section_and_partition_only(full_run, tmp_path):
    run = run_with_plots(full_run, tmp_path / "att", drop=FIGURES[:2] + FIGURES[3:])
    (run / "attn").mkdir()
    (run / "plots" / "probes.png").rename(run / "attn" / "heads.png")
    m = with_header({"kind": "partition", "partition": PARTITION})
    m["attention"] = {"description": "Attention to the interacting agents.",
                      "agent_share": 0.62, "plots": ["attn/heads.png", "../outside.png"]}
    (run / "metrics.json").write_text(json.dumps(m))
    text = write_report(run).read_text()
    assert "Attention to the interacting agents." in text and "0.62" in text
    assert "Attention: heads" in text
    assert "Skipped ../outside.png" in text
    assert "Variance partitioning" in text and "0.2700" in text and "0.1900" in text
    assert (run / "plots" / "partition.png").is_file()  # drawn


def test_html_escaping(full_run, tmp_path):
    m = fake_metrics()
    bad = "<script>alert('x')</script>"
    m["title"] = f"Run {bad}"
    m["models"][bad] = {"label": bad, "stage": "baseline", "family": "<b>",
                        "eval": fake_eval(0.4, 0.2, 0.6)}
    m["probes"] = {bad: probe_rows(0.0)}
    m["config"]["note"] = 'a "quoted" & <tagged> value'
    m["timings"][bad] = 1.0
    run = run_with_plots(full_run, tmp_path / "esc", m)
    text = write_report(run).read_text()
    assert "<script" not in text and "<b>" not in text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in text
    assert "&lt;tagged&gt;" in text and "&quot;quoted&quot; &amp;" in text


def test_train_run_directory_is_understood(full_run, tmp_path):
    run = tmp_path / "20260509-triplet"
    run.mkdir()
    result = fake_eval(0.52, 0.41, 0.7)
    (run / "eval.json").write_text(json.dumps(result))
    (run / "metrics.json").write_text(json.dumps(with_header({  # as the trainer writes it
        "kind": "train", "title": f"Fine-tuning run {run.name}", "command": ["bgs", "train", "c.toml"],
        "run": "x", "epochs": 4, "best_epoch": 3,
        "training": {"triplet": {"run": ".", "history": fake_history(4, 0.2, 0.2), "best_epoch": 3}},
        "models": {"triplet": {"label": "triplet (fine-tuned)", "family": "model", "stage": "fine-tuned",
                               "metric": "cosine", "eval": result}}})))
    (run / "training_curves.png").write_bytes(
        (full_run[0] / "plots" / "training_rsa.png").read_bytes())
    (run / "plots").mkdir()
    (run / "plots" / "model_scores.png").write_bytes(
        (full_run[0] / "plots" / "model_scores.png").read_bytes())
    text = write_report(run).read_text()
    assert "Fine-tuning" in text and "Held-out results" in text and "0.520" in text
    assert text.count("<img") == 2 and "figure-error" not in text
    assert sorted(p.name for p in (run / "plots").iterdir()) == ["model_scores.png"]


def test_bad_values_and_failing_figures_do_not_sink_the_report(full_run, tmp_path, monkeypatch):
    m = fake_metrics()
    m["probes"] = {"video": [{"attribute": "speed", "r2": "bad", "n": None}]}
    m["models"]["video"]["eval"]["ooo_accuracy"]["value"] = None
    run = run_with_plots(full_run, tmp_path / "r", m, drop=("probes.png", "partition.png"))

    def broken(*args, **kwargs):
        raise RuntimeError("no luck")

    monkeypatch.setattr(figures, "plot_partition", broken)
    text = render_report(run)
    assert "Linear probes" in text and "Held-out results" in text
    assert "Figure not drawn" in text and "RuntimeError: no luck" in text
    assert (run / "plots" / "probes.png").is_file()


def test_unwritable_plots_folder_falls_back(tmp_path, monkeypatch):
    run = make_run(tmp_path / "ro", {"kind": "partition", "partition": PARTITION},
                   matrices=False)
    import bgs.report.html as h

    monkeypatch.setattr(h, "_plots_dir", lambda run_dir: None)
    text = write_report(run).read_text()
    assert 'src="data:image/png;base64,' in text
    assert not (run / "plots").exists()


# ---------------------------------------------------------------------- the command
def _app():
    import typer

    from bgs.commands.report import register

    app = typer.Typer()
    register(app)

    @app.command("noop")  # a second command, so that `report` is a subcommand
    def _noop():
        pass

    return app


def test_cli_report(full_run, tmp_path):
    from typer.testing import CliRunner

    run = run_with_plots(full_run, tmp_path / "demo")
    res = CliRunner().invoke(_app(), ["report", str(run)])
    assert res.exit_code == 0, res.output
    assert res.output.strip() == str(run / "report.html")
    assert (run / "report.html").is_file()
    out = tmp_path / "elsewhere" / "r.html"
    res = CliRunner().invoke(_app(), ["report", str(run), "--out", str(out)])
    assert res.exit_code == 0 and out.is_file()


def test_cli_report_errors(tmp_path):
    from typer.testing import CliRunner

    empty = tmp_path / "not_a_run"
    empty.mkdir()
    res = CliRunner().invoke(_app(), ["report", str(empty)])
    assert res.exit_code != 0
    assert isinstance(res.exception, BGSError)
    msg = str(res.exception)
    assert "not_a_run" in msg and "metrics.json" in msg and "bgs demo" in msg
    assert "\n" not in msg
    res = CliRunner().invoke(_app(), ["report", str(tmp_path / "missing")])
    assert isinstance(res.exception, BGSError) and "no such folder" in str(res.exception)
    (empty / "metrics.json").write_text("{not json")
    res = CliRunner().invoke(_app(), ["report", str(empty)])
    assert isinstance(res.exception, BGSError) and "JSON" in str(res.exception)
    assert not (empty / "report.html").exists()
    run = make_run(tmp_path / "ro", {"kind": "evaluate"}, matrices=False)
    res = CliRunner().invoke(_app(), ["report", str(run), "--out", str(run / "metrics.json" / "x")])
    assert isinstance(res.exception, BGSError) and "--out" in str(res.exception)


def test_a_metrics_file_without_the_run_header_is_refused(tmp_path):
    run = tmp_path / "old"
    run.mkdir()
    (run / "metrics.json").write_text(json.dumps({"models": {}}))
    with pytest.raises(BGSError, match="no run-directory header"):
        write_report(run)


def test_the_run_header_records_the_command_line(tmp_path):
    """``bgs evaluate --run`` writes the header, its command the argv given to the CLI."""
    from bgs.cli import main
    from bgs.embeddings import Embeddings
    from bgs.report.rundir import RunHeader, command_line
    from bgs.synthetic import SynthConfig, make_dataset

    syn = tmp_path / "syn"
    make_dataset(syn, SynthConfig(seed=1, n_clips=12, n_participants=10, frames=4, size=16, render=False))
    ids = np.arange(12)
    Embeddings.from_array(ids, np.random.default_rng(0).normal(size=(12, 4))).save(tmp_path / "e.npz")
    args = ["evaluate", "-e", str(tmp_path / "e.npz"), "-t", str(syn / "all_triplets.csv"), "-f",
            "garcia2025", "--n-bootstrap", "0", "--n-permutations", "0", "--run", str(tmp_path / "run")]
    assert main(args) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    header = RunHeader.from_metrics(metrics)
    assert header.kind == "evaluate" and header.schema == 1 and header.command == ["bgs", *args]
    assert command_line(["bgs", "x"]) == ["bgs", "x"]  # outside a command: the default
    assert "bgs evaluate -e" in write_report(tmp_path / "run").read_text()


def test_report_renders_in_a_browser(full_run, report_in_browser, tmp_path):
    report_in_browser(full_run[0], tmp_path / "report.png")


def test_headline_names_the_model_selected_on_validation_not_on_held_out_scores():
    from bgs.report.html import _at_a_glance

    def model(name, stage, family, acc, r):
        return {"name": name, "label": name.replace("_", " "), "stage": stage, "family": family,
                "eval": fake_eval(acc, r, 0.6)}

    models = [model("video_base", "baseline", "video", 0.40, 0.10),
              model("ratings", "baseline", "attributes", 0.70, 0.80),
              model("video_hybrid", "fine-tuned", "video", 0.45, 0.20),
              model("video_triplet", "fine-tuned", "video", 0.52, 0.30)]  # best held out
    training = {"hybrid": {"best_epoch": 1, "history": [{"epoch": 0, "val_rsa": 0.0},
                                                         {"epoch": 1, "val_rsa": 0.31}]},
                "triplet": {"best_epoch": 0, "history": [{"epoch": 0, "val_rsa": 0.12}]}}
    lead = _at_a_glance(models, training)
    assert "video hybrid (the hybrid objective; the other fine-tuned models are its ablations and controls)" in lead
    assert "odd-one-out accuracy 0.450 [0.429, 0.470]" in lead and "video triplet" not in lead
    assert "its base model, video base: odd-one-out accuracy 0.400" in lead
    assert "ratings" not in lead  # another family is not the base
    only = _at_a_glance(models[:3], {})
    assert "video hybrid:" in only and "selected" not in only
    # without a hybrid model: the best validation RSA, not the best held-out score
    others = [model("video_rsa", "fine-tuned", "video", 0.45, 0.20), models[0], models[3]]
    training = {"rsa": training["hybrid"], "triplet": training["triplet"]}
    lead = _at_a_glance(others, training)
    assert "video rsa (selected among 2 fine-tuned models by validation RSA)" in lead
    recorded = _at_a_glance(models[1:3], {}, base_name="ratings")  # the run names the base
    assert "its base model, ratings: odd-one-out accuracy 0.700" in recorded


def test_a_run_that_kept_its_model_before_training_is_scored_by_its_start():
    from bgs.report.html import _selected, _val_rsa_at_selection

    kept = {"best_epoch": -1, "start": {"val_rsa": 0.40, "val_ooo_accuracy": 0.5},
            "history": [{"epoch": 0, "val_rsa": 0.10}, {"epoch": 1, "val_rsa": 0.20}]}
    assert _selected(kept, kept["history"]) == kept["start"]
    assert _selected({**kept, "best_epoch": 1}, kept["history"])["val_rsa"] == 0.20
    assert _selected({"best_epoch": -1, "history": []}, []) is None  # no start recorded: nothing
    assert _val_rsa_at_selection({"name": "video_rsa"}, {"rsa": kept}) == 0.40
