"""BGS fine-tuning end to end on synthetic mp4 clips with a tiny random TimeSformer."""

import json
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("peft")
pytest.importorskip("av")

from bgs.cli import main  # noqa: E402
from bgs.errors import BGSError, ConfigError  # noqa: E402
from bgs.train.checkpoint import load_checkpoint  # noqa: E402
from bgs.train.config import TrainConfig  # noqa: E402
from bgs.train.data import load_training_data  # noqa: E402
from bgs.train.trainer import Trainer, build_model  # noqa: E402


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, tiny_train_config):
    from bgs.synthetic import SynthConfig, make_dataset

    root = tmp_path_factory.mktemp("train")
    make_dataset(root / "syn", SynthConfig(seed=3, n_clips=36, frames=8, size=32, n_participants=24))
    torch.manual_seed(0)
    transformers.TimesformerModel(transformers.TimesformerConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
        image_size=32, patch_size=8, num_frames=8)).save_pretrained(root / "tsf")
    tiny_train_config(root / "train.toml", "timesformer:tsf", model={"frames": 8})
    return root


def config(workspace, *overrides):
    return TrainConfig.from_toml(workspace / "train.toml").override(list(overrides))


def test_config_errors(workspace, tmp_path):
    with pytest.raises(ConfigError, match="unknown key"):
        config(workspace, "optim.nope=1")
    with pytest.raises(ConfigError, match="no section"):
        config(workspace, "nope.lr=1")
    bad = tmp_path / "bad.toml"
    bad.write_text("[optim]\nlearning_rate = 1\n")
    with pytest.raises(ConfigError, match=r"optim\.learning_rate"):
        TrainConfig.from_toml(bad)
    with pytest.raises(ConfigError, match="objective"):
        config(workspace, 'objective.name="contrastive"')
    c = config(workspace, "optim.lr=0.5", 'run.device="cpu"')
    assert c.optim.lr == 0.5 and c.data.triplets.endswith("all_triplets.csv")
    assert TrainConfig.from_dict(__import__("tomllib").loads(c.to_toml())).to_dict() == c.to_dict()


def test_training_lowers_loss_and_raises_train_rsa(workspace, tmp_path):
    # dropout off: the per-epoch training loss is then a clean signal on this tiny set
    cfg = config(workspace, 'objective.name="triplet"', "optim.epochs=5", "optim.max_steps_per_epoch=10",
                 "optim.lr=0.002", "model.lora.dropout=0.0", "model.head_dropout=0.0")
    summary = Trainer(cfg, tmp_path / "run", log=lambda *_: None).run()
    history = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(history) == 5 and summary["epochs"] == 5
    assert min(h["train_loss"] for h in history[-2:]) < history[0]["train_loss"]
    assert max(h["train_rsa"] for h in history[-2:]) > history[0]["train_rsa"] + 0.02
    run = tmp_path / "run"
    for name in ("config.toml", "metrics.json", "eval.json", "training_curves.png",
                 "checkpoints/best/adapter.safetensors", "checkpoints/best/head.safetensors",
                 "checkpoints/best/checkpoint.json", "checkpoints/last/state.json",
                 "checkpoints/last/state.safetensors", "embeddings.npz"):
        assert (run / name).exists(), name
    result = json.loads((run / "eval.json").read_text())
    n_test = len((workspace / "syn" / "test.csv").read_text().splitlines()) - 1
    assert result["n_stimuli"] == n_test and "ci" in result["ooo_accuracy"]  # as bgs evaluate writes
    assert json.loads((run / "checkpoints/best/checkpoint.json").read_text())["backbone"].startswith("timesformer:")


def _killed_after(trainer_cls, epoch, step):
    """A Trainer whose step raises (like a kill) at ``step`` of ``epoch``."""
    class Killed(trainer_cls):
        def _step(self, model, objective, data, rows, e):
            self._calls = getattr(self, "_calls", 0) + 1
            if e == epoch and self._calls > epoch * 6 + step:
                raise KeyboardInterrupt
            return super()._step(model, objective, data, rows, e)
    return Killed


