"""Objectives: triplet, RSA, hybrid and budget-matched losses against hand computations,
hand-derived gradients, gradcheck, scipy and a brute-force miner."""

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.stats import pearsonr

from bgs.errors import ConfigError
from bgs.objectives import (
    OBJECTIVES,
    Objective,
    ObjectiveConfig,
    cosine_distances,
    mine_hard_negatives,
    mined_triplet_loss,
    observed_pair_count,
    rsa_loss,
    rsa_loss_from_distances,
    rsa_loss_masked,
    triplet_loss,
    triplet_loss_from_distances,
)

NAN = float("nan")


def unit(*degrees, dtype=torch.float64, grad=False):
    """2-D unit vectors at the given angles (degrees): cosines are exact by construction."""
    r = [math.radians(a) for a in degrees]
    z = torch.tensor([[math.cos(a), math.sin(a)] for a in r], dtype=dtype)
    return z.requires_grad_(grad)


def dang(a, b):
    """Cosine distance between unit vectors at angles a and b (degrees), by hand."""
    return 1 - math.cos(math.radians(a - b))


def idx(*values):
    return torch.tensor(values, dtype=torch.long)


ANGLES = (0, 60, 90, 180)  # z0..z3


def normalised(fn):
    """Wrap a loss so that z is a free parameter normalised inside (for gradcheck)."""
    return lambda x: fn(x / x.norm(dim=1, keepdim=True))


# ---------------------------------------------------------------------- distances
def test_cosine_distances_hand():
    z = unit(*ANGLES)
    d = cosine_distances(z)
    expected = [[dang(a, b) for b in ANGLES] for a in ANGLES]
    assert torch.allclose(d, torch.tensor(expected, dtype=torch.float64), atol=1e-12)
    assert d[0, 1].item() == pytest.approx(0.5)
    assert d[0, 3].item() == pytest.approx(2.0)


def test_cosine_distances_half_precision_upcast():
    z = unit(*ANGLES, dtype=torch.bfloat16)
    assert cosine_distances(z).dtype == torch.float32
    with pytest.raises(ValueError):
        cosine_distances(torch.ones(3))


# ---------------------------------------------------------------------- triplet loss
# triplets (anchor, positive, negative) on ANGLES
TRIPLETS = [(0, 1, 2), (1, 2, 0), (0, 3, 1)]


def hand_triplet(triplets, margin, symmetric):
    total = 0.0
    for a, p, n in triplets:
        A, P, N = ANGLES[a], ANGLES[p], ANGLES[n]
        first = max(0.0, dang(A, P) - dang(A, N) + margin)
        second = max(0.0, dang(P, A) - dang(P, N) + margin)
        total += (first + second) / 2 if symmetric else first
    return total / len(triplets)


@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("margin", [0.2, 0.0, 0.5])
def test_triplet_loss_hand(symmetric, margin):
    a, p, n = (idx(*c) for c in zip(*TRIPLETS))
    got = triplet_loss(unit(*ANGLES), a, p, n, margin=margin, symmetric=symmetric)
    assert got.item() == pytest.approx(hand_triplet(TRIPLETS, margin, symmetric), abs=1e-12)


def test_triplet_loss_explicit_numbers():
    # d01 = .5, d02 = 1, d12 = 1 - √3/2, d03 = 2, d13 = 1.5 (margin .2)
    z, s3 = unit(*ANGLES), math.sqrt(3) / 2
    a, p, n = idx(0, 1, 0), idx(1, 2, 3), idx(2, 0, 1)
    # asymmetric: relu(.5-1+.2)=0, relu((1-s3)-.5+.2)=0, relu(2-.5+.2)=1.7
    assert triplet_loss(z, a, p, n, symmetric=False).item() == pytest.approx(1.7 / 3)
    # symmetric adds anchors 1, 2, 3: relu(.5-(1-s3)+.2), relu((1-s3)-1+.2)=0, relu(2-1.5+.2)
    sym = ((0 + (0.7 - 1 + s3)) / 2 + 0 + (1.7 + 0.7) / 2) / 3
    assert triplet_loss(z, a, p, n).item() == pytest.approx(sym)


