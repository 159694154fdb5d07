"""The optional TensorBoard log of a run (``run.log = "tensorboard"``): every number of the
epoch record (losses and their parts, RSA and odd-one-out accuracy on training and
validation stimuli, learning rate, throughput) under ``RUN/tensorboard``, written with
torch's own ``SummaryWriter``. View it with ``tensorboard --logdir RUN/tensorboard``."""

from __future__ import annotations

import math
from pathlib import Path

from bgs.errors import ConfigError

FOLDER = "tensorboard"

# record key → TensorBoard tag (grouped the way TensorBoard shows them)
_TAGS = {"train_loss": "loss/train", "lr": "optim/lr", "seconds": "time/epoch_seconds",
         "clips_per_s": "time/clips_per_s", "train_rsa": "rsa/train", "val_rsa": "rsa/val",
         "train_ooo_accuracy": "odd_one_out/train", "val_ooo_accuracy": "odd_one_out/val"}


def tag_of(key: str) -> str | None:
    if key in _TAGS:
        return _TAGS[key]
    if key.startswith("loss_"):
        return f"loss/{key.removeprefix('loss_')}"
    return None


class TensorBoardLog:
    """One scalar per epoch and record key, at step = epoch."""

    def __init__(self, run_dir: str | Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigError("run.log = 'tensorboard' needs the tensorboard package. Fix: pip "
                              "install 'bgs[tensorboard]', or leave run.log empty") from None
        self.folder = Path(run_dir) / FOLDER
        self.writer = SummaryWriter(log_dir=str(self.folder))

    def log_epoch(self, record: dict) -> None:
        epoch = int(record["epoch"])
        for key, value in record.items():
            tag = tag_of(key)
            if tag is not None and isinstance(value, (int, float)) and math.isfinite(value):
                self.writer.add_scalar(tag, float(value), epoch)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