@pytest.mark.slow
def test_kill_and_resume_equals_uninterrupted(workspace, tmp_path):
    cfg = config(workspace)
    Trainer(cfg, tmp_path / "full", log=lambda *_: None).run()
    with pytest.raises(KeyboardInterrupt):
        _killed_after(Trainer, epoch=2, step=3)(cfg, tmp_path / "killed", log=lambda *_: None).run()
    assert not (tmp_path / "killed" / "eval.json").exists()
    # the CLI's --resume reads the run's own config
    assert main(["train", "--resume", str(tmp_path / "killed")]) == 0
    full = (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()
    resumed = (tmp_path / "killed" / "metrics.jsonl").read_text().splitlines()
    strip = lambda line: {k: v for k, v in json.loads(line).items()  # noqa: E731
                          if k not in ("seconds", "clips_per_s")}
    assert [strip(x) for x in full] == [strip(x) for x in resumed]
    a = json.loads((tmp_path / "full" / "eval.json").read_text())
    b = json.loads((tmp_path / "killed" / "eval.json").read_text())
    assert a["ooo_accuracy"] == b["ooo_accuracy"] and a["rsa_spearman"] == b["rsa_spearman"]


def test_run_directories_are_never_overwritten(workspace, tmp_path, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "something").write_text("x")
    code = main(["train", str(workspace / "train.toml"), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and "already exists and is not empty" in err and err.count("\n") == 1


def test_strict_loading_rejects_a_wrong_checkpoint(workspace, tmp_path):
    cfg = config(workspace, "optim.epochs=1", "optim.max_steps_per_epoch=1")
    Trainer(cfg, tmp_path / "run", log=lambda *_: None).run()
    best = tmp_path / "run" / "checkpoints" / "best"
    data = load_training_data(cfg)
    same = build_model(cfg, data, "cpu", log=lambda *_: None)
    load_checkpoint(same, best)  # fits
    other_rank = build_model(config(workspace, "model.lora.r=4"), data, "cpu", log=lambda *_: None)
    with pytest.raises(BGSError, match="adapter does not fit|size mismatch|does not fit"):
        load_checkpoint(other_rank, best)
    other_head = build_model(config(workspace, "model.head_dim=64"), data, "cpu", log=lambda *_: None)
    with pytest.raises(BGSError, match="projection head does not fit"):
        load_checkpoint(other_head, best)
    broken = tmp_path / "broken"
    shutil.copytree(best, broken)
    (broken / "head.safetensors").unlink()
    with pytest.raises(BGSError, match="head.safetensors is missing"):
        load_checkpoint(same, broken)


def test_dropout_is_back_on_after_embedding(workspace):
    cfg = config(workspace)
    model = build_model(cfg, load_training_data(cfg), "cpu", log=lambda *_: None)
    model.train()
    model.embed([0, 1])
    assert model.training and model.head.net[3].training


# ---------------------------------------------------------------------- performance options
def _one_step(cfg, data, seed=0, prepare=None):
    """Gradients of one training step through build_model and Trainer._step."""
    from bgs.objectives import Objective

    torch.manual_seed(seed)
    model = build_model(cfg, data, "cpu", log=lambda *_: None)
    if prepare is not None:
        prepare(model)
    model.train()
    trainer = Trainer(cfg, "unused", log=lambda *_: None)
    torch.manual_seed(seed + 1)
    loss, parts, _ = trainer._step(model, Objective(cfg.objective), data, np.arange(16), 0)
    loss.backward()
    return float(loss.detach()), {n: p.grad.clone() for n, p in model.named_parameters()
                                  if p.requires_grad and p.grad is not None}


def test_gradient_checkpointing_step_gives_the_same_gradients(workspace):
    cfg = config(workspace)
    data = load_training_data(cfg)
    loss, grads = _one_step(cfg, data)
    loss_ckpt, grads_ckpt = _one_step(config(workspace, "model.gradient_checkpointing=true"), data)
    assert loss_ckpt == loss and len(grads) == len(grads_ckpt) > 10
    for name, g in grads.items():
        assert torch.allclose(grads_ckpt[name], g, rtol=1e-6, atol=1e-9), name
    # and the eager attention path trains to the same gradients within float32 rounding
    loss_eager, grads_eager = _one_step(config(workspace, 'model.attention="eager"'), data)
    assert loss_eager == pytest.approx(loss, rel=1e-5)
    top = max(float(g.abs().max()) for g in grads.values())
    assert all(float((grads_eager[n] - g).abs().max()) < 1e-4 * top for n, g in grads.items())


def test_training_step_never_reads_back_from_the_device(workspace):
    """No op in a step (forward, losses, backward) copies a value to the host: on a GPU
    each of these would stall the host until the device caught up."""
    from torch.utils._python_dispatch import TorchDispatchMode

    from bgs.objectives import Objective

    syncing = {"_local_scalar_dense", "nonzero", "masked_select", "item", "is_nonzero", "equal"}

    class Record(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.seen = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func.__name__.split(".")[0] in syncing:
                self.seen.append(func.__name__)
            return func(*args, **(kwargs or {}))

    cfg = config(workspace)
    data = load_training_data(cfg)
    model = build_model(cfg, data, "cpu", log=lambda *_: None).train()
    trainer = Trainer(cfg, "unused", log=lambda *_: None)
    objective = Objective(cfg.objective)
    with Record() as probe:
        loss, parts, n_unique = trainer._step(model, objective, data, np.arange(16), 0)
        loss.backward()
    assert probe.seen == []
    assert n_unique > 3 and torch.is_tensor(parts["loss"]) and float(parts["loss"]) == float(loss.detach())
    with Record() as control:  # the probe does see a read-back
        float(loss.detach())
    assert control.seen == ["_local_scalar_dense.default"]


def test_automatic_batch_on_cpu_is_recorded(workspace, tmp_path):
    cfg = config(workspace, "optim.batch_triplets=0", "optim.epochs=1", "optim.max_steps_per_epoch=1")
    Trainer(cfg, tmp_path / "run", log=lambda *_: None).run()
    saved = TrainConfig.from_toml(tmp_path / "run" / "config.toml")
    assert saved.optim.batch_triplets == 16


def test_batch_for_memory():
    from bgs.train.autobatch import batch_for_memory

    gib = 2**30
    # 80 GiB free, 10 GiB fixed, 1 GiB per clip: 0.85·80 − 10 = 58 clips → 19 triplets
    assert batch_for_memory(80 * gib, 10 * gib, gib, n_stimuli=160) == 19
    # few stimuli: every batch has at most 30 unique clips, so the cap applies
    assert batch_for_memory(80 * gib, 10 * gib, gib, n_stimuli=30) == 64
    # two processes share the clips: 58 clips each → 116 clips → 38 triplets
    assert batch_for_memory(80 * gib, 10 * gib, gib, n_stimuli=160, world=2) == 38
    assert batch_for_memory(gib, 10 * gib, gib, n_stimuli=160) == 1  # nothing fits: 1


@pytest.mark.slow
def test_compiled_blocks_give_the_same_step(workspace):
    from bgs.train.compile import compile_blocks

    cfg = config(workspace)
    data = load_training_data(cfg)
    loss, grads = _one_step(cfg, data)
    counted = []
    loss_c, grads_c = _one_step(cfg, data, prepare=lambda m: counted.append(
        compile_blocks(m, backend="aot_eager")))
    assert counted == [2]
    assert loss_c == pytest.approx(loss, rel=1e-6)
    for name, g in grads.items():
        assert torch.allclose(grads_c[name], g, rtol=1e-5, atol=1e-8), name


cuda_only = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@cuda_only
def test_cuda_step_has_no_synchronising_call(workspace):
    """On a GPU: a whole step (pinned frame copy, forward, losses, backward, AdamW) runs
    with CUDA's sync debug mode set to raise on any host synchronisation."""
    from bgs.objectives import Objective

    cfg = config(workspace, 'run.device="cuda"')
    data = load_training_data(cfg)
    model = build_model(cfg, data, "cuda", log=lambda *_: None).train()
    trainer = Trainer(cfg, "unused", log=lambda *_: None)
    objective = Objective(cfg.objective)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-3)
    trainer._target_on_device(data)  # moved once per run, before the steps

    def step(rows):
        loss, parts, _ = trainer._step(model, objective, data, rows, 0)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        return parts

    step(np.arange(16))  # warm-up: allocations, lazy initialisation
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for k in range(3):
            parts = step(np.arange(16 * (k + 1), 16 * (k + 2)))
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert np.isfinite(float(parts["loss"]))


@cuda_only
def test_cuda_frames_are_staged_and_normalised_on_the_device(workspace):
    cfg = config(workspace, 'run.device="cuda"')
    data = load_training_data(cfg)
    model = build_model(cfg, data, "cuda", log=lambda *_: None)
    encoder = model.encoder
    ids = list(data.train_ids[:5])
    for _ in range(3):  # cycles through both pinned buffers
        frames = encoder.frames(ids)
        assert frames.is_cuda and frames.dtype == torch.uint8
    on_device = encoder.backbone.preprocess(frames)
    on_host = encoder.backbone.preprocess(encoder.store.get_batch(ids))  # numpy path
    assert torch.equal(on_device.cpu(), on_host.cpu())


@cuda_only
def test_cuda_automatic_batch_fits(workspace):
    from bgs.train.autobatch import MAX_AUTO_TRIPLETS, auto_batch_triplets

    cfg = config(workspace, 'run.device="cuda"')
    data = load_training_data(cfg)
    model = build_model(cfg, data, "cuda", log=lambda *_: None)
    b = auto_batch_triplets(model, data.train_ids, "cuda", amp=True, log=lambda *_: None)
    assert 1 <= b <= MAX_AUTO_TRIPLETS


def test_finetune_returns_the_history_and_embeddings_and_leaves_the_config(workspace, tmp_path):
    from bgs.embeddings import Embeddings
    from bgs.study.finetune import finetune

    cfg = config(workspace, "optim.epochs=2", "optim.max_steps_per_epoch=2", "optim.batch_triplets=0")
    before = cfg.to_dict()
    result = finetune(cfg, tmp_path / "run", log=lambda *_: None)
    assert cfg.to_dict() == before  # the automatic batch was filled in on the trainer's copy
    assert "batch_triplets = 16" in (tmp_path / "run" / "config.toml").read_text()  # CPU default
    on_disk = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert result.history == on_disk and [h["epoch"] for h in on_disk] == [0, 1]
    saved = Embeddings.load(tmp_path / "run" / "embeddings.npz")
    assert list(result.embeddings.ids) == list(saved.ids)
    np.testing.assert_array_equal(result.embeddings.matrix, saved.matrix)
    entry = result.entry(tmp_path)
    assert entry["run"] == "run" and entry["best_epoch"] == result.summary["best_epoch"] in (0, 1)


class _StartWins(Trainer):
    """Validation that scores the model before training highest, whatever training does;
    the untrained embeddings are kept to compare with the selected checkpoint's."""

    def _alignments(self, model, data):
        tr, val = super()._alignments(model, data)
        if not hasattr(self, "untrained"):
            every = np.concatenate([data.train_ids, data.val_ids, data.test_ids])
            self.untrained = model.embed(list(every))
            return tr, {**val, "rsa": 1.0}
        return tr, {**val, "rsa": 0.5}


def test_select_start_keeps_the_model_before_training_when_no_epoch_beats_it(workspace, tmp_path):
    cfg = config(workspace, "optim.epochs=2", "optim.max_steps_per_epoch=3", "optim.lr=0.01",
                 "optim.select_start=true", "run.eval_bootstrap=0", "run.eval_permutations=0")
    trainer = _StartWins(cfg, tmp_path / "run", log=lambda *_: None)
    summary = trainer.run()
    assert summary["best_epoch"] == -1 and summary["start"]["val_rsa"] == 1.0
    np.testing.assert_allclose(trainer.embeddings.matrix, trainer.untrained, atol=1e-6)
    data = load_training_data(cfg)  # the last checkpoint did train: the kept weights are the start's
    model = build_model(cfg, data, "cpu")
    load_checkpoint(model, tmp_path / "run" / "checkpoints" / "last")
    assert not np.allclose(model.embed(list(data.train_ids[:4])), trainer.untrained[:4], atol=1e-4)
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert record["training"]["hybrid"]["start"]["val_rsa"] == 1.0


def test_score_every_scores_every_kth_and_the_last_epoch_only(workspace, tmp_path):
    class Counting(Trainer):
        def _alignments(self, model, data):
            self.calls = getattr(self, "calls", 0) + 1
            return super()._alignments(model, data)

    cfg = config(workspace, "optim.epochs=4", "optim.max_steps_per_epoch=1", 'optim.select="last"',
                 "optim.score_every=3", "run.eval_bootstrap=0", "run.eval_permutations=0")
    trainer = Counting(cfg, tmp_path / "run", log=lambda *_: None)
    summary = trainer.run()
    scored = [h["epoch"] for h in summary["history"] if h["val_rsa"] is not None]
    assert scored == [2, 3] and trainer.calls == 2  # epoch 2 (the 3rd) and the last
    assert all(h["train_rsa"] is None and h["val_ooo_accuracy"] is None
               for h in summary["history"] if h["epoch"] in (0, 1))
    assert summary["best_epoch"] == 3 and "test" in summary
    with pytest.raises(ConfigError, match="optim.score_every = 3 needs optim.select = 'last'"):
        config(workspace, "optim.score_every=3").validate()


def test_select_start_is_beaten_by_an_epoch_that_scores_higher(workspace, tmp_path):
    class EpochWins(Trainer):
        def _alignments(self, model, data):
            tr, val = super()._alignments(model, data)
            self.calls = getattr(self, "calls", 0) + 1
            return tr, {**val, "rsa": 0.1 * self.calls}  # start 0.1, epoch 0 0.2, epoch 1 0.3

    cfg = config(workspace, "optim.epochs=2", "optim.max_steps_per_epoch=2", "optim.select_start=true",
                 "run.eval_bootstrap=0", "run.eval_permutations=0")
    summary = EpochWins(cfg, tmp_path / "run", log=lambda *_: None).run()
    assert summary["best_epoch"] == 1 and summary["start"]["val_rsa"] == 0.1
    off = Trainer(config(workspace, "optim.epochs=1", "optim.max_steps_per_epoch=1", "run.eval_bootstrap=0",
                         "run.eval_permutations=0"), tmp_path / "off", log=lambda *_: None).run()
    assert "start" not in off and off["best_epoch"] == 0
