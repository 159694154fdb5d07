"""A TimeSformer's per-token read-out and moment pooling as its pooled embedding.

A folder pre-trained with a per-token read-out (``bgs.pretrain.readout``) holds
``readout.safetensors``: ``weight`` (channels, hidden), ``bias`` and ``scale`` (channels,),
so that ``(token @ weight.T + bias) * scale`` is each token's prediction in raw units, and,
when the pre-training asked for the pooling, ``feature_shift`` and ``feature_scale`` (features,). Its
``config.json`` then names the pooling (:data:`POOLING_KEY`: ``"cls+moments"`` or
``"moments"``), the read-out's channels (:data:`CHANNELS_KEY`) and the frames per target
slice (:data:`TUBELET_KEY`). The registry's embedding of such a folder is the CLS
concatenated with (or replaced by) the moment pooling (:mod:`bgs.models.moment_pooling`) of
the read-out's predictions, each feature less its ``feature_shift`` and divided by its
``feature_scale`` (fixed at pre-training time from the training clips: their mean, and their
sd over the CLS dimensions' mean sd, so a moment feature varies about 0 as much as a CLS
dimension does).

The read-out's tensors are buffers of :class:`MomentReadout`: frozen, so fine-tuning (LoRA
or full) trains the encoder through them and the pooling, and a checkpoint holds only the
encoder's weights (the read-out is read again from the base folder).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from bgs.errors import BGSError
from bgs.models.moment_pooling import POOLED_NAMES, pooled_moments

READOUT_FILE = "readout.safetensors"
#: ``config.json`` keys written by the pre-training when it asks for the pooling.
POOLING_KEY, CHANNELS_KEY, TUBELET_KEY = "bgs_pooling", "bgs_readout_channels", "bgs_tubelet"
POOLINGS = ("cls+moments", "moments")


def load_readout(folder: str | Path) -> dict:
    """The read-out's tensors (``weight``, ``bias``, ``scale``; ``feature_scale`` when the
    pooling was asked for) of a pre-trained folder."""
    from safetensors.torch import load_file

    path = Path(folder) / READOUT_FILE
    if not path.is_file():
        raise BGSError(f"{path} is missing: the folder was pre-trained before the per-token read-out "
                       f"was saved, or exported without it. Fix: delete the folder and pre-train again, or copy "
                       f"{READOUT_FILE} from the pre-trained folder it was fine-tuned from")
    return load_file(str(path))


class MomentReadout(nn.Module):
    """Last hidden state (B, 1 + grid²·frames, hidden) of a TimeSformer → per-token
    predictions (:meth:`tokens`) → the pooled embedding (:meth:`forward`)."""

    def __init__(self, tensors: dict, channels, grid: int, frames: int, tubelet: int = 1,
                 pooling: str = "cls+moments"):
        super().__init__()
        if pooling not in POOLINGS:
            raise BGSError(f"{POOLING_KEY} {pooling!r} is not one of {', '.join(POOLINGS)}")
        self.channels, self.grid, self.frames, self.tubelet = list(channels), grid, frames, tubelet
        self.pooling = pooling
        n_features = len(POOLED_NAMES)
        for name in ("weight", "bias", "scale"):
            self.register_buffer(name, tensors[name].float().clone(), persistent=False)
        for name, default in (("feature_shift", torch.zeros(n_features)), ("feature_scale", torch.ones(n_features))):
            value = tensors.get(name, default)
            if value.shape != (n_features,):
                raise BGSError(f"{READOUT_FILE}: {name} has shape {tuple(value.shape)}, the pooling "
                               f"gives {n_features} features. Fix: pre-train the folder again")
            self.register_buffer(name, value.float().clone(), persistent=False)

    def save(self, folder: str | Path) -> None:
        """Write its tensors as the folder's ``readout.safetensors`` (a merged export's
        backbone needs them beside the encoder to pool as it was fine-tuned)."""
        from safetensors.torch import save_file

        names = ("weight", "bias", "scale", "feature_shift", "feature_scale")
        save_file({n: getattr(self, n).detach().contiguous() for n in names}, str(Path(folder) / READOUT_FILE))

    def out_dim(self, hidden: int) -> int:
        """The pooled embedding's width for an encoder of width ``hidden``."""
        return len(POOLED_NAMES) + (hidden if self.pooling == "cls+moments" else 0)

    def tokens(self, hidden: torch.Tensor) -> torch.Tensor:
        """(B, frames // tubelet, grid, grid, channels) predictions in raw units (the tokens of
        each tubelet's frames averaged, as in the pre-training)."""
        b, g, t = hidden.shape[0], self.grid, self.frames
        tokens = hidden[:, 1:].reshape(b, g, g, t, -1).permute(0, 3, 1, 2, 4)
        tokens = tokens.reshape(b, t // self.tubelet, self.tubelet, g, g, -1).mean(dim=2)
        return (tokens @ self.weight.T + self.bias) * self.scale

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """(B, out_dim): the CLS ‖ scaled moments, or the scaled moments alone. The pooling
        runs in float64: its spreads are differences of near-equal sums (few values per clip)."""
        moments = pooled_moments(self.tokens(hidden).double(), self.channels)
        moments = (moments - self.feature_shift.double()) / self.feature_scale.double()
        moments = moments.to(hidden.dtype)
        return moments if self.pooling == "moments" else torch.cat([hidden[:, 0], moments], dim=1)


def readout_from_folder(folder: str | Path, config, pooling: str | None = None) -> MomentReadout:
    """The :class:`MomentReadout` of a pre-trained folder; ``pooling`` None: its config's."""
    folder = Path(folder)
    channels, tubelet = getattr(config, CHANNELS_KEY, None), getattr(config, TUBELET_KEY, None)
    meta = folder / "pretraining.json"
    if (channels is None or tubelet is None) and meta.is_file():  # folders from before the keys
        record = json.loads(meta.read_text())
        channels = channels or record.get("targets")
        tubelet = tubelet or record.get("config", {}).get("tubelet", 1)
    if not channels:
        raise BGSError(f"{folder}/config.json names no read-out channels ({CHANNELS_KEY}). Fix: "
                       f"pre-train the folder again")
    return MomentReadout(load_readout(folder), channels, config.image_size // config.patch_size,
                         config.num_frames, int(tubelet or 1), pooling or configured_pooling(config) or POOLINGS[0])


def configured_pooling(config) -> str | None:
    """The pooling a model config asks for (None: the kind's own)."""
    return getattr(config, POOLING_KEY, None) or None
