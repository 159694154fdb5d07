"""A convolutional stem before a TimeSformer's patch embedding, saved in its ``config.json``.

The patch embedding of a ViT is one linear map per patch (a convolution of kernel and stride
``patch_size``). A few 3×3 convolutions at full resolution before it (Xiao et al. 2021,
"Early convolutions help transformers see better") let the tokens hold local shape, such as
which way a small agent points, that the linear map loses. The stem replaces
``embeddings.patch_embeddings.projection`` by ``Sequential(conv 3×3, GELU, ..., projection)``,
so its weights are ordinary keys of the model's ``state_dict``
(``embeddings.patch_embeddings.projection.0.weight`` ... ``projection.<2k>.weight``).

The folder records the stem's widths as the extra ``config.json`` key :data:`STEM_KEY`
(``PretrainedConfig`` keeps unknown keys); :func:`load_timesformer` builds the stem before
loading the weights, strictly. A folder without the key is a plain TimeSformer.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bgs.errors import BGSError

#: ``config.json`` key: the output channels of each 3×3 convolution of the stem.
STEM_KEY = "bgs_conv_stem"
WEIGHTS_FILE = "model.safetensors"


def stem_widths(config) -> list[int]:
    """The stem's widths recorded in a model config (empty: no stem)."""
    return [int(c) for c in (getattr(config, STEM_KEY, None) or [])]


def add_conv_stem(model, widths: Sequence[int]) -> None:
    """Put 3×3 convolutions (stride 1, padding 1, GELU) of ``widths`` channels before the
    patch projection of a ``TimesformerModel``, and record them in its config. The new
    patch projection is initialised as transformers initialises it (truncated normal of the
    config's ``initializer_range``), the stem's convolutions as torch does."""
    import torch
    from torch import nn

    widths = [int(w) for w in widths]
    if not widths:
        return
    if any(w < 1 for w in widths):
        raise BGSError(f"conv stem widths must be >= 1, got {widths}")
    embed = model.embeddings.patch_embeddings
    old = embed.projection
    if not isinstance(old, nn.Conv2d):
        raise BGSError("this TimeSformer already has a conv stem")
    layers: list[nn.Module] = []
    c_in = old.in_channels
    for w in widths:
        layers += [nn.Conv2d(c_in, w, kernel_size=3, stride=1, padding=1), nn.GELU()]
        c_in = w
    projection = nn.Conv2d(c_in, old.out_channels, kernel_size=old.kernel_size, stride=old.stride)
    with torch.no_grad():
        nn.init.trunc_normal_(projection.weight, std=model.config.initializer_range)
        nn.init.zeros_(projection.bias)
    embed.projection = nn.Sequential(*layers, projection)
    setattr(model.config, STEM_KEY, widths)


def patch_projection(model):
    """The convolution that patchifies (the last of the stem, or the projection itself)."""
    from torch import nn

    projection = model.embeddings.patch_embeddings.projection
    return projection[-1] if isinstance(projection, nn.Sequential) else projection


def load_timesformer(folder: str | Path, **kwargs):
    """A ``TimesformerModel`` (in eval mode) from a ``save_pretrained`` folder. With a conv
    stem (:data:`STEM_KEY` in its config.json) the architecture is built, the stem added,
    then the weights are loaded strictly (no missing or unexpected key); without one it is
    ``from_pretrained(folder, **kwargs)``."""
    import transformers
    from safetensors.torch import load_file

    folder = Path(folder)
    if not has_conv_stem(folder):
        return transformers.TimesformerModel.from_pretrained(str(folder), **kwargs).eval()
    config = transformers.TimesformerConfig.from_pretrained(str(folder))
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise BGSError(f"{weights} is missing. Fix: give a folder written by save_pretrained")
    model = transformers.TimesformerModel(config)
    add_conv_stem(model, stem_widths(config))
    try:
        model.load_state_dict(load_file(str(weights)), strict=True)
    except RuntimeError as exc:  # missing, unexpected or misshapen keys
        detail = " ".join(str(exc).split("\n")[1:3]).strip()
        raise BGSError(f"{weights} does not match its config.json (conv stem {stem_widths(config)}): "
                       f"{detail}. Fix: save the model again with save_pretrained") from None
    return model.eval()


def has_conv_stem(folder: str | Path) -> bool:
    """Whether a model folder's config.json records a conv stem."""
    import json

    path = Path(folder) / "config.json"
    return path.is_file() and bool(json.loads(path.read_text()).get(STEM_KEY))
