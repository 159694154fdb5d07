"""DistributedDataParallel: ``bgs train`` under ``torchrun`` with 2 CPU processes (gloo)
reaches the single-process result for the same global batch.

Two checks on a small synthetic dataset and a tiny random TimeSformer (8 frames, 32²):

* **end to end** — ``bgs train`` for 2 epochs of 3 steps, once as one process and once
  under ``python -m torch.distributed.run --nproc-per-node 2``: every logged number of
  ``metrics.jsonl``, the held-out evaluation, the saved embeddings and the adapter and head
  safetensors of ``checkpoints/last`` and ``checkpoints/best`` agree within float tolerance.
  The distributed run builds its own clip store, so both ranks build it concurrently.
* **one step's gradients** — AdamW is invariant to a constant scale of the gradient, so the
  end-to-end check alone would not notice gradients that are, say, ``world`` times too
  large. A worker script runs one ``Trainer._step`` + backward from the same weights (LoRA B
  matrices made non-zero so that every LoRA weight gets a gradient) and saves the gradients:
  both ranks' DDP-averaged gradients must equal the single-process gradient of the same
  batch. The batch is chosen so that its number of unique stimuli is odd, which exercises
  the padding of the uneven split in ``Trainer._embed_batch``.

Dropout is off (``model.lora.dropout = 0``, ``model.head_dropout = 0``): masks would differ
between one process and two.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("peft")
pytest.importorskip("av")
safetensors_torch = pytest.importorskip("safetensors.torch")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not torch.distributed.is_available()
                       or not torch.distributed.is_gloo_available(),
                       reason="torch.distributed with the gloo backend is not available"),
]

TIMEOUT = 180  # seconds per subprocess (a run takes about 10 s on 2 CPU cores)
TOL = 1e-5  # absolute, scaled by the magnitude of the compared values (at least 1)

#: the tiny training run (conftest.TINY_TRAIN) with dropout off, 2 epochs of 3 steps
CHANGES = {"model": {"frames": 8, "head_dropout": 0.0, "lora": {"dropout": 0.0}},
           "optim": {"epochs": 2, "max_steps_per_epoch": 3}, "run": {"seed": 0, "eval_bootstrap": 20}}

# One step of the trainer; run as a plain script (1 process) or under torchrun (2).
GRAD_WORKER = '''
import sys

import numpy as np
import torch

from bgs.objectives import Objective
from bgs.train.config import TrainConfig
from bgs.train.data import load_training_data
from bgs.train.trainer import Trainer, _dist, build_model, init_distributed

config_path, run_dir, out, n_rows = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
init_distributed()
cfg = TrainConfig.from_toml(config_path)
trainer = Trainer(cfg, run_dir, log=lambda *a: None)
torch.manual_seed(cfg.run.seed)
data = load_training_data(cfg)
model = build_model(cfg, data, "cpu", log=lambda *a: None)
gen = torch.Generator().manual_seed(1234)
with torch.no_grad():  # LoRA B starts at zero, which would leave every LoRA A gradient zero
    for name, p in model.named_parameters():
        if p.requires_grad and "lora_B" in name:
            p.copy_(0.1 * torch.randn(p.shape, generator=gen))
trained = model
if _dist() is not None:
    from torch.nn.parallel import DistributedDataParallel

    trained = DistributedDataParallel(model)
model.train()
rows = np.random.default_rng([cfg.run.seed, 0]).permutation(len(data.train))[:n_rows]
loss, parts, n_unique = trainer._step(trained, Objective(cfg.objective), data, rows, 0)
loss.backward()
grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
torch.save({"loss": float(loss.detach()), "parts": parts, "n_unique": n_unique, "grads": grads},
           f"{out}.rank{trainer.rank}.pt")
'''


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env() -> dict:
    e = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK",
                "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RUN_ID"):
        e.pop(key, None)  # never inherit a launcher's settings
    return e


def run(args: list[str], cwd) -> None:
    proc = subprocess.run(args, cwd=cwd, env=env(), capture_output=True, text=True, timeout=TIMEOUT,
                          check=False)
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"


def torchrun(nproc: int) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={nproc}",
            "--master-addr=127.0.0.1", f"--master-port={free_port()}"]


def close(a, b, what: str, relative: bool = False) -> None:
    """Within ``TOL`` × the largest magnitude in ``a`` (at least 1 unless ``relative``)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, f"{what}: shapes {a.shape} and {b.shape}"
    scale = float(np.nanmax(np.abs(a), initial=0.0))
    scale = scale if relative else max(1.0, scale)
    assert np.array_equal(np.isnan(a), np.isnan(b)), f"{what}: NaNs differ"
    diff = float(np.nanmax(np.abs(a - b), initial=0.0))
    assert diff <= TOL * scale, f"{what}: max |difference| {diff:.3g} > {TOL * scale:.3g}"


