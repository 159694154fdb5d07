"""A THINGS-shaped synthetic odd-one-out dataset with planted structure, for benchmarks.

THINGS (Hebart et al. 2023) has 1,854 concepts, 4.7 M triplets and a test set of 1,000
triads answered by 20 people each (20,000 triplets, 325 participants); its embeddings are
42- to 512-dimensional and non-negative. :func:`things_shaped` draws data of that shape:

* ``n_stimuli`` stimuli with non-negative latent features (``latent_dim``, sparse gamma
  draws) — the planted structure;
* ``n_triplets // responses`` distinct random triads (three distinct stimuli), each answered
  ``responses`` times by random participants among ``n_participants``;
* each response by a simulated observer: the chosen pair is the pair with the largest
  latent dot product plus Gumbel noise of scale ``1 / beta`` (a softmax choice rule);
* model embeddings (``dim``-d, float32, non-negative): the latent features through a random
  non-negative projection, plus non-negative noise, so a model aligns partly with people.

Drawn in chunks of triplets, so 50 M triplets fit in a few GB. Seeded.
"""

from __future__ import annotations

import numpy as np

from bgs.data.triplets import TripletSet

_CHUNK = 2_000_000


def _distinct_triads(rng: np.random.Generator, n: int, n_stimuli: int) -> np.ndarray:
    """``n`` uniform random ordered triples of three distinct stimuli (int32)."""
    a = rng.integers(0, n_stimuli, n)
    b = (a + rng.integers(1, n_stimuli, n)) % n_stimuli
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    c = rng.integers(0, n_stimuli - 2, n)
    c += c >= lo
    c += c >= hi
    return np.stack([a, b, c], axis=1).astype(np.int32)


def planted_latents(n_stimuli: int, latent_dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng([seed, 0])
    z = rng.gamma(0.5, 1.0, size=(n_stimuli, latent_dim))
    return z * (rng.random((n_stimuli, latent_dim)) < 0.5)


def model_embeddings(z: np.ndarray, dim: int, noise: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng([seed, 1])
    w = np.abs(rng.normal(size=(z.shape[1], dim)))
    x = z @ w
    x = x / x.std() + noise * np.abs(rng.normal(size=x.shape))
    return x.astype(np.float32)


def _choose_odd(rng, z, triads, beta) -> np.ndarray:
    """Odd position per triplet: argmax over k of beta·sim(pair left when k is odd) + Gumbel."""
    a, b, c = (z[triads[:, k]] for k in range(3))
    sims = np.stack([(b * c).sum(1), (a * c).sum(1), (a * b).sum(1)], axis=1)
    return np.argmax(beta * sims + rng.gumbel(size=sims.shape), axis=1).astype(np.int8)


def things_shaped(n_stimuli: int = 1854, n_triplets: int = 20_000, dim: int = 42,
                  responses: int = 20, n_participants: int = 325, latent_dim: int = 8,
                  beta: float = 2.0, noise: float = 1.0,
                  seed: int = 0) -> tuple[TripletSet, np.ndarray]:
    """(triplets, model embeddings) of the shape described in the module docstring."""
    rng = np.random.default_rng([seed, 2])
    z = planted_latents(n_stimuli, latent_dim, seed)
    n_triads = max(1, n_triplets // responses)
    triads = np.empty((n_triads * responses, 3), dtype=np.int32)
    odd = np.empty(len(triads), dtype=np.int8)
    for start in range(0, n_triads, _CHUNK):
        t = _distinct_triads(rng, min(_CHUNK, n_triads - start), n_stimuli)
        rows = slice(start * responses, (start + len(t)) * responses)
        rep = np.repeat(t, responses, axis=0)
        triads[rows] = rep
        odd[rows] = _choose_odd(rng, z, rep, beta)
    n = len(triads)
    participant = rng.integers(0, n_participants, n).astype(np.int32)
    ts = TripletSet(stimulus_ids=np.arange(n_stimuli), triads=triads, odd=odd,
                    participant=participant, participant_ids=np.arange(n_participants),
                    response_time=np.zeros(n, dtype=np.float32), rows=np.arange(n, dtype=np.int64),
                    source=f"things-shaped synthetic ({n_stimuli} stimuli, {n} triplets, seed {seed})")
    return ts, model_embeddings(z, dim, noise, seed)
