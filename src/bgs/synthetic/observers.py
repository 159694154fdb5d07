"""Simulated participants answering odd-one-out triads, the study design, and the *true*
odd-one-out ceiling of that design under the generative model.

Observer model. Clip i has latent attributes ``z_i`` (8 dims in [0, 1]) and appearance
features ``a_i`` (:data:`~bgs.synthetic.scenes.OBSERVER_NUISANCE`, in [0, 1]). Participant p
judges pairs by a weighted squared distance

    d_p(i, j) = Σ_k w_pk (z_ik − z_jk)² + Σ_m v_pm (a_im − a_jm)²

with ``w_p = w̄ ⊙ exp(σ_w ε − σ_w²/2)`` around the population mean ``w̄`` (normalised to
sum 1) and appearance weights ``v_pm = ν / M · exp(σ_w ε' − σ_w²/2)`` (ν, the nuisance
weight, is small). For a triad (x, y, z) the odd one out is drawn by a softmax over the
three pairs: ``P(odd = x) ∝ exp(−d_p(y, z) / τ_p)`` — the most similar pair is most likely
kept together — with a participant temperature ``τ_p = τ · exp(σ_τ ε − σ_τ²/2)``. With
probability ``λ_p`` (the lapse rate) the answer is uniform instead. Inattentive participants
(a share ρ of them) answer every trial uniformly at random.

Catch trials show one clip twice; attentive participants spot the repeat and choose the other
clip (unless they lapse); inattentive ones answer at random and so fail 2/3 of them.

True ceiling. With ``π_t`` the population's choice distribution for triad t (the expectation
of a participant's choice probabilities over the population of participants, including the
inattentive share and the lapses), the best any predictor of single responses can do without
knowing who answers is to predict ``argmax π_t``; its expected accuracy is ``max_k π_t[k]``.
The true ceiling is that value averaged over the design's (non-catch) trials. The expectation
over the population is a Monte Carlo average over fresh draws of participants.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PAIRS = np.array([[1, 2], [0, 2], [0, 1]])  # the pair kept when position k is odd

ADJECTIVES = ("amber", "brave", "calm", "clever", "cosmic", "crisp", "dapper", "eager", "fluid",
              "gentle", "glad", "golden", "happy", "humble", "jolly", "keen", "lively", "lucky",
              "mellow", "merry", "misty", "noble", "polite", "proud", "quiet", "rapid", "royal",
              "shiny", "silent", "sleek", "smooth", "snowy", "solid", "sunny", "suited", "swift",
              "tidy", "vivid", "warm", "witty")
ANIMALS = ("alpaca", "badger", "beaver", "bison", "camel", "cheetah", "cobra", "crane", "dingo",
           "dolphin", "eagle", "falcon", "ferret", "gecko", "gibbon", "heron", "ibis", "jackal",
           "koala", "lemur", "llama", "lynx", "marmot", "mink", "moose", "muskrat", "newt",
           "ocelot", "otter", "panda", "puffin", "quail", "raven", "salmon", "stoat", "tapir",
           "tiger", "toucan", "walrus", "wombat")


# ---------------------------------------------------------------------- participants
@dataclass
class Participants:
    names: np.ndarray  # participation ids, e.g. "fluid-muskrat"
    tokens: np.ndarray  # "p1", "p2", ...
    survey_codes: np.ndarray  # float, as in the real data
    inattentive: np.ndarray  # bool
    weights: np.ndarray  # (P, 8) latent weights
    nuisance_weights: np.ndarray  # (P, M) appearance weights
    temperature: np.ndarray  # (P,)
    lapse: np.ndarray  # (P,)
    rt_median: np.ndarray  # (P,) seconds

    def __len__(self) -> int:
        return len(self.names)

    def records(self, latent_names, nuisance_names) -> list[dict]:
        return [{"participation": str(self.names[p]), "token": str(self.tokens[p]),
                 "survey_code": float(self.survey_codes[p]),
                 "inattentive": bool(self.inattentive[p]),
                 "weights": {k: float(v) for k, v in zip(latent_names, self.weights[p])},
                 "nuisance_weights": {k: float(v) for k, v in zip(nuisance_names, self.nuisance_weights[p])},
                 "temperature": float(self.temperature[p]), "lapse": float(self.lapse[p]),
                 "rt_median": float(self.rt_median[p])} for p in range(len(self))]


def _lognormal_factor(rng, sd, size):
    return np.exp(rng.normal(0.0, sd, size=size) - sd * sd / 2)


def draw_observer_parameters(rng: np.random.Generator, n: int, mean_weights: np.ndarray,
                             n_nuisance: int, nuisance_weight: float, weight_spread: float,
                             temperature: float, temperature_spread: float, lapse_rate: float):
    """(weights, nuisance weights, temperatures, lapse rates) of ``n`` attentive observers."""
    w = mean_weights[None, :] * _lognormal_factor(rng, weight_spread, (n, len(mean_weights)))
    v = (nuisance_weight / max(n_nuisance, 1)) * _lognormal_factor(rng, weight_spread, (n, n_nuisance))
    tau = temperature * _lognormal_factor(rng, temperature_spread, n)
    if lapse_rate > 0:  # Beta with mean lapse_rate and concentration 20
        lam = rng.beta(20 * lapse_rate, 20 * (1 - lapse_rate), size=n)
    else:
        lam = np.zeros(n)
    return w, v, tau, lam


def sample_participants(rng: np.random.Generator, n: int, cfg, mean_weights: np.ndarray,
                        n_nuisance: int) -> Participants:
    n_combo = len(ADJECTIVES) * len(ANIMALS)
    picks = rng.choice(n_combo, size=n, replace=n > n_combo)
    names = [f"{ADJECTIVES[k // len(ANIMALS)]}-{ANIMALS[k % len(ANIMALS)]}" for k in picks]
    if len(set(names)) < n:
        names = [f"{name}-{i}" for i, name in enumerate(names)]
    inattentive = np.zeros(n, dtype=bool)
    k = int(round(cfg.inattentive_share * n))
    inattentive[rng.choice(n, size=k, replace=False)] = True
    w, v, tau, lam = draw_observer_parameters(rng, n, mean_weights, n_nuisance, cfg.nuisance_weight,
                                              cfg.weight_spread, cfg.temperature,
                                              cfg.temperature_spread, cfg.lapse_rate)
    rt = np.where(inattentive, rng.lognormal(np.log(2.0), 0.2, n), rng.lognormal(np.log(4.8), 0.3, n))
    codes = rng.integers(1000, 10000, size=n).astype(float)
    return Participants(np.asarray(names, dtype=object),
                        np.asarray([f"p{i + 1}" for i in range(n)], dtype=object), codes,
                        inattentive, w, v, tau, lam, rt)


# ---------------------------------------------------------------------- design
@dataclass
class Design:
    """One row per trial, in presentation order per participant and set."""

    participant: np.ndarray  # (R,) index into Participants
    set_number: np.ndarray  # (R,) 1-based
    trial: np.ndarray  # (R,) 0-based within the set
    triads: np.ndarray  # (R, 3) clip indices as presented
    catch: np.ndarray  # (R,) bool
    pool: np.ndarray  # (R,) index of the shared (repeated) triad, -1 for a fresh one

    def __len__(self) -> int:
        return len(self.participant)


def _distinct_triads(rng: np.random.Generator, pool: np.ndarray, k: int) -> np.ndarray:
    """``k`` triads of three distinct clips from ``pool`` (uniform, with rejection)."""
    out = pool[rng.integers(0, len(pool), size=(k, 3))]
    while True:
        bad = (out[:, 0] == out[:, 1]) | (out[:, 0] == out[:, 2]) | (out[:, 1] == out[:, 2])
        if not bad.any():
            return out
        out[bad] = pool[rng.integers(0, len(pool), size=(int(bad.sum()), 3))]


def sample_triads(rng: np.random.Generator, k: int, n_clips: int, test_idx: np.ndarray,
                  within_test_share: float) -> np.ndarray:
    """``k`` unordered triads: a share entirely among the test clips, the rest uniform."""
    in_test = rng.random(k) < within_test_share if len(test_idx) >= 3 else np.zeros(k, bool)
    out = np.empty((k, 3), dtype=np.int64)
    out[in_test] = _distinct_triads(rng, test_idx, int(in_test.sum()))
    out[~in_test] = _distinct_triads(rng, np.arange(n_clips), int((~in_test).sum()))
    return np.sort(out, axis=1)


def make_design(rng: np.random.Generator, cfg, n_clips: int, test_idx: np.ndarray,
                n_participants: int) -> Design:
    """Sets of trials with one catch trial each; a share of every participant's regular trials
    comes from a pool of shared triads that ``repeats_per_triad`` participants each answer."""
    per_set = cfg.trials_per_set - 1
    m_reg = cfg.sets_per_participant * per_set
    m_pool = int(round(m_reg * cfg.repeat_share)) if cfg.repeats_per_triad > 1 else 0
    n_pool = int(np.ceil(n_participants * m_pool / cfg.repeats_per_triad)) if m_pool else 0
    pool = sample_triads(rng, n_pool, n_clips, test_idx, cfg.within_test_share)
    deal = (np.concatenate([rng.permutation(n_pool) for _ in range(cfg.repeats_per_triad)])
            if n_pool else np.zeros(0, dtype=np.int64))
    rows = {k: [] for k in ("participant", "set_number", "trial", "triads", "catch", "pool")}
    for p in range(n_participants):
        mine = deal[p * m_pool:(p + 1) * m_pool]
        _, first = np.unique(mine, return_index=True)
        mine = mine[np.sort(first)]  # a participant sees a shared triad once
        n_fresh = m_reg - len(mine)
        triads = np.concatenate([pool[mine], sample_triads(rng, n_fresh, n_clips, test_idx,
                                                           cfg.within_test_share)])
        pool_id = np.concatenate([mine, np.full(n_fresh, -1)])
        order = rng.permutation(m_reg)
        triads, pool_id = triads[order], pool_id[order]
        triads = np.take_along_axis(triads, rng.permuted(np.tile([0, 1, 2], (m_reg, 1)), axis=1), axis=1)
        for s in range(cfg.sets_per_participant):
            chunk = slice(s * per_set, (s + 1) * per_set)
            where = rng.integers(0, cfg.trials_per_set)  # position of the catch trial
            x, y = rng.choice(n_clips, size=2, replace=False)
            catch = rng.permutation(np.array([x, x, y]))
            set_triads = np.insert(triads[chunk], where, catch, axis=0)
            set_pool = np.insert(pool_id[chunk], where, -1)
            is_catch = np.zeros(cfg.trials_per_set, dtype=bool)
            is_catch[where] = True
            rows["participant"].append(np.full(cfg.trials_per_set, p))
            rows["set_number"].append(np.full(cfg.trials_per_set, s + 1))
            rows["trial"].append(np.arange(cfg.trials_per_set))
            rows["triads"].append(set_triads)
            rows["catch"].append(is_catch)
            rows["pool"].append(set_pool)
    return Design(**{k: np.concatenate(v) for k, v in rows.items()})


# ---------------------------------------------------------------------- choices
def pair_sq_diffs(features: np.ndarray, triads: np.ndarray) -> np.ndarray:
    """(R, 3, D): squared feature differences of the pair kept when position k is odd."""
    f = features[triads]  # (R, 3, D)
    return (f[:, PAIRS[:, 0]] - f[:, PAIRS[:, 1]]) ** 2


def choice_probabilities(dz: np.ndarray, da: np.ndarray, w: np.ndarray, v: np.ndarray,
                         tau: np.ndarray, lapse: np.ndarray) -> np.ndarray:
    """P(odd = position k) (R, 3) per row, lapse included. ``w, v, tau, lapse`` are per row."""
    d = np.einsum("rkd,rd->rk", dz, w) + np.einsum("rkm,rm->rk", da, v)
    logits = -d / tau[:, None]
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    return (1 - lapse[:, None]) * p + lapse[:, None] / 3


def simulate_responses(rng: np.random.Generator, design: Design, people: Participants,
                       latent: np.ndarray, appearance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(odd position per row, response time per row)."""
    r = len(design)
    pid = design.participant
    probs = np.full((r, 3), 1 / 3)
    reg = ~design.catch & ~people.inattentive[pid]
    rows = np.flatnonzero(reg)
    probs[rows] = choice_probabilities(pair_sq_diffs(latent, design.triads[rows]),
                                       pair_sq_diffs(appearance, design.triads[rows]),
                                       people.weights[pid[rows]], people.nuisance_weights[pid[rows]],
                                       people.temperature[pid[rows]], people.lapse[pid[rows]])
    catch = np.flatnonzero(design.catch & ~people.inattentive[pid])
    t = design.triads[catch]
    single = np.where(t[:, 0] == t[:, 1], 2, np.where(t[:, 0] == t[:, 2], 1, 0))
    lam = people.lapse[pid[catch]]
    probs[catch] = lam[:, None] / 3
    probs[catch, single] += 1 - lam
    cum = np.cumsum(probs, axis=1)
    draw = rng.random(r)
    odd = (draw > cum[:, 0]).astype(np.int64) + (draw > cum[:, 1])
    rt = people.rt_median[pid] * rng.lognormal(0.0, 0.45, size=r)
    rt = np.round(np.maximum(rt, 0.8), 3)
    return odd, rt


