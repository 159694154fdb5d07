"""Fused (sdpa) attention and gradient checkpointing on every vision backbone.

Tiny random models of each registered kind are saved with save_pretrained and loaded back
through ``load_vision_backbone`` — once with eager attention, once with the fused path —
then wrapped with LoRA on the registry's targets; outputs and gradients must agree.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("peft")

from bgs.errors import ConfigError  # noqa: E402
from bgs.models.attention_impl import timesformer_sdpa_class  # noqa: E402
from bgs.models.checkpointing import checkpointed_blocks, enable_gradient_checkpointing  # noqa: E402
from bgs.models.registry import parse_model  # noqa: E402
from bgs.models.vision import load_vision_backbone  # noqa: E402
from bgs.train.config import ModelConfig  # noqa: E402
from bgs.train.model import lora_targets  # noqa: E402
from test_models import TINY, VISION_KINDS, tiny_model  # noqa: E402


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("attn-models")
    torch.manual_seed(0)
    for kind in VISION_KINDS:
        tiny_model(kind).save_pretrained(root / kind)
    return root


def load(saved, kind, attention="sdpa", lora=True, checkpointing=None):
    """Backbone (+ LoRA with non-zero B so adapters matter), identical for a given kind."""
    from peft import LoraConfig, get_peft_model

    from bgs.models.embed import quiet_transformers

    quiet_transformers()
    # TimeSformer: clips of config.num_frames (transformers' TimesformerLayer reshapes by it)
    b = load_vision_backbone(parse_model(f"{kind}:{saved / kind}"), attention=attention,
                             frames=4 if kind == "timesformer" else None)
    if checkpointing == "before":
        enable_gradient_checkpointing(b.model)
    if lora:
        for p in b.parameters():
            p.requires_grad_(False)
        torch.manual_seed(1)
        b.model = get_peft_model(b.model, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.1,
                                                     target_modules=lora_targets(b.kind, ModelConfig())))
        for name, p in b.named_parameters():
            if "lora_B" in name:
                p.data.normal_(0, 0.5)
    if checkpointing == "after":
        enable_gradient_checkpointing(b.model)
    return b


def clips(b, n=2):
    g = torch.Generator().manual_seed(2)
    return torch.randn(n, b.frames, 3, b.size, b.size, generator=g)


def forward_backward(b, x, train=True, autocast=False):
    """Embeddings and the gradients of every trainable parameter (dropout seeded)."""
    b.train(train)
    torch.manual_seed(3)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        out = b(x, layers=("embeddings", "layer.1"))
    loss = out["embeddings"].square().sum() + out["layer.1"].sum()
    loss.backward()
    grads = {n: p.grad.clone() for n, p in b.named_parameters() if p.requires_grad and p.grad is not None}
    return out["embeddings"].detach(), grads


def assert_close_grads(a, b, per_param: float = 0.0, overall: float = 0.0):
    """Every gradient within ``per_param`` × its own largest entry, or within ``overall`` ×
    the largest entry of all gradients (float32 rounding in a backward is relative to the
    large terms that cancel, so tiny gradients carry absolute, not relative, error)."""
    assert a.keys() == b.keys() and len(a) > 0
    top = max(float(g.abs().max()) for g in a.values())
    assert top > 0
    for name in a:
        err = float((a[name] - b[name]).abs().max())
        assert err <= per_param * float(a[name].abs().max()) + overall * top, (name, err, top)


@pytest.mark.parametrize("kind", VISION_KINDS)
def test_fused_path_equals_eager_with_lora(kind, saved):
    eager, fused = load(saved, kind, "eager"), load(saved, kind, "sdpa")
    assert eager.attention == "eager" and fused.attention == "sdpa"
    assert list(eager.state_dict()) == list(fused.state_dict())  # same names: same checkpoints
    x = clips(eager)
    # eval (no dropout): outputs equal to float32 rounding
    with torch.no_grad():
        e_eval, f_eval = eager.eval()(x)["embeddings"], fused.eval()(x)["embeddings"]
    assert float(e_eval.abs().max()) > 1e-3
    assert torch.allclose(e_eval, f_eval, rtol=1e-5, atol=1e-5)
    # training mode with LoRA dropout (same seed: same masks), gradients of the adapters
    e_out, e_grads = forward_backward(eager, x)
    f_out, f_grads = forward_backward(fused, x)
    assert torch.allclose(e_out, f_out, rtol=1e-5, atol=1e-5)
    assert any("lora_A" in n for n in e_grads) and any("lora_B" in n for n in e_grads)
    assert_close_grads(e_grads, f_grads, overall=1e-5)
    # in float64 the two paths agree parameter by parameter: the same mathematics
    e64, f64 = load(saved, kind, "eager").double(), load(saved, kind, "sdpa").double()
    e_out, e_grads = forward_backward(e64, x.double())
    f_out, f_grads = forward_backward(f64, x.double())
    # (transformers' own eager attention takes its softmax in float32, hence the looser
    # bound for the library kinds; TimeSformer's fused path is bgs's and exact in float64)
    tol = 1e-7 if kind == "timesformer" else 1e-5
    assert torch.allclose(e_out, f_out, rtol=tol, atol=tol)
    assert_close_grads(e_grads, f_grads, per_param=tol)


def test_timesformer_fused_path_under_bf16_autocast(saved):
    eager, fused = load(saved, "timesformer", "eager"), load(saved, "timesformer", "sdpa")
    x = clips(eager)
    ref_out, ref_grads = forward_backward(load(saved, "timesformer", "eager"), x, autocast=False)
    e_out, e_grads = forward_backward(eager, x, autocast=True)
    f_out, f_grads = forward_backward(fused, x, autocast=True)
    # bf16 has an 8-bit mantissa: both paths are within bf16 tolerance of float32 and of
    # each other
    scale = float(ref_out.abs().max())
    f_out, e_out = f_out.float(), e_out.float()
    assert float((f_out - e_out).abs().max()) < 0.05 * scale
    assert float((f_out - ref_out).abs().max()) < 0.05 * scale
    assert_close_grads(e_grads, f_grads, overall=0.05)
    assert_close_grads(ref_grads, f_grads, overall=0.05)


def test_timesformer_sdpa_replaces_every_attention_and_calls_the_fused_kernel(saved, monkeypatch):
    b = load(saved, "timesformer", "sdpa", lora=False)
    sdpa_cls = timesformer_sdpa_class()
    fused = [m for m in b.modules() if type(m) is sdpa_cls]
    assert len(fused) == 2 * TINY["num_hidden_layers"]  # spatial and temporal in every block
    calls = []
    real = torch.nn.functional.scaled_dot_product_attention
    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    with torch.no_grad():
        b(clips(b))
    assert len(calls) == 2 * TINY["num_hidden_layers"]
    # LoRA still finds its targets, and the fused module uses the wrapped qkv
    lora = load(saved, "timesformer", "sdpa")
    assert all(type(m.qkv).__module__.startswith("peft") for m in lora.modules() if type(m) is sdpa_cls)


def test_attention_weights_and_switching_back_to_eager(saved):
    b = load(saved, "timesformer", "sdpa")
    x = clips(b)
    with torch.no_grad():
        fused_emb = b.eval()(x)["embeddings"]
        # asking for weights on the fused path computes them eagerly
        weights = b.model(pixel_values=x, output_attentions=True).attentions
        b.set_attention("eager")
        assert b.attention == "eager"
        eager_out = b.model(pixel_values=x, output_attentions=True)
        eager_emb = b(x)["embeddings"]
    assert len(weights) == TINY["num_hidden_layers"]
    for w, v in zip(weights, eager_out.attentions):
        assert w.shape == v.shape and torch.allclose(w, v, atol=1e-6)
        assert torch.allclose(w.sum(-1), torch.ones(()), atol=1e-5)  # probabilities
    assert torch.allclose(fused_emb, eager_emb, atol=1e-5)
    b.set_attention("sdpa")
    assert b.attention == "sdpa"


def test_other_kinds_use_the_library_sdpa_and_switch(saved):
    b = load(saved, "videomae", "eager", lora=False)
    assert b.model.config._attn_implementation == "eager"
    b.set_attention("sdpa")
    assert b.model.config._attn_implementation == "sdpa" and b.attention == "sdpa"


def test_transformers_keyword_still_selects_the_implementation(saved):
    b = load_vision_backbone(parse_model(f"timesformer:{saved / 'timesformer'}"), attn_implementation="eager")
    assert b.attention == "eager"
    b = load_vision_backbone(parse_model(f"clip:{saved / 'clip'}"), attn_implementation="sdpa")
    assert b.attention == "sdpa"


def test_bad_attention_is_a_config_error(saved):
    with pytest.raises(ConfigError, match="attention must be one of"):
        load_vision_backbone(parse_model(f"clip:{saved / 'clip'}"), attention="flash")


@pytest.mark.parametrize("kind", VISION_KINDS)
def test_gradient_checkpointing_with_lora_gives_the_same_gradients(kind, saved):
    x = clips(load(saved, kind, lora=False))
    plain_out, plain = forward_backward(load(saved, kind), x)
    for order in ("after", "before"):  # before: peft wraps a checkpointing model
        b = load(saved, kind, checkpointing=order)
        assert checkpointed_blocks(b.model) >= TINY["num_hidden_layers"]
        out, grads = forward_backward(b, x)
        assert torch.equal(out, plain_out)
        assert_close_grads(plain, grads, per_param=1e-6)


def test_stock_input_grad_hook_fails_on_timesformer_but_ours_does_not(saved):
    """The failure of the issue: peft wrapping a checkpointing TimeSformer registers a hook
    that calls requires_grad_ on the patch embedding's tuple output."""
    from peft import LoraConfig, get_peft_model

    stock = transformers.TimesformerModel.from_pretrained(saved / "timesformer")
    stock.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    stock = get_peft_model(stock, LoraConfig(r=2, target_modules=["qkv"]))
    x = clips(load(saved, "timesformer", lora=False))
    with pytest.raises(AttributeError, match="tuple"):
        stock.train()(pixel_values=x)
    ours = load(saved, "timesformer", checkpointing="before")
    out, grads = forward_backward(ours, x)
    assert np.isfinite(out.numpy()).all() and all(float(g.abs().sum()) > 0 for g in grads.values())


@pytest.mark.parametrize("kind", ["timesformer", "videomae", "clip"])
def test_attention_maps_of_a_fused_backbone_equal_the_eager_ones(kind, saved):
    """bgs.attention switches a fused backbone to eager for the maps and back afterwards."""
    from bgs.attention import attention_maps

    eager, fused = load(saved, kind, "eager"), load(saved, kind, "sdpa")
    g = np.random.default_rng(0)
    frames = g.integers(0, 256, (1, eager.frames, eager.size, eager.size, 3), dtype=np.uint8)
    want = attention_maps(eager, frames, ("rollout", "grad_rollout"))
    got = attention_maps(fused, frames, ("rollout", "grad_rollout"))
    assert fused.attention == "sdpa"
    for method in want:
        assert want[method].shape == got[method].shape and want[method].sum() > 0
        assert np.allclose(want[method], got[method], rtol=1e-5, atol=1e-8), method
