"""The moment pooling of per-token agent channels (``bgs.pretrain.moments``) against brute
force over token pairs, and the per-token read-out saved beside the encoder
(``bgs.pretrain.readout``)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bgs.pretrain.moments import (
    FRAME_MOMENT_NAMES,
    GRID_MOMENT_NAMES,
    MOMENT_NAMES,
    frame_moments,
    grid_moments,
    moment_features,
    token_states,
)

DENSE = ("coverage", "agents", "x", "y", "r2", "heading_x", "heading_y", "speed")  # any order works
F = {n: i for i, n in enumerate(FRAME_MOMENT_NAMES)}


def _tokens(w, c, h, s, rng):
    """(N, T, K, len(DENSE)) per-token channels that spread states over tokens as the
    pre-training's targets do (``x = w·c``, …), with noise in the channels the pooling ignores."""
    out = rng.normal(size=(*w.shape, len(DENSE)))
    out[..., 1], out[..., 2:4], out[..., 5:7], out[..., 7] = w, w[..., None] * c, w[..., None] * h, w * s
    return out


def _pairs(w, a, b=None):
    """Σ_ij w_i w_j f(i, j) / W² over the tokens of one frame, by brute force."""
    total = 0.0
    for i in range(len(w)):
        for j in range(len(w)):
            total += w[i] * w[j] * (a(i, j) if b is None else b(i, j))
    return total / w.sum() ** 2


def _brute(w, c, h, s):
    """Each frame's spread, speed spread, heading–centre covariance and |mean heading|², from
    sums over token pairs (Σ_ij w_i w_j |c_i − c_j|² = 2 W Σ w|c|² − 2 |Σ w c|², etc.)."""
    return (0.5 * _pairs(w, lambda i, j: np.sum((c[i] - c[j]) ** 2)),
            0.5 * _pairs(w, lambda i, j: (s[i] - s[j]) ** 2),
            _pairs(w, lambda i, j: h[i] @ (c[i] - c[j])),
            _pairs(w, lambda i, j: h[i] @ h[j]))


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 7), st.integers(0, 2 ** 31 - 1))
def test_moments_equal_sums_over_token_pairs(k, seed):
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.15, 1.0, size=(2, 3, k))
    c, h, s = rng.normal(size=(2, 3, k, 2)), rng.normal(size=(2, 3, k, 2)), rng.uniform(0, 2, size=(2, 3, k))
    got = frame_moments(*token_states(_tokens(w, c, h, s, rng), DENSE))
    for n in range(2):
        for t in range(3):
            spread, speed_spread, cov, h2 = _brute(w[n, t], c[n, t], h[n, t], s[n, t])
            row = got[n, t]
            np.testing.assert_allclose(row[[F["centre_spread"], F["speed_spread"], F["heading_centre_cov"],
                                            F["heading_mean2"]]], [spread, speed_spread, cov, h2],
                                       rtol=1e-9, atol=1e-9)
            np.testing.assert_allclose(row[F["weight"]], w[n, t].sum())
            np.testing.assert_allclose(row[F["speed_mean"]], (w[n, t] * s[n, t]).sum() / w[n, t].sum())


def test_two_agents_give_their_distance_speed_gap_facing_and_alignment():
    """Two agents, one token each (weights 1, as the exact targets): the features are half
    the distance, half the speed gap, the mean facing cosine and (1 + cos Δheading)/2."""
    rng = np.random.default_rng(0)
    c = np.array([[0.1, -0.2], [-0.15, 0.25]])
    head = np.array([0.3, 2.0])
    h = np.stack([np.cos(head), np.sin(head)], axis=1)
    s = np.array([0.4, 1.1])
    row = frame_moments(*token_states(_tokens(np.ones((1, 1, 2)), c[None, None], h[None, None], s[None, None],
                                              rng), DENSE))[0, 0]
    ab = c[1] - c[0]
    d = np.linalg.norm(ab)
    facing = 0.5 * (h[0] @ ab / d + h[1] @ (-ab) / d)
    np.testing.assert_allclose(row[F["centre_sd"]], d / 2)
    np.testing.assert_allclose(row[F["speed_sd"]], abs(s[0] - s[1]) / 2)
    np.testing.assert_allclose(row[F["facing"]], facing)
    np.testing.assert_allclose(row[F["heading_mean2"]], (1 + np.cos(head[0] - head[1])) / 2)


