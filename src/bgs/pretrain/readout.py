"""The physical pre-training's per-token read-out, saved beside the encoder and applied again.

The read-out is a linear map from each output token of the encoder (a frame × a patch) to the
standardised per-token targets (:data:`bgs.pretrain.physical.DENSE_NAMES`). It is saved as
``readout.safetensors`` in the pre-trained folder: ``weight`` (channels, hidden), ``bias``
(channels,) and ``scale`` (channels,), the root mean square each channel was divided by, so
that ``(token @ weight.T + bias) * scale`` is the prediction in the channels' raw units, which
the moment pooling (:mod:`bgs.models.moment_pooling`) needs. :func:`save_pooling` makes that
pooling the folder's registry embedding (:mod:`bgs.models.moment_readout`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bgs.models.moment_readout import (  # noqa: F401 - re-exported names
    CHANNELS_KEY,
    POOLING_KEY,
    READOUT_FILE,
    TUBELET_KEY,
    load_readout,
    readout_from_folder,
)

#: A moment feature whose sd over the training clips is below this keeps scale 1.
MIN_FEATURE_SD = 1e-6


def save_readout(folder: Path, linear, scale: np.ndarray, features: tuple | None = None) -> None:
    """Write the per-token read-out (a ``torch.nn.Linear``), the targets' scale and, for the
    pooled embedding, the moment features' (shift, scale)."""
    import torch
    from safetensors.torch import save_file

    tensors = {"weight": linear.weight.detach().contiguous(), "bias": linear.bias.detach().contiguous(),
               "scale": torch.as_tensor(scale, dtype=torch.float32).contiguous()}
    if features is not None:
        for name, value in zip(("feature_shift", "feature_scale"), features):
            tensors[name] = torch.as_tensor(value, dtype=torch.float32).contiguous()
    save_file(tensors, str(folder / READOUT_FILE))


def _hidden_states(folder: str | Path, frames: np.ndarray, batch: int):
    """The encoder of ``folder`` and the last hidden states of uint8 clips (preprocessed as
    the registry does), batch by batch."""
    import torch

    from bgs.media.decode import to_float_tensor
    from bgs.models.conv_stem import load_timesformer
    from bgs.models.registry import IMAGENET_MEAN, IMAGENET_STD

    encoder = load_timesformer(folder)
    with torch.inference_mode():
        for i in range(0, len(frames), batch):
            yield encoder(to_float_tensor(frames[i:i + batch], IMAGENET_MEAN, IMAGENET_STD)).last_hidden_state


def token_predictions(folder: str | Path, frames: np.ndarray, batch: int = 16) -> np.ndarray:
    """(n, slices, grid, grid, channels) the read-out's per-token predictions, in raw units,
    for uint8 clips (n, T, H, W, 3) at the folder's size (preprocessed as the registry does;
    the tokens of each tubelet's frames averaged, as in training)."""
    from transformers import TimesformerConfig

    readout = readout_from_folder(folder, TimesformerConfig.from_pretrained(str(folder)))
    return np.concatenate([readout.tokens(h).numpy() for h in _hidden_states(folder, frames, batch)])


def pooling_scales(folder: str | Path, frames: np.ndarray, batch: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Each moment feature's (shift, scale): its mean over ``frames`` (the training clips),
    and its sd over the CLS dimensions' mean sd, so that a scaled feature varies about 0 as
    much as a CLS dimension does (scale 1 for a feature that does not vary)."""
    import torch
    from transformers import TimesformerConfig

    readout = readout_from_folder(folder, TimesformerConfig.from_pretrained(str(folder)), "cls+moments")
    pooled = torch.cat([readout(h) for h in _hidden_states(folder, frames, batch)]).double().numpy()
    hidden = pooled.shape[1] - len(readout.feature_scale)
    cls_sd = pooled[:, :hidden].std(axis=0).mean()
    sd = pooled[:, hidden:].std(axis=0)
    return pooled[:, hidden:].mean(axis=0), np.where(sd > MIN_FEATURE_SD, sd / cls_sd, 1.0)


def save_pooling(folder: Path, linear, scale: np.ndarray, frames: np.ndarray, pooling: str, tubelet: int,
                 channels) -> None:
    """Make the moment pooling the registry embedding of a folder whose encoder and read-out
    are saved: the features' shifts and scales from ``frames`` (the training clips) into the read-out
    file, and the pooling, channels and tubelet into its ``config.json``."""
    path = Path(folder) / "config.json"
    config = json.loads(path.read_text())
    config.update({CHANNELS_KEY: list(channels), TUBELET_KEY: int(tubelet), POOLING_KEY: pooling})
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    save_readout(folder, linear, scale, pooling_scales(folder, frames))