def test_symmetric_is_mean_of_both_anchors():
    g = torch.Generator().manual_seed(0)
    z = torch.nn.functional.normalize(torch.randn(9, 5, generator=g, dtype=torch.float64), dim=1)
    a, p, n = (torch.randint(0, 9, (20,), generator=g) for _ in range(3))
    sym = triplet_loss(z, a, p, n, margin=0.5, symmetric=True)
    one = triplet_loss(z, a, p, n, margin=0.5, symmetric=False)
    other = triplet_loss(z, p, a, n, margin=0.5, symmetric=False)
    assert sym.item() == pytest.approx((one.item() + other.item()) / 2, abs=1e-12)
    assert one.item() != pytest.approx(other.item())


@pytest.mark.parametrize("symmetric", [True, False])
def test_triplet_gradient_hand(symmetric):
    # per active term l = z_a·z_n − z_a·z_p + m: ∂/∂z_a = z_n − z_p, ∂/∂z_p = −z_a, ∂/∂z_n = z_a
    z = unit(*ANGLES, grad=True)
    zz = z.detach().numpy()
    a, p, n = (idx(*c) for c in zip(*TRIPLETS))
    triplet_loss(z, a, p, n, margin=0.2, symmetric=symmetric).backward()
    expected = np.zeros_like(zz)
    scale = 1 / len(TRIPLETS) / (2 if symmetric else 1)
    for x, y, o in TRIPLETS:
        for anchor, pos in ([(x, y), (y, x)] if symmetric else [(x, y)]):
            if dang(ANGLES[anchor], ANGLES[pos]) - dang(ANGLES[anchor], ANGLES[o]) + 0.2 > 0:
                expected[anchor] += scale * (zz[o] - zz[pos])
                expected[pos] += scale * -zz[anchor]
                expected[o] += scale * zz[anchor]
    assert np.abs(expected).sum() > 0
    assert np.allclose(z.grad.numpy(), expected, atol=1e-12)


def random_z(u=6, d=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(u, d, generator=g, dtype=torch.float64)


def random_target(u, seed=0, p_nan=0.3, values=None):
    rng = np.random.default_rng(seed)
    t = rng.choice(values, size=(u, u)) if values is not None else rng.uniform(0, 1, (u, u))
    t[rng.uniform(size=(u, u)) < p_nan] = np.nan
    t = np.triu(t, 1)
    t = t + t.T
    np.fill_diagonal(t, np.nan)
    t[np.isnan(t.T)] = np.nan
    return torch.tensor(t)


@pytest.mark.parametrize("symmetric", [True, False])
def test_triplet_gradcheck(symmetric):
    a, p, n = idx(0, 1, 2, 3), idx(1, 2, 3, 5), idx(4, 5, 0, 1)
    f = normalised(lambda z: triplet_loss(z, a, p, n, margin=0.5, symmetric=symmetric))
    assert torch.autograd.gradcheck(f, (random_z().requires_grad_(),))


def test_triplet_empty_is_connected_zero():
    z = unit(*ANGLES, grad=True)
    e = torch.empty(0, dtype=torch.long)
    loss = triplet_loss(z, e, e, e)
    assert loss.item() == 0 and loss.requires_grad
    loss.backward()
    assert torch.equal(z.grad, torch.zeros_like(z))


def test_triplet_length_mismatch():
    with pytest.raises(ValueError, match="same length"):
        triplet_loss(unit(*ANGLES), idx(0, 1), idx(1), idx(2))


# ---------------------------------------------------------------------- RSA loss
def hand_target():
    # observed pairs (0,1), (0,2), (1,3), (2,3); (0,3), (1,2) unobserved; diagonal ignored
    t = torch.full((4, 4), NAN, dtype=torch.float64)
    for (i, j), v in {(0, 1): 0.0, (0, 2): 1.0, (1, 3): 1.0, (2, 3): 2.0}.items():
        t[i, j] = t[j, i] = v
    t.fill_diagonal_(5.0)
    return t


def test_rsa_loss_hand():
    # model distances on observed pairs: x = [.5, 1, 1.5, 1], mean 1, centred [-.5, 0, .5, 0]
    # target y = [0, 1, 1, 2], mean 1, centred [-1, 0, 0, 1]
    # r = Σxy / √(Σx² Σy²) = .5 / √(.5 · 2) = .5  →  loss .5
    t = hand_target()
    assert observed_pair_count(t) == 4
    assert rsa_loss(unit(*ANGLES), t).item() == pytest.approx(0.5, abs=1e-12)


def test_rsa_perfect_and_anticorrelated():
    z = unit(*ANGLES)
    d = cosine_distances(z).detach().clone()
    assert rsa_loss(z, 3 * d + 1).item() == pytest.approx(0.0, abs=1e-12)
    assert rsa_loss(z, -d).item() == pytest.approx(2.0, abs=1e-12)


def test_rsa_gradcheck():
    t = random_target(6, seed=1)
    assert observed_pair_count(t) >= 3
    f = normalised(lambda z: rsa_loss(z, t))
    assert torch.autograd.gradcheck(f, (random_z(seed=2).requires_grad_(),))


@given(u=st.integers(3, 8), d=st.integers(2, 5), seed=st.integers(0, 2**31 - 1),
       p_nan=st.sampled_from([0.0, 0.3, 0.7, 0.95]), discrete=st.booleans())
@settings(max_examples=50, deadline=None)
def test_rsa_matches_scipy(u, d, seed, p_nan, discrete):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(u, d))
    assume(np.linalg.norm(x, axis=1).min() > 1e-3)
    zn = x / np.linalg.norm(x, axis=1, keepdims=True)
    t = random_target(u, seed=seed, p_nan=p_nan, values=[0.0, 0.5, 1.0] if discrete else None)
    loss = rsa_loss(torch.tensor(zn, requires_grad=True), t)
    loss.backward()  # every case, degenerate or not, must backpropagate
    i, j = np.triu_indices(u, 1)
    tn = t.numpy()
    keep = ~np.isnan(tn[i, j])
    model = (1 - zn @ zn.T)[i, j][keep]
    human = tn[i, j][keep]
    assert observed_pair_count(t) == keep.sum()
    if keep.sum() < 3 or np.ptp(human) == 0 or np.ptp(model) == 0:
        assert loss.item() == 0
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = pearsonr(model, human).statistic
        assert loss.item() == pytest.approx(1 - r, abs=1e-8)


