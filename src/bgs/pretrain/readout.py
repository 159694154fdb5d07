"""The physical pre-training's per-token read-out, saved beside the encoder and applied again.

The read-out is a linear map from each output token of the encoder (a frame × a patch) to the
standardised per-token targets (:data:`bgs.pretrain.physical.DENSE_NAMES`). It is saved as
``readout.safetensors`` in the pre-trained folder: ``weight`` (channels, hidden), ``bias``
(channels,) and ``scale`` (channels,), the root mean square each channel was divided by, so
that ``(token @ weight.T + bias) * scale`` is the prediction in the channels' raw units, which
the moment pooling (:mod:`bgs.pretrain.moments`) needs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bgs.errors import BGSError

READOUT_FILE = "readout.safetensors"


def save_readout(folder: Path, linear, scale: np.ndarray) -> None:
    """Write the per-token read-out (a ``torch.nn.Linear``) and the targets' scale."""
    import torch
    from safetensors.torch import save_file

    save_file({"weight": linear.weight.detach().contiguous(), "bias": linear.bias.detach().contiguous(),
               "scale": torch.as_tensor(scale, dtype=torch.float32).contiguous()}, str(folder / READOUT_FILE))


def load_readout(folder: str | Path) -> dict:
    """The read-out's tensors (``weight``, ``bias``, ``scale``) of a pre-trained folder."""
    from safetensors.torch import load_file

    path = Path(folder) / READOUT_FILE
    if not path.is_file():
        raise BGSError(f"{path} is missing: the folder was pre-trained before the per-token read-out "
                       f"was saved. Fix: delete the folder and pre-train again")
    return load_file(str(path))


def token_predictions(folder: str | Path, frames: np.ndarray, batch: int = 16) -> np.ndarray:
    """(n, slices, grid, grid, channels) the read-out's per-token predictions, in raw units,
    for uint8 clips (n, T, H, W, 3) at the folder's size (preprocessed as the registry does;
    the tokens of each tubelet's frames averaged, as in training)."""
    import torch

    from bgs.media.decode import to_float_tensor
    from bgs.models.conv_stem import load_timesformer
    from bgs.models.registry import IMAGENET_MEAN, IMAGENET_STD

    encoder = load_timesformer(folder)
    r = load_readout(folder)
    cfg = encoder.config
    tubelet = int(json.loads((Path(folder) / "pretraining.json").read_text())["config"].get("tubelet", 1))
    grid, t = cfg.image_size // cfg.patch_size, cfg.num_frames
    out = []
    with torch.inference_mode():
        for i in range(0, len(frames), batch):
            hidden = encoder(to_float_tensor(frames[i:i + batch], IMAGENET_MEAN, IMAGENET_STD)).last_hidden_state
            b = hidden.shape[0]
            tokens = hidden[:, 1:].reshape(b, grid, grid, t, -1).permute(0, 3, 1, 2, 4)
            tokens = tokens.reshape(b, t // tubelet, tubelet, grid, grid, -1).mean(dim=2)
            out.append(((tokens @ r["weight"].T + r["bias"]) * r["scale"]).numpy())
    return np.concatenate(out)
