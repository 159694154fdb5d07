"""The moment pooling in torch (``bgs.models.moment_pooling``) against the numpy reference,
its gradients, and the registry embedding of a folder whose config asks for it
(``bgs.models.moment_readout``): CLS ‖ the pooling of the read-out's predictions, trained
through by LoRA."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bgs.models import moment_pooling as mp
from moments_reference import grid_features as ref_grid_features
from moments_reference import moment_features as ref_moment_features

CHANNELS = ("coverage", "agents", "x", "y", "r2", "heading_x", "heading_y", "speed")


def _random_tokens(rng, n=2, t=3, g=3):
    """(n, t, g, g, channels) tokens: agent weights across the MIN_WEIGHT cut (some negative,
    some frames empty), states spread as ``w·state``, other channels noise."""
    x = rng.normal(size=(n, t, g, g, len(CHANNELS)))
    w = rng.uniform(-0.2, 1.0, size=(n, t, g, g)) * (rng.uniform(size=(n, t, 1, 1)) > 0.2)
    x[..., 1] = w
    x[..., [2, 3, 5, 6, 7]] *= w[..., None]
    return x


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2 ** 31 - 1), st.integers(1, 4), st.integers(1, 5), st.integers(1, 4))
def test_torch_pooling_equals_the_numpy_reference(seed, n, t, g):
    tokens = _random_tokens(np.random.default_rng(seed), n, t, g)
    got = mp.pooled_moments(torch.from_numpy(tokens), CHANNELS).numpy()
    want = np.concatenate([ref_moment_features(tokens, CHANNELS), ref_grid_features(tokens[..., 0])], axis=1)
    assert got.shape == (n, len(mp.POOLED_NAMES))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_torch_pooling_in_float32_matches_float64():
    tokens = _random_tokens(np.random.default_rng(4), 4, 8, 4)
    got = mp.pooled_moments(torch.from_numpy(tokens).float(), CHANNELS).double()
    np.testing.assert_allclose(got.numpy(), mp.pooled_moments(torch.from_numpy(tokens), CHANNELS).numpy(),
                               rtol=1e-4, atol=1e-4)


def test_gradients_of_the_pooling():
    """gradcheck in float64 away from the cut (every weight above it); finite gradients
    with tokens below the cut, empty frames and single-token frames (zero spreads)."""
    rng = np.random.default_rng(5)
    tokens = _random_tokens(rng, 1, 2, 2)
    tokens[..., 1] = np.abs(tokens[..., 1]) * 0.5 + 0.3
    tokens[..., 0] = np.abs(tokens[..., 0]) + 0.1
    x = torch.from_numpy(tokens).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda v: mp.pooled_moments(v, CHANNELS), (x,), eps=1e-6, atol=1e-4)
    edge = _random_tokens(rng, 2, 3, 3)
    edge[0, 0, ..., 1] = 0.0          # an empty frame
    edge[0, 1, ..., 1] = 0.0
    edge[0, 1, 0, 0, 1] = 0.7         # one token: zero spreads
    edge[1] = edge[1, :1]             # frames all alike: zero sd over frames
    x = torch.from_numpy(edge).requires_grad_(True)
    mp.pooled_moments(x, CHANNELS).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


# ---------------------------------------------------------------- the registry embedding
TINY = dict(frames=4, size=16, patch=8, tubelet=2, hidden=32, layers=1, heads=2, intermediate=64,
            steps=3, batch=8, warmup=1, n_clips=12, n_val=0, log_every=3)


@pytest.fixture(scope="module")
def pooled_folder(tmp_path_factory):
    from bgs.pretrain.physical import PhysicalConfig, pretrain_physical

    return pretrain_physical(tmp_path_factory.mktemp("m") / "m", PhysicalConfig(**TINY, pooling=1), log=None)


def _clips(seed=3, n=3):
    return np.random.default_rng(seed).integers(0, 256, size=(n, 4, 16, 16, 3), dtype=np.uint8)


def test_registry_embedding_is_cls_and_the_scaled_pooling(pooled_folder):
    from bgs.models.conv_stem import load_timesformer
    from bgs.models.moment_readout import POOLING_KEY, load_readout
    from bgs.models.registry import parse_model
    from bgs.models.vision import load_vision_backbone
    from bgs.pretrain.moments import pooled_moments
    from bgs.pretrain.physical import DENSE_NAMES
    from bgs.pretrain.readout import token_predictions

    assert json.loads((pooled_folder / "config.json").read_text())[POOLING_KEY] == "cls+moments"
    backbone = load_vision_backbone(parse_model(f"timesformer:{pooled_folder}"))
    assert backbone.hidden_size == 32 + len(mp.POOLED_NAMES)
    clips = _clips()
    with torch.no_grad():
        got = backbone(backbone.preprocess(clips))["embeddings"].numpy()
        cls = load_timesformer(pooled_folder)(backbone.preprocess(clips)).last_hidden_state[:, 0].numpy()
    r = load_readout(pooled_folder)
    shift, scale = r["feature_shift"].numpy(), r["feature_scale"].numpy()
    assert scale.shape == shift.shape == (len(mp.POOLED_NAMES),)
    assert (scale > 0).all() and not np.allclose(scale, 1) and not np.allclose(shift, 0)
    moments = (pooled_moments(token_predictions(pooled_folder, clips), DENSE_NAMES) - shift) / scale
    assert got.shape == (3, backbone.hidden_size)
    np.testing.assert_allclose(got[:, :32], cls, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got[:, 32:], moments, rtol=1e-4, atol=1e-4)


def test_pooling_0_keeps_the_cls(tmp_path):
    from bgs.models.moment_readout import POOLING_KEY
    from bgs.models.registry import parse_model
    from bgs.models.vision import load_vision_backbone
    from bgs.pretrain.physical import PhysicalConfig, pretrain_physical

    assert PhysicalConfig().pooling == 1  # the default reads the CLS ‖ the moments
    folder = pretrain_physical(tmp_path / "m", PhysicalConfig(**TINY, pooling=0), log=None)
    assert POOLING_KEY not in json.loads((folder / "config.json").read_text())
    backbone = load_vision_backbone(parse_model(f"timesformer:{folder}"))
    assert backbone.readout is None and backbone.hidden_size == 32


def test_pooling_field_keys_and_validation():
    from dataclasses import replace

    from bgs.errors import ConfigError
    from bgs.pretrain.physical import PhysicalConfig

    tiny = PhysicalConfig(**TINY, pooling=0)
    pooled = replace(tiny, pooling=1)
    assert pooled.key() != tiny.key() and PhysicalConfig.from_dict(pooled.to_dict()) == pooled
    with pytest.raises(ConfigError, match="pooling"):
        PhysicalConfig(pooling=3)


def test_a_folder_asking_for_the_pooling_without_its_read_out_is_refused(pooled_folder, tmp_path):
    import shutil

    from bgs.errors import BGSError
    from bgs.models.moment_readout import READOUT_FILE
    from bgs.models.registry import parse_model
    from bgs.models.vision import load_vision_backbone

    copy = tmp_path / "copy"
    shutil.copytree(pooled_folder, copy)
    (copy / READOUT_FILE).unlink()
    with pytest.raises(BGSError, match="readout.safetensors is missing"):
        load_vision_backbone(parse_model(f"timesformer:{copy}"))


def test_a_lora_step_changes_the_pooled_moments(pooled_folder):
    """A step of LoRA (the BGS model's wrapping, through its projection head) on a loss of
    the moment features alone reaches the encoder through the frozen read-out and the pooling."""
    from bgs.models.registry import parse_model
    from bgs.models.vision import load_vision_backbone
    from bgs.train.config import ModelConfig
    from bgs.train.model import BGSModel

    spec = parse_model(f"timesformer:{pooled_folder}")
    backbone = load_vision_backbone(spec)
    encoder = _Encoder(backbone, _clips(n=4))
    model = BGSModel(encoder, spec.kind, ModelConfig(), str(spec))
    assert model.head.net[0].in_features == backbone.hidden_size  # the projection head sees it all
    assert not any(b.requires_grad for b in backbone.readout.buffers())
    with torch.no_grad():
        before = encoder(range(4)).clone()
    lora = [p for n, p in model.named_parameters() if "lora_" in n]
    opt = torch.optim.SGD(lora, lr=1.0)
    model.train()
    encoder(range(4))[:, 32:].pow(2).sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in lora)
    opt.step()
    with torch.no_grad():
        after = encoder(range(4))
    assert not torch.allclose(after[:, 32:], before[:, 32:], atol=1e-6)


class _Encoder(torch.nn.Module):
    """``bgs.train.model.VideoEncoder``'s interface over fixed clips (no clip store)."""

    def __init__(self, backbone, clips):
        super().__init__()
        self.backbone, self.clips = backbone, clips

    @property
    def inner(self):
        return self.backbone.model

    @inner.setter
    def inner(self, module):
        self.backbone.model = module

    @property
    def hidden_size(self):
        return self.backbone.hidden_size

    def forward(self, ids):
        return self.backbone(self.backbone.preprocess(self.clips[list(ids)]))["embeddings"]


def test_a_saved_read_out_pools_as_the_one_it_was_saved_from(pooled_folder, tmp_path):
    """A merged export writes the backbone's read-out beside its encoder; loaded again it
    gives the same embedding."""
    import shutil

    from bgs.models.moment_readout import READOUT_FILE
    from bgs.models.registry import parse_model
    from bgs.models.vision import load_vision_backbone

    copy = tmp_path / "copy"
    shutil.copytree(pooled_folder, copy)
    (copy / READOUT_FILE).unlink()
    backbone = load_vision_backbone(parse_model(f"timesformer:{pooled_folder}"))
    backbone.readout.save(copy)
    again = load_vision_backbone(parse_model(f"timesformer:{copy}"))
    x = backbone.preprocess(_clips())
    with torch.no_grad():
        np.testing.assert_array_equal(backbone(x)["embeddings"].numpy(), again(x)["embeddings"].numpy())
