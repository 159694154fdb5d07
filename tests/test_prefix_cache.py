"""The frozen-prefix cache (model.cache_frozen_prefix): a tiny random DINOv2 saved with
save_pretrained and loaded through from_pretrained; LoRA on its last two blocks; the cached
and the full forward give the same embeddings, the same losses and the same epochs."""

import json

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    from PIL import Image
    from transformers import Dinov2Config, Dinov2Model

    root = tmp_path_factory.mktemp("prefix")
    rng = np.random.default_rng(1)
    (root / "images").mkdir()
    n = 14
    colours = rng.integers(0, 256, (n, 3))
    for i in range(n):
        img = np.full((30, 40, 3), 255, np.uint8)
        img[6:24, 4:36] = colours[i]
        img[10:14, 10:30] = colours[(i + 3) % n]
        Image.fromarray(img).save(root / "images" / f"{i}.jpg")
    pd.DataFrame({"id": range(n), "file": [f"images/{i}.jpg" for i in range(n)]}).to_csv(
        root / "stimuli.csv", index=False)
    rows = []
    for _ in range(800):
        h, a, b = rng.choice(n, 3, replace=False)
        da, db = np.abs(colours[h] - colours[a]).sum(), np.abs(colours[h] - colours[b]).sum()
        rows.append((h, a, b) if da < db else (h, b, a))
    pd.DataFrame(rows, columns=["head", "close", "far"]).to_csv(root / "triplets.csv", index=False)
    pd.DataFrame({"id": range(10, n)}).to_csv(root / "test.csv", index=False)
    cfg = Dinov2Config(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64,
                       patch_size=8, image_size=32)
    Dinov2Model(cfg).save_pretrained(root / "vit")
    return root


def _config(root, tmp_path, cache: bool, targets=None):
    from bgs.train.config import DataConfig, TrainConfig

    tc = TrainConfig(data=DataConfig(triplets=str(root / "triplets.csv"), format="anchor",
                                     stimuli=str(root / "stimuli.csv"), videos=str(root),
                                     store=str(tmp_path / "store"), test=str(root / "test.csv"),
                                     resize="pad", val_fraction=0.3))
    tc.model.backbone = f"dinov2:{root / 'vit'}"
    tc.model.frames = 1
    tc.model.layer = "layer.4"
    tc.model.image_size = 32
    tc.model.lora.targets = targets or [f"encoder.layer.{k}.{m}" for k in (2, 3)
                                        for m in ("attention.q_proj", "attention.v_proj", "mlp.fc1")]
    tc.model.cache_frozen_prefix = cache
    tc.objective.name = "hybrid"
    tc.optim.epochs = 3
    tc.optim.max_steps_per_epoch = 3
    tc.optim.batch_triplets = 48
    tc.optim.lr = 3e-3
    tc.run.eval_bootstrap = 0
    tc.run.eval_permutations = 0
    return tc


def test_cached_forward_equals_the_full_forward(images, tmp_path):
    import torch

    from bgs.train.data import load_training_data
    from bgs.train.trainer import build_model

    tc = _config(images, tmp_path, cache=True)
    data = load_training_data(tc)
    model = build_model(tc, data, "cpu", log=lambda *_: None)
    assert model.encoder.prefix.start == 2
    assert model.encoder.prefix.tokens.shape == (14, 1, 17, 32)  # 16 patches + CLS at 32×32
    torch.manual_seed(0)
    for lora in (p for n, p in model.named_parameters() if "lora_B" in n):  # non-zero adapters
        lora.data.normal_(0, 0.3)
    ids = list(range(14))
    cached = model.embed(ids)
    prefix, model.encoder.prefix = model.encoder.prefix, None
    full = model.embed(ids)
    np.testing.assert_allclose(cached, full, atol=1e-5)
    model.train()  # gradients too: the same loss, the same LoRA gradient
    grads = []
    for p in (prefix, None):
        model.encoder.prefix = p
        model.zero_grad()
        torch.manual_seed(1)  # the same dropout masks (LoRA, head) in both
        z = model(ids)
        (z[:7] * z[7:]).sum().backward()
        grads.append({n: q.grad.clone() for n, q in model.named_parameters() if q.grad is not None})
    assert grads[0].keys() == grads[1].keys() and any("lora_A" in k for k in grads[0])
    for k in grads[0]:
        torch.testing.assert_close(grads[0][k], grads[1][k], atol=1e-5, rtol=1e-4)


@pytest.mark.slow
def test_a_cached_run_matches_the_uncached_run(images, tmp_path):
    from bgs.train.trainer import Trainer

    runs = {}
    for cache in (False, True):
        Trainer(_config(images, tmp_path, cache), tmp_path / f"run-{cache}", log=lambda *_: None).run()
        runs[cache] = [json.loads(x) for x in (tmp_path / f"run-{cache}" / "metrics.jsonl").read_text().splitlines()]
    keys = ("train_loss", "loss_triplet", "loss_rsa", "val_rsa", "val_anchor_accuracy",
            "train_anchor_accuracy")
    for a, b in zip(runs[False], runs[True], strict=True):
        for k in keys:
            assert a[k] == pytest.approx(b[k], abs=1e-4), k
    from safetensors.numpy import load_file

    adapter = load_file(tmp_path / "run-True" / "checkpoints" / "last" / "adapter.safetensors")
    assert any("lora_B" in k and np.abs(v).max() > 0 for k, v in adapter.items())  # it trained
    from bgs.embeddings import Embeddings

    e = [Embeddings.load(tmp_path / f"run-{c}" / "embeddings.npz").matrix for c in (False, True)]
    np.testing.assert_allclose(e[0], e[1], atol=1e-4)


def test_a_trainable_weight_before_the_blocks_is_refused(images, tmp_path):
    from bgs.errors import ConfigError
    from bgs.train.data import load_training_data
    from bgs.train.trainer import build_model

    tc = _config(images, tmp_path, cache=True, targets=["embeddings.patch_embeddings.projection",
                                                        "encoder.layer.3.mlp.fc1"])
    with pytest.raises(ConfigError, match="cache_frozen_prefix.*patch_embeddings"):
        build_model(tc, load_training_data(tc), "cpu", log=lambda *_: None)
