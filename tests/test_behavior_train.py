"""Receiver-behavior objectives in the trainer, end to end on a tiny synthetic set with a tiny
random VideoMAE (temporal tokens from tubelets)."""

import json

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("av")

from bgs.errors import ConfigError, UnknownStimulusError  # noqa: E402
from bgs.models.text import minilm_folder  # noqa: E402
from bgs.train.checkpoint import load_state  # noqa: E402
from bgs.train.config import TrainConfig  # noqa: E402
from bgs.train.trainer import Trainer  # noqa: E402

HAS_MINILM = minilm_folder() is not None


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, tiny_train_config):
    from bgs.synthetic import SynthConfig, make_dataset

    root = tmp_path_factory.mktemp("behavior-train")
    make_dataset(root / "syn", SynthConfig(seed=3, n_clips=30, frames=8, size=32, n_participants=16))
    torch.manual_seed(0)
    transformers.VideoMAEModel(transformers.VideoMAEConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
        image_size=32, patch_size=8, num_frames=8, tubelet_size=2)).save_pretrained(root / "vmae")
    tiny_train_config(root / "train.toml", "videomae:vmae",
                      model={"full_finetune": True, "head_dropout": 0.0}, objective={"name": "none"},
                      optim={"batch_triplets": 12, "max_steps_per_epoch": 4, "select": "last"},
                      behavior={"file": "syn/behavior.jsonl", "engagement": 1.0, "replay": 2.0,
                                "comments": 0.5 if HAS_MINILM else 0.0},
                      run={"eval_bootstrap": 20})
    return root


def config(workspace, *overrides):
    return TrainConfig.from_toml(workspace / "train.toml").override(list(overrides))


def test_behavior_section_in_the_config(workspace, tmp_path):
    c = config(workspace)
    assert c.behavior.file == str((workspace / "syn" / "behavior.jsonl").resolve())
    assert c.behavior.replay == 2.0 and c.behavior.active
    assert TrainConfig.from_dict(__import__("tomllib").loads(c.to_toml())).to_dict() == c.to_dict()
    with pytest.raises(ConfigError, match="unknown key"):
        config(workspace, "behavior.likes=1")
    with pytest.raises(ConfigError, match="optim.select"):
        Trainer(config(workspace, 'optim.select="best"'), tmp_path / "r")
    with pytest.raises(ConfigError, match="behavior.file is empty"):
        Trainer(config(workspace, 'behavior.file=""'), tmp_path / "r")


@pytest.mark.slow
def test_training_on_behavior_alone(workspace, tmp_path):
    cfg = config(workspace)
    summary = Trainer(cfg, tmp_path / "run", log=lambda *_: None).run()
    history = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert summary["epochs"] == 3 and summary["best_epoch"] == 2  # select = "last"
    terms = ["engagement", "replay"] + (["comments"] if HAS_MINILM else [])
    for h in history:
        weighted = sum(h[f"loss_{k}_weighted"] for k in terms)
        assert h["train_loss"] == pytest.approx(weighted, rel=1e-6)  # the BGS term is zero
        assert h["loss_replay_weighted"] == pytest.approx(2.0 * h["loss_replay"])
        assert "loss_triplet" not in h and h["lr"] == 0.003  # constant LR under select = "last"
    assert history[-1]["loss_replay"] < history[0]["loss_replay"]
    state = load_state(tmp_path / "run" / "checkpoints" / "last")
    assert any(k.startswith("heads.replay") for k in state["behavior"])
    assert (tmp_path / "run" / "eval.json").exists() and (tmp_path / "run" / "embeddings.npz").exists()


def test_behavior_records_must_name_known_stimuli(workspace, tmp_path):
    bad = tmp_path / "b.jsonl"
    bad.write_text('{"id": 0, "views": 10, "likes": 1}\n{"id": 999, "views": 10, "likes": 1}\n')
    with pytest.raises(UnknownStimulusError) as info:
        Trainer(config(workspace, f'behavior.file="{bad}"', "behavior.comments=0"),
                tmp_path / "r", log=lambda *_: None).run()
    assert info.value.rows == [2] and str(bad) in str(info.value)
    import pandas as pd

    name = sorted(pd.read_csv(workspace / "syn" / "test.csv").iloc[:, 0])[0]
    test_only = tmp_path / "t.jsonl"  # records by file name, only for a held-out clip
    test_only.write_text(json.dumps({"video_name": name, "views": 10, "likes": 1}) + "\n")
    with pytest.raises(ConfigError, match="no training stimulus has engagement"):
        Trainer(config(workspace, f'behavior.file="{test_only}"', "behavior.replay=0",
                       "behavior.comments=0"), tmp_path / "r2", log=lambda *_: None).run()


@pytest.mark.slow
@pytest.mark.skipif(not HAS_MINILM, reason="the comment term needs all-MiniLM-L6-v2")
def test_behavior_experiment_command(workspace, tmp_path, capsys):
    from bgs.cli import main

    out = tmp_path / "exp"
    args = ["behavior", "experiment", str(out), "--data", str(workspace / "syn"), "--quick",
            "--epochs", "1", "--steps", "2", "--threads", "1"]
    assert main(args) == 0
    results = json.loads((out / "results.json").read_text())
    conditions = [(r["condition"], r["seed"]) for r in results["rows"]]
    assert conditions == [("untrained", None), ("behavior", 0), ("bgs", 0), ("both", 0)]
    for r in results["rows"]:
        assert 0 <= r["ooo_accuracy"] <= 1 and r["ooo_accuracy_ci"][0] <= r["ooo_accuracy"] <= r["ooo_accuracy_ci"][1]
        assert set(r["probe"]) >= {"valence", "arousal", "like_log_ratio"}
    assert (out / "receiver-behavior.png").stat().st_size > 0
    assert "BGS + receiver behavior" in (out / "results.md").read_text()
    run_config = TrainConfig.from_toml(out / "runs" / "behavior-s0" / "config.toml")
    assert run_config.objective.name == "none" and run_config.optim.select == "last"
    assert run_config.behavior.engagement == 1.0 and run_config.behavior.file.endswith("behavior.jsonl")
    first = (out / "results.md").read_text()
    assert main(["behavior", "experiment", str(out), "--measure-only"]) == 0
    assert (out / "results.md").read_text() == first  # measurement is deterministic
    assert main(["behavior", "experiment", str(out)]) == 2  # never overwritten
    assert "not empty" in capsys.readouterr().err
