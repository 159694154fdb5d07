"""A THINGS-shaped synthetic odd-one-out dataset with planted structure, for benchmarks.

THINGS (Hebart et al. 2023) has 1,854 concepts, 4.7 M triplets and a test set of 1,000
triads answered by 20 people each (20,000 triplets, 325 participants); its embeddings are
42- to 512-dimensional and non-negative. :func:`things_shaped` draws data of that shape:

* ``n_stimuli`` stimuli with non-negative latent features (``latent_dim``, sparse gamma
  draws) — the planted structure;
* ``n_triplets // responses`` random triads (three distinct stimuli), each answered
  ``responses`` times by random participants among ``n_participants``; optionally a block
  of extra triads answered many times each. Random triads over 1,854 stimuli almost never
  repeat by chance (4.7 M of 1.06 billion), as in THINGS' training set, whose triads are
  mostly unique; its test set is 1,000 triads × 20 responses (``things-test``), and the
  full set (``things-full``) is 4.68 M unique triads plus that test block;
* each response by a simulated observer: the chosen pair is the pair with the largest
  latent dot product plus Gumbel noise of scale ``1 / beta`` (a softmax choice rule);
* model embeddings (``dim``-d, float32, non-negative): the latent features through a random
  non-negative projection, plus non-negative noise, so a model aligns partly with people.

Drawn in chunks of triplets, so 50 M triplets fit in a few GB; the response times and
row numbers, which no evaluation reads, are views of one value. Seeded.
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


def _responses(rng, z, triads: np.ndarray, odd: np.ndarray, start_row: int, n_triads: int,
               responses: int, beta: float) -> None:
    """Fill rows from ``start_row`` with ``n_triads`` random triads, each answered
    ``responses`` times."""
    for start in range(0, n_triads, _CHUNK):
        t = _distinct_triads(rng, min(_CHUNK, n_triads - start), len(z))
        rows = slice(start_row + start * responses, start_row + (start + len(t)) * responses)
        rep = np.repeat(t, responses, axis=0)
        triads[rows] = rep
        odd[rows] = _choose_odd(rng, z, rep, beta)


def things_shaped(n_stimuli: int = 1854, n_triplets: int = 20_000, dim: int = 42,
                  responses: int = 20, n_participants: int = 325, latent_dim: int = 8,
                  beta: float = 2.0, noise: float = 1.0, repeated: tuple[int, int] = (0, 0),
                  seed: int = 0) -> tuple[TripletSet, np.ndarray]:
    """(triplets, model embeddings) of the shape described in the module docstring.

    ``repeated = (triads, responses)`` adds that many extra triads answered that many times
    each (THINGS' test set, 1,000 × 20, inside its 4.7 M triplets), counted in ``n_triplets``."""
    rng = np.random.default_rng([seed, 2])
    z = planted_latents(n_stimuli, latent_dim, seed)
    extra = repeated[0] * repeated[1]
    n_triads = max(1, (n_triplets - extra) // responses)
    triads = np.empty((n_triads * responses + extra, 3), dtype=np.int32)
    odd = np.empty(len(triads), dtype=np.int8)
    _responses(rng, z, triads, odd, 0, n_triads, responses, beta)
    if extra:
        _responses(rng, z, triads, odd, n_triads * responses, repeated[0], repeated[1], beta)
    n = len(triads)
    participant = rng.integers(0, n_participants, n).astype(np.int32)
    ts = TripletSet(stimulus_ids=np.arange(n_stimuli), triads=triads, odd=odd,
                    participant=participant, participant_ids=np.arange(n_participants),
                    # the evaluation reads neither: views of one value, not 0.6 GB at 50 M triplets
                    response_time=np.broadcast_to(np.float32(np.nan), (n,)),
                    rows=np.broadcast_to(np.int64(0), (n,)),
                    source=f"things-shaped synthetic ({n_stimuli} stimuli, {n} triplets, seed {seed})")
    return ts, model_embeddings(z, dim, noise, seed)
