"""Synthetic clips with simulated observers: layout, readers, determinism, planted truth, CLI."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("av")

from bgs.data.garcia2025 import load_garcia2025  # noqa: E402
from bgs.data.stimuli import read_stimuli  # noqa: E402
from bgs.data.tables import read_table  # noqa: E402
from bgs.data.triplets import Screening, read_triplets  # noqa: E402
from bgs.errors import BGSError, ConfigError  # noqa: E402
from bgs.human.summary import triplet_stats  # noqa: E402
from bgs.metrics.evaluate import evaluate_embeddings  # noqa: E402
from bgs.synthetic import (  # noqa: E402
    LATENT_NAMES,
    SCRIPTS,
    SynthConfig,
    contact_sheet,
    make_dataset,
    read_mp4,
    read_truth,
)
from bgs.synthetic.dataset import build_scenes  # noqa: E402

SMALL = dict(n_clips=30, n_participants=20, frames=8, size=32)


def _hashes(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "small"
    result = make_dataset(out, SynthConfig(seed=3, **SMALL))
    return out, result


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """Default design (120 clips, 60 participants) without videos: quick, and big enough for
    the planted-truth statistics."""
    out = tmp_path_factory.mktemp("synth") / "big"
    make_dataset(out, SynthConfig(seed=11, render=False))
    return out


# ---------------------------------------------------------------------- layout and readers
def test_layout_and_bgs_readers(small):
    out, result = small
    names = pd.read_csv(out / "video_mapping.csv")["video_name"].tolist()
    assert len(names) == 30
    for f in ("all_triplets.csv", "train_triplets.csv", "test_triplets.csv", "train.csv",
              "test.csv", "captions.csv", "annotations.csv", "behavior.jsonl", "truth.json"):
        assert (out / f).is_file(), f
    assert sorted(p.name for p in (out / "videos").iterdir()) == sorted(names)
    assert len(list((out / "masks").glob("*.npz"))) == 30
    assert not list(out.rglob(".*"))  # no temporary files left behind

    stimuli = (read_stimuli(out / "video_mapping.csv").with_captions(out / "captions.csv")
               .with_attributes(out / "annotations.csv"))
    assert list(stimuli.attributes.columns) == list(LATENT_NAMES)
    assert ((stimuli.attributes >= 0) & (stimuli.attributes <= 1)).all().all()
    counts = stimuli.captions.groupby("id").size()
    assert len(counts) == 30 and counts.between(5, 8).all()
    assert stimuli.captions["caption"].str.len().gt(10).all()

    g = load_garcia2025(out)  # the same call as for the real data
    assert len(g.split["test"]) == 6 and len(g.split["train"]) == 24
    raw = pd.read_csv(out / "all_triplets.csv")
    assert list(raw.columns) == ["participation", "task", "trial", "stim1_name", "stim2_name",
                                 "stim3_name", "choice", "response_time", "catch_trial_flag",
                                 "token", "survey_code"]
    assert len(raw) == result.n_rows == 20 * 12 * 10
    assert g.triplets.report.n_catch == result.n_catch == 20 * 12
    for part in ("train", "test"):
        sub = read_triplets(out / f"{part}_triplets.csv", format="garcia2025",
                            stimulus_ids=stimuli.ids)
        assert sub.contains_all(g.split[part]).all()
        rows = pd.read_csv(out / f"{part}_triplets.csv")
        same = raw.loc[rows["triplet_id"], ["participation", "stim1_name", "choice"]]
        assert (same.to_numpy() == rows[["participation", "stim1_name", "choice"]].to_numpy()).all()

    behavior = read_table(out / "behavior.jsonl")
    assert list(behavior["video_name"]) == names and list(behavior["id"]) == list(range(30))
    assert (behavior["likes"] <= behavior["views"]).all() and (behavior["likes"] >= 0).all()
    duration = 8 / 8.0
    for comments, graph in zip(behavior["comments"], behavior["replay_graph"]):
        assert 3 <= len(comments) <= 5 and all(isinstance(c, str) for c in comments)
        assert graph[0]["start"] == 0 and graph[-1]["end"] == pytest.approx(duration)
        scores = [w["replay_score"] for w in graph]
        assert max(scores) == pytest.approx(1.0) and min(scores) >= 0

    text = (out / "truth.json").read_text()
    assert str(out) not in text and str(Path.home()) not in text  # no machine paths
    truth = json.loads(text)
    assert {f: h for f, h in _hashes(out).items() if f != "truth.json"} == truth["files"]
    assert truth["config"]["seed"] == 3 and len(truth["clips"]) == 30


def test_videos_decode_and_masks_align(small):
    out, _ = small
    truth = read_truth(out)
    scenes = build_scenes(truth.config)
    for k in (0, 7, 13):
        clip = truth.raw["clips"][k]
        frames = read_mp4(out / "videos" / clip["video_name"])
        assert frames.shape == (8, 32, 32, 3) and frames.dtype == np.uint8
        with np.load(out / "masks" / clip["video_name"].replace(".mp4", ".npz")) as z:
            masks = z["masks"]
        assert masks.shape == (8, 32, 32) and masks.dtype == np.uint8
        assert set(np.unique(masks)) <= set(range(clip["n_agents"] + 1))
        # mask centroids sit on the agents' centres
        pos, _ = scenes[k].arena_poses(scenes[k].frame_times(8))
        for a in range(clip["n_agents"]):
            for t in range(8):
                ys, xs = np.nonzero(masks[t] == a + 1)
                cx, cy = pos[a, t, 0] * 32, (1 - pos[a, t, 1]) * 32
                if len(xs) >= 6 and 3 < cx < 29 and 3 < cy < 29:
                    assert abs(xs.mean() + 0.5 - cx) < 2.0 and abs(ys.mean() + 0.5 - cy) < 2.0
        # masked pixels are shifted from the background towards the agent's luminance (at
        # 32 px an agent is a few pixels, mostly anti-aliased edge and eye), the rest is
        # background
        lum = frames.astype(float) @ [0.299, 0.587, 0.114] / 255
        bg = np.dot(clip["nuisance"]["background"], [0.299, 0.587, 0.114])
        for a in range(clip["n_agents"]):
            inside = masks == a + 1
            if inside.sum() < 10:
                continue
            agent = np.dot(clip["nuisance"]["agent_colors"][a], [0.299, 0.587, 0.114])
            shift = (lum[inside].mean() - bg) / (agent - bg)
            assert shift > 0.4
        assert np.median(np.abs(lum[masks == 0] - bg)) < 0.12


def test_same_seed_identical_bytes_other_seed_differs(tmp_path):
    cfg = dict(n_clips=12, n_participants=6, frames=6, size=32, ceiling_draws=50)
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    make_dataset(a, SynthConfig(seed=5, **cfg))
    make_dataset(b, SynthConfig(seed=5, **cfg))
    make_dataset(c, SynthConfig(seed=6, **cfg))
    ha, hb, hc = _hashes(a), _hashes(b), _hashes(c)
    assert len(ha) == 12 + 12 + 10 and ha == hb
    assert ha.keys() == hc.keys()
    differ = [f for f in ha if ha[f] != hc[f]]
    assert "truth.json" in differ and "all_triplets.csv" in differ
    assert sum(f.startswith("videos/") for f in differ) == 12


def test_same_seed_identical_bytes_across_processes_whatever_the_heap_holds(tmp_path):
    """libx264's macroblock-tree lookahead once read uninitialised heap memory on AVX-512 CPUs,
    so identical frames encoded to bytes that followed glibc's ``MALLOC_PERTURB_`` fill byte.
    Each process here fills fresh heap memory differently (ignored by other C libraries)."""
    cfg = dict(seed=5, n_clips=12, n_participants=4, frames=8, size=32, ceiling_draws=20)
    code = ("import sys; from bgs.synthetic import SynthConfig, make_dataset; "
            f"make_dataset(sys.argv[1], SynthConfig(**{cfg!r}))")
    hashes = []
    for fill in ("", "85", "170"):
        env = {**os.environ, "MALLOC_PERTURB_": fill}
        subprocess.run([sys.executable, "-c", code, str(tmp_path / f"p{fill}")], env=env, check=True)
        hashes.append(_hashes(tmp_path / f"p{fill}"))
    assert len(hashes[0]) == 12 + 12 + 10
    assert hashes[1] == hashes[0] and hashes[2] == hashes[0]


def test_force_and_interrupted_run(tmp_path):
    out = tmp_path / "o"
    cfg = SynthConfig(n_clips=8, n_participants=4, frames=4, size=16, ceiling_draws=20)
    make_dataset(out, cfg)
    with pytest.raises(BGSError, match="not empty"):
        make_dataset(out, cfg)

    def stop(stage, done, total):
        if stage == "videos" and done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        make_dataset(out, cfg, force=True, progress=stop)
    assert not (out / "truth.json").exists()  # the marker of a complete folder
    assert not list(out.rglob(".*.tmp"))  # no half-written temporary files
    assert [p.name for p in out.rglob(".*")] == [".bgs-incomplete"]  # readers refuse the folder
    assert len(list((out / "videos").iterdir())) == 3
    assert read_mp4(out / "videos" / "synth_0002.mp4").shape == (4, 16, 16, 3)


def test_contact_sheet(small, tmp_path):
    from PIL import Image

    out, _ = small
    png = contact_sheet(out, tmp_path / "sheet.png", n_clips=4, n_frames=3)
    with Image.open(png) as im:
        assert im.format == "PNG" and im.size[1] > 4 * 90 and im.size[0] > 3 * 90


def test_config_errors(tmp_path):
    for bad in (dict(size=33), dict(n_clips=3), dict(frames=1), dict(scripts=("dance",)),
                dict(population_weights=(1.0, 2.0))):
        with pytest.raises(ConfigError):
            make_dataset(tmp_path / "x", SynthConfig(**bad))


def test_scripts_and_latents():
    scenes = build_scenes(SynthConfig(n_clips=60, seed=2))
    assert {s.script for s in scenes} == set(SCRIPTS)  # balanced assignment
    z = np.stack([s.latent for s in scenes])
    assert z.min() >= 0 and z.max() <= 1
    by = lambda name, k: np.mean([s.latent[LATENT_NAMES.index(k)] for s in scenes  # noqa: E731
                                  if s.script == name])
    assert by("converse", "facingness") > 0.8 > by("chase", "facingness")
    assert by("converse", "communication") > by("ignore", "communication")
    assert by("ignore", "agent_distance") > by("fight", "agent_distance")
    assert by("help", "valence") > by("fight", "valence") + 0.3
    assert by("play", "arousal") > by("converse", "arousal") + 0.4


def test_latents_follow_what_the_clip_shows():
    """Each social latent takes its visible share from the shown motion: across clips it
    tracks its cue (measured independently here) far more than the script alone would."""
    from bgs.synthetic.scenes import LATENT_CUES, SOCIAL_NAMES, VISIBLE_SHARE

    scenes = build_scenes(SynthConfig(n_clips=80, seed=1))
    z = np.stack([s.latent for s in scenes])
    # the shown pair speed, from the renderer's own poses at the clip's frames (per clip)
    speed = []
    for s in scenes:
        p, _ = s.arena_poses(s.frame_times(16))
        speed.append(np.linalg.norm(np.gradient(p[:2], axis=1), axis=-1).mean() * 15)
    assert np.corrcoef(speed, z[:, LATENT_NAMES.index("arousal")])[0, 1] > 0.8
    cues = np.stack([s.cues() for s in scenes])
    assert cues.min() >= 0 and cues.max() <= 1 and (cues.std(axis=0) > 0.1).all()
    assert set(LATENT_CUES) == set(SOCIAL_NAMES) and min(VISIBLE_SHARE) > 0
    chase = [i for i, s in enumerate(scenes) if s.script == "chase"]  # within a script too
    assert np.corrcoef(cues[chase, 0], z[chase, LATENT_NAMES.index("arousal")])[0, 1] > 0.8


# ---------------------------------------------------------------------- planted truth
def test_catch_screening_finds_the_inattentive(big):
    truth = read_truth(big)
    ts = read_triplets(big / "all_triplets.csv", format="garcia2025")
    stats = triplet_stats(ts, n_splits=20, n_bootstrap=200)
    excluded = set(stats["excluded_participants"])
    assert len(truth.inattentive) == 6
    # every excluded participant is inattentive, and most inattentive ones are caught
    assert excluded <= truth.inattentive and len(excluded) >= len(truth.inattentive) - 2
    # the reader's catch accounting is the generator's, participant by participant
    table = ts.report.catch_by_participant.set_index("participant")
    for p in truth.raw["participants"]:
        assert table.loc[p["participation"], "n_failed"] == p["n_catch_failed"]
        caught = p["n_catch_failed"] / p["n_catch"] > 0.5
        assert caught == (p["participation"] in excluded)


def test_ceiling_bounds_contain_the_true_ceiling(big):
    truth = read_truth(big)
    c = truth.ceiling
    assert 1 / 3 < c["all_participants"] < c["attentive"] < 1
    # screened data (catch failures excluded) vs the attentive population
    screened = triplet_stats(read_triplets(big / "all_triplets.csv", format="garcia2025"),
                             n_splits=10, n_bootstrap=1000)["ooo_ceiling"]
    assert screened["lower_ci"][0] <= c["repeated_triads"]["attentive"] <= screened["upper_ci"][1]
    assert screened["lower"] < screened["upper"]
    # everyone kept (no screening) vs the population with its inattentive share
    everyone = triplet_stats(read_triplets(big / "all_triplets.csv", format="garcia2025",
                                           screening=Screening(max_catch_failure_rate=None)),
                             n_splits=10, n_bootstrap=1000)["ooo_ceiling"]
    assert everyone["lower_ci"][0] <= c["repeated_triads"]["all_participants"] <= everyone["upper_ci"][1]


def test_latent_embedding_near_ceiling_nuisance_at_chance(big):
    truth = read_truth(big)
    g = load_garcia2025(big)
    test = g.split.apply(g.triplets)["test"]
    assert len(test) > 400
    ceiling = truth.ceiling["test_split"]["attentive"]
    latent = evaluate_embeddings(truth.latent_embeddings(), test, metric="euclidean",
                                 n_bootstrap=500, n_permutations=0)["ooo_accuracy"]
    nuisance = evaluate_embeddings(truth.nuisance_embeddings(), test, metric="euclidean",
                                   n_bootstrap=500, n_permutations=0)["ooo_accuracy"]
    assert abs(latent["value"] - ceiling) < 0.07
    assert latent["ci_stimuli"][0] > 1 / 3 + 0.15
    # CI over stimuli: test triplets share few stimuli, so triplets are not independent
    assert nuisance["ci_stimuli"][0] <= 1 / 3 <= nuisance["ci_stimuli"][1]
    assert abs(nuisance["value"] - 1 / 3) < 0.08


# ---------------------------------------------------------------------- CLI
def test_cli_make_and_refuse_non_empty(tmp_path):
    import typer
    from typer.testing import CliRunner

    from bgs.commands.synth import register

    app = typer.Typer()
    register(app)
    runner = CliRunner()
    out = tmp_path / "cli"
    args = ["synth", "make", str(out), "--clips", "10", "--participants", "4", "--frames", "4",
            "--size", "16", "--seed", "1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "10 clips" in result.output and "ceiling" in result.output
    assert (out / "truth.json").exists() and len(list((out / "videos").iterdir())) == 10
    result = runner.invoke(app, args)
    assert result.exit_code != 0 and isinstance(result.exception, BGSError)
    assert "not empty" in str(result.exception) and "--force" in str(result.exception)
    result = runner.invoke(app, [*args, "--force", "--no-videos", "--clips", "8"])
    assert result.exit_code == 0, result.output
    assert not (out / "videos").exists() or not list((out / "videos").iterdir())
    assert len(pd.read_csv(out / "video_mapping.csv")) == 8
