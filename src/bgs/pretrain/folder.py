"""What every pre-training shares: its cache folder, moving a finished folder into place,
and the torch settings it trains under."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from bgs.io import require_new_folder

#: The files of a complete pre-trained folder (written last: pretraining.json).
FOLDER_FILES = ("config.json", "model.safetensors", "readout.safetensors", "preprocessor_config.json",
                "pretraining.json")


def complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in FOLDER_FILES)


def default_cache_dir() -> Path:
    """``$BGS_MODELS_DIR`` or ``~/.cache/bgs/models`` (where ``bgs`` keeps its models)."""
    return Path(os.environ.get("BGS_MODELS_DIR") or Path.home() / ".cache" / "bgs" / "models")


def move_into_place(tmp: Path, out_dir: Path) -> None:
    """Rename the finished temporary folder onto ``out_dir``; if another process wrote a
    complete ``out_dir`` meanwhile, keep theirs."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(tmp, 0o777 & ~mask)  # mkdtemp makes 0700
    with contextlib.suppress(OSError):
        out_dir.rmdir()  # an empty folder given as out_dir
    try:
        os.replace(tmp, out_dir)
    except OSError:
        if not complete(out_dir):
            raise
        shutil.rmtree(tmp, ignore_errors=True)



@contextlib.contextmanager
def building_folder(out_dir: Path):
    """A temporary folder beside the new ``out_dir``; it becomes ``out_dir`` when the block
    ends, and is removed if the block fails (a folder that exists is complete)."""
    require_new_folder(out_dir, "delete it or give another folder")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    try:
        yield tmp
        move_into_place(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Train with ``n`` torch CPU threads (``None``: torch's setting), restored afterwards."""
    import torch

    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def quiet_progress_bars():
    """No "Writing model shards" bar from save_pretrained (restored afterwards)."""
    from transformers.utils import logging as hf_logging

    was = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            hf_logging.enable_progress_bar()
