"""Benchmark: vectorised alignment metrics (odd-one-out accuracy, RSA) vs. Python loops.

What it measures
----------------
1. Odd-one-out accuracy. ``--n-triplets`` random triplets over ``--n-stimuli`` stimuli (three
   distinct stimuli per row, uniform over ordered triples, random odd position, seeded) and
   ``--dim``-dimensional random float32 embeddings. The vectorised time is
   ``similarity_matrix(X, "cosine")`` plus ``ooo_accuracy`` on all rows; both parts and their
   total are reported (best of ``--repeats``, ``time.perf_counter``). Two per-triplet Python
   loops are timed on the first ``--loop-sample`` rows and extrapolated linearly to all rows:

   * *loop from embeddings*: the three cosine similarities of each triplet from the embedding
     vectors with ``np.dot`` / ``np.linalg.norm``, the most similar pair, compared with the
     human's odd one (compared with the whole vectorised total);
   * *loop with lookup*: the same loop reading the similarities from the precomputed matrix,
     which separates the cost of the similarities from the cost of the loop (compared with
     the ``ooo_accuracy`` part alone).

   The loops score ties fractionally like ``ooo_scores(..., ties="fractional")`` (random
   float embeddings have no ties); the vectorised per-triplet scores on the sample must equal
   both loops' exactly. The loop from embeddings reads the float64 copy of the embeddings,
   i.e. the values ``similarity_matrix`` works in, so that the check cannot fail on a near-tie
   that float32 rounding would flip.

2. RSA over all pairs of the stimuli (1,999,000 for 2000; pairs no triplet covers are left
   out, as ``rsa`` does): human dissimilarity from the same triplets (``human_similarity``),
   model dissimilarity ``dissimilarity_matrix(X, "cosine")`` (both built once, timed as set-up).
   ``rsa(..., "spearman")``, ``rsa(..., "pearson")`` and ``rsa(..., "kendall_tau_a")`` are
   timed (best of ``--repeats``). The baseline builds the two pair vectors with a double
   ``for`` loop over i < j on the first ``--rsa-loop-stimuli`` stimuli, extrapolated by the
   pair count, plus ``scipy.stats.spearmanr`` (or ``pearsonr``) timed on the full vectors.
   Checks: the loop's pair vectors equal the vectorised ones on that sample exactly, and the
   vectorised Spearman (Pearson) equals ``scipy.stats.spearmanr`` (``pearsonr``) on the full
   vectors to 1e-9. Kendall tau-a has no baseline and is reported on its own.

Any failed check exits with status 1. Timings are reported, never asserted. Data generation
and TripletSet construction are not timed.

Run:  .venv/bin/python benchmarks/metrics.py [--json results.json]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import scipy
from scipy.stats import pearsonr, spearmanr

from bgs.human.similarity import human_similarity
from bgs.metrics.alignment import ooo_accuracy, ooo_scores, rsa
from bgs.metrics.distance import dissimilarity_matrix, similarity_matrix

sys.path.insert(0, str(Path(__file__).parent))
from common import finish, random_triplets  # noqa: E402

CORRELATION_TOLERANCE = 1e-9


def random_embeddings(n_stimuli: int, dim: int, seed: int) -> np.ndarray:
    """Standard normal float32 embeddings, one row per stimulus (independent of the triplets)."""
    return np.random.default_rng([seed, 1]).standard_normal((n_stimuli, dim), dtype=np.float32)


def _fractional(sims, o: int) -> float:
    """1/k when the human's pair is among the k most similar pairs, else 0."""
    best = max(sims)
    k = sum(s == best for s in sims)
    return (sims[o] == best) / k


def loop_ooo_from_embeddings(x: np.ndarray, triads: np.ndarray, odd: np.ndarray) -> np.ndarray:
    """Per-triplet scores, cosine similarities computed per triplet from the vectors."""
    scores = np.empty(len(triads))
    for t, ((a, b, c), o) in enumerate(zip(triads.tolist(), odd.tolist())):
        xa, xb, xc = x[a], x[b], x[c]
        na, nb, nc = np.linalg.norm(xa), np.linalg.norm(xb), np.linalg.norm(xc)
        # Position k odd leaves the pair of the other two: (b, c), (a, c), (a, b).
        sims = (np.dot(xb, xc) / (nb * nc), np.dot(xa, xc) / (na * nc),
                np.dot(xa, xb) / (na * nb))
        scores[t] = _fractional(sims, o)
    return scores


