"""Receiver-behavior losses against hand computations and gradcheck; the weighted behavior
term; temporal tokens of video backbones; the ``none`` BGS objective."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from bgs.behavior.config import BehaviorConfig
from bgs.errors import ConfigError
from bgs.objectives import Objective
from bgs.objectives.behavior import (
    BehaviorHeads,
    comment_infonce,
    engagement_loss,
    replay_loss,
)

NAN = float("nan")


# ---------------------------------------------------------------------- engagement
def test_engagement_loss_by_hand():
    pred = torch.tensor([0.5, -1.0, 2.0, 0.0], dtype=torch.float64)
    target = torch.tensor([1.0, NAN, 0.0, -0.5], dtype=torch.float64)
    # rows 0, 2, 3: (0.5 - 1)², (2 - 0)², (0 + 0.5)²
    assert engagement_loss(pred, target).item() == pytest.approx((0.25 + 4 + 0.25) / 3)


def test_engagement_loss_gradient_and_empty_batch():
    pred = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64, requires_grad=True)
    target = torch.tensor([1.0, NAN, 0.0], dtype=torch.float64)
    engagement_loss(pred, target).backward()
    # d/dp mean((p - t)²) over 2 rows = (p - t); the NaN row gets no gradient
    assert pred.grad.tolist() == pytest.approx([0.5 - 1.0, 0.0, 2.0])
    assert torch.autograd.gradcheck(lambda p: engagement_loss(p, target), (pred.detach().requires_grad_(),))
    none = engagement_loss(pred, torch.full((3,), NAN, dtype=torch.float64))
    assert none.item() == 0 and none.requires_grad


# ---------------------------------------------------------------------- replay
def test_replay_loss_by_hand():
    pred = torch.tensor([[0.0, 1.0, 0.5], [0.2, 0.2, 0.2]], dtype=torch.float64)
    target = torch.tensor([[0.0, 0.5, NAN], [1.0, NAN, 0.2]], dtype=torch.float64)
    # observed entries: (0-0)², (1-0.5)², (0.2-1)², (0.2-0.2)²
    assert replay_loss(pred, target).item() == pytest.approx((0 + 0.25 + 0.64 + 0) / 4)
    x = pred.clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda p: replay_loss(p, target), (x,))
    with pytest.raises(ValueError, match="resample"):
        replay_loss(pred, target[:, :2])


# ---------------------------------------------------------------------- comments
def hand_infonce(a, b, tau):
    """Symmetric InfoNCE by hand from lists of unit vectors."""
    n = len(a)
    logits = [[sum(x * y for x, y in zip(a[i], b[j])) / tau for j in range(n)] for i in range(n)]

    def ce(rows):
        return sum(-rows[i][i] + math.log(sum(math.exp(v) for v in rows[i])) for i in range(n)) / n

    cols = [[logits[j][i] for j in range(n)] for i in range(n)]
    return 0.5 * (ce(logits) + ce(cols))


def test_comment_infonce_by_hand():
    a = [[1.0, 0.0], [0.0, 1.0]]
    b = [[1.0, 0.0], [0.6, 0.8]]
    # logits/τ=0.5: rows [2, 1.2], [0, 1.6]
    expected = 0.5 * ((-2 + math.log(math.e ** 2 + math.e ** 1.2) - 1.6 + math.log(1 + math.e ** 1.6)) / 2
                      + (-2 + math.log(math.e ** 2 + 1) - 1.6 + math.log(math.e ** 1.2 + math.e ** 1.6)) / 2)
    assert hand_infonce(a, b, 0.5) == pytest.approx(expected)
    video = torch.tensor(a, dtype=torch.float64) * torch.tensor([[3.0], [0.5]], dtype=torch.float64)
    text = torch.tensor(b, dtype=torch.float64) * 2  # both sides are normalised inside
    assert comment_infonce(video, text, 0.5).item() == pytest.approx(expected)


def test_comment_infonce_random_vs_hand_mask_and_gradcheck():
    g = torch.Generator().manual_seed(0)
    video = torch.randn(5, 4, generator=g, dtype=torch.float64)
    text = torch.randn(5, 4, generator=g, dtype=torch.float64)
    unit = lambda x: (x / x.norm(dim=1, keepdim=True)).tolist()  # noqa: E731
    assert comment_infonce(video, text, 0.1).item() == pytest.approx(hand_infonce(unit(video), unit(text), 0.1))
    mask = torch.tensor([True, False, True, True, False])
    assert comment_infonce(video, text, 0.1, mask).item() == pytest.approx(
        hand_infonce(unit(video[mask]), unit(text[mask]), 0.1))
    x = video.clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda v: comment_infonce(v, text, 0.3, mask), (x,))
    one = comment_infonce(x, text, 0.1, torch.tensor([True, False, False, False, False]))
    assert one.item() == 0 and one.requires_grad  # nothing to contrast: a connected zero
    with pytest.raises(ValueError):
        comment_infonce(video, text, 0.0)


# ---------------------------------------------------------------------- the weighted term
def test_behavior_objective_is_the_weighted_sum_of_its_losses():
    from bgs.behavior.training import BehaviorObjective

    torch.manual_seed(0)
    ids = [10, 11, 12, 13]
    engagement = np.array([0.5, -1.0, NAN, 1.5], np.float32)
    replay = np.array([[0, 1, 0.5], [1, NAN, 0], [0.2, 0.2, 0.2], [NAN, NAN, NAN]], np.float32)
    comments = np.zeros((4, 6), np.float32)
    comments[:3] = np.random.default_rng(0).normal(size=(3, 6))
    cfg = BehaviorConfig(file="x.jsonl", engagement=2.0, replay=0.5, comments=0.25, temperature=0.2)
    obj = BehaviorObjective(cfg, ids, embed_dim=8, engagement=engagement, replay=replay,
                            comments=comments, token_dim=5)
    assert [n for n, _ in obj.named_parameters()][0].startswith("heads.")
    assert set(obj.state_dict()) == {k for k, _ in obj.named_parameters()}  # targets are not state
    z = torch.nn.functional.normalize(torch.randn(3, 8), dim=1)
    tokens = torch.randn(3, 3, 5)
    batch = [13, 10, 12]
    total, parts = obj(z, tokens, batch)
    rows = [3, 0, 2]
    e = engagement_loss(obj.heads.predict_engagement(z * 8 ** 0.5), torch.tensor(engagement[rows]))
    r = replay_loss(obj.heads.predict_replay(tokens), torch.tensor(replay[rows]))
    c = comment_infonce(obj.heads.project_comments(z), torch.tensor(comments[rows]), 0.2,
                        torch.tensor([False, True, True]))
    assert total.item() == pytest.approx(2.0 * e.item() + 0.5 * r.item() + 0.25 * c.item(), rel=1e-6)
    assert parts["engagement"] == pytest.approx(e.item()) and parts["replay_weighted"] == pytest.approx(0.5 * r.item())
    # engagement by hand: rows 13 and 10 have targets, 12 has none
    p = obj.heads.predict_engagement(z * 8 ** 0.5).detach()
    assert parts["engagement"] == pytest.approx(((p[0] - 1.5) ** 2 + (p[1] - 0.5) ** 2).item() / 2, rel=1e-5)
    _, lazy = obj(z, tokens, batch, sync=False)  # the trainer's step: 0-d tensors, no read-back
    assert all(torch.is_tensor(v) and v.dim() == 0 for v in lazy.values())
    assert {k: float(v) for k, v in lazy.items()} == pytest.approx(parts)
    _, merged = obj.add_to(torch.tensor(1.0), {"loss": 1.0, "triplet": 0.3}, z, tokens, batch)
    assert merged["loss"] == pytest.approx(1.0 + total.item()) and merged["triplet"] == 0.3
    with pytest.raises(ConfigError, match="temporal tokens"):
        obj(z, None, batch)


def test_engagement_head_fits_a_linear_target_of_unit_norm_embeddings_in_a_few_steps():
    """The head reads z·√d: on unit-norm 128-d embeddings, 60 Adam steps (a fine-tuning's
    budget) fit a standardised target linear in z; on the raw z they left an MSE of 0.35."""
    from bgs.behavior.training import BehaviorObjective

    torch.manual_seed(0)
    n, d = 64, 128
    z = torch.nn.functional.normalize(torch.randn(n, d), dim=1)
    y = z @ torch.randn(d)
    y = ((y - y.mean()) / y.std(unbiased=False)).numpy()
    obj = BehaviorObjective(BehaviorConfig(file="x.jsonl", engagement=1.0), list(range(n)), embed_dim=d,
                            engagement=y)
    opt = torch.optim.AdamW(obj.parameters(), lr=1e-3)
    for _ in range(60):
        loss, _ = obj(z, None, list(range(n)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert obj(z, None, list(range(n)))[1]["engagement"] < 0.05  # raw z: 0.35


def test_heads_only_for_weighted_terms():
    h = BehaviorHeads(8, token_dim=None, text_dim=None, engagement=True)
    assert h.replay is None and h.comments is None and h.engagement is not None
    assert sum(p.numel() for p in h.parameters()) == 8 * 64 + 64 + 64 + 1


def test_behavior_config_validation():
    with pytest.raises(ConfigError, match="behavior.replay"):
        BehaviorConfig(replay=-1)
    with pytest.raises(ConfigError, match="format"):
        BehaviorConfig(format="csv")
    with pytest.raises(ConfigError, match="behavior.file is empty"):
        BehaviorConfig(engagement=1).validate()
    assert not BehaviorConfig().active and BehaviorConfig(comments=0.1).active


def test_none_objective_is_a_connected_zero():
    z = torch.nn.functional.normalize(torch.randn(4, 3), dim=1).requires_grad_()
    idx = torch.tensor([0])
    loss, parts = Objective({"name": "none"})(z, idx, idx + 1, idx + 2, None, 0)
    assert loss.item() == 0 and parts["loss"] == 0 and "triplet" not in parts
    loss.backward()
    assert z.grad is not None and z.grad.abs().sum() == 0


# ---------------------------------------------------------------------- temporal tokens
@pytest.mark.parametrize("kind_name, prefix, space_major", [("videomae", 0, False), ("timesformer", 1, True)])
def test_temporal_tokens_follow_the_token_order(kind_name, prefix, space_major):
    from bgs.models.registry import parse_model
    from bgs.models.vision import VisionBackbone

    kind = parse_model(f"{kind_name}:x").kind
    frames, tubelet, s, d = 8, 2 if kind_name == "videomae" else 1, 4, 3
    model = SimpleNamespace(config=SimpleNamespace(tubelet_size=tubelet))
    vb = VisionBackbone(kind, model, frames, 32, (0.5,) * 3, (0.5,) * 3)
    n_t = frames // tubelet
    assert vb.temporal_positions == n_t
    # each token carries (its temporal position, its patch) in its first two features
    t_of = np.repeat(np.arange(n_t), s) if not space_major else np.tile(np.arange(n_t), s)
    p_of = np.tile(np.arange(s), n_t) if not space_major else np.repeat(np.arange(s), n_t)
    h = torch.zeros(2, prefix + n_t * s, d)
    h[:, prefix:, 0] = torch.tensor(t_of, dtype=torch.float32)
    h[:, prefix:, 1] = torch.tensor(p_of, dtype=torch.float32)
    if prefix:
        h[:, 0] = 99.0  # the CLS token is left out
    tokens = vb._temporal(SimpleNamespace(last_hidden_state=h), 2, frames)
    assert tokens.shape == (2, n_t, d)
    assert tokens[0, :, 0].tolist() == list(range(n_t))
    assert tokens[0, :, 1].tolist() == [(s - 1) / 2] * n_t  # the mean over the patches
