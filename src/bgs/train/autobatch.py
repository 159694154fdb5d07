"""The batch size when ``optim.batch_triplets = 0``: the largest that fits free GPU memory.

A step embeds the batch's unique stimuli, so its memory is ``fixed + per_clip·clips`` with
``clips ≤ min(3·triplets, training stimuli)``. On CUDA two probe steps (forward + backward of
a few clips) measure ``fixed`` and ``per_clip`` from ``torch.cuda.max_memory_allocated``;
the batch is then the largest number of triplets, up to :data:`MAX_AUTO_TRIPLETS`, whose
worst case fits in :data:`HEADROOM` of the free memory. On the CPU there is no allocator
to ask and the batch is :data:`CPU_TRIPLETS`.

Larger batches change the optimisation (fewer, less noisy steps), so the chosen value is
logged and written into the run's ``config.toml``; set ``optim.batch_triplets`` to fix it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

CPU_TRIPLETS = 16  # optim.batch_triplets = 0 off CUDA (the former default)
MAX_AUTO_TRIPLETS = 64
HEADROOM = 0.85  # of the free memory; the rest absorbs fragmentation and the optimizer state
PROBE_CLIPS = (2, 4)


def batch_for_memory(free_bytes: float, fixed_bytes: float, per_clip_bytes: float,
                     n_stimuli: int, world: int = 1, headroom: float = HEADROOM,
                     cap: int = MAX_AUTO_TRIPLETS) -> int:
    """Largest number of triplets ``b ≤ cap`` whose worst-case unique clips per process,
    ``ceil(min(3b, n_stimuli) / world)``, fit: ``fixed + per_clip·clips ≤ headroom·free``.
    At least 1 (a batch that does not fit then fails loudly with an out-of-memory error)."""
    budget = headroom * free_bytes - fixed_bytes
    best = 1
    for b in range(1, cap + 1):
        clips = -(-min(3 * b, n_stimuli) // world)
        if per_clip_bytes * clips <= budget:
            best = b
        else:
            break
    return best


def probe_step_memory(step: Callable[[int], None], device: torch.device,
                      sizes: tuple[int, int] = PROBE_CLIPS) -> tuple[float, float]:
    """(fixed, per_clip) bytes of ``step(n_clips)`` (a forward + backward) on CUDA, from the
    peak allocation above the memory in use before each probe."""
    peaks = []
    for n in sizes:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        step(n)
        torch.cuda.synchronize(device)
        peaks.append(torch.cuda.max_memory_allocated(device) - before)
    per_clip = max((peaks[1] - peaks[0]) / (sizes[1] - sizes[0]), 1.0)
    fixed = max(peaks[0] - per_clip * sizes[0], 0.0)
    return fixed, per_clip


def auto_batch_triplets(model, train_ids, device: str, amp: bool, world: int = 1,
                        log: Callable[[str], None] = print) -> int:
    """The batch for ``optim.batch_triplets = 0`` (see the module docstring)."""
    dev = torch.device(device)
    if dev.type != "cuda":
        return CPU_TRIPLETS
    ids = list(train_ids)

    def step(n: int) -> None:
        with torch.random.fork_rng(devices=[dev]), \
                torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            model(ids[:n]).float().square().sum().backward()
        model.zero_grad(set_to_none=True)

    was_training = model.training
    model.train()
    try:
        fixed, per_clip = probe_step_memory(step, dev, tuple(min(s, len(ids)) for s in PROBE_CLIPS))
    finally:
        model.train(was_training)
    free, _ = torch.cuda.mem_get_info(dev)
    b = batch_for_memory(free, fixed, per_clip, len(ids), world)
    if world > 1:  # every process must take the same global batch: the smallest fits all
        import torch.distributed as dist

        agreed = torch.tensor(b, device=dev)
        dist.all_reduce(agreed, op=dist.ReduceOp.MIN)
        b = int(agreed)
    log(f"batch: {b} triplets per step, chosen from free GPU memory ({free / 2**30:.1f} GiB free, "
        f"{per_clip / 2**20:.0f} MiB per clip); set optim.batch_triplets to fix it")
    return b