# ---------------------------------------------------------------------- true ceiling
CEILING_DEFINITION = (
    "expected 3-way odd-one-out accuracy of predicting every response by the population's most "
    "probable choice: mean over the design's non-catch trials of max_k pi_t[k], where pi_t is "
    "the choice distribution of the population of participants for the trial's triad "
    "(softmax over weighted latent+appearance pair distances with per-participant weights and "
    "temperature, lapses, and the inattentive share answering uniformly; 'attentive': the "
    "same without the inattentive share). The population expectation is a Monte Carlo average "
    "over fresh participant draws; 'sample_participants' averages over the study's own "
    "participants instead. Every estimate's lower bound (leave-one-response-out majority) "
    "is at most this value in expectation and its upper bound (majority with the response) "
    "at least.")


def population_choice(dz: np.ndarray, da: np.ndarray, w: np.ndarray, v: np.ndarray,
                      tau: np.ndarray, lapse: np.ndarray, block: int = 512) -> np.ndarray:
    """Mean choice probabilities (R, 3) over observers given as arrays (M, ...)."""
    out = np.empty((len(dz), 3))
    for s in range(0, len(dz), block):
        sl = slice(s, s + block)
        d = np.einsum("rkd,md->rkm", dz[sl], w) + np.einsum("rkq,mq->rkm", da[sl], v)
        logits = -d / tau[None, None, :]
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        p = (1 - lapse) * p + lapse / 3
        out[sl] = p.mean(axis=2)
    return out


