"""Loading V-JEPA 2.1 weights, strictly: Meta's ``.pt`` checkpoints and bgs's folders.

Sources ``load_vjepa21`` accepts (``vjepa2.1:SOURCE``):

* Meta's checkpoint ``.pt`` (e.g. ``vjepa2_1_vitb_dist_vitG_384.pt``): read with
  ``torch.load(weights_only=True)`` (tensors and plain containers only: no pickled code
  runs). The encoder is the ``ema_encoder`` entry, else ``target_encoder``; leading
  ``module.`` / ``backbone.`` prefixes of its names are dropped. The architecture is read
  from the tensor shapes (width, depth, MLP, patch, tubelet); the head count from the width
  (12, 16, 22, 26 for ViT-B/L/g/G: head dimension 64). The input size defaults to 384², the
  released checkpoints' pre-training size.
* a ``.safetensors`` file with the same tensor names (community ports of the checkpoints);
* a folder with ``config.json`` + ``model.safetensors`` in bgs's layout, as written by
  ``bgs models convert-vjepa2.1`` (:func:`convert_vjepa21`).

Every tensor must be used and none may be missing, with matching shapes; anything else is a
:class:`~bgs.errors.BGSError` naming the keys.
"""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import torch

from bgs.errors import BGSError
from bgs.models.vjepa21 import (
    HEADS_BY_WIDTH,
    VJEPA21Config,
    VJEPA21Model,
    default_levels,
)

ENCODER_KEYS = ("ema_encoder", "target_encoder")
PREFIXES = ("module.", "backbone.")
DEFAULT_SIZE = 384
WEIGHTS, CONFIG = "model.safetensors", "config.json"


def clean_key(key: str) -> str:
    """A parameter name without its leading ``module.`` / ``backbone.`` wrappers."""
    changed = True
    while changed:
        changed = False
        for prefix in PREFIXES:
            if key.startswith(prefix):
                key, changed = key[len(prefix):], True
    return key


def encoder_state(checkpoint, source: str) -> dict[str, torch.Tensor]:
    """The encoder's tensors from a loaded Meta checkpoint (or a bare state dict), cleaned."""
    if not isinstance(checkpoint, dict):
        raise BGSError(f"{source}: not a V-JEPA 2.1 checkpoint (a {type(checkpoint).__name__}, "
                       f"not a dict). Fix: give Meta's .pt file or a folder from "
                       f"`bgs models convert-vjepa2.1`")
    state = next((checkpoint[k] for k in ENCODER_KEYS if isinstance(checkpoint.get(k), dict)), None)
    if state is None:
        if any(isinstance(k, str) and clean_key(k) == "patch_embed.proj.weight" for k in checkpoint):
            state = checkpoint  # a bare encoder state dict
        else:
            keys = ", ".join(sorted(map(str, checkpoint))[:8])
            raise BGSError(f"{source}: no encoder in the checkpoint: none of {', '.join(ENCODER_KEYS)} "
                           f"among its keys ({keys}). Fix: give a V-JEPA 2.1 pre-training checkpoint")
    out = {}
    for key, value in state.items():
        if not torch.is_tensor(value):
            raise BGSError(f"{source}: encoder entry {key!r} is a {type(value).__name__}, not a tensor")
        out[clean_key(key)] = value
    return out


def _shape(state: dict, key: str, source: str) -> tuple[int, ...]:
    if key not in state:
        raise BGSError(f"{source}: missing key {key!r}; cannot tell the V-JEPA 2.1 architecture. "
                       f"Fix: give the encoder of a V-JEPA 2.1 checkpoint")
    return tuple(state[key].shape)


