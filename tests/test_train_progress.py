"""What `bgs train` shows while it runs: the progress bar, the TensorBoard log, --dry-run."""

import io
import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")
pytest.importorskip("av")

from rich.console import Console  # noqa: E402

from bgs.cli import main  # noqa: E402
from bgs.train.config import TrainConfig  # noqa: E402
from bgs.train.trainer import Trainer  # noqa: E402


def _config(root, *overrides):
    return TrainConfig.from_toml(root / "train.toml").override(list(overrides))


def test_progress_bar_on_a_terminal_and_quiet_otherwise(tiny_video_workspace, tmp_path):
    cfg = _config(tiny_video_workspace, "optim.epochs=1", "run.eval_bootstrap=0")
    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=160)
    Trainer(cfg, tmp_path / "shown", log=lambda *_: None, console=terminal).run()
    text = screen.getvalue()
    assert "epoch 1/1" in text and "3/3" in text
    for field in ("loss ", " s/step", " clips/s"):
        assert field in text, field
    assert "loss …" not in text.split("3/3")[-1]  # the last frame shows numbers
    piped = io.StringIO()
    Trainer(cfg, tmp_path / "quiet", log=lambda *_: None, console=Console(file=piped)).run()
    assert piped.getvalue() == ""


def test_tensorboard_log_reads_back(tiny_video_workspace, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = _config(tiny_video_workspace, 'run.log="tensorboard"', "run.eval_bootstrap=0")
    Trainer(cfg, tmp_path / "run", log=lambda *_: None).run()
    history = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"loss/train", "loss/triplet", "loss/rsa", "rsa/train", "rsa/val", "odd_one_out/val",
            "optim/lr", "time/clips_per_s"} <= tags
    for tag, key in (("loss/train", "train_loss"), ("rsa/val", "val_rsa"), ("optim/lr", "lr"),
                     ("loss/rsa", "loss_rsa"), ("odd_one_out/val", "val_ooo_accuracy")):
        logged = events.Scalars(tag)
        assert [e.step for e in logged] == [h["epoch"] for h in history]
        assert [e.value for e in logged] == pytest.approx([h[key] for h in history], rel=1e-6), tag


def test_unknown_log_is_a_config_error(tiny_video_workspace, tmp_path):
    from bgs.errors import ConfigError

    with pytest.raises(ConfigError, match="run.log"):
        Trainer(_config(tiny_video_workspace, 'run.log="wandb"'), tmp_path / "x")


def test_dry_run_prints_the_plan_and_trains_nothing(tiny_video_workspace, tmp_path, capsys):
    from bgs.train.data import load_training_data
    from bgs.train.trainer import build_model

    root = tiny_video_workspace
    store = tmp_path / "store"
    args = ["train", str(root / "train.toml"), "--out", str(tmp_path / "run"), "--dry-run",
            "--set", f'data.store="{store}"', "--set", "optim.max_steps_per_epoch=0"]
    assert main(args) == 0
    printed = " ".join(capsys.readouterr().out.split())
    assert not (tmp_path / "run").exists() and not store.exists()  # nothing trained or decoded
    cfg = _config(root, f'data.store="{store}"')
    data = load_training_data(cfg)
    s = data.summary()
    for split in ("train", "val", "test"):
        assert f"{s[f'n_{split}_stimuli']} stimuli, {s[f'n_{split}_triplets']} triplets" in printed
    steps = -(-s["n_train_triplets"] // 16)
    assert f"{steps} per epoch × 2 epochs = {2 * steps} at most" in printed
    counts = build_model(cfg, data, "cpu", log=lambda *_: None).parameter_counts()
    assert f"{counts['trainable']:,} trainable, {counts['frozen']:,} frozen" in printed
    assert "16 triplets" in printed and "24 still to decode" in printed
    # bad data is found by the dry run too: one line, exit 2
    (root / "syn" / "videos" / "moved").mkdir(exist_ok=True)
    code = main(args + ["--set", f'data.videos="{root / "syn" / "videos" / "moved"}"'])
    err = capsys.readouterr().err
    assert code == 2 and "video files" in err and "missing" in err and err.count("\n") == 1