def true_ceiling(rng: np.random.Generator, cfg, design: Design, people: Participants,
                 latent: np.ndarray, appearance: np.ndarray, mean_weights: np.ndarray,
                 test_idx: np.ndarray) -> dict:
    """The true odd-one-out ceiling of the design (see :data:`CEILING_DEFINITION`)."""
    regular = ~design.catch
    triads = design.triads[regular]
    dz = pair_sq_diffs(latent, triads)
    da = pair_sq_diffs(appearance, triads)
    m = cfg.ceiling_draws
    w, v, tau, lam = draw_observer_parameters(rng, m, mean_weights, appearance.shape[1],
                                              cfg.nuisance_weight, cfg.weight_spread,
                                              cfg.temperature, cfg.temperature_spread,
                                              cfg.lapse_rate)
    half = m // 2
    pi_a = population_choice(dz, da, w, v, tau, lam)
    pi_a1 = population_choice(dz, da, w[:half], v[:half], tau[:half], lam[:half])
    pi_a2 = population_choice(dz, da, w[half:], v[half:], tau[half:], lam[half:])
    rho = cfg.inattentive_share

    def ceiling(pi_att: np.ndarray, mask=None, inattentive: float = rho) -> float:
        top = (1 - inattentive) * pi_att.max(axis=1) + inattentive / 3
        if mask is not None:
            top = top[mask]
        return float(top.mean()) if len(top) else float("nan")

    repeated = design.pool[regular] >= 0
    in_test = np.isin(triads, test_idx).all(axis=1)
    # the study's own participants: mean over attentive ones; inattentive ones answer uniformly
    att = np.flatnonzero(~people.inattentive)
    rep_rows = np.flatnonzero(repeated)
    if len(att) and len(rep_rows):
        pi_s = population_choice(dz[rep_rows], da[rep_rows], people.weights[att],
                                 people.nuisance_weights[att], people.temperature[att],
                                 people.lapse[att])
        share = float(people.inattentive.mean())
        sample = {"attentive": ceiling(pi_s, inattentive=0.0),
                  "all_participants": ceiling(pi_s, inattentive=share),
                  "inattentive_share": share}
    else:
        sample = None
    return {
        "definition": CEILING_DEFINITION,
        "value": ceiling(pi_a),
        "all_participants": ceiling(pi_a),
        "attentive": ceiling(pi_a, inattentive=0.0),
        "n_trials": int(regular.sum()),
        "repeated_triads": {"all_participants": ceiling(pi_a, repeated),
                            "attentive": ceiling(pi_a, repeated, 0.0),
                            "n_trials": int(repeated.sum()),
                            "n_triads": int(len(np.unique(design.pool[design.pool >= 0])))},
        "test_split": {"all_participants": ceiling(pi_a, in_test),
                       "attentive": ceiling(pi_a, in_test, 0.0),
                       "n_trials": int(in_test.sum())},
        "sample_participants": {"repeated_triads": sample},
        "chance": 1 / 3,
        "inattentive_share": rho,
        "monte_carlo_draws": m,
        "monte_carlo_half_difference": abs(ceiling(pi_a1) - ceiling(pi_a2)),
    }
