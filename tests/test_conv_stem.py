"""The conv stem of a TimeSformer: saved in config.json, rebuilt by the registry before a strict
load (identical outputs), LoRA-trainable, and trained by the physical pre-training."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from bgs.errors import BGSError  # noqa: E402
from bgs.models.conv_stem import STEM_KEY, add_conv_stem, load_timesformer, patch_projection  # noqa: E402
from bgs.models.registry import parse_model  # noqa: E402
from bgs.models.vision import load_vision_backbone  # noqa: E402
from bgs.pretrain.physical import PhysicalConfig  # noqa: E402

CONFIG = dict(image_size=16, patch_size=8, num_channels=3, num_frames=2, hidden_size=16,
              num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)


def _saved(tmp_path, widths=(4, 4)):
    torch.manual_seed(0)
    model = transformers.TimesformerModel(transformers.TimesformerConfig(**CONFIG)).eval()
    add_conv_stem(model, widths)
    with torch.no_grad():  # a stem that matters: non-trivial biases
        for p in model.embeddings.patch_embeddings.projection.parameters():
            p.add_(0.1 * torch.randn_like(p))
    model.save_pretrained(tmp_path / "m")
    return model, tmp_path / "m"


def test_stem_saves_in_config_and_loads_through_the_registry(tmp_path):
    model, folder = _saved(tmp_path)
    assert json.loads((folder / "config.json").read_text())[STEM_KEY] == [4, 4]
    convs = [m for m in model.embeddings.patch_embeddings.projection if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding) for c in convs] == [
        (3, 4, (3, 3), (1, 1), (1, 1)), (4, 4, (3, 3), (1, 1), (1, 1)), (4, 16, (8, 8), (8, 8), (0, 0))]
    assert patch_projection(model) is convs[-1]
    backbone = load_vision_backbone(parse_model(f"timesformer:{folder}"))
    x = torch.randn(3, 2, 3, 16, 16)
    with torch.no_grad():
        want = model(x).last_hidden_state[:, 0]
        got = backbone.model(x).last_hidden_state[:, 0]
        pooled = backbone(x)
    assert torch.allclose(want, got, atol=1e-5)
    emb = pooled["embeddings"]
    assert torch.allclose(emb, want, atol=1e-5)
    # the stem changes the output: loading without it would not give these numbers
    plain = transformers.TimesformerModel(transformers.TimesformerConfig(**CONFIG)).eval()
    with torch.no_grad():
        assert not torch.allclose(plain(x).last_hidden_state[:, 0], want, atol=1e-3)


def test_strict_load_names_the_mismatch(tmp_path):
    _, folder = _saved(tmp_path)
    cfg = json.loads((folder / "config.json").read_text())
    cfg[STEM_KEY] = [4, 4, 4]  # a third conv the weights do not hold
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(BGSError, match="does not match its config.json"):
        load_timesformer(folder)
    with pytest.raises(BGSError, match="does not match"):
        load_vision_backbone(parse_model(f"timesformer:{folder}"))


def test_lora_fine_tunes_through_a_stem_folder(tmp_path):
    from peft import LoraConfig, get_peft_model

    from bgs.train.config import ModelConfig
    from bgs.train.model import lora_targets

    _, folder = _saved(tmp_path)
    backbone = load_vision_backbone(parse_model(f"timesformer:{folder}"))
    backbone.model = get_peft_model(backbone.model, LoraConfig(
        r=2, lora_alpha=4, target_modules=lora_targets(backbone.kind, ModelConfig())))
    backbone.train()
    out = backbone(torch.randn(2, 2, 3, 16, 16))
    emb = out["embeddings"]
    emb.square().sum().backward()
    grads = {n: p.grad for n, p in backbone.named_parameters() if p.requires_grad}
    assert grads and all("lora_" in n for n in grads)
    assert any(g is not None and g.abs().sum() > 0 for n, g in grads.items() if "lora_B" in n)  # B starts at 0


def test_physical_config_stem_is_the_default_and_changes_the_key():
    stem = PhysicalConfig()
    plain = PhysicalConfig(stem_channels=0)
    assert stem.stem == [16, 16] and plain.stem == []
    assert stem.key() != plain.key()
    assert PhysicalConfig.from_dict(stem.to_dict()) == stem
    assert replace(stem, stem_layers=3).stem == [16, 16, 16]


@pytest.mark.slow
def test_pretraining_with_a_stem_learns_and_loads(tmp_path):
    from bgs.pretrain.physical import pretrain_physical
    from bgs.pretrain.readout import token_predictions

    config = PhysicalConfig(frames=4, size=16, patch=8, tubelet=2, hidden=32, layers=1, heads=2,
                            intermediate=64, steps=30, batch=8, lr=3e-3, warmup=3, n_clips=24,
                            n_val=8, log_every=10, stem_channels=4)
    folder = pretrain_physical(tmp_path / "s", config, log=None)
    doc = json.loads((folder / "pretraining.json").read_text())
    assert doc["config"]["stem_channels"] == 4
    assert doc["val_end"]["dense"] < 0.8 * doc["val_start"]["dense"]
    backbone = load_vision_backbone(parse_model(f"timesformer:{folder}"))
    assert len(backbone.model.embeddings.patch_embeddings.projection) == 5
    frames = np.random.default_rng(0).integers(0, 255, (2, 4, 16, 16, 3), dtype=np.uint8)
    assert token_predictions(folder, frames).shape == (2, 2, 2, 2, len(doc["targets"]))