@pytest.mark.parametrize("case", ["few_pairs", "no_pairs", "constant_target", "constant_model"])
def test_rsa_degenerate_is_connected_zero(case):
    z = unit(*ANGLES, grad=True)
    t = hand_target()
    if case == "few_pairs":
        t[0, 2] = t[2, 0] = t[1, 3] = t[3, 1] = NAN
        assert observed_pair_count(t) == 2
    elif case == "no_pairs":
        t = torch.full((4, 4), NAN, dtype=torch.float64)
    elif case == "constant_target":
        t = torch.full((4, 4), 0.4, dtype=torch.float64)
    else:
        z = unit(30, 30, 30, 30, grad=True)
    loss = rsa_loss(z, t)
    assert loss.item() == 0 and loss.requires_grad
    loss.backward()
    assert torch.equal(z.grad, torch.zeros_like(z))


@given(u=st.integers(3, 8), d=st.integers(2, 5), seed=st.integers(0, 2**31 - 1),
       p_nan=st.sampled_from([0.0, 0.3, 0.7, 0.95]), discrete=st.booleans())
@settings(max_examples=50, deadline=None)
def test_sync_free_rsa_equals_the_indexed_one(u, d, seed, p_nan, discrete):
    rng = np.random.default_rng(seed)
    x = torch.tensor(rng.normal(size=(u, d)))
    t = random_target(u, seed=seed, p_nan=p_nan, values=[0.0, 0.5, 1.0] if discrete else None)
    grads = []
    for fn in (lambda dist: rsa_loss_from_distances(dist, t), lambda dist: rsa_loss_masked(dist, t)[0]):
        z = (x / x.norm(dim=1, keepdim=True)).requires_grad_()
        loss = fn(cosine_distances(z))
        loss.backward()
        grads.append((float(loss.detach()), z.grad))
    assert grads[1][0] == pytest.approx(grads[0][0], abs=1e-10)
    assert torch.allclose(grads[1][1], grads[0][1], atol=1e-10)
    assert int(rsa_loss_masked(cosine_distances(x / x.norm(dim=1, keepdim=True)), t)[1]) == observed_pair_count(t)


@pytest.mark.parametrize("case", ["few_pairs", "no_pairs", "constant_target", "constant_model"])
def test_sync_free_rsa_degenerate_is_connected_zero(case):
    z = unit(*ANGLES, grad=True)
    t = hand_target()
    if case == "few_pairs":
        t[0, 2] = t[2, 0] = t[1, 3] = t[3, 1] = NAN
    elif case == "no_pairs":
        t = torch.full((4, 4), NAN, dtype=torch.float64)
    elif case == "constant_target":
        t = torch.full((4, 4), 0.4, dtype=torch.float64)
    else:
        z = unit(30, 30, 30, 30, grad=True)
    loss, n = rsa_loss_masked(cosine_distances(z), t)
    assert loss.item() == 0 and loss.requires_grad and int(n) == observed_pair_count(t)
    loss.backward()
    assert torch.equal(z.grad, torch.zeros_like(z))


