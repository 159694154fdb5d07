"""Attention maps: rollout and gradient-weighted rollout of tiny random models saved with
save_pretrained and loaded through the real loading code, checked against the full product of
per-layer N×N matrices built here; agent shares against a pixel-level brute force; the
``bgs attention`` command end to end (with a trained checkpoint) on a tiny synthetic set."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("av")

from bgs.attention import align_mask, attention_maps, layout_for, mask_shares, patch_fractions  # noqa: E402
from bgs.cli import main  # noqa: E402
from bgs.models.registry import parse_model  # noqa: E402
from bgs.models.vision import load_vision_backbone  # noqa: E402

TINY = dict(hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=37)


def _save(model, folder):
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("attn-models")
    torch.manual_seed(0)
    t = transformers
    return {
        "videomae": _save(t.VideoMAEModel(t.VideoMAEConfig(**TINY, image_size=32, patch_size=8, num_frames=4,
                                                           tubelet_size=2)), root / "videomae"),
        "timesformer": _save(t.TimesformerModel(t.TimesformerConfig(**TINY, image_size=32, patch_size=8,
                                                                    num_frames=4)), root / "timesformer"),
        "clip": _save(t.CLIPVisionModel(t.CLIPVisionConfig(**TINY, image_size=32, patch_size=8)), root / "clip"),
        "siglip": _save(t.SiglipVisionModel(t.SiglipVisionConfig(**TINY, image_size=32, patch_size=8)),
                        root / "siglip"),
        "vjepa2": _save(t.VJEPA2Model(t.VJEPA2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                                     mlp_ratio=2, crop_size=32, patch_size=8, frames_per_clip=4,
                                                     tubelet_size=2, pred_hidden_size=16,
                                                     pred_num_hidden_layers=1, pred_num_attention_heads=2)),
                        root / "vjepa2"),
    }


def _load(kind, folders, frames=4):
    return load_vision_backbone(parse_model(f"{kind}:{folders[kind]}"), frames=None if kind == "videomae" else frames,
                                attn_implementation="eager")


def _frames(n=2, t=4, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, t, 32, 32, 3), dtype=np.uint8)


def _normalise(x):
    x = np.clip(x, 0, None)
    return x / x.sum(axis=tuple(range(1, x.ndim)), keepdims=True)


def test_videomae_rollout_is_the_attention_product(folders):
    bb = _load("videomae", folders)
    frames = _frames()
    maps = attention_maps(bb, frames, ["rollout", "grad_rollout"])
    # direct: R = Π ½(mean_h A_l + I) over full N×N matrices; the embedding is the token mean
    pixels = bb.preprocess(torch.from_numpy(frames)).requires_grad_(True)
    out = bb.model(pixel_values=pixels, output_attentions=True)
    attn = out.attentions
    n = attn[0].shape[-1]
    eye = torch.eye(n, dtype=torch.float64)
    z = out.last_hidden_state.mean(dim=1)
    grads = torch.autograd.grad(0.5 * (z ** 2).sum(), attn)
    attn, grads = [a.detach().double() for a in attn], [g.double() for g in grads]
    for b in range(frames.shape[0]):
        r, rg = eye.clone(), eye.clone()
        for a, g in zip(attn, grads):
            r = (0.5 * (a[b].mean(0) + eye)) @ r
            rg = (eye + (g[b] * a[b]).clamp(min=0).mean(0)) @ rg
        u = torch.full((n,), 1.0 / n, dtype=torch.float64)
        for name, v in (("rollout", u @ r), ("grad_rollout", u @ rg - u)):
            tok = v.detach().numpy().reshape(2, 4, 4)  # (tubelets, rows, cols)
            expect = _normalise(np.repeat(tok, 2, axis=0)[None])[0]  # each tubelet covers 2 frames
            assert maps[name][b].shape == (4, 4, 4)
            np.testing.assert_allclose(maps[name][b], expect, rtol=1e-9, atol=1e-12)
    # not trivially uniform
    assert maps["rollout"][0].std() > 1e-5 and maps["grad_rollout"][0].std() > 1e-5


def test_timesformer_divided_rollout_is_the_full_product(folders):
    bb = _load("timesformer", folders)
    frames = _frames(n=1)
    maps = attention_maps(bb, frames, ["rollout"])["rollout"][0]
    # record the temporal attentions independently (their dropout's output), spatial from the model
    temporal = []
    hooks = [layer.temporal_attention.attention.attn_drop.register_forward_hook(
        lambda m, i, o: temporal.append(o.detach())) for layer in bb.model.encoder.layer]
    with torch.no_grad():
        out = bb.model(pixel_values=bb.preprocess(torch.from_numpy(frames)), output_attentions=True)
    for h in hooks:
        h.remove()
    t, p = 4, 16
    n = 1 + p * t
    tok = lambda q, f: 1 + q * t + f  # noqa: E731  patch-major, time-minor
    eye = np.eye(n)
    r = np.eye(n)
    for a_s, a_t in zip(out.attentions, temporal):
        s = a_s.double().mean(1).numpy()  # (T, 1+P, 1+P)
        tm = a_t.double().mean(1).numpy()  # (P, T, T)
        T_full = np.zeros((n, n))
        T_full[0, 0] = 1.0
        S_full = np.zeros((n, n))
        for q in range(p):
            for f in range(t):
                for f2 in range(t):
                    T_full[tok(q, f), tok(q, f2)] = tm[q, f, f2]
        for f in range(t):
            S_full[0, 0] += s[f, 0, 0] / t
            for q in range(p):
                S_full[0, tok(q, f)] = s[f, 0, 1 + q] / t
                S_full[tok(q, f), 0] = s[f, 1 + q, 0]
                for q2 in range(p):
                    S_full[tok(q, f), tok(q2, f)] = s[f, 1 + q, 1 + q2]
        r = (0.5 * (S_full + eye)) @ (0.5 * (T_full + eye)) @ r
    v = r[0]
    expect = np.zeros((t, p))
    for q in range(p):
        for f in range(t):
            expect[f, q] = v[tok(q, f)]
    expect = _normalise(expect[None])[0].reshape(t, 4, 4)
    np.testing.assert_allclose(maps, expect, rtol=1e-9, atol=1e-12)


def test_clip_per_frame_rollout_from_cls(folders):
    bb = _load("clip", folders)
    frames = _frames(n=1)
    maps = attention_maps(bb, frames, ["rollout"])["rollout"][0]
    with torch.no_grad():
        out = bb.model(pixel_values=bb.preprocess(torch.from_numpy(frames))[0], output_attentions=True)
    n = out.attentions[0].shape[-1]
    per_frame = []
    for f in range(4):
        r = np.eye(n)
        for a in out.attentions:
            r = (0.5 * (a[f].double().mean(0).numpy() + np.eye(n))) @ r
        per_frame.append(r[0, 1:].reshape(4, 4) / 4)  # the video embedding is the frame mean
    np.testing.assert_allclose(maps, _normalise(np.stack(per_frame)[None])[0], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kind", ["siglip", "vjepa2"])
def test_other_kinds_give_normalised_maps(kind, folders):
    bb = _load(kind, folders)
    lay = layout_for(bb)
    maps = attention_maps(bb, _frames(), ["rollout", "grad_rollout"])
    for name, m in maps.items():
        assert m.shape == (2, 4, lay.grid, lay.grid), name
        np.testing.assert_allclose(m.sum(axis=(1, 2, 3)), 1.0, rtol=1e-5)
        assert (m >= 0).all()


def test_mask_shares_match_a_pixel_brute_force():
    rng = np.random.default_rng(1)
    t, g, k = 3, 4, 8
    rel = rng.random((t, g, g))
    rel /= rel.sum()
    mask = rng.random((t, g * k, g * k)) < 0.1
    got = mask_shares(rel, patch_fractions(mask, g))
    # brute force: spread each patch's relevance uniformly over its k×k pixels, sum on the mask
    pixels = np.stack([np.kron(rel[f], np.ones((k, k))) / (k * k) for f in range(t)])
    agent = pixels[mask].sum()
    assert got["agent_share"] == pytest.approx(agent, rel=1e-12)
    assert got["background_share"] == pytest.approx(1 - agent, rel=1e-12)
    assert got["area_share"] == pytest.approx(mask.mean(), rel=1e-12)
    assert got["agent_ratio"] == pytest.approx(agent / mask.mean(), rel=1e-12)
    uniform = mask_shares(np.full((t, g, g), 1.0 / (t * g * g)), patch_fractions(mask, g))
    assert uniform["agent_ratio"] == pytest.approx(1.0)  # chance is 1


def test_align_mask_samples_and_crops_like_the_decoder():
    from bgs.media.decode import sample_indices

    rng = np.random.default_rng(2)
    mask = rng.random((8, 32, 32)) < 0.3
    np.testing.assert_array_equal(align_mask(mask, 4, 32), mask[sample_indices(8, 4)])
    wide = np.zeros((2, 20, 40), bool)
    wide[:, :, 10:30] = True  # the centre half of a 2:1 frame
    out = align_mask(wide, 2, 10)  # scaled to 10×20, centre crop 10×10: all inside
    assert out.shape == (2, 10, 10) and out.all()


def test_style_changes_appearance_but_not_scripts(tmp_path):
    from bgs.synthetic import SynthConfig, make_dataset, read_truth
    from bgs.synthetic.scenes import ABSTRACT_SHAPES

    cfg = dict(seed=4, n_clips=8, n_participants=6, frames=4, size=32, ceiling_draws=20)
    make_dataset(tmp_path / "a", SynthConfig(**cfg))
    make_dataset(tmp_path / "b", SynthConfig(**cfg, style="abstract"))
    a, b = read_truth(tmp_path / "a"), read_truth(tmp_path / "b")
    np.testing.assert_array_equal(a.scripts, b.scripts)
    np.testing.assert_array_equal(a.latent, b.latent)
    np.testing.assert_array_equal(a.split, b.split)
    for ca, cb in zip(a.raw["clips"], b.raw["clips"]):
        assert ca["params"] == cb["params"] and ca["n_agents"] == cb["n_agents"]
        na, nb = ca["nuisance"], cb["nuisance"]
        for key in ("offset", "rotation", "speed_scale", "window_start"):
            assert na[key] == nb[key]
        assert "style" not in na and nb["style"] == "abstract"
        assert set(nb["shapes"]) <= set(ABSTRACT_SHAPES) and nb["texture"] == "plain"
        assert na["background"] != nb["background"]
    import pandas as pd

    ta, tb = pd.read_csv(tmp_path / "a" / "all_triplets.csv"), pd.read_csv(tmp_path / "b" / "all_triplets.csv")
    cols = ["participation", "stim1_name", "stim2_name", "stim3_name"]
    pd.testing.assert_frame_equal(ta[cols], tb[cols])  # same design; choices may differ (appearance)
    from bgs.synthetic.render import read_mp4

    fa, fb = read_mp4(tmp_path / "a/videos/synth_0000.mp4"), read_mp4(tmp_path / "b/videos/synth_0000.mp4")
    assert np.abs(fa.astype(int) - fb.astype(int)).mean() > 20
    assert SynthConfig(style="abstract").to_dict()["style"] == "abstract"


def test_attention_command_end_to_end_with_checkpoint(folders, tmp_path):
    from bgs.attention.masks import read_mask
    from bgs.synthetic import SynthConfig, make_dataset
    from bgs.train.config import TrainConfig
    from bgs.train.trainer import Trainer

    syn = tmp_path / "syn"
    make_dataset(syn, SynthConfig(seed=1, n_clips=16, n_participants=12, frames=4, size=32, ceiling_draws=20))
    cfg = TrainConfig()
    cfg.data.triplets, cfg.data.stimuli = str(syn / "all_triplets.csv"), str(syn / "video_mapping.csv")
    cfg.data.videos, cfg.data.train, cfg.data.test = str(syn / "videos"), str(syn / "train.csv"), str(syn / "test.csv")
    cfg.data.val_fraction = 0.3
    cfg.model.backbone = f"videomae:{folders['videomae']}"
    cfg.optim.epochs, cfg.optim.max_steps_per_epoch, cfg.optim.lr = 1, 2, 1e-2
    cfg.run.eval_bootstrap, cfg.run.eval_permutations = 20, 0
    Trainer(cfg, tmp_path / "run", log=lambda *_: None).run()

    out = tmp_path / "att"
    args = ["attention", "--checkpoint", str(tmp_path / "run"), "--stimuli", str(syn / "video_mapping.csv"),
            "--videos", str(syn / "videos"), "--masks", str(syn / "masks"), "--out", str(out),
            "--n-bootstrap", "50", "--max-overlays", "2", "--split", str(syn / "test.csv")]
    assert main(args) == 0
    import pandas as pd

    rows = pd.read_csv(out / "clips.csv")
    n_test = len(pd.read_csv(syn / "test.csv"))
    assert len(rows) == n_test * 2 * 2  # clips × {base, fine-tuned} × {rollout, grad_rollout}
    assert set(rows["model"]) == {"base", "fine-tuned"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_with_masks"] == n_test and set(summary["shift"]) == {"rollout", "grad_rollout"}
    assert (out / "overlays").is_dir() and len(list((out / "overlays").glob("*.png"))) == 2
    assert len(list((out / "overlays").glob("*.gif"))) == 2
    # the shares in the table are those of the saved maps and the synthetic masks
    maps = np.load(out / "maps.npz")
    first = rows.iloc[0]
    k = list(maps["ids"]).index(first["id"])
    rel = maps[f"{first['model']}__{first['method']}"][k]
    frac = patch_fractions(align_mask(read_mask(syn / "masks" / first["file"].replace(".mp4", ".npz")), 4, 32), 4)
    assert first["agent_share"] == pytest.approx(mask_shares(rel, frac)["agent_share"], rel=1e-5)
    # base maps differ from fine-tuned ones (the adapter was loaded), and each sums to one
    assert not np.allclose(maps["base__rollout"], maps["fine-tuned__rollout"])
    np.testing.assert_allclose(maps["fine-tuned__grad_rollout"].sum(axis=(1, 2, 3)), 1.0, rtol=1e-5)

    # bgs embed --checkpoint reproduces the run's own embeddings
    emb = tmp_path / "e.npz"
    assert main(["embed", "--model", f"videomae:{folders['videomae']}", "--checkpoint", str(tmp_path / "run"),
                 "--stimuli", str(syn / "video_mapping.csv"), "--videos", str(syn / "videos"),
                 "--out", str(emb)]) == 0
    from bgs.embeddings import Embeddings

    mine, theirs = Embeddings.load(emb), Embeddings.load(tmp_path / "run" / "embeddings.npz")
    np.testing.assert_allclose(mine.align(theirs.ids).matrix, theirs.matrix, atol=1e-5)


def test_attention_command_errors(folders, tmp_path, capsys):
    base = ["attention", "--stimuli", str(tmp_path / "s.csv"), "--videos", str(tmp_path), "--out", str(tmp_path / "o")]
    (tmp_path / "s.csv").write_text("id,file\n0,a.mp4\n")
    assert main(base + ["--checkpoint", str(tmp_path / "nope")]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    assert main(base + ["--model", f"videomae:{folders['videomae']}", "--methods", "saliency"]) == 2
    assert "--methods" in capsys.readouterr().err
    assert main(base) == 2
    assert "--checkpoint" in capsys.readouterr().err