def test_light_tokens_are_left_out_and_empty_frames_are_zero():
    rng = np.random.default_rng(1)
    w = np.array([[[1.0, 0.5, 0.05], [0.0, 0.02, -0.3]]])  # frame 2: nothing above the minimum
    c, h, s = rng.normal(size=(1, 2, 3, 2)), rng.normal(size=(1, 2, 3, 2)), rng.uniform(size=(1, 2, 3))
    got = frame_moments(*token_states(_tokens(w, c, h, s, rng), DENSE, min_weight=0.1))
    keep = frame_moments(*token_states(_tokens(w[:, :1, :2], c[:, :1, :2], h[:, :1, :2], s[:, :1, :2], rng), DENSE))
    np.testing.assert_allclose(got[0, 0], keep[0, 0])
    assert np.all(got[0, 1] == 0)
    feats = moment_features(_tokens(w, c, h, s, rng), DENSE)
    assert feats.shape == (1, len(MOMENT_NAMES)) and np.isfinite(feats).all()


def test_grid_spread_against_token_pairs():
    rng = np.random.default_rng(2)
    cover = rng.uniform(-0.1, 1.0, size=(2, 3, 4, 4))
    got = grid_moments(cover)
    assert got.shape == (2, 3, len(GRID_MOMENT_NAMES))
    centre = (np.arange(4) + 0.5) / 4 - 0.5
    pos = np.array([[centre[r], centre[q]] for r in range(4) for q in range(4)])
    for n in range(2):
        for t in range(3):
            w = np.clip(cover[n, t].reshape(-1), 0, None)
            np.testing.assert_allclose(got[n, t, 1], 0.5 * _pairs(w, lambda i, j: np.sum((pos[i] - pos[j]) ** 2)))
            np.testing.assert_allclose(got[n, t, 0], w.sum())


def test_saved_readout_reproduces_the_training_read_out(tmp_path):
    """token_predictions (the saved encoder and read-out, loaded again) equals the trained
    model's own per-token output, rescaled to raw units; a folder without it is refused."""
    pytest.importorskip("transformers")
    import torch
    from safetensors.torch import load_file

    from bgs.errors import BGSError
    from bgs.media.decode import to_float_tensor
    from bgs.models.registry import IMAGENET_MEAN, IMAGENET_STD
    from bgs.pretrain.physical import PhysicalConfig, _model_class, pretrain_physical
    from bgs.pretrain.readout import READOUT_FILE, load_readout, token_predictions

    config = PhysicalConfig(frames=4, size=16, patch=8, tubelet=2, hidden=32, layers=1, heads=2,
                            intermediate=64, steps=3, batch=8, warmup=1, n_clips=12, n_val=0, log_every=3)
    folder = pretrain_physical(tmp_path / "m", config, log=None)
    frames = np.random.default_rng(3).integers(0, 256, size=(3, 4, 16, 16, 3), dtype=np.uint8)
    got = token_predictions(folder, frames)
    model = _model_class()(replace(config))
    model.encoder.load_state_dict(load_file(str(folder / "model.safetensors")))
    r = load_readout(folder)
    model.dense.load_state_dict({"weight": r["weight"], "bias": r["bias"]})
    with torch.no_grad():
        dense = model.eval()(to_float_tensor(frames, IMAGENET_MEAN, IMAGENET_STD))[0]
    assert got.shape == (3, config.slices, config.grid, config.grid, len(r["scale"]))
    np.testing.assert_allclose(got, (dense * r["scale"]).numpy(), rtol=1e-4, atol=1e-5)
    (folder / READOUT_FILE).unlink()
    with pytest.raises(BGSError, match="pre-train again"):
        token_predictions(folder, frames)
