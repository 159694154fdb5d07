"""Frames from the clip store to the GPU without stalling the host.

A step's uint8 frames are gathered from the (memory-mapped) clip store straight into a
page-locked ("pinned") host buffer and copied to the device with ``non_blocking=True``: the
copy runs on the GPU's copy engine while the host goes on to launch the forward. Two
buffers alternate; before a buffer is refilled the host waits for the event recorded
after its last copy (two steps ago, long finished in practice), so a copy in flight is
never overwritten. Normalisation then runs on the device (``VisionBackbone.preprocess``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch


class PinnedStaging:
    """Double-buffered pinned host memory for uint8 batches bound for one CUDA device."""

    def __init__(self, device: torch.device | str, n_buffers: int = 2):
        self.device = torch.device(device)
        self.buffers: list[torch.Tensor | None] = [None] * n_buffers
        self.events: list[torch.cuda.Event | None] = [None] * n_buffers
        self.next = 0

    def to_device(self, shape: tuple[int, ...], fill: Callable[[np.ndarray], None]) -> torch.Tensor:
        """``fill`` writes a uint8 array of ``shape`` in place; returns it on the device."""
        k = self.next
        self.next = (k + 1) % len(self.buffers)
        n = int(np.prod(shape))
        if self.events[k] is not None:
            self.events[k].synchronize()  # the last copy out of this buffer has finished
        if self.buffers[k] is None or self.buffers[k].numel() < n:
            self.buffers[k] = torch.empty(n, dtype=torch.uint8, pin_memory=True)
        host = self.buffers[k][:n].view(shape)
        fill(host.numpy())
        out = host.to(self.device, non_blocking=True)
        event = torch.cuda.Event()
        event.record(torch.cuda.current_stream(self.device))
        self.events[k] = event
        return out
