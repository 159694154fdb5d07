"""Helpers shared by the benchmark scripts (run them from the repository root)."""

from __future__ import annotations

import sys

import numpy as np

from bgs.data.triplets import TripletSet


def random_triplets(n_triplets: int, n_stimuli: int, seed: int) -> TripletSet:
    """Uniform random triplets of three distinct stimuli, with a uniform odd position."""
    if n_stimuli < 3:
        raise SystemExit("--n-stimuli must be at least 3")
    rng = np.random.default_rng(seed)
    a = rng.integers(0, n_stimuli, n_triplets)
    b = (a + rng.integers(1, n_stimuli, n_triplets)) % n_stimuli  # b != a
    # c uniform over the n-2 stimuli other than a and b: draw from n-2 values, skip lo and hi.
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    c = rng.integers(0, n_stimuli - 2, n_triplets)
    c += c >= lo
    c += c >= hi
    triads = np.stack([a, b, c], axis=1).astype(np.int32)
    odd = rng.integers(0, 3, n_triplets).astype(np.int8)
    return TripletSet(stimulus_ids=np.arange(n_stimuli), triads=triads, odd=odd,
                      participant=np.zeros(n_triplets, dtype=np.int32),
                      participant_ids=np.array([0]), response_time=np.full(n_triplets, np.nan),
                      rows=np.arange(n_triplets))


def finish(rows: list[tuple[str, str]], results: dict, json_path, ok: bool, error: str) -> int:
    """Print the ``(label, value)`` rows aligned, write ``results`` to ``json_path`` (if
    given), and return the exit status: 1 with ``error`` on stderr when a check failed."""
    from bgs.io import write_json

    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    if json_path:
        write_json(json_path, results)
    if not ok:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0
