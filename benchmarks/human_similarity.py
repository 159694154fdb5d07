"""Benchmark: vectorised human similarity vs. a per-row Python loop.

What it measures
----------------
``bgs.human.similarity.human_similarity`` turns odd-one-out triplets into pair counts
(``cooccurrence[x,y]``: x and y in one triplet; ``chosen[x,y]``: x and y the chosen pair)
with ``np.bincount`` and no loop over rows. This script

1. draws ``--n-triplets`` random triplets over ``--n-stimuli`` stimuli (three distinct
   stimuli per row, uniform over ordered triples) and a random odd position, seeded;
2. times ``human_similarity`` on all rows plus forming S = chosen / cooccurrence
   (best of ``--repeats``, ``time.perf_counter``);
3. times the obvious per-row loop a researcher would write (increment the co-occurrence
   count of the row's three pairs and the chosen count of its pair, in N×N numpy arrays) on
   the first ``--loop-sample`` rows and extrapolates it linearly to all rows;
4. checks the vectorised counts on that sample equal the loop's exactly (exit 1 if not);
5. prints rows, stimuli, times, speed-up, throughput and whether the 2 s target for the
   defaults (5M triplets, 2000 stimuli) is met. The target is reported, never asserted.

Triplet generation and TripletSet construction are not timed.

Run:  .venv/bin/python benchmarks/human_similarity.py [--json results.json]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from bgs.human.similarity import human_similarity

sys.path.insert(0, str(Path(__file__).parent))
from common import finish, random_triplets  # noqa: E402

TARGET_SECONDS = 2.0


def loop_counts(triads: np.ndarray, odd: np.ndarray, n_stimuli: int):
    """The straightforward per-row implementation: (chosen, cooccurrence) N×N int arrays."""
    chosen = np.zeros((n_stimuli, n_stimuli), dtype=np.int64)
    cooc = np.zeros((n_stimuli, n_stimuli), dtype=np.int64)
    for (a, b, c), o in zip(triads.tolist(), odd.tolist()):
        for x, y in ((a, b), (a, c), (b, c)):
            cooc[x, y] += 1
            cooc[y, x] += 1
        x, y = ((b, c), (a, c), (a, b))[o]
        chosen[x, y] += 1
        chosen[y, x] += 1
    return chosen, cooc


def best_time(fn, repeats: int) -> float:
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-triplets", type=int, default=5_000_000)
    p.add_argument("--n-stimuli", type=int, default=2000)
    p.add_argument("--loop-sample", type=int, default=50_000,
                   help="rows timed with the Python loop (extrapolated to all rows)")
    p.add_argument("--repeats", type=int, default=3, help="vectorised timing: best of N")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = p.parse_args(argv)

    ts = random_triplets(args.n_triplets, args.n_stimuli, args.seed)
    n = len(ts)

    def vectorised():
        hs = human_similarity(ts)
        return hs.similarity

    vec_s = best_time(vectorised, args.repeats)

    sample = ts.select(np.arange(min(args.loop_sample, n)))
    m = len(sample)
    t0 = time.perf_counter()
    loop_chosen, loop_cooc = loop_counts(sample.triads, sample.odd, args.n_stimuli)
    loop_s = time.perf_counter() - t0
    loop_full_s = loop_s * n / m if m else float("nan")

    hs = human_similarity(sample)
    equal = (np.array_equal(hs.chosen, loop_chosen) and np.array_equal(hs.cooccurrence, loop_cooc))

    default_size = (n, args.n_stimuli) == (5_000_000, 2000)
    results = {
        "n_triplets": n, "n_stimuli": args.n_stimuli, "loop_sample": m,
        "repeats": args.repeats, "seed": args.seed,
        "vectorised_s": vec_s, "loop_sample_s": loop_s, "loop_extrapolated_s": loop_full_s,
        "speedup": loop_full_s / vec_s, "throughput_triplets_per_s": n / vec_s,
        "target_s": TARGET_SECONDS, "target_met": vec_s <= TARGET_SECONDS,
        "target_applies": default_size, "sample_counts_equal": equal,
        "cpu_count": os.cpu_count(), "python": platform.python_version(),
        "numpy": np.__version__,
    }

    rows = [
        ("rows", f"{n:,}"),
        ("stimuli", f"{args.n_stimuli:,}"),
        (f"vectorised (best of {args.repeats})", f"{vec_s:.3f} s"),
        (f"loop on {m:,} rows", f"{loop_s:.3f} s"),
        ("loop extrapolated to all rows", f"{loop_full_s:.1f} s"),
        ("speed-up (loop / vectorised)", f"{results['speedup']:,.0f}x"),
        ("throughput", f"{results['throughput_triplets_per_s']:,.0f} triplets/s"),
        (f"target <= {TARGET_SECONDS:g} s ({os.cpu_count()} cores)",
         ("met" if results["target_met"] else "NOT met")
         + ("" if default_size else " (target is for 5M rows x 2000 stimuli)")),
        ("sample counts equal loop", "yes" if equal else "NO"),
    ]
    return finish(rows, results, args.json, equal, "vectorised counts differ from the loop's on the sample")


if __name__ == "__main__":
    sys.exit(main())
