"""Resume state without pickle: tensors into safetensors, everything else into JSON.

A nested state (the optimizer's and scheduler's ``state_dict()``, counters, the history) is
split into a JSON tree, in which every tensor is replaced by ``{"__tensor__": KEY}``, and the
tensors themselves, stored under ``KEY`` in a safetensors file. Dicts whose keys are not all
strings (the optimizer's per-parameter state is keyed by int) become
``{"__items__": [[key, value], ...]}``, and tuples ``{"__tuple__": [...]}``, so that the tree
reads back exactly as it was written. Reading runs no code from the files: ``json`` and
``safetensors`` only parse data.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

_TENSOR, _ITEMS, _TUPLE = "__tensor__", "__items__", "__tuple__"
_SCALARS = (str, int, float, bool, type(None))


def encode(state) -> tuple[object, dict[str, torch.Tensor]]:
    """(a JSON-able tree, the tensors it refers to by key)."""
    tensors: dict[str, torch.Tensor] = {}

    def walk(x):
        if isinstance(x, torch.Tensor):
            key = f"t{len(tensors)}"
            tensors[key] = x.detach().cpu().contiguous()
            return {_TENSOR: key}
        if isinstance(x, dict):
            if all(isinstance(k, str) for k in x) and not ({_TENSOR, _ITEMS, _TUPLE} & set(x)):
                return {k: walk(v) for k, v in x.items()}
            return {_ITEMS: [[walk(k), walk(v)] for k, v in x.items()]}
        if isinstance(x, tuple):
            return {_TUPLE: [walk(v) for v in x]}
        if isinstance(x, list):
            return [walk(v) for v in x]
        if hasattr(x, "item") and not isinstance(x, _SCALARS):  # numpy scalars
            return x.item()
        if isinstance(x, _SCALARS):
            return x
        raise TypeError(f"cannot store a {type(x).__name__} in the resume state")

    return walk(state), tensors


def decode(tree, tensors: dict[str, torch.Tensor]):
    """The state :func:`encode` was given; ``KeyError`` names a tensor the file lacks."""
    def walk(x):
        if isinstance(x, dict):
            if set(x) == {_TENSOR}:
                return tensors[x[_TENSOR]]
            if set(x) == {_ITEMS}:
                return {_key(walk(k)): walk(v) for k, v in x[_ITEMS]}
            if set(x) == {_TUPLE}:
                return tuple(walk(v) for v in x[_TUPLE])
            return {k: walk(v) for k, v in x.items()}
        if isinstance(x, list):
            return [walk(v) for v in x]
        return x

    return walk(tree)


def _key(k):
    return tuple(k) if isinstance(k, list) else k


def save_state(state, json_path: Path, tensors_path: Path) -> None:
    """Write the two files (the caller makes the pair atomic, e.g. inside a temporary folder)."""
    from safetensors.torch import save_file

    tree, tensors = encode(state)
    save_file(tensors, str(tensors_path))
    json_path.write_text(json.dumps(tree) + "\n")


def load_state_files(json_path: Path, tensors_path: Path):
    """Read the pair written by :func:`save_state`."""
    from safetensors.torch import load_file

    return decode(json.loads(json_path.read_text()), load_file(str(tensors_path)))
