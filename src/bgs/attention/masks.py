"""Masks of the regions of interest (agents) and the share of attention that falls on them.

Mask files: ``MASKS/<video file stem>.npz`` (array ``masks``) or ``.npy`` — an integer array
(T, H, W) in the video's own frames and pixels, 0 = background and any other value = an
agent (the synthetic generator writes exactly this: label k = agent k-1). A mask with T
frames is sampled like the video (the centres of equal segments) and cropped/scaled like it
(``crop``: short side to the model size, then centre crop; ``squash``), nearest-neighbour.

Shares, per clip: with ``r`` the relevance over frames × patches (summing to 1) and ``f`` the
fraction of each patch's pixels inside the mask,

* ``agent_share = Σ r·f`` — the attention mass on the agents (relevance spread uniformly over
  each patch's pixels); ``background_share = 1 − agent_share``;
* ``area_share = mean f`` — the agents' share of the pixels, the agent share of a uniform map;
* ``agent_ratio = agent_share / area_share`` — 1 is chance, 2 is twice the attention the
  agents' area alone would draw.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bgs.errors import ConfigError, UnreadableFileError


def find_mask(folder: Path, video_file: str | Path) -> Path | None:
    stem = Path(video_file).stem
    for ext in (".npz", ".npy"):
        p = Path(folder) / f"{stem}{ext}"
        if p.is_file():
            return p
    return None


def read_mask(path: Path) -> np.ndarray:
    """(T, H, W) bool: True on the agents."""
    path = Path(path)
    try:
        if path.suffix == ".npz":
            with np.load(path) as z:
                if "masks" not in z.files:
                    raise UnreadableFileError(path, f"no array 'masks' (arrays: {', '.join(z.files)})",
                                              "save the mask as numpy.savez(PATH, masks=ARRAY)")
                arr = z["masks"]
        else:
            arr = np.load(path)
    except (OSError, ValueError) as exc:
        raise UnreadableFileError(path, f"not a numpy file ({exc})",
                                  "write an .npz with array 'masks' (T, H, W)") from None
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise UnreadableFileError(path, f"masks must be (T, H, W), got shape {arr.shape}",
                                  "save one (H, W) label image per video frame")
    return arr != 0


def align_mask(mask: np.ndarray, frames: int, size: int, resize: str = "crop") -> np.ndarray:
    """A video-resolution mask (T0, H, W) → the model's frames and pixels (frames, size, size)."""
    from bgs.media.decode import sample_indices

    idx = sample_indices(mask.shape[0], frames)
    m = mask[idx]
    h, w = m.shape[1:]
    if resize not in ("crop", "squash"):
        raise ConfigError(f"unknown resize mode {resize!r} (crop or squash)")
    from bgs.media.decode import DecodeParams, _resized_size

    nw, nh = _resized_size(w, h, DecodeParams(frames=frames, size=size, resize=resize))
    rows = np.minimum((np.arange(nh) + 0.5) * h / nh, h - 1).astype(int)
    cols = np.minimum((np.arange(nw) + 0.5) * w / nw, w - 1).astype(int)
    m = m[:, rows][:, :, cols]
    top, left = (nh - size) // 2, (nw - size) // 2
    return m[:, top:top + size, left:left + size]


def patch_fractions(mask: np.ndarray, grid: int) -> np.ndarray:
    """(T, size, size) bool → (T, grid, grid): the share of each patch's pixels on the agents."""
    t, h, w = mask.shape
    if h % grid or w % grid:
        raise ConfigError(f"mask of {h}×{w} pixels does not split into a {grid}×{grid} patch grid")
    return mask.reshape(t, grid, h // grid, grid, w // grid).mean(axis=(2, 4))


def mask_shares(relevance: np.ndarray, fractions: np.ndarray) -> dict[str, float]:
    """Agent/background shares of one clip's relevance (T, g, g) for patch fractions (T, g, g)."""
    if relevance.shape != fractions.shape:
        raise ValueError(f"relevance {relevance.shape} and mask fractions {fractions.shape} differ")
    total = float(relevance.sum())
    area = float(fractions.mean())
    if not total > 0:  # an empty map (e.g. all gradients zero): no share to speak of
        return {"agent_share": float("nan"), "background_share": float("nan"), "area_share": area,
                "agent_ratio": float("nan")}
    r = relevance / total
    agent = float((r * fractions).sum())
    return {"agent_share": agent, "background_share": 1.0 - agent, "area_share": area,
            "agent_ratio": agent / area if area > 0 else float("nan")}
