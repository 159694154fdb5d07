"""V-JEPA 2.1, native: the 3-axis rotary embedding against a direct per-position rotation,
the relative-position property, the whole encoder against an independent naive forward,
strict loading of checkpoints in Meta's key layout (``.pt`` with prefixes) and of bgs's
folder, and ``bgs embed`` / ``bgs train`` / ``bgs attention`` end to end on tiny random
configs saved to a temporary folder in both formats."""

import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")
pytest.importorskip("av")
from hypothesis import given, settings
from hypothesis import strategies as st

from bgs.cli import main
from bgs.errors import BGSError
from bgs.models.registry import parse_model
from bgs.models.vision import load_vision_backbone
from bgs.models.vjepa21 import (
    VJEPA21Attention,
    VJEPA21Config,
    VJEPA21Model,
    apply_rotary,
    axis_dim,
    rotary_tables,
    token_positions,
)
from bgs.models.vjepa21_weights import config_from_state, load_vjepa21

# head dimension 22: 6 channels per axis, 4 left unrotated; depth 4: levels at blocks 0..3
TINY = dict(hidden_size=44, num_hidden_layers=4, num_attention_heads=2, intermediate_size=40,
            patch_size=8, image_size=32, tubelet_size=2)


def tiny(seed=0, **overrides):
    torch.manual_seed(seed)
    model = VJEPA21Model(VJEPA21Config(**{**TINY, **overrides})).eval()
    with torch.no_grad():  # non-trivial norms and modality embeddings
        for name, p in model.named_parameters():
            if "norm" in name or "mod_embed" in name:
                p.add_(torch.randn_like(p) * 0.3)
    return model


def meta_checkpoint(model, path, key="ema_encoder", prefix="module.backbone."):
    """A .pt as Meta writes it: the encoder under ``key``, names prefixed, other entries."""
    encoder = {prefix + k: v.clone() for k, v in model.state_dict().items()}
    torch.save({key: encoder, "predictor": {"module.x": torch.zeros(2)}, "epoch": 7, "lr": 1e-4}, path)
    return path


# ------------------------------------------------------------------------- rotary


