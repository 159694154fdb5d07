"""``run.compile``: ``torch.compile`` of the backbone's transformer blocks.

Regional compilation: each repeated block (``GradientCheckpointingLayer`` in
``transformers``) is compiled in place with ``nn.Module.compile``, so the blocks share one
compiled graph, the compile time is that of one block, parameter names and state dicts are
unchanged (checkpoints and LoRA adapters load as before), and gradient checkpointing still
wraps each block. Python around the blocks (the pooling, the head, the losses) stays eager.
The number of unique clips changes from step to step; after the first recompilation the
batch dimension is compiled as dynamic.
"""

from __future__ import annotations

from torch import nn


def compile_blocks(model: nn.Module, backend: str = "inductor", **options) -> int:
    """Compile every transformer block inside ``model`` in place; returns how many."""
    from transformers.modeling_layers import GradientCheckpointingLayer

    blocks = [m for m in model.modules() if isinstance(m, GradientCheckpointingLayer)]
    for block in blocks:
        block.compile(backend=backend, **options)
    return len(blocks)
