"""Independent training runs in parallel worker processes, one torch thread each.

On a small CPU machine two runs side by side, each on one thread, finish sooner than the
same runs one after another on two threads: at these model sizes torch's intra-op threads
spend much of their time waiting on each other (and spin when other jobs share the cores).
Workers are started with ``spawn`` (a fork after torch has started its thread pool can
hang) and reused for every run; each reports the wall and CPU seconds of its own runs.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable, Sequence
from pathlib import Path


def children_cpu_s() -> float:
    """CPU seconds (user + system) of this process's finished child processes."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _init_worker(threads: int) -> None:
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    import torch

    torch.set_num_threads(threads)


def _train_one(name: str, config, run_dir: str, log: Callable[[str], None] | None = None
               ) -> tuple[str, float, float]:
    """One run: (name, wall s, CPU s of this process). In a worker (no ``log``) each line
    is printed with the run's name."""
    from bgs.models.embed import quiet_transformers
    from bgs.study.finetune import finetune

    quiet_transformers()
    w, c = time.perf_counter(), time.process_time()
    finetune(config, run_dir, log=log or (lambda m: print(f"[{name}] {m}", flush=True)))
    return name, time.perf_counter() - w, time.process_time() - c


def train_runs(jobs: Sequence[tuple[str, object]], runs_dir: Path, workers: int, threads: int,
               log: Callable[[str], None] = print) -> dict[str, dict]:
    """Train every ``(name, TrainConfig)`` into ``runs_dir/name``: in this process when
    ``workers`` is 1, else in ``workers`` spawned processes of ``threads`` torch threads.
    Returns ``{name: {"wall_s", "cpu_s"}}``; the first failed run's error is raised."""
    runs_dir = Path(runs_dir)
    out: dict[str, dict] = {}
    if workers <= 1:
        import torch

        torch.set_num_threads(threads)
        for name, config in jobs:
            log(f"training {name} ...")
            _, wall, cpu = _train_one(name, config, str(runs_dir / name), log)
            out[name] = {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1)}
        return out
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    log(f"training {len(jobs)} runs in {workers} processes of {threads} thread(s) each ...")
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_init_worker,
                             initargs=(threads,)) as pool:
        futures = [pool.submit(_train_one, name, config, str(runs_dir / name)) for name, config in jobs]
        try:
            for f in as_completed(futures):
                name, wall, cpu = f.result()
                out[name] = {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1)}
                log(f"  {name}: {wall:.0f} s wall, {cpu:.0f} s CPU")
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)  # the runs under way finish, no new ones
            raise
    return {name: out[name] for name, _ in jobs}