def config_from_state(state: dict, source: str, image_size: int = DEFAULT_SIZE,
                      heads: int | None = None) -> VJEPA21Config:
    """The architecture of an encoder state dict, read from its tensor shapes."""
    width, _, tubelet, patch, _ = _shape(state, "patch_embed.proj.weight", source)
    depth = 1 + max((int(m.group(1)) for k in state if (m := re.match(r"blocks\.(\d+)\.", k))), default=-1)
    if depth == 0:
        raise BGSError(f"{source}: no transformer blocks (blocks.N.*) in the encoder")
    mlp = _shape(state, "blocks.0.mlp.fc1.weight", source)[0]
    heads = heads or HEADS_BY_WIDTH.get(width, max(1, width // 64))
    if width % heads:
        raise BGSError(f"{source}: width {width} is not a multiple of {heads} heads. Fix: give "
                       f"the head count (--heads)")
    levels = default_levels(depth)
    n_norms = len({k.split(".")[1] for k in state if k.startswith("norms_block.")})
    if n_norms != len(levels):
        raise BGSError(f"{source}: {n_norms} hierarchical norms (norms_block.*), but depth {depth} "
                       f"has {len(levels)} levels {list(levels)}")
    return VJEPA21Config(hidden_size=width, num_hidden_layers=depth, num_attention_heads=heads,
                         intermediate_size=mlp, patch_size=patch, tubelet_size=tubelet,
                         image_size=image_size, qkv_bias="blocks.0.attn.qkv.bias" in state,
                         modality_embedding="video_mod_embed" in state,
                         hierarchical_layers=list(levels))


def load_strict(config: VJEPA21Config, state: dict[str, torch.Tensor], source: str) -> VJEPA21Model:
    """The model of ``config`` holding ``state``: every key used, none missing, every shape
    equal. The model is built without memory (meta device) and takes the file's tensors as
    its parameters (float32), so a large checkpoint is neither initialised randomly first
    nor held twice."""
    with torch.device("meta"):
        model = VJEPA21Model(config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if tuple(expected[k].shape) != tuple(state[k].shape))
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing keys {missing[:5]}" + (f" (+{len(missing) - 5})" if len(missing) > 5 else ""))
        if unexpected:
            parts.append(f"unexpected keys {unexpected[:5]}"
                         + (f" (+{len(unexpected) - 5})" if len(unexpected) > 5 else ""))
        if wrong:
            parts.append("mis-shaped " + ", ".join(f"{k}: {tuple(state[k].shape)} in the file, "
                                                   f"{tuple(expected[k].shape)} in the model"
                                                   for k in wrong[:3]))
        raise BGSError(f"{source}: the weights do not fit the V-JEPA 2.1 encoder "
                       f"({'; '.join(parts)}). Fix: give an unmodified V-JEPA 2.1 encoder checkpoint, "
                       f"or a folder written by `bgs models convert-vjepa2.1`")
    model.load_state_dict({k: v.to(torch.float32) for k, v in state.items()}, strict=True, assign=True)
    return model.eval()


def _read_meta_file(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return encoder_state(load_file(str(path)), str(path))
    try:
        try:  # memory-mapped: the tensors are read from the file as they are used
            checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:
            if "mmap" not in str(exc):
                raise
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)  # legacy format
    except Exception as exc:  # noqa: BLE001 - unpickling errors come in many types
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise BGSError(f"{path}: cannot read it as a PyTorch checkpoint with weights_only=True "
                       f"({first[:200]}). Fix: give Meta's V-JEPA 2.1 .pt file") from None
    return encoder_state(checkpoint, str(path))


def load_meta_checkpoint(path: str | Path, image_size: int = DEFAULT_SIZE,
                         heads: int | None = None) -> VJEPA21Model:
    """A V-JEPA 2.1 encoder from Meta's ``.pt`` (or a ``.safetensors`` with its names)."""
    path = Path(path)
    state = _read_meta_file(path)
    config = config_from_state(state, str(path), image_size, heads)
    return load_strict(config, state, str(path))


def load_folder(folder: str | Path) -> VJEPA21Model:
    """A V-JEPA 2.1 encoder from a folder in bgs's layout (``config.json`` + ``model.safetensors``)."""
    from safetensors.torch import load_file

    folder = Path(folder)
    for name in (CONFIG, WEIGHTS):
        if not (folder / name).is_file():
            raise BGSError(f"{folder}: no {name}. Fix: write the folder with "
                           f"`bgs models convert-vjepa2.1 CHECKPOINT.pt {folder}`")
    try:
        data = json.loads((folder / CONFIG).read_text())
        config = VJEPA21Config(**{k: v for k, v in data.items() if k not in ("model_type", "architectures")})
    except (ValueError, TypeError) as exc:
        raise BGSError(f"{folder / CONFIG}: not a V-JEPA 2.1 config ({exc})") from None
    return load_strict(config, load_file(str(folder / WEIGHTS)), str(folder / WEIGHTS))


def load_vjepa21(source: str | Path) -> VJEPA21Model:
    """``vjepa2.1:SOURCE``: a bgs folder, Meta's ``.pt`` or a ``.safetensors`` file."""
    path = Path(source)
    if path.is_dir():
        return load_folder(path)
    if path.is_file():
        return load_meta_checkpoint(path)
    raise BGSError(f"vjepa2.1:{source}: no such file or folder. Fix: download Meta's checkpoint "
                   f"(e.g. vjepa2_1_vitb_dist_vitG_384.pt) and give its path, or a folder written "
                   f"by `bgs models convert-vjepa2.1`")


def save_folder(model: VJEPA21Model, folder: str | Path) -> Path:
    """Write ``config.json`` + ``model.safetensors`` (each atomically) into ``folder``."""
    from safetensors.torch import save_file

    from bgs.io import atomic_path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    with atomic_path(folder / WEIGHTS) as tmp:
        save_file(state, str(tmp), metadata={"format": "pt"})
    fields = [p for p in inspect.signature(VJEPA21Config.__init__).parameters if p not in ("self", "kwargs")]
    config = {"model_type": VJEPA21Config.model_type, **{k: getattr(model.config, k) for k in fields}}
    with atomic_path(folder / CONFIG) as tmp:
        tmp.write_text(json.dumps(config, indent=2) + "\n")
    return folder


def convert_vjepa21(checkpoint: str | Path, folder: str | Path, image_size: int = DEFAULT_SIZE,
                    heads: int | None = None) -> Path:
    """Meta's ``.pt`` → a folder in bgs's layout (loaded strictly first, so a bad file fails
    before anything is written)."""
    return save_folder(load_meta_checkpoint(checkpoint, image_size, heads), folder)
