"""Heat-map overlays of relevance maps on the frames: a PNG sheet and an animated GIF per clip.

Each map is upsampled to the frame (nearest: one colour per patch, so the patch grid the
model saw stays visible), stretched between the clip's smallest and largest value and
blended over the frame with the ``inferno`` colour map; agent outlines (where masks exist)
are drawn in cyan. The colour scale is stretched per map and clip (min → max), so a nearly
uniform map still shows its structure: compare shapes, not brightness, across rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from bgs.io import atomic_path

ALPHA = 0.55


def _colour(heat: np.ndarray) -> np.ndarray:
    from matplotlib import colormaps

    return (colormaps["inferno"](np.clip(heat, 0, 1))[..., :3] * 255).astype(np.float32)


def _upsample(grid_map: np.ndarray, size: int) -> np.ndarray:
    k = size // grid_map.shape[-1]
    return np.kron(grid_map, np.ones((k, k)))


def _outline(mask: np.ndarray) -> np.ndarray:
    """Pixels on the border of the mask (4-neighbourhood)."""
    m = mask.astype(bool)
    inner = m.copy()
    inner[1:] &= m[:-1]
    inner[:-1] &= m[1:]
    inner[:, 1:] &= m[:, :-1]
    inner[:, :-1] &= m[:, 1:]
    return m & ~inner


def overlay_frames(frames: np.ndarray, relevance: np.ndarray | None,
                   mask: np.ndarray | None = None) -> np.ndarray:
    """uint8 (T, H, W, 3) frames blended with the relevance (T, g, g), stretched from the
    clip's smallest to its largest value (``None``: the frames with outlines only)."""
    t, h = frames.shape[:2]
    if relevance is not None:
        lo, hi = float(relevance.min()), float(relevance.max())
        span = hi - lo if hi > lo else 1.0
    out = np.empty_like(frames)
    for k in range(t):
        img = frames[k].astype(np.float32)
        if relevance is not None:
            heat = _colour(_upsample((relevance[k] - lo) / span, h))
            img = (1 - ALPHA) * img + ALPHA * heat
        if mask is not None:
            img[_outline(mask[k])] = (0, 255, 255)
        out[k] = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return out


def _scale_up(img: np.ndarray, cell: int) -> np.ndarray:
    k = max(1, cell // img.shape[0])
    return np.repeat(np.repeat(img, k, axis=0), k, axis=1)


def write_sheet(path: str | Path, frames: np.ndarray, maps: Mapping[str, np.ndarray],
                mask: np.ndarray | None = None, title: str = "", max_frames: int = 8,
                cell: int = 96) -> Path:
    """A PNG: the frames (with agent outlines) on top, then one row of overlays per map."""
    from PIL import Image, ImageDraw, ImageFont

    t = frames.shape[0]
    cols = np.unique(np.linspace(0, t - 1, min(t, max_frames)).round().astype(int))
    rows = [("frames", overlay_frames(frames, None, mask))]
    rows += [(name, overlay_frames(frames, rel, mask)) for name, rel in maps.items()]
    label_w, pad, top = 150, 4, 18 if title else 0
    cell_px = _scale_up(frames[0], cell).shape[0]
    sheet = Image.new("RGB", (label_w + len(cols) * (cell_px + pad) + pad,
                              top + len(rows) * (cell_px + pad) + pad), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    if title:
        draw.text((pad, 3), title, fill=(0, 0, 0), font=font)
    for r, (name, imgs) in enumerate(rows):
        y = top + pad + r * (cell_px + pad)
        draw.multiline_text((pad, y + 4), name.replace(" | ", "\n"), fill=(0, 0, 0), font=font)
        for c, f in enumerate(cols):
            sheet.paste(Image.fromarray(_scale_up(imgs[f], cell)), (label_w + pad + c * (cell_px + pad), y))
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        sheet.save(tmp, format="PNG", optimize=True)
    return path


def write_gif(path: str | Path, frames: np.ndarray, maps: Mapping[str, np.ndarray],
              mask: np.ndarray | None = None, cell: int = 128, fps: float = 4.0) -> Path:
    """An animated GIF: per frame, the overlays of every map side by side."""
    from PIL import Image

    panels = [overlay_frames(frames, rel, mask) for rel in maps.values()]
    images = []
    for k in range(frames.shape[0]):
        row = np.concatenate([_scale_up(p[k], cell) for p in panels], axis=1)
        images.append(Image.fromarray(row))
    path = Path(path)
    with atomic_path(path, suffix=".gif") as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                       duration=int(1000 / fps), loop=0)
    return path
