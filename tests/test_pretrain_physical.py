"""Supervised pre-training of the small video ViT on the renderer's physical ground truth
(``bgs.pretrain.physical``): targets against brute force, determinism, the cache, and the
saved folder loading through the registry."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from bgs.errors import BGSError, ConfigError  # noqa: E402
from bgs.pretrain.physical import (  # noqa: E402
    AGENT_NAMES,
    CLIP_NAMES,
    DENSE_NAMES,
    FRAME_NAMES,
    PhysicalConfig,
    agent_state,
    cached_physical,
    clip_cues,
    clip_quantities,
    frame_quantities,
    physical_targets,
    pretrain_physical,
)
from bgs.synthetic import SynthConfig  # noqa: E402
from bgs.synthetic.dataset import build_scenes  # noqa: E402
from bgs.synthetic.render import render_scene  # noqa: E402

TINY = PhysicalConfig(frames=4, size=16, patch=8, tubelet=2, hidden=32, layers=1, heads=2,
                      intermediate=64, steps=30, batch=8, lr=3e-3, warmup=3, n_clips=24, n_val=8,
                      log_every=10)


def _scenes(n=6, frames=4, size=16):
    scenes = build_scenes(SynthConfig(seed=5, n_clips=n, frames=frames, size=size, three_agent_share=0.5))
    masks = np.stack([render_scene(s, frames, size)[1] for s in scenes])
    return scenes, masks


def test_config_validation_and_key():
    assert PhysicalConfig().key() == PhysicalConfig().key()
    assert PhysicalConfig.from_dict(TINY.to_dict()) == TINY
    assert len({PhysicalConfig().key(), TINY.key(), replace(TINY, seed=1).key()}) == 3
    assert replace(TINY, lr=1).key() == replace(TINY, lr=1.0).key()
    with pytest.raises(ConfigError, match="multiple of patch"):
        PhysicalConfig(size=60)
    with pytest.raises(ConfigError, match="unknown PhysicalConfig"):
        PhysicalConfig.from_dict({"epochs": 3})
    with pytest.raises(ConfigError, match="must be an integer"):
        PhysicalConfig(steps=2.5)


def test_frame_quantities_against_brute_force():
    scenes, _ = _scenes()
    for scene in scenes:
        q = frame_quantities(scene, 4)
        pos, head = scene.arena_poses(scene.frame_times(4))
        assert q.shape == (4, len(FRAME_NAMES))
        for t in range(4):
            (ax, ay), (bx, by) = pos[0, t], pos[1, t]
            assert q[t, 0] == pytest.approx(((ax - bx) ** 2 + (ay - by) ** 2) ** 0.5)
            assert q[t, 5] == pytest.approx(np.cos(head[0, t] - head[1, t]))
            assert q[t, 9] == pytest.approx((ax + bx) / 2)
        assert q[0, 6] == float(scene.n_agents == 3)
        # approach = minus the rate of change of the distance (per clip duration: 3 intervals)
        assert q[0, 1] == pytest.approx(-(q[1, 0] - q[0, 0]) * 3)


def test_targets_against_brute_force():
    scenes, masks = _scenes()
    t = physical_targets(scenes, masks, TINY)
    assert t.shape == (6, 2, 2, 2, len(DENSE_NAMES))
    # token (slice 1, row 0, column 1) of clip 2: frames 2-3, pixels [0:8, 8:16]
    assert t[2, 1, 0, 1, 0] == pytest.approx((masks[2, 2:4, 0:8, 8:16] > 0).mean())
    for i, scene in enumerate(scenes):
        pos, head = scene.arena_poses(scene.frame_times(4))
        state = agent_state(scene, 4)
        assert state.shape == (scene.n_agents, 4, len(AGENT_NAMES))
        a, f = 0, 1  # agent 0 at frame 1, brute force
        c = pos[a, f] - 0.5
        v = (pos[a, 2] - pos[a, 0]) / 2 * 3  # central difference, per clip duration
        h = np.array([np.cos(head[a, f]), np.sin(head[a, f])])
        want = [1, c[0], c[1], c @ c, h[0], h[1], h @ c, v[0], v[1], np.hypot(*v), v @ c,
                abs(v @ c), h @ v, v @ v]
        assert np.allclose(state[a, f], want)
        # the agent channels summed over a slice's tokens: the sum over the agents that are
        # visible, averaged over the slice's frames (each agent's pixel weights sum to 1)
        for sl in range(2):
            frames = [2 * sl, 2 * sl + 1]
            visible = [[(masks[i, fr] == k + 1).any() for k in range(scene.n_agents)] for fr in frames]
            expect = np.mean([state[np.array(vis), fr].sum(axis=0) for vis, fr in zip(visible, frames)], axis=0)
            assert np.allclose(t[i, sl, :, :, 1:].sum(axis=(0, 1)), expect)
    assert clip_quantities(scenes, 4).shape == (6, len(CLIP_NAMES))
    assert np.allclose(clip_quantities(scenes, 4)[:, :len(FRAME_NAMES)],
                       np.stack([frame_quantities(s, 4).mean(axis=0) for s in scenes]))


def test_cue_weight_keys_and_cues_against_brute_force():
    weighted = replace(TINY, cue_weight=1.0)
    assert weighted.key() != TINY.key() and PhysicalConfig.from_dict(weighted.to_dict()) == weighted
    scenes, _ = _scenes()
    cues = clip_cues(scenes)
    assert cues.shape == (6, 5) and ((cues >= 0) & (cues <= 1)).all()
    for scene, cue in zip(scenes, cues):
        start, span = scene.nuisance.window_start, scene.nuisance.speed_scale
        u = np.linspace(start, start + span, 16)
        grid = np.linspace(0, 1, scene.positions.shape[1])
        a, b = ([np.interp(u, grid, scene.positions[k, :, d]) for d in range(2)] for k in (0, 1))
        dist = np.hypot(a[0] - b[0], a[1] - b[1]).mean()  # closeness: minus the mean distance
        assert cue[2] == pytest.approx(np.clip((-dist + 0.42) / 0.30, 0, 1))


@pytest.mark.slow
def test_pretraining_with_cues_reports_their_loss(tmp_path):
    folder = pretrain_physical(tmp_path / "c", replace(TINY, cue_weight=1.0, steps=10), log=None)
    doc = json.loads((folder / "pretraining.json").read_text())
    assert len(doc["val_end"]["cues"]) == 5 and doc["config"]["cue_weight"] == 1.0


@pytest.mark.slow
def test_pretraining_learns_is_deterministic_and_loads(tmp_path, monkeypatch):
    from safetensors.numpy import load_file

    from bgs.models.registry import parse_model
    from bgs.models.vision import load_vision_backbone

    a = pretrain_physical(tmp_path / "a", TINY, log=None)
    b = pretrain_physical(tmp_path / "b", TINY, log=None)
    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)
    doc = json.loads((a / "pretraining.json").read_text())
    # held out: the per-token read-out (coverage, motion) improves well beyond its start
    assert doc["val_end"]["dense"] < 0.8 * doc["val_start"]["dense"]
    assert set(doc["val_end"]) == {"dense", *DENSE_NAMES}
    backbone = load_vision_backbone(parse_model(f"timesformer:{a}"))
    assert (backbone.frames, backbone.size) == (TINY.frames, TINY.size)
    with pytest.raises(BGSError, match="already exists and is not empty"):
        pretrain_physical(a, TINY, log=None)
    monkeypatch.setenv("BGS_MODELS_DIR", str(tmp_path / "cache"))
    first = cached_physical(TINY, log=None)
    assert first.name == f"physical-vit-{TINY.key()}"
    assert cached_physical(TINY, log=None) == first  # reused, not retrained


@pytest.mark.slow
def test_probes_compare_with_a_random_copy(tmp_path):
    from bgs.pretrain.physical_probes import PROBED, physical_probes, probe_clips

    frames, table = probe_clips(TINY, n_clips=12, seed=0, work=tmp_path)
    assert frames.shape == (12, TINY.frames, TINY.size, TINY.size, 3)
    assert list(table.columns) == list(PROBED) and np.isfinite(table.to_numpy()).all()
    folder = pretrain_physical(tmp_path / "m", TINY, log=None)
    scores = physical_probes(folder, TINY, n_clips=30, folds=3)
    assert list(scores.index) == list(PROBED)
    assert set(scores.columns) == {"r2_pretrained", "r2_random", "pearson_r_pretrained",
                                   "pearson_r_random"}
    # different models, different features: the two columns are not the same numbers
    assert not np.allclose(scores["r2_pretrained"], scores["r2_random"])


def test_heading_weight_keys_and_weights_the_loss():
    import torch

    from bgs.pretrain.physical import _loss

    heavy = replace(TINY, heading_weight=4.0)
    assert heavy.key() != TINY.key() and PhysicalConfig.from_dict(heavy.to_dict()) == heavy
    with pytest.raises(ConfigError, match="heading_weight"):
        PhysicalConfig(heading_weight=-1.0)
    g = torch.Generator().manual_seed(0)
    c = len(DENSE_NAMES)
    dense, target = torch.randn(2, 3, 2, 2, c, generator=g), torch.randn(2, 3, 2, 2, c, generator=g)
    cls = torch.randn(2, c, generator=g)
    per_channel = [((dense[..., k] - target[..., k]) ** 2).mean()
                   + ((cls[:, k] - target[..., k].mean(dim=(1, 2, 3))) ** 2).mean() for k in range(c)]
    weights = [4.0 if n in ("heading_x", "heading_y") else 1.0 for n in DENSE_NAMES]
    want = sum(w * e for w, e in zip(weights, per_channel)) / c
    assert float(_loss((dense, cls, None), target, None, heavy)) == pytest.approx(float(want), rel=1e-5)
    assert float(_loss((dense, cls, None), target, None, TINY)) == pytest.approx(float(sum(per_channel) / c), rel=1e-5)