def naive_rotation(x, t, h, w, rope_grid=None, theta=10000.0):
    """Per token and channel pair, an explicit 2×2 rotation by the pair's angle."""
    head_dim = x.shape[-1]
    d = axis_dim(head_dim)
    out = x.clone()
    n = 0
    for f in range(t):
        for r in range(h):
            for c in range(w):
                rr = r * (rope_grid - 1) / (h - 1) if rope_grid and h > 1 else r
                cc = c * (rope_grid - 1) / (w - 1) if rope_grid and w > 1 else c
                for axis, pos in enumerate((f, rr, cc)):
                    for j in range(d // 2):
                        angle = pos * theta ** (-j / (d / 2))
                        rot = torch.tensor([[math.cos(angle), -math.sin(angle)],
                                            [math.sin(angle), math.cos(angle)]], dtype=x.dtype)
                        ch = axis * d + 2 * j
                        out[..., n, ch:ch + 2] = x[..., n, ch:ch + 2] @ rot.T
                n += 1
    return out


@pytest.mark.parametrize("head_dim,grid,rope_grid", [(22, (2, 3, 2), None), (64, (2, 4, 4), 16),
                                                     (48, (1, 3, 5), 16), (70, (3, 2, 2), None)])
def test_rotary_equals_a_direct_rotation(head_dim, grid, rope_grid):
    x = torch.randn(2, 3, math.prod(grid), head_dim, dtype=torch.float64)
    cos, sin = rotary_tables(token_positions(*grid, rope_grid).double(), head_dim)
    got = apply_rotary(x, cos.double(), sin.double())
    want = naive_rotation(x, *grid, rope_grid)
    assert torch.allclose(got, want, atol=1e-5)  # positions are float32, as in the model
    d = axis_dim(head_dim)
    assert torch.equal(got[..., 3 * d:], x[..., 3 * d:])  # the remainder is not rotated
    assert 3 * d <= head_dim < 3 * d + 6


def test_interpolated_positions_span_the_pretraining_grid():
    pos = token_positions(2, 24, 24, rope_grid=16)  # 384 px at patch 16, pre-trained at 256 px
    assert pos[:, 0].max() == 1 and pos[:, 1].max() == pytest.approx(15) and pos[:, 2].max() == pytest.approx(15)
    assert pos[1, 2] == pytest.approx(15 / 23) and pos[24, 1] == pytest.approx(15 / 23)
    assert torch.equal(token_positions(2, 4, 4, None)[5], torch.tensor([0.0, 1.0, 1.0]))


@settings(max_examples=40, deadline=None)
@given(head_dim=st.sampled_from([12, 22, 48, 64]), n=st.integers(2, 6),
       seed=st.integers(0, 2 ** 16), shift=st.tuples(*[st.integers(-40, 40)] * 3))
def test_rotary_attention_depends_only_on_relative_positions(head_dim, n, seed, shift):
    g = torch.Generator().manual_seed(seed)
    q, k = torch.randn(2, n, head_dim, generator=g, dtype=torch.float64).unbind(0)
    pos = torch.randint(0, 30, (n, 3), generator=g).double()
    moved = pos + torch.tensor(shift, dtype=torch.float64)

    def logits(p):
        cos, sin = rotary_tables(p, head_dim)
        return apply_rotary(q, cos, sin) @ apply_rotary(k, cos, sin).T

    assert torch.allclose(logits(pos), logits(moved), atol=1e-8)
    # and the absolute position does change each rotated query (not a trivial identity)
    cos, sin = rotary_tables(moved, head_dim)
    if any(shift):
        rq = apply_rotary(q, *rotary_tables(pos, head_dim))
        assert not torch.allclose(rq, apply_rotary(q, cos, sin))


def test_attention_module_output_is_shift_invariant():
    torch.manual_seed(0)
    attn = VJEPA21Attention(VJEPA21Config(**TINY)).double().eval()
    x = torch.randn(2, 12, TINY["hidden_size"], dtype=torch.float64)
    pos = token_positions(3, 2, 2, None).double()
    out = attn(x, *rotary_tables(pos, 22))[0]
    shifted = attn(x, *rotary_tables(pos + torch.tensor([5.0, -3.0, 11.0], dtype=torch.float64), 22))[0]
    assert torch.allclose(out, shifted, atol=1e-10)


# ------------------------------------------------------------------ the whole model


def naive_forward(model, clip):
    """The encoder from its parameters with explicit operations: patches cut out by
    reshaping (no convolution), explicit rotations per token, softmax attention per head."""
    c = model.config
    sd = {k: v.double() for k, v in model.state_dict().items()}
    b, t, ch, hh, ww = clip.shape
    image = t == 1
    tub, p = (1, c.patch_size) if image else (c.tubelet_size, c.patch_size)
    x = clip.double().permute(0, 2, 1, 3, 4)[:, :, : (t // tub) * tub]
    gt, gh, gw = x.shape[2] // tub, hh // p, ww // p
    cubes = x.reshape(b, ch, gt, tub, gh, p, gw, p).permute(0, 2, 4, 6, 1, 3, 5, 7).reshape(b, gt * gh * gw, -1)
    name = "patch_embed_img" if image else "patch_embed"
    tokens = cubes @ sd[f"{name}.proj.weight"].reshape(c.hidden_size, -1).T + sd[f"{name}.proj.bias"]
    tokens = tokens + sd["img_mod_embed" if image else "video_mod_embed"]
    heads, hd = c.num_attention_heads, c.hidden_size // c.num_attention_heads

    def ln(v, key):
        mu, var = v.mean(-1, keepdim=True), v.var(-1, unbiased=False, keepdim=True)
        return (v - mu) / torch.sqrt(var + c.layer_norm_eps) * sd[key + ".weight"] + sd[key + ".bias"]

    levels = []
    for i in range(c.num_hidden_layers):
        pre = f"blocks.{i}."
        y = ln(tokens, pre + "norm1")
        qkv = y @ sd[pre + "attn.qkv.weight"].T + sd[pre + "attn.qkv.bias"]
        q, k, v = qkv.reshape(b, -1, 3, heads, hd).permute(2, 0, 3, 1, 4)
        q = naive_rotation(q, gt, gh, gw, c.rope_grid)
        k = naive_rotation(k, gt, gh, gw, c.rope_grid)
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd), dim=-1)
        ctx = (a @ v).transpose(1, 2).reshape(b, -1, c.hidden_size)
        tokens = tokens + ctx @ sd[pre + "attn.proj.weight"].T + sd[pre + "attn.proj.bias"]
        m = ln(tokens, pre + "norm2") @ sd[pre + "mlp.fc1.weight"].T + sd[pre + "mlp.fc1.bias"]
        m = 0.5 * m * (1 + torch.erf(m / math.sqrt(2)))
        tokens = tokens + m @ sd[pre + "mlp.fc2.weight"].T + sd[pre + "mlp.fc2.bias"]
        if i in c.hierarchical_layers:
            levels.append(ln(tokens, f"norms_block.{c.hierarchical_layers.index(i)}"))
    return ln(tokens, f"norms_block.{len(c.hierarchical_layers) - 1}"), torch.cat(levels, -1)


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
@pytest.mark.parametrize("shape", [(4, 32), (1, 32), (5, 48)])  # clip, image, other size (odd frames)
def test_encoder_equals_a_naive_forward(attention, shape):
    model = tiny()
    model.set_attn_implementation(attention)
    t, size = shape
    clip = torch.randn(2, t, 3, size, size)
    with torch.no_grad():
        out = model(clip, output_hierarchical=True)
    want, levels = naive_forward(model, clip)
    assert out.last_hidden_state.shape == want.shape
    assert torch.allclose(out.last_hidden_state.double(), want, atol=1e-4)
    assert torch.allclose(out.hierarchical_state.double(), levels, atol=1e-4)
    assert out.hierarchical_state.shape[-1] == 4 * TINY["hidden_size"]


def test_an_image_uses_the_image_embedding_and_a_clip_the_video_one():
    model = tiny()
    clip, image = torch.randn(1, 4, 3, 32, 32), torch.randn(1, 1, 3, 32, 32)
    with torch.no_grad():
        before = model(clip).last_hidden_state, model(image).last_hidden_state
        model.img_mod_embed.add_(1.0)
        after = model(clip).last_hidden_state, model(image).last_hidden_state
    assert torch.equal(before[0], after[0]) and not torch.allclose(before[1], after[1])


def test_fused_path_calls_the_kernel_and_eager_returns_probabilities(monkeypatch):
    model = tiny()
    calls = []
    real = torch.nn.functional.scaled_dot_product_attention
    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    clip = torch.randn(1, 4, 3, 32, 32)
    with torch.no_grad():
        fused = model(clip).last_hidden_state
        assert len(calls) == TINY["num_hidden_layers"]
        model.set_attn_implementation("eager")
        out = model(clip, output_attentions=True)
    assert len(calls) == TINY["num_hidden_layers"]  # eager: no kernel call
    assert torch.allclose(out.last_hidden_state, fused, atol=1e-5)
    assert len(out.attentions) == 4 and out.attentions[0].shape == (1, 2, 32, 32)
    assert torch.allclose(out.attentions[0].sum(-1), torch.ones(()), atol=1e-5)


# ------------------------------------------------------------------------- loading


def test_meta_checkpoint_with_prefixes_loads_strictly(tmp_path):
    model = tiny(seed=1)
    clip = torch.randn(2, 4, 3, 32, 32)
    with torch.no_grad():
        want = model(clip).last_hidden_state
    for key, prefix in [("ema_encoder", "module.backbone."), ("target_encoder", "module."),
                        ("target_encoder", "backbone.")]:
        path = meta_checkpoint(model, tmp_path / f"{key}-{prefix}pt", key, prefix)
        backbone = load_vision_backbone(parse_model(f"vjepa2.1:{path}"))
        assert backbone.model.config.num_attention_heads == 1  # width 44: the default rule
        # heads cannot be read from shapes: given explicitly the output is the model's
        from bgs.models.vjepa21_weights import load_meta_checkpoint

        loaded = load_meta_checkpoint(path, image_size=32, heads=2)
        with torch.no_grad():
            assert torch.equal(loaded(clip).last_hidden_state, want)
    assert backbone.size == 384 and backbone.kind.mean == (0.485, 0.456, 0.406)  # ImageNet, 384²


def test_released_sizes_are_read_from_the_shapes():
    def shapes(width, depth, mlp):
        state = {"patch_embed.proj.weight": torch.empty(width, 3, 2, 16, 16),
                 **{f"norms_block.{i}.weight": torch.empty(width) for i in range(4)},
                 "video_mod_embed": torch.empty(1, 1, width), "blocks.0.attn.qkv.bias": torch.empty(3 * width)}
        state.update({f"blocks.{i}.norm1.weight": torch.empty(width) for i in range(depth)})
        state["blocks.0.mlp.fc1.weight"] = torch.empty(mlp, width)
        return config_from_state(state, "x.pt")

    for width, depth, mlp, heads, levels in [(768, 12, 3072, 12, [2, 5, 8, 11]), (1024, 24, 4096, 16, [5, 11, 17, 23]),
                                             (1408, 40, 6144, 22, [9, 19, 29, 39]),
                                             (1664, 48, 8192, 26, [11, 23, 37, 47])]:
        c = shapes(width, depth, mlp)
        assert (c.num_attention_heads, c.hierarchical_layers, c.image_size, c.rope_grid) == (heads, levels, 384, 16)
    with torch.device("meta"):
        vitb = VJEPA21Model(VJEPA21Config())
    assert sum(p.numel() for p in vitb.parameters()) == pytest.approx(86.8e6, rel=0.01)


@pytest.mark.parametrize("damage,message", [
    (lambda s: s.pop("module.backbone.blocks.1.mlp.fc2.bias"), r"missing keys \['blocks.1.mlp.fc2.bias'\]"),
    (lambda s: s.__setitem__("module.backbone.pos_embed", torch.zeros(1, 4, 44)), r"unexpected keys \['pos_embed'\]"),
    (lambda s: s.__setitem__("module.backbone.blocks.0.attn.proj.weight", torch.zeros(44, 40)),
     r"mis-shaped blocks.0.attn.proj.weight: \(44, 40\) in the file, \(44, 44\) in the model"),
    (lambda s: [s.pop(f"module.backbone.norms_block.3.{w}") for w in ("weight", "bias")],
     "3 hierarchical norms"),
])
def test_a_wrong_or_missing_key_is_a_clear_error(tmp_path, damage, message):
    path = meta_checkpoint(tiny(), tmp_path / "m.pt")
    checkpoint = torch.load(path, weights_only=True)
    damage(checkpoint["ema_encoder"])
    torch.save(checkpoint, path)
    with pytest.raises(BGSError, match=message):
        load_vjepa21(path)


def test_unreadable_sources_are_clear_errors(tmp_path, capsys):
    torch.save({"model": {"a": torch.zeros(1)}}, tmp_path / "other.pt")
    with pytest.raises(BGSError, match="none of ema_encoder, target_encoder"):
        load_vjepa21(tmp_path / "other.pt")

    import argparse  # weights_only refuses to unpickle arbitrary objects: no code from the file runs

    torch.save({"ema_encoder": {}, "args": argparse.Namespace(lr=1)}, tmp_path / "code.pt")
    with pytest.raises(BGSError, match="weights_only=True"):
        load_vjepa21(tmp_path / "code.pt")
    with pytest.raises(BGSError, match="no such file or folder"):
        load_vjepa21(tmp_path / "absent.pt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BGSError, match="no config.json"):
        load_vjepa21(tmp_path / "empty")
    assert main(["models", "convert-vjepa2.1", str(tmp_path / "other.pt"), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "other.pt" in err and err.strip().count("\n") == 0 and "Traceback" not in err
    assert not (tmp_path / "out" / "model.safetensors").exists()


def test_convert_writes_a_folder_that_loads_to_the_same_model(tmp_path):
    model = tiny(seed=2)
    pt = meta_checkpoint(model, tmp_path / "m.pt")
    args = ["models", "convert-vjepa2.1", str(pt), str(tmp_path / "folder"), "--image-size", "32", "--heads", "2"]
    assert main(args) == 0
    config = json.loads((tmp_path / "folder" / "config.json").read_text())
    assert config["num_attention_heads"] == 2 and config["image_size"] == 32
    from safetensors.torch import load_file

    assert set(load_file(str(tmp_path / "folder" / "model.safetensors"))) == set(model.state_dict())
    backbone = load_vision_backbone(parse_model(f"vjepa2.1:{tmp_path / 'folder'}"))
    clip = torch.randn(1, 4, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(backbone.model(clip).last_hidden_state, model(clip).last_hidden_state)


# ------------------------------------------------------------------ end to end


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """Synthetic clips and a tiny encoder in both formats: Meta's .pt (whose input size is
    the released 384²) and bgs's folder converted from it at 32²."""
    from bgs.synthetic import SynthConfig, make_dataset

    root = tmp_path_factory.mktemp("vjepa21")
    make_dataset(root / "syn", SynthConfig(seed=3, n_clips=24, frames=4, size=32, n_participants=16,
                                           ceiling_draws=20))
    model = tiny(seed=4, hidden_size=32, num_hidden_layers=2, patch_size=16)  # width 32: 1 head
    meta_checkpoint(model, root / "vjepa2_1_tiny.pt")
    assert main(["models", "convert-vjepa2.1", str(root / "vjepa2_1_tiny.pt"), str(root / "folder"),
                 "--image-size", "32"]) == 0
    return root


def train_toml(path, syn, backbone):
    path.write_text(f"""
[data]
triplets = "{syn / 'all_triplets.csv'}"
stimuli = "{syn / 'video_mapping.csv'}"
videos = "{syn / 'videos'}"
train = "{syn / 'train.csv'}"
test = "{syn / 'test.csv'}"
val_fraction = 0.3

[model]
backbone = "{backbone}"
frames = 4
gradient_checkpointing = true

[optim]
epochs = 1
batch_triplets = 8
max_steps_per_epoch = 2
lr = 0.01

[run]
eval_bootstrap = 20
eval_permutations = 0
""")
    return path


@pytest.mark.slow
@pytest.mark.parametrize("source", ["vjepa2_1_tiny.pt", "folder"])
def test_embed_and_train_end_to_end(workspace, tmp_path, source):
    from bgs.embeddings import Embeddings

    syn, backbone = workspace / "syn", f"vjepa2.1:{workspace / source}"
    videos = ["--stimuli", str(syn / "video_mapping.csv"), "--videos", str(syn / "videos"),
              "--store", str(tmp_path / "store")]
    assert main(["embed", "--model", backbone, *videos, "--out", str(tmp_path / "e.npz"), "--frames", "4",
                 "--layers", "embeddings,last,1"]) == 0
    emb = Embeddings.load(tmp_path / "e.npz")
    assert emb.layer_names == ["embeddings", "layer.2", "layer.1"]
    assert emb.matrix.shape == (24, 32) and np.isfinite(emb.matrix).all()
    assert not np.allclose(emb.matrix[0], emb.matrix[1])
    run = tmp_path / "run"
    assert main(["train", str(train_toml(tmp_path / "train.toml", syn, backbone)), "--out", str(run)]) == 0
    assert (run / "metrics.json").is_file()
    if source != "folder":  # the rest once, on the cheaper 32² folder
        return
    # the fine-tuned adapter and head reproduce the run's own embeddings through bgs embed
    assert main(["embed", "--model", backbone, "--checkpoint", str(run), *videos,
                 "--out", str(tmp_path / "ft.npz")]) == 0
    mine, theirs = Embeddings.load(tmp_path / "ft.npz"), Embeddings.load(run / "embeddings.npz")
    np.testing.assert_allclose(mine.align(theirs.ids).matrix, theirs.matrix, atol=1e-5)
    # attention maps of the base and the fine-tuned model
    out = tmp_path / "att"
    assert main(["attention", "--checkpoint", str(run), *videos[:4], "--masks", str(syn / "masks"),
                 "--out", str(out), "--n-bootstrap", "20", "--max-overlays", "1",
                 "--split", str(syn / "test.csv")]) == 0
    maps = np.load(out / "maps.npz")
    assert maps["base__rollout"].shape[1:] == (4, 2, 2)  # frames × the 2×2 patch grid
    np.testing.assert_allclose(maps["fine-tuned__rollout"].sum(axis=(1, 2, 3)), 1.0, rtol=1e-6)
    assert not np.allclose(maps["base__grad_rollout"], maps["fine-tuned__grad_rollout"])


def test_lora_targets_are_the_attention_and_mlp_linears_of_every_block():
    from peft import LoraConfig, get_peft_model

    from bgs.train.config import ModelConfig
    from bgs.train.model import lora_targets

    kind = parse_model("vjepa2.1:x.pt").kind
    model = get_peft_model(tiny(), LoraConfig(r=2, target_modules=lora_targets(kind, ModelConfig())))
    wrapped = sorted(n.removeprefix("base_model.model.").removesuffix(".lora_A")
                     for n, _ in model.named_modules() if n.endswith(".lora_A"))
    want = sorted(f"blocks.{i}.{m}" for i in range(TINY["num_hidden_layers"])
                  for m in ("attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2"))
    assert wrapped == want  # not the patch embeddings' proj


def test_a_safetensors_file_with_meta_names_loads(tmp_path):
    from safetensors.torch import save_file

    model = tiny(seed=5)
    save_file({f"backbone.{k}": v.contiguous() for k, v in model.state_dict().items()}, tmp_path / "port.safetensors")
    from bgs.models.vjepa21_weights import load_meta_checkpoint

    loaded = load_meta_checkpoint(tmp_path / "port.safetensors", image_size=32, heads=2)
    clip = torch.randn(1, 4, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(clip).last_hidden_state, model(clip).last_hidden_state)


@pytest.mark.parametrize("frames", [4, 1])
def test_rollout_map_is_the_attention_product(tmp_path, frames):
    from bgs.attention import attention_maps
    from bgs.models.vjepa21_weights import save_folder

    save_folder(tiny(seed=6), tmp_path / "m")
    bb = load_vision_backbone(parse_model(f"vjepa2.1:{tmp_path / 'm'}"), frames=frames)
    clips = np.random.default_rng(0).integers(0, 256, (1, frames, 32, 32, 3), dtype=np.uint8)
    got = attention_maps(bb, clips, ["rollout"])["rollout"][0]
    assert bb.attention == "sdpa"  # switched to eager for the maps and back
    bb.set_attention("eager")
    with torch.no_grad():
        attn = bb.model(bb.preprocess(torch.from_numpy(clips)), output_attentions=True).attentions
    n = attn[0].shape[-1]
    eye = torch.eye(n, dtype=torch.float64)
    r = eye
    for a in attn:
        r = (0.5 * (a[0].double().mean(0) + eye)) @ r
    tubelet = 1 if frames == 1 else 2
    tokens = (torch.full((n,), 1.0 / n, dtype=torch.float64) @ r).reshape(frames // tubelet, 4, 4)
    want = np.repeat(tokens.numpy(), tubelet, axis=0)
    assert got.shape == (frames, 4, 4)
    np.testing.assert_allclose(got, want / want.sum(), rtol=1e-9, atol=1e-12)
    assert got.std() > 1e-6