def loop_ooo_lookup(similarity: np.ndarray, triads: np.ndarray, odd: np.ndarray) -> np.ndarray:
    """Per-triplet scores, similarities looked up in the precomputed N×N matrix."""
    scores = np.empty(len(triads))
    for t, ((a, b, c), o) in enumerate(zip(triads.tolist(), odd.tolist())):
        sims = (similarity[b, c], similarity[a, c], similarity[a, b])
        scores[t] = _fractional(sims, o)
    return scores


def loop_pair_vectors(model_d: np.ndarray, chosen: np.ndarray, cooc: np.ndarray, m: int):
    """(model, human) dissimilarity over the observed pairs i < j of the first m stimuli."""
    model, human = [], []
    for i in range(m):
        for j in range(i + 1, m):
            n = cooc[i, j]
            if n > 0:
                model.append(model_d[i, j])
                human.append(1.0 - chosen[i, j] / n)
    return np.array(model, dtype=float), np.array(human, dtype=float)


def best_time(fn, repeats: int):
    """(best seconds of ``repeats`` calls, the last call's result)."""
    times, out = [], None
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _n_pairs(n: int) -> int:
    return n * (n - 1) // 2


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-triplets", type=int, default=5_000_000)
    p.add_argument("--n-stimuli", type=int, default=2000)
    p.add_argument("--dim", type=int, default=512, help="embedding dimension")
    p.add_argument("--loop-sample", type=int, default=20_000,
                   help="triplets timed with the Python loops (extrapolated to all triplets)")
    p.add_argument("--rsa-loop-stimuli", type=int, default=300,
                   help="stimuli whose pairs the RSA loop visits (extrapolated by pair count)")
    p.add_argument("--repeats", type=int, default=3, help="vectorised timing: best of N")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = p.parse_args(argv)

    ts = random_triplets(args.n_triplets, args.n_stimuli, args.seed)
    x = random_embeddings(args.n_stimuli, args.dim, args.seed)
    n, n_stim = len(ts), args.n_stimuli

    # ------------------------------------------------------------ 1. odd-one-out accuracy
    sim_times, acc_times, total_times = [], [], []
    for _ in range(max(1, args.repeats)):
        t0 = time.perf_counter()
        s = similarity_matrix(x, "cosine")
        t1 = time.perf_counter()
        accuracy = ooo_accuracy(s, ts)
        t2 = time.perf_counter()
        sim_times.append(t1 - t0)
        acc_times.append(t2 - t1)
        total_times.append(t2 - t0)
    sim_s, acc_s, ooo_s = min(sim_times), min(acc_times), min(total_times)

    sample = ts.select(np.arange(min(args.loop_sample, n)))
    m = len(sample)
    x64 = x.astype(np.float64)  # the values similarity_matrix computes with
    loop_emb_s, loop_emb_scores = timed(
        lambda: loop_ooo_from_embeddings(x64, sample.triads, sample.odd))
    loop_lookup_s, loop_lookup_scores = timed(
        lambda: loop_ooo_lookup(s, sample.triads, sample.odd))
    scale = n / m if m else float("nan")
    loop_emb_full_s, loop_lookup_full_s = loop_emb_s * scale, loop_lookup_s * scale

    vec_scores = ooo_scores(s, sample, ties="fractional")
    ooo_equal = (np.array_equal(vec_scores, loop_emb_scores)
                 and np.array_equal(vec_scores, loop_lookup_scores))
    sample_ties = int(np.count_nonzero((vec_scores > 0) & (vec_scores < 1)))

    # ------------------------------------------------------------ 2. RSA
    hs_s, human = best_time(lambda: human_similarity(ts), args.repeats)
    dis_s, model_d = best_time(lambda: dissimilarity_matrix(x, "cosine"), args.repeats)
    i, j = human.i, human.j
    n_obs = len(i)
    model_vec, human_vec = model_d[i, j], human.dissimilarity[i, j]

    rsa_s, rsa_value = {}, {}
    for method in ("spearman", "pearson", "kendall_tau_a"):
        rsa_s[method], rsa_value[method] = best_time(
            lambda method=method: rsa(model_d, human, method), args.repeats)

    rm = min(args.rsa_loop_stimuli, n_stim)
    pair_loop_s, (loop_model, loop_human) = timed(
        lambda: loop_pair_vectors(model_d, human.chosen, human.cooccurrence, rm))
    pair_scale = _n_pairs(n_stim) / _n_pairs(rm) if rm >= 2 else float("nan")
    pair_loop_full_s = pair_loop_s * pair_scale
    in_sample = j < rm  # i < j, so both stimuli are among the first rm
    pairs_equal = (np.array_equal(loop_model, model_vec[in_sample])
                   and np.array_equal(loop_human, human_vec[in_sample]))

    scipy_s = {}
    scipy_s["spearman"], scipy_spearman = timed(
        lambda: float(spearmanr(model_vec, human_vec).statistic))
    scipy_s["pearson"], scipy_pearson = timed(
        lambda: float(pearsonr(model_vec, human_vec).statistic))
    spearman_diff = abs(rsa_value["spearman"] - scipy_spearman)
    pearson_diff = abs(rsa_value["pearson"] - scipy_pearson)
    spearman_ok = bool(spearman_diff <= CORRELATION_TOLERANCE)
    pearson_ok = bool(pearson_diff <= CORRELATION_TOLERANCE)
    baseline_rsa_s = {k: pair_loop_full_s + scipy_s[k] for k in ("spearman", "pearson")}

    ok = ooo_equal and pairs_equal and spearman_ok and pearson_ok

    results = {
        "n_triplets": n, "n_stimuli": n_stim, "dim": args.dim, "loop_sample": m,
        "rsa_loop_stimuli": rm, "repeats": args.repeats, "seed": args.seed,
        "ooo": {
            "accuracy": accuracy,
            "similarity_matrix_s": sim_s, "ooo_accuracy_s": acc_s, "total_s": ooo_s,
            "loop_embeddings_sample_s": loop_emb_s,
            "loop_embeddings_extrapolated_s": loop_emb_full_s,
            "loop_lookup_sample_s": loop_lookup_s,
            "loop_lookup_extrapolated_s": loop_lookup_full_s,
            "ratio_loop_embeddings_vs_total": loop_emb_full_s / ooo_s,
            "ratio_loop_lookup_vs_ooo_accuracy": loop_lookup_full_s / acc_s,
            "throughput_triplets_per_s": n / ooo_s,
            "sample_scores_equal": ooo_equal, "sample_ties": sample_ties,
        },
        "rsa": {
            "n_pairs": _n_pairs(n_stim), "n_observed_pairs": n_obs,
            "human_similarity_s": hs_s, "dissimilarity_matrix_s": dis_s,
            "spearman": rsa_value["spearman"], "pearson": rsa_value["pearson"],
            "kendall_tau_a": rsa_value["kendall_tau_a"],
            "spearman_s": rsa_s["spearman"], "pearson_s": rsa_s["pearson"],
            "kendall_tau_a_s": rsa_s["kendall_tau_a"],
            "loop_pairs_sample": _n_pairs(rm), "loop_sample_s": pair_loop_s,
            "loop_extrapolated_s": pair_loop_full_s,
            "scipy_spearmanr_s": scipy_s["spearman"], "scipy_pearsonr_s": scipy_s["pearson"],
            "baseline_spearman_s": baseline_rsa_s["spearman"],
            "baseline_pearson_s": baseline_rsa_s["pearson"],
            "ratio_spearman": baseline_rsa_s["spearman"] / rsa_s["spearman"],
            "ratio_pearson": baseline_rsa_s["pearson"] / rsa_s["pearson"],
            "scipy_spearman": scipy_spearman, "scipy_pearson": scipy_pearson,
            "spearman_abs_diff": spearman_diff, "pearson_abs_diff": pearson_diff,
            "tolerance": CORRELATION_TOLERANCE,
            "sample_pairs_equal": pairs_equal, "spearman_matches_scipy": spearman_ok,
            "pearson_matches_scipy": pearson_ok,
        },
        "checks_passed": ok,
        "cpu_count": os.cpu_count(), "python": platform.python_version(),
        "numpy": np.__version__, "scipy": scipy.__version__,
    }

    def per_s(count, seconds, unit):
        return f"{count / seconds:,.0f} {unit}/s"

    print(f"odd-one-out: {n:,} triplets, {n_stim:,} stimuli, dim {args.dim}, "
          f"loops on {m:,} triplets; accuracy {accuracy:.4f} (chance 1/3)")
    print(f"RSA: {n_obs:,} of {_n_pairs(n_stim):,} pairs observed, loop on the "
          f"{_n_pairs(rm):,} pairs of {rm} stimuli; best of {args.repeats}, "
          f"{os.cpu_count()} cores")
    print()
    header = ("measurement", "vectorised s", "baseline (extrapolated)", "baseline s", "ratio",
              "throughput")
    table = [
        ("ooo: similarity_matrix cosine", f"{sim_s:.3f}", "", "", "", ""),
        ("ooo: ooo_accuracy", f"{acc_s:.3f}", "loop, matrix lookup", f"{loop_lookup_full_s:.1f}",
         f"{loop_lookup_full_s / acc_s:,.0f}x", per_s(n, acc_s, "triplets")),
        ("ooo: total", f"{ooo_s:.3f}", "loop, dot/norm", f"{loop_emb_full_s:.1f}",
         f"{loop_emb_full_s / ooo_s:,.0f}x", per_s(n, ooo_s, "triplets")),
        ("rsa set-up: human_similarity", f"{hs_s:.3f}", "", "", "", ""),
        ("rsa set-up: dissimilarity_matrix", f"{dis_s:.3f}", "", "", "", ""),
        ("rsa spearman", f"{rsa_s['spearman']:.3f}", "pair loop + spearmanr",
         f"{baseline_rsa_s['spearman']:.2f}",
         f"{baseline_rsa_s['spearman'] / rsa_s['spearman']:,.1f}x",
         per_s(n_obs, rsa_s["spearman"], "pairs")),
        ("rsa pearson", f"{rsa_s['pearson']:.3f}", "pair loop + pearsonr",
         f"{baseline_rsa_s['pearson']:.2f}",
         f"{baseline_rsa_s['pearson'] / rsa_s['pearson']:,.1f}x",
         per_s(n_obs, rsa_s["pearson"], "pairs")),
        ("rsa kendall_tau_a", f"{rsa_s['kendall_tau_a']:.3f}", "", "", "",
         per_s(n_obs, rsa_s["kendall_tau_a"], "pairs")),
    ]
    widths = [max(len(r[c]) for r in [header, *table]) for c in range(len(header))]
    for r in [header, *table]:
        print("  ".join(v.ljust(w) if c in (0, 2) else v.rjust(w)
                        for c, (v, w) in enumerate(zip(r, widths))).rstrip())
    print()
    details = [
        (f"loop, dot/norm on {m:,} triplets", f"{loop_emb_s:.3f} s"),
        (f"loop, matrix lookup on {m:,} triplets", f"{loop_lookup_s:.3f} s"),
        (f"pair loop on {_n_pairs(rm):,} pairs", f"{pair_loop_s:.3f} s"),
        ("scipy spearmanr / pearsonr on all pairs",
         f"{scipy_s['spearman']:.3f} s / {scipy_s['pearson']:.3f} s"),
        ("RSA spearman / pearson / kendall_tau_a",
         f"{rsa_value['spearman']:.6f} / {rsa_value['pearson']:.6f} / "
         f"{rsa_value['kendall_tau_a']:.6f}"),
        ("sample ooo scores equal both loops",
         ("yes" if ooo_equal else "NO") + f" ({sample_ties} tied triplets)"),
        ("sample pair vectors equal the loop's", "yes" if pairs_equal else "NO"),
        (f"spearman = scipy.stats.spearmanr (<= {CORRELATION_TOLERANCE:g})",
         ("yes" if spearman_ok else "NO") + f" (|diff| {spearman_diff:.1e})"),
        (f"pearson = scipy.stats.pearsonr (<= {CORRELATION_TOLERANCE:g})",
         ("yes" if pearson_ok else "NO") + f" (|diff| {pearson_diff:.1e})"),
    ]
    return finish(details, results, args.json, ok,
                  "a vectorised result differs from its baseline (see the checks above)")


if __name__ == "__main__":
    sys.exit(main())
