"""Benchmark: evaluation at THINGS scale, the dense path against the sparse one, in one run.

What it measures
----------------
For each case, data of that shape from ``things_shaped.py`` (planted structure, seeded) and
the whole of ``bgs evaluate``'s work on it: 3-way and 2AFC accuracy, RSA (Spearman,
Pearson, Kendall tau-a), the odd-one-out and split-half ceilings, bootstrap CIs over
triplets and over stimuli, permutation p-values (``--metric dot``, like the THINGS
embeddings). Each (case, path) runs in a fresh child process; the time is the evaluation
alone, wall clock (``time.perf_counter``) and CPU (``time.process_time``; on shared cores
the steadier of the two), generating the data not timed; the memory is the child's peak
RSS (``os.wait4``), data included.

* **sparse**: :func:`bgs.metrics.evaluate.evaluate_model` (the library's path: the
  compiled kernels of :mod:`bgs.kernels`);
* **numpy**: the same with ``compiled=False``, the numpy reference of the kernels (the
  sparse path before them), where ``--numpy`` asks for it;
* **dense**: ``dense_reference.evaluate_dense``, the earlier implementation (dense N×N
  counts rebuilt per resample), where it finishes in reasonable time.

Cases (``--cases``): ``things-test`` (1,854 stimuli, 1,000 triads × 20 responses = 20,000
triplets, 325 participants, 42-d), ``things-full`` (1,854 stimuli, 4.7 M triplets: 4.68 M
unique triads plus a 1,000 × 20 test block, 12,340 participants, 42-d), ``images-5m``
(20,000 stimuli, 5 M unique triads, 10,000 participants, 512-d), ``images-50m`` (20,000
stimuli, 50 M unique triads, 100,000 participants, 512-d).
Resampling: the defaults (1,000 bootstraps, 1,000 permutations, 100 splits) unless the case
says otherwise (``images-*``: 200 bootstraps, no permutations, 10 splits), or
``--resampling B/P/S`` overrides them for every case.

When the dense path ran, the point estimates must be identical to the sparse ones (exit
status 1 if not); the CIs and p-values are compared too. The compiled triplet bootstrap
draws its own multiplicities, so its CIs agree with the dense (and numpy) ones within Monte
Carlo error; everything else, to rounding.

``--floor`` times only the triplet bootstrap's draws at each case's size, times its
bootstraps: numpy's (``multiplicities``: n integers and their histogram) and the kernel's
(:func:`bgs.kernels.triplet_multiplicities`).

Run:  .venv/bin/python benchmarks/sparse_eval.py [--cases things-test,things-full] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import finish  # noqa: E402

CASES = {
    "things-test": dict(shape=dict(n_stimuli=1854, n_triplets=20_000, dim=42, responses=20,
                                   n_participants=325), dense=True),
    "things-full": dict(shape=dict(n_stimuli=1854, n_triplets=4_700_000, dim=42, responses=1,
                                   n_participants=12_340, repeated=(1000, 20)), dense=False),
    "images-5m": dict(shape=dict(n_stimuli=20_000, n_triplets=5_000_000, dim=512, responses=1,
                                 n_participants=10_000), dense=False,
                      resampling=dict(n_bootstrap=200, n_permutations=0, n_splits=10)),
    "images-50m": dict(shape=dict(n_stimuli=20_000, n_triplets=50_000_000, dim=512, responses=1,
                                  n_participants=100_000), dense=False,
                       resampling=dict(n_bootstrap=200, n_permutations=0, n_splits=10)),
}
DEFAULTS = dict(n_bootstrap=1000, n_permutations=1000, n_splits=100)
POINT = [("ooo_accuracy", "value"), ("two_way_accuracy_symmetric", "value"),
         ("rsa_spearman", "value"), ("rsa_pearson", "value"), ("rsa_kendall_tau_a", "value"),
         ("rsa_spearman", "reliability"), ("rsa_pearson", "reliability")]
INTERVALS = [("ooo_accuracy", "ci"), ("ooo_accuracy", "ci_stimuli"), ("ooo_accuracy", "p_value"),
             ("two_way_accuracy_symmetric", "ci"), ("two_way_accuracy_symmetric", "ci_stimuli"),
             ("rsa_spearman", "ci"), ("rsa_spearman", "ci_triplets"), ("rsa_spearman", "p_value"),
             ("rsa_pearson", "ci"), ("rsa_pearson", "ci_triplets"), ("rsa_pearson", "p_value")]

#: The intervals of the triplet bootstrap, whose draws the kernel makes itself.
TRIPLET_DRAWN = {"ooo_accuracy.ci", "two_way_accuracy_symmetric.ci", "rsa_spearman.ci_triplets",
                 "rsa_pearson.ci_triplets"}


class PhaseLog:
    """Wall, CPU and peak RSS of each named step of an evaluation, for ``--phases``.

    The steps are the names :func:`~bgs.metrics.evaluate.evaluate_model` calls, wrapped in
    place; the peak of each is the process's high-water mark (``VmHWM``), reset as the step
    starts (``/proc/self/clear_refs``), so it counts what the step holds on top of what was
    held before it, and the largest RSS a sampler thread saw meanwhile. Nested steps fold
    their peaks into the enclosing ones."""

    def __init__(self):
        self.rows, self._stack, self.peak = [], [], 0.0  # peak: the largest RSS seen, gaps included
        self._sampled = 0.0  # the largest RSS seen by the sampler since the last fold
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self):
        """RSS every 10 ms: the high-water mark alone misses peaks freed without an
        unmap the kernel accounts (seen at 50 M triplets)."""
        while True:
            self._sampled = max(self._sampled, self._status("VmRSS"))
            time.sleep(0.01)

    @staticmethod
    def _status(field: str) -> float:
        with open("/proc/self/status") as f:
            line = next(v for v in f if v.startswith(field))
        return int(line.split()[1]) / 2**20  # kB -> GB

    def _fold(self):
        hwm = max(self._status("VmHWM"), self._sampled)
        self._sampled = 0.0
        self.peak = max(self.peak, hwm)
        for frame in self._stack:
            frame["peak"] = max(frame["peak"], hwm)

    def wrap(self, name: str, f):
        def timed(*args, **kwargs):
            self._fold()
            with open("/proc/self/clear_refs", "w") as c:
                c.write("5")
            frame = {"peak": 0.0, "t": time.perf_counter(), "c": time.process_time(),
                     "before": self._status("VmRSS")}
            self._stack.append(frame)
            out = f(*args, **kwargs)
            self._fold()
            self._stack.pop()
            self.rows.append({"phase": name, "wall_s": time.perf_counter() - frame["t"],
                              "cpu_s": time.process_time() - frame["c"], "rss_before_gb": frame["before"],
                              "peak_rss_gb": frame["peak"], "rss_after_gb": self._status("VmRSS")})
            print(json.dumps(self.rows[-1]), file=sys.stderr, flush=True)  # progress of a long run
            return out
        return timed

    def finish(self) -> float:
        """The largest RSS of the evaluation, the steps and the gaps between them."""
        self._fold()
        return self.peak

    def install(self):
        """Wrap the steps of :func:`evaluate_model` (in its module's namespace)."""
        from bgs.metrics import compiled as cp
        from bgs.metrics import evaluate as ev

        for name in ("PairIndex", "table_fits", "triad_choice_counts", "ooo_ceiling", "_unsorted_rsa", "PermutedScores",
                     "SortedTriplets", "RSAData", "_mean_cis", "split_half_reliability"):
            if hasattr(ev, name):  # steps an older version lacks are left out
                setattr(ev, name, self.wrap(name, getattr(ev, name)))
        for name in ("per_triplet", "dissimilarity"):
            setattr(ev._Scores, name, self.wrap(name, getattr(ev._Scores, name)))
        ev._Scores.__init__ = self.wrap("model pair similarity", ev._Scores.__init__)
        for name in ("score_codes", "point_correlations", "bootstrap_over_triplets", "bootstrap_over_stimuli"):
            if hasattr(cp, name):
                setattr(cp, name, self.wrap(f"kernels.{name}", getattr(cp, name)))


def child(case: str, path: str, resampling: dict, seed: int, phases: PhaseLog | None = None) -> dict:
    """Generate the case's data, evaluate it on one path, return timings and numbers."""
    from things_shaped import things_shaped

    t0, c0 = time.perf_counter(), time.process_time()
    ts, x = things_shaped(**CASES[case]["shape"], seed=seed)
    data = {"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
            "rss_gb": PhaseLog._status("VmRSS"), "peak_rss_gb": PhaseLog._status("VmHWM")}
    if phases is not None:
        phases.install()
    t0, c0 = time.perf_counter(), time.process_time()
    if path in ("sparse", "numpy"):
        from bgs.metrics.distance import PairSimilarity
        from bgs.metrics.evaluate import evaluate_model

        r = evaluate_model(PairSimilarity(x, "dot"), ts, seed=seed, compiled=path == "sparse", **resampling)
        r["ooo_ceiling"] = [r["ceilings"]["ooo"][k] for k in ("lower", "upper", "lower_ci", "upper_ci")]
    else:
        from bgs.metrics.distance import similarity_matrix
        from dense_reference import evaluate_dense

        s = similarity_matrix(x, "dot")
        r = evaluate_dense(s, ts, -s, seed=seed, **resampling)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    numbers = {f"{a}.{b}": r[a].get(b) for a, b in POINT + INTERVALS}
    return {"seconds": seconds, "cpu_seconds": cpu, "n_pairs": r["n_pairs"], "numbers": numbers,
            "ooo_ceiling": r["ooo_ceiling"], "data_generation": data,
            "phases": phases.rows if phases is not None else None,
            "sampled_peak_rss_gb": phases.finish() if phases is not None else None}


def switch_point(sizes=(1024, 2048, 4096, 8192), triplets_per_stimulus=100, dim=64,
                 n_permutations=20, seed=0) -> list[dict]:
    """Time the model side of an evaluation, dense N×N against pair-wise, at several N:
    building it, the similarity of the observed pairs, and ``n_permutations`` relabellings."""
    from bgs.human.similarity import PairIndex
    from bgs.metrics.distance import PairSimilarity
    from things_shaped import things_shaped

    out = []
    for n in sizes:
        ts, x = things_shaped(n, triplets_per_stimulus * n, dim, responses=1, n_participants=100, seed=seed)
        index = PairIndex(ts)
        rng = np.random.default_rng(seed)
        perms = [rng.permutation(n) for _ in range(n_permutations)]
        row = {"n_stimuli": n, "n_pairs": index.n_pairs}
        for dense in (True, False):
            t0 = time.perf_counter()
            model = PairSimilarity(x, "dot", dense=dense)
            model.of(index.i, index.j)
            for p in perms:
                model.of(p[index.i], p[index.j])
            row["dense_s" if dense else "pairwise_s"] = time.perf_counter() - t0
        out.append(row)
    return out


def draw_floor(cases, repeats: int = 5, seed: int = 0) -> list[dict]:
    """CPU seconds of the triplet bootstrap's draws alone at each case's size, times its
    bootstraps: numpy's ``multiplicities`` (n integers and their histogram) and the
    compiled kernel's per resample."""
    from bgs.kernels import triplet_multiplicities
    from bgs.stats import multiplicities

    rng = np.random.default_rng(seed)
    triplet_multiplicities(10, seed, 0)  # compiled (or loaded from the cache) outside the timing
    out = []
    for case in cases:
        spec = CASES[case]
        n = spec["shape"]["n_triplets"]
        b = {**DEFAULTS, **spec.get("resampling", {})}["n_bootstrap"]
        c0 = time.process_time()
        for _ in range(repeats):
            multiplicities(rng, n)
        per = (time.process_time() - c0) / repeats
        c0 = time.process_time()
        for r in range(repeats):
            triplet_multiplicities(n, seed, r)
        kernel = (time.process_time() - c0) / repeats
        out.append({"case": case, "n_triplets": n, "n_bootstrap": b, "per_draw_s": per, "draws_s": per * b,
                    "kernel_per_draw_s": kernel, "kernel_draws_s": kernel * b})
    return out


def run_child(case: str, path: str, resampling: dict, seed: int, phases: bool = False) -> dict:
    cmd = [sys.executable, __file__, "--child", case, path, json.dumps(resampling), str(seed)]
    if phases:
        cmd.append("--phases")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    stop, load = threading.Event(), [os.getloadavg()[0]]

    def sample():
        while not stop.wait(5):
            load.append(os.getloadavg()[0])

    sampler = threading.Thread(target=sample)
    sampler.start()
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    stop.set()
    sampler.join()
    if status != 0:
        raise SystemExit(f"{case}/{path} failed (status {status})")
    result = json.loads(out)
    result["peak_rss_gb"] = usage.ru_maxrss / 2**20  # ru_maxrss is in KiB on Linux
    if result.get("phases"):  # the steps reset the high-water mark: the peak is the largest of theirs
        result["peak_rss_gb"] = max([result["data_generation"]["peak_rss_gb"], result["sampled_peak_rss_gb"]]
                                    + [ph["peak_rss_gb"] for ph in result["phases"]])
    result["child_cpu_s"] = usage.ru_utime + usage.ru_stime  # data generation included
    result["load_average"] = {"mean": float(np.mean(load)), "max": float(np.max(load))}  # 1-min, every 5 s
    return result


def _max_diff(a: dict, b: dict, keys) -> float:
    diffs = [float(np.max(np.abs(np.subtract(a[k], b[k])))) for k in keys
             if a.get(k) is not None and b.get(k) is not None]
    return max(diffs) if diffs else 0.0


def _compare_dense(entry: dict, rows: list) -> bool:
    """Add the dense path's figures and its comparison with the sparse one to ``entry`` and
    ``rows``; whether the point estimates are identical."""
    sp, de = entry["sparse"], entry["dense"]
    same = all(sp["numbers"][f"{a}.{b}"] == de["numbers"][f"{a}.{b}"] for a, b in POINT) \
        and sp["ooo_ceiling"][:2] == de["ooo_ceiling"][:2]
    same_draws = [f"{a}.{b}" for a, b in INTERVALS if f"{a}.{b}" not in TRIPLET_DRAWN]
    ci_diff = _max_diff(sp["numbers"], de["numbers"], same_draws)
    mc = _relative_diff(sp["numbers"], de["numbers"], sorted(TRIPLET_DRAWN))
    entry.update(speedup=de["seconds"] / sp["seconds"], speedup_cpu=de["cpu_seconds"] / sp["cpu_seconds"],
                 identical_point_estimates=same, max_ci_p_difference=ci_diff,
                 triplet_ci_difference_in_half_widths=mc)
    rows.append(("  dense (earlier)", f"{de['seconds']:.1f} s ({de['cpu_seconds']:.1f} s CPU), "
                                      f"peak RSS {de['peak_rss_gb']:.2f} GB"))
    rows.append(("  speed-up (dense / sparse), wall and CPU time",
                 f"{entry['speedup']:.1f}x, {entry['speedup_cpu']:.1f}x"))
    rows.append(("  point estimates identical", "yes" if same else "NO"))
    rows.append(("  CIs and p-values of the same draws, max |difference|", f"{ci_diff:.2e}"))
    rows.append(("  triplet-bootstrap CIs (other draws), max |difference| / half-width", f"{mc:.3f}"))
    return same


def _relative_diff(a: dict, b: dict, keys) -> float:
    """Largest difference of interval endpoints in units of the half-width of ``b``'s."""
    out = [float(np.max(np.abs(np.subtract(a[k], b[k])))) / ((b[k][1] - b[k][0]) / 2) for k in keys
           if a.get(k) is not None and b.get(k) is not None and b[k][1] > b[k][0]]
    return max(out) if out else 0.0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", default="things-test,things-full",
                   help=f"comma-separated, from: {', '.join(CASES)}")
    p.add_argument("--no-dense", action="store_true", help="skip the dense (earlier) path")
    p.add_argument("--numpy", action="store_true",
                   help="also run the numpy reference of the kernels (compiled=False) on every case")
    p.add_argument("--resampling", help="override every case's resampling: BOOTSTRAPS/PERMUTATIONS/SPLITS")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, help="also write the results to this JSON file")
    p.add_argument("--switch", action="store_true",
                   help="only measure where a dense N×N model similarity stops paying off")
    p.add_argument("--floor", action="store_true",
                   help="only time the triplet bootstrap's draws at each case's size")
    p.add_argument("--phases", action="store_true",
                   help="also report the wall, CPU and peak RSS of each step of the evaluation")
    p.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.floor:
        rows = draw_floor(args.cases.split(","))
        table = [(f"{r['case']}: {r['n_bootstrap']} draws of {r['n_triplets']:,} multiplicities",
                  f"numpy {r['per_draw_s'] * 1e3:.0f} ms each, {r['draws_s']:.1f} s CPU in all; kernel "
                  f"{r['kernel_per_draw_s'] * 1e3:.0f} ms each, {r['kernel_draws_s']:.1f} s") for r in rows]
        return finish(table, {"draw_floor": rows}, args.json, True, "")
    if args.switch:
        rows = switch_point()
        table = [(f"N = {r['n_stimuli']:,} ({r['n_pairs']:,} pairs)",
                  f"dense {r['dense_s']:.2f} s, pair-wise {r['pairwise_s']:.2f} s") for r in rows]
        return finish(table, {"switch_point": rows}, args.json, True, "")
    if args.child:
        case, path, resampling, seed = args.child
        log = PhaseLog() if args.phases else None
        print(json.dumps(child(case, path, json.loads(resampling), int(seed), log)))
        return 0

    results, rows, ok = {}, [], True
    for case in args.cases.split(","):
        spec = CASES[case]
        resampling = {**DEFAULTS, **spec.get("resampling", {})}
        if args.resampling:
            resampling = dict(zip(DEFAULTS, (int(v) for v in args.resampling.split("/"))))
        entry = {"shape": spec["shape"], "resampling": resampling,
                 "sparse": run_child(case, "sparse", resampling, args.seed, args.phases)}
        if args.numpy:
            entry["numpy"] = run_child(case, "numpy", resampling, args.seed)
        if spec["dense"] and not args.no_dense:
            entry["dense"] = run_child(case, "dense", resampling, args.seed)
        results[case] = entry
        sp = entry["sparse"]
        shape = spec["shape"]
        rows.append((f"{case}: {shape['n_stimuli']:,} stimuli, {shape['n_triplets']:,} triplets, "
                     f"{shape['dim']}-d, {sp['n_pairs']:,} observed pairs; resampling "
                     f"{resampling['n_bootstrap']}/{resampling['n_permutations']}/{resampling['n_splits']}",
                     ""))
        rows.append(("  sparse", f"{sp['seconds']:.1f} s ({sp['cpu_seconds']:.1f} s CPU), "
                                 f"peak RSS {sp['peak_rss_gb']:.2f} GB, load average "
                                 f"{sp['load_average']['mean']:.1f} (max {sp['load_average']['max']:.1f})"))
        d = sp["data_generation"]
        rows.append(("  data generation (not in the times above)",
                     f"{d['wall_s']:.1f} s ({d['cpu_s']:.1f} s CPU), RSS {d['rss_gb']:.2f} GB"))
        for ph in sp["phases"] or []:
            rows.append((f"    {ph['phase']}", f"{ph['wall_s']:.1f} s ({ph['cpu_s']:.1f} s CPU), RSS "
                                                f"{ph['rss_before_gb']:.2f} -> peak {ph['peak_rss_gb']:.2f} "
                                                f"-> {ph['rss_after_gb']:.2f} GB"))
        if "numpy" in entry:
            nu = entry["numpy"]
            entry["speedup_numpy_cpu"] = nu["cpu_seconds"] / sp["cpu_seconds"]
            rows.append(("  numpy reference (compiled=False)",
                         f"{nu['seconds']:.1f} s ({nu['cpu_seconds']:.1f} s CPU), peak RSS "
                         f"{nu['peak_rss_gb']:.2f} GB; CPU {entry['speedup_numpy_cpu']:.1f}x the kernels'"))
        if "dense" in entry:
            ok &= _compare_dense(entry, rows)
    results["cpu_count"] = os.cpu_count()
    results["load_average_at_end"] = os.getloadavg()
    rows.append(("load average at the end (1, 5, 15 min)", ", ".join(f"{v:.1f}" for v in os.getloadavg())))
    return finish(rows, results, args.json, ok, "the sparse and dense point estimates differ")


if __name__ == "__main__":
    sys.exit(main())