def close_weights(a, b, what: str, max_move: float) -> None:
    """Weights after AdamW steps: 99 % of the elements within ``TOL`` (scaled), and every
    element within 5 % of ``max_move`` (lr × steps, the farthest AdamW moves a weight).

    AdamW divides each gradient element by its own running RMS, so an element whose
    gradient is at float-noise level (every LoRA A gradient of the first step is exactly
    zero, since LoRA B starts at zero) can take a visibly different step from rounding
    differences alone. Seen: one of ~20,000 weights 1.8e-5 apart (0.6 % of lr × steps),
    the rest below 5e-7.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, f"{what}: shapes {a.shape} and {b.shape}"
    scale = max(1.0, float(np.abs(a).max(initial=0.0)))
    diff = np.abs(a - b).ravel()
    assert np.isfinite(diff).all(), f"{what}: non-finite weights"
    q99 = float(np.quantile(diff, 0.99)) if diff.size else 0.0
    assert q99 <= TOL * scale, f"{what}: 99th percentile |difference| {q99:.3g} > {TOL * scale:.3g}"
    worst = float(diff.max(initial=0.0))
    assert worst <= 0.05 * max_move, f"{what}: max |difference| {worst:.3g} > {0.05 * max_move:.3g}"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, tiny_train_config):
    from bgs.synthetic import SynthConfig, make_dataset

    root = tmp_path_factory.mktemp("ddp")
    make_dataset(root / "syn", SynthConfig(seed=5, n_clips=24, frames=8, size=32,
                                           n_participants=20, ceiling_draws=10))
    torch.manual_seed(0)
    transformers.TimesformerModel(transformers.TimesformerConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
        image_size=32, patch_size=8, num_frames=8)).save_pretrained(root / "tsf")
    tiny_train_config(root / "train.toml", "timesformer:tsf", **CHANGES)
    (root / "grad_worker.py").write_text(textwrap.dedent(GRAD_WORKER))
    return root


@pytest.fixture(scope="module")
def runs(workspace):
    """The same config trained by one process and by two (with a clip store of its own)."""
    bgs = [sys.executable, "-m", "bgs", "train", "train.toml"]
    run(bgs + ["--out", "single"], workspace)
    run(torchrun(2) + ["-m", "bgs", "train", "train.toml", "--out", "ddp",
                       "--set", 'data.store="ddp-store"'], workspace)
    return workspace / "single", workspace / "ddp"


def read_history(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_metrics_match_single_process(runs):
    single, ddp = (read_history(r) for r in runs)
    assert len(single) == len(ddp) == 2
    timing = {"seconds", "clips_per_s"}
    for one, two in zip(single, ddp, strict=True):
        assert set(one) == set(two)
        assert one["epoch"] == two["epoch"]
        for key in sorted(set(one) - timing - {"epoch"}):
            if one[key] is None or two[key] is None:
                assert one[key] is two[key] is None, key
            else:
                close(one[key], two[key], f"epoch {one['epoch']} {key}")
    assert single[-1]["train_loss"] != single[0]["train_loss"]  # it did train


def test_checkpoints_match_single_process(runs):
    single, ddp = runs
    cfg = tomllib.loads((single.parent / "train.toml").read_text())["optim"]
    for ckpt in ("last", "best"):
        assert (json.loads((single / "checkpoints" / ckpt / "checkpoint.json").read_text())["epoch"]
                == json.loads((ddp / "checkpoints" / ckpt / "checkpoint.json").read_text())["epoch"])
        epoch = json.loads((single / "checkpoints" / ckpt / "checkpoint.json").read_text())["epoch"]
        max_move = cfg["lr"] * cfg["max_steps_per_epoch"] * (epoch + 1)
        for name in ("adapter.safetensors", "head.safetensors"):
            a = safetensors_torch.load_file(str(single / "checkpoints" / ckpt / name))
            b = safetensors_torch.load_file(str(ddp / "checkpoints" / ckpt / name))
            assert sorted(a) == sorted(b), name
            for key in a:
                close_weights(a[key], b[key], f"{ckpt}/{name}:{key}", max_move)
    lora_b = [v for k, v in safetensors_torch.load_file(
        str(single / "checkpoints" / "last" / "adapter.safetensors")).items() if "lora_B" in k]
    assert lora_b and any(float(v.abs().max()) > 0 for v in lora_b)  # the adapter was trained


def test_held_out_evaluation_matches(runs):
    one, two = (json.loads((r / "eval.json").read_text()) for r in runs)
    for key in ("ooo_accuracy", "two_way_accuracy_symmetric", "rsa_spearman", "rsa_pearson"):
        close(one[key]["value"], two[key]["value"], f"eval {key}")
    single, ddp = runs
    saved = sorted(p.name for p in single.glob("*embeddings.npz"))  # the stimuli's embeddings
    assert saved and saved == sorted(p.name for p in ddp.glob("*embeddings.npz"))
    for name in saved:
        e1, e2 = np.load(single / name), np.load(ddp / name)
        assert sorted(e1.files) == sorted(e2.files)
        for key in e1.files:
            if e1[key].dtype.kind == "f":
                close(e1[key], e2[key], f"{name}: {key}")
            else:
                assert np.array_equal(e1[key], e2[key]), f"{name}: {key}"


def test_one_step_gradients_match(workspace):
    from bgs.train.config import TrainConfig
    from bgs.train.data import load_training_data

    # a batch whose number of unique stimuli is odd: the 2 ranks embed uneven shares
    data = load_training_data(TrainConfig.from_toml(workspace / "train.toml"))
    order = np.random.default_rng([0, 0]).permutation(len(data.train))
    n_rows = next(n for n in range(5, 17) if len(np.unique(data.train.triads[order[:n]])) % 2)
    script = [str(workspace / "grad_worker.py"), str(workspace / "train.toml"),
              str(workspace / "grad-run")]
    run([sys.executable] + script + [str(workspace / "grads-single"), str(n_rows)], workspace)
    single = torch.load(workspace / "grads-single.rank0.pt")
    run(torchrun(2) + script + [str(workspace / "grads-ddp"), str(n_rows)], workspace)
    ranks = [torch.load(workspace / f"grads-ddp.rank{r}.pt") for r in (0, 1)]

    assert single["n_unique"] % 2 == 1
    assert single["grads"], "no trainable parameters"
    assert any("lora_A" in k for k in single["grads"]) and any("head" in k for k in single["grads"])
    for r, dist in enumerate(ranks):
        assert dist["n_unique"] == single["n_unique"]
        close(single["loss"], dist["loss"], f"rank {r} loss")
        assert sorted(dist["grads"]) == sorted(single["grads"])
        for name, g in single["grads"].items():
            assert float(g.abs().max()) > 0, f"{name}: zero gradient, the check would be vacuous"
            # relative to the gradient's own size: a gradient off by a constant factor
            # (e.g. the world size) must fail however small the gradient is
            close(g, dist["grads"][name], f"rank {r} gradient of {name}", relative=True)