@pytest.mark.parametrize("name", ["hybrid", "triplet", "rsa"])
def test_objective_terms_equal_the_indexed_reference(name):
    """The objective's device-side RSA term and pair count agree with the indexed RSA loss."""
    z = unit(0, 40, 90, 170, 250)
    t = random_target(5, seed=4, p_nan=0.2)
    a, p, n = idx(0, 1, 2), idx(1, 2, 3), idx(4, 0, 1)
    loss, parts = Objective(ObjectiveConfig(name=name))(z, a, p, n, t, epoch=1)
    assert float(parts["n_pairs"]) == observed_pair_count(t) > 0
    rsa = float(rsa_loss_from_distances(cosine_distances(z), t))
    trip = float(triplet_loss_from_distances(cosine_distances(z), a, p, n, margin=0.2, symmetric=True))
    beta = ObjectiveConfig().beta(1)
    expected = {"hybrid": 0.7 * trip + beta * rsa, "triplet": 0.7 * trip, "rsa": beta * rsa}[name]
    assert float(loss) == pytest.approx(expected, abs=1e-6)
    assert float(parts["loss"]) == pytest.approx(expected, abs=1e-6)


def test_rsa_shape_errors():
    with pytest.raises(ValueError, match="rows"):
        rsa_loss(unit(*ANGLES), torch.zeros(3, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="square"):
        observed_pair_count(torch.zeros(3, 4))


# ---------------------------------------------------------------------- config
def test_beta_schedule():
    cfg = ObjectiveConfig()
    assert [cfg.beta(e) for e in range(7)] == pytest.approx([0.3, 0.4, 0.5, 0.6, 0.7, 0.7, 0.7])
    assert cfg.beta(4) <= 0.7
    with pytest.raises(ValueError):
        cfg.beta(-1)


def test_config_roundtrip_and_defaults():
    cfg = ObjectiveConfig()
    assert (cfg.name, cfg.alpha, cfg.margin, cfg.symmetric) == ("hybrid", 0.7, 0.2, True)
    other = ObjectiveConfig(name="budget_matched", alpha=1, symmetric=False)
    assert ObjectiveConfig.from_dict(other.to_dict()) == other
    assert isinstance(other.alpha, float)
    assert set(OBJECTIVES) == {"hybrid", "triplet", "rsa", "budget_matched", "none"}


@pytest.mark.parametrize("kwargs,match", [
    ({"name": "distill"}, "hybrid, triplet, rsa, budget_matched"),
    ({"alpha": -0.1}, "alpha"),
    ({"beta_step": float("nan")}, "beta_step"),
    ({"margin": "0.2"}, "margin"),
    ({"alpha": True}, "alpha"),
    ({"beta_start": 0.9}, "beta_max"),
    ({"symmetric": 1}, "symmetric"),
])
def test_config_validation(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        ObjectiveConfig(**kwargs)


def test_config_from_dict_unknown_key():
    with pytest.raises(ConfigError, match="'gamma'.*known: name"):
        ObjectiveConfig.from_dict({"gamma": 1})
    assert Objective({"name": "rsa"}).name == "rsa"


# ---------------------------------------------------------------------- budget-matched
def brute_force_mine(d, t, margin, budget):
    u = len(d)
    obs = ~np.isnan(t)
    found = []
    for i in range(u):
        for j in range(u):
            if i == j or not obs[i, j]:
                continue
            best = None
            for k in range(u):
                if k in (i, j) or not obs[i, k] or not t[i, k] > t[i, j]:
                    continue
                if best is None or d[i, k] < d[i, best]:
                    best = k
            if best is not None:
                found.append((i, j, best))
    if len(found) > budget:
        found.sort(key=lambda x: (-(d[x[0], x[1]] - d[x[0], x[2]] + margin), x[0] * u + x[1]))
        found = sorted(found[:budget], key=lambda x: x[0] * u + x[1])
    loss = sum(max(0.0, d[i, j] - d[i, k] + margin) for i, j, k in found) / max(len(found), 1)
    return found, loss


@pytest.mark.parametrize("seed", range(6))
def test_mining_matches_brute_force(seed):
    u = 8
    z = torch.nn.functional.normalize(random_z(u, 3, seed=seed), dim=1)
    z[5] = z[2]  # equal distances: exercises the tie-breaking
    z[7] = z[2]
    # few target levels: exercises the strict ">" on the target
    t = random_target(u, seed=seed, p_nan=0.3, values=[0.0, 0.25, 0.5, 1.0])
    d = cosine_distances(z).detach()
    n_pairs = observed_pair_count(t)
    for budget in (None, 5):
        cap = n_pairs if budget is None else budget
        expected, expected_loss = brute_force_mine(d.numpy(), t.numpy(), 0.2, cap)
        a, p, n = mine_hard_negatives(d, t, margin=0.2, budget=budget)
        got = list(zip(a.tolist(), p.tolist(), n.tolist()))
        assert got == expected
        assert len(got) <= cap
        loss, n_mined = mined_triplet_loss(d, t, margin=0.2, budget=budget)
        assert n_mined == len(expected)
        assert loss.item() == pytest.approx(expected_loss, abs=1e-12)
    # the uncapped miner finds more than the pair budget, so the cap binds
    all_found, _ = brute_force_mine(d.numpy(), t.numpy(), 0.2, 10**9)
    assert len(all_found) > n_pairs


def test_mining_hand():
    # z at 0, 60, 90 deg; target T01 = .1, T02 = .9, T12 = .5
    # ordered pairs with a k whose target is larger: (0,1)→2, (1,0)→2, (2,1)→0
    t = torch.tensor([[NAN, 0.1, 0.9], [0.1, NAN, 0.5], [0.9, 0.5, NAN]], dtype=torch.float64)
    d = cosine_distances(unit(0, 60, 90))
    a, p, n = mine_hard_negatives(d, t)
    assert list(zip(a.tolist(), p.tolist(), n.tolist())) == [(0, 1, 2), (1, 0, 2), (2, 1, 0)]
    s3 = math.sqrt(3) / 2
    # relu(.5 − 1 + .2) = 0, relu(.5 − (1 − s3) + .2), relu((1 − s3) − 1 + .2) = 0
    loss, n_mined = mined_triplet_loss(d, t)
    assert n_mined == 3
    assert loss.item() == pytest.approx((0.7 - 1 + s3) / 3)
    # a budget of 1 keeps the largest violation
    a, p, n = mine_hard_negatives(d, t, budget=1)
    assert list(zip(a.tolist(), p.tolist(), n.tolist())) == [(1, 0, 2)]


def test_mining_nearest_candidate():
    # anchor 0 at 0 deg, pair (0,1) with T01 = 0; candidates 2 (90 deg) and 3 (180 deg) both
    # have a larger target; 2 is nearer to the anchor so it is the hard negative
    t = torch.tensor([[NAN, 0.0, 0.5, 0.9], [0.0, NAN, NAN, NAN],
                      [0.5, NAN, NAN, NAN], [0.9, NAN, NAN, NAN]], dtype=torch.float64)
    a, p, n = mine_hard_negatives(cosine_distances(unit(0, 10, 90, 180)), t, budget=10)
    got = set(zip(a.tolist(), p.tolist(), n.tolist()))
    assert (0, 1, 2) in got
    assert got == {(0, 1, 2), (0, 2, 3)}


def test_mining_has_no_gradient_path():
    u = 8
    x = random_z(u, 3, seed=3)
    t = random_target(u, seed=3, p_nan=0.5)
    z = torch.nn.functional.normalize(x, dim=1).detach().requires_grad_()
    loss, _ = mined_triplet_loss(cosine_distances(z), t, margin=0.2)
    loss.backward()
    a, p, n = mine_hard_negatives(cosine_distances(z).detach(), t, margin=0.2)
    z2 = z.detach().clone().requires_grad_()
    triplet_loss(z2, a, p, n, margin=0.2, symmetric=False).backward()
    assert torch.allclose(z.grad, z2.grad, atol=1e-12)
    unused = sorted(set(range(u)) - set(a.tolist()) - set(p.tolist()) - set(n.tolist()))
    assert all(torch.equal(z.grad[r], torch.zeros(3, dtype=torch.float64)) for r in unused)


def test_mined_gradcheck():
    t = random_target(6, seed=4, p_nan=0.2)
    f = normalised(lambda z: mined_triplet_loss(cosine_distances(z), t, margin=0.5)[0])
    assert torch.autograd.gradcheck(f, (random_z(seed=5).requires_grad_(),))


def test_mined_none_is_connected_zero():
    z = unit(*ANGLES, grad=True)
    t = torch.full((4, 4), 0.3, dtype=torch.float64)  # no k with a strictly larger target
    loss, n_mined = mined_triplet_loss(cosine_distances(z), t)
    assert n_mined == 0 and loss.item() == 0 and loss.requires_grad
    loss.backward()
    assert torch.equal(z.grad, torch.zeros_like(z))


# ---------------------------------------------------------------------- objective
def batch():
    z = unit(*ANGLES, grad=True)
    a, p, n = (idx(*c) for c in zip(*TRIPLETS))
    return z, a, p, n, hand_target()


@pytest.mark.parametrize("epoch", [0, 2, 9])
def test_objective_hybrid_hand(epoch):
    z, a, p, n, t = batch()
    beta = min(0.7, 0.3 + 0.1 * epoch)
    loss, raw = Objective()(z, a, p, n, t, epoch)
    parts = {k: float(v) for k, v in raw.items()}
    trip = hand_triplet(TRIPLETS, 0.2, True)
    assert loss.item() == pytest.approx(0.7 * trip + beta * 0.5)
    assert parts["triplet"] == pytest.approx(trip)
    assert parts["rsa"] == pytest.approx(0.5)
    assert parts["triplet_weighted"] == pytest.approx(0.7 * trip)
    assert parts["rsa_weighted"] == pytest.approx(beta * 0.5)
    assert parts["beta"] == pytest.approx(beta) and parts["alpha"] == 0.7
    assert (parts["n_pairs"], parts["n_triplets"], parts["n_mined"]) == (4, 3, 0)
    assert parts["loss"] == pytest.approx(loss.item())
    # the terms stay on the device, detached: the trainer reads them back once per epoch
    assert all(torch.is_tensor(raw[k]) and raw[k].dim() == 0 and not raw[k].requires_grad
               for k in ("loss", "triplet", "rsa", "n_pairs"))
    loss.backward()


def test_objective_variants_hand():
    z, a, p, n, t = batch()
    trip_sym = hand_triplet(TRIPLETS, 0.2, True)
    loss, parts = Objective(ObjectiveConfig(name="triplet"))(z, a, p, n, t, 3)
    assert loss.item() == pytest.approx(0.7 * trip_sym)
    assert "rsa" not in parts and "mined" not in parts
    loss, _ = Objective(ObjectiveConfig(name="triplet", symmetric=False))(z, a, p, n, None, 0)
    assert loss.item() == pytest.approx(0.7 * hand_triplet(TRIPLETS, 0.2, False))
    loss, parts = Objective(ObjectiveConfig(name="rsa"))(z, a, p, n, t, 1)
    assert loss.item() == pytest.approx(0.4 * 0.5)
    assert "triplet" not in parts
    with pytest.raises(ValueError, match="target"):
        Objective()(z, a, p, n, None, 0)


def test_objective_budget_matched():
    z, a, p, n, t = batch()
    loss, parts = Objective(ObjectiveConfig(name="budget_matched"))(z, a, p, n, t, 1)
    parts = {k: float(v) for k, v in parts.items()}
    mined, n_mined = mined_triplet_loss(cosine_distances(z), t, margin=0.2)
    assert 0 < n_mined <= observed_pair_count(t)
    assert parts["n_mined"] == n_mined and parts["mined"] == pytest.approx(mined.item())
    assert loss.item() == pytest.approx(0.7 * hand_triplet(TRIPLETS, 0.2, True) + 0.4 * mined.item())
    assert "rsa" not in parts
    loss.backward()


@pytest.mark.parametrize("name", OBJECTIVES)
def test_objective_gradcheck(name):
    t = random_target(6, seed=6, p_nan=0.3)
    a, p, n = idx(0, 1, 2, 3), idx(1, 2, 3, 5), idx(4, 5, 0, 1)
    obj = Objective(ObjectiveConfig(name=name, margin=0.5))
    f = normalised(lambda z: obj(z, a, p, n, t, 1)[0])
    assert torch.autograd.gradcheck(f, (random_z(seed=7).requires_grad_(),))


def test_objective_float32_target_float64():
    z = unit(*ANGLES, dtype=torch.float32, grad=True)
    _, a, p, n, t = batch()
    loss, _ = Objective()(z, a, p, n, t, 0)
    assert loss.dtype == torch.float32
    loss.backward()
    assert z.grad is not None
