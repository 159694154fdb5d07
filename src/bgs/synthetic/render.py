"""Rendering scenes to frames (numpy), H.264 mp4 files (PyAV) and agent masks, and a contact
sheet of a generated dataset (pillow).

Frames are drawn at twice the target resolution and box-averaged (anti-aliasing); masks are
evaluated at the target pixel centres, so ``masks[t, y, x] = k`` means pixel (x, y) of frame
t lies inside agent ``k - 1`` (0 = background; a later agent covers an earlier one). The
frame's row 0 is the arena's top (arena y grows upwards).

Output bytes are a function of the frames alone: libx264 runs single-threaded with fixed
options, without macroblock-tree rate control (see :data:`X264_OPTIONS`), and the mp4 muxer in
bitexact mode (no version strings, no creation times); mask archives are zip files with fixed
member timestamps.
"""

from __future__ import annotations

import io
import json
import zipfile
from fractions import Fraction
from pathlib import Path

import numpy as np

from bgs.errors import ConfigError, UnreadableFileError
from bgs.io import atomic_path
from bgs.synthetic.scenes import Scene

SUPERSAMPLE = 2

#: libx264 settings of every synthetic clip. ``mbtree`` is off because, on CPUs with AVX-512,
#: libx264's macroblock-tree lookahead reads uninitialised heap memory for these small frames:
#: identical frames then encode to different bytes depending on what the heap held before
#: (8 of 60 clips of 32×32 and 5 of 40 of 64×64 differed between runs; with glibc's
#: ``MALLOC_PERTURB_`` the output followed the fill byte). Without it the bytes depend on the
#: frames alone, and match the AVX2 code path. Macroblock-tree only redistributes bits across
#: long sequences; these clips are a few dozen frames at most.
X264_OPTIONS = {"threads": "1", "preset": "medium", "mbtree": "0"}


EYE_OFFSET = 0.42  # eye centre, in agent radii ahead of the centre
EYE_RADIUS = 0.34  # in agent radii


# ---------------------------------------------------------------------- drawing
def _grid(size: int, ss: int) -> tuple[np.ndarray, np.ndarray]:
    """Arena coordinates (x, y) of the sample points of a size×size image at ``ss``× resolution."""
    c = (np.arange(size * ss) + 0.5) / (size * ss)
    x = c[None, :]
    y = 1.0 - c[:, None]
    return x, y


def _texture(scene: Scene, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Static background pattern in [-1, 1] (H, W)."""
    n = scene.nuisance
    ca, sa = np.cos(n.texture_angle), np.sin(n.texture_angle)
    xr, yr = x * ca + y * sa, -x * sa + y * ca
    k = n.texture_scale
    if n.texture == "plain":
        return np.zeros(np.broadcast_shapes(x.shape, y.shape))
    if n.texture == "stripes":
        return np.sin(2 * np.pi * k * xr) * np.ones_like(y)
    if n.texture == "checker":
        return np.sign(np.sin(2 * np.pi * k / 2 * xr) * np.sin(2 * np.pi * k / 2 * yr) + 1e-12)
    if n.texture == "dots":
        fx, fy = (k * xr) % 1 - 0.5, (k * yr) % 1 - 0.5
        return np.where(fx * fx + fy * fy < 0.06, 1.0, -0.25)
    # noise: a few random plane waves, fixed per clip (deterministic from the nuisance draw)
    rng = np.random.default_rng(int(n.texture_scale * 1e6) ^ int(n.texture_angle * 1e6))
    out = np.zeros(np.broadcast_shapes(x.shape, y.shape))
    for _ in range(6):
        th, ph = rng.uniform(0, 2 * np.pi, size=2)
        f = k * rng.uniform(0.5, 1.5)
        out += np.sin(2 * np.pi * f * (x * np.cos(th) + y * np.sin(th)) + ph)
    return out / np.sqrt(6)  # unit-amplitude sine has sd 0.71; so has this sum of six


def _agent_cover(lx: np.ndarray, ly: np.ndarray, r: float, shape: str) -> tuple[np.ndarray, np.ndarray]:
    """Body and eye masks from local coordinates (x along the heading), radius ``r``."""
    if shape == "circle":
        body = lx * lx + ly * ly <= r * r
    elif shape == "square":
        body = np.maximum(np.abs(lx), np.abs(ly)) <= 0.84 * r
    elif shape == "triangle":  # isosceles, apex along the heading
        apex, base, half = 1.2 * r, -0.8 * r, 1.0 * r
        body = (lx >= base) & (lx <= apex) & (np.abs(ly) <= half * (apex - lx) / (apex - base))
    elif shape == "diamond":  # a rhombus, long axis along the heading
        body = np.abs(lx) / (1.25 * r) + np.abs(ly) / (0.85 * r) <= 1.0
    elif shape == "cross":  # a plus sign
        arm, half = 1.1 * r, 0.38 * r
        body = ((np.abs(lx) <= arm) & (np.abs(ly) <= half)) | ((np.abs(ly) <= arm) & (np.abs(lx) <= half))
    elif shape == "hexagon":
        h = np.sqrt(3) / 2 * r
        body = (np.abs(ly) <= h) & (np.sqrt(3) * np.abs(lx) + np.abs(ly) <= np.sqrt(3) * r)
    else:
        raise ConfigError(f"unknown shape {shape!r}")
    ex, er = EYE_OFFSET * r, EYE_RADIUS * r
    eye = body & ((lx - ex) ** 2 + ly * ly <= er * er)
    return body, eye


def _draw(scene: Scene, u: np.ndarray, size: int, ss: int, colour: bool):
    """Either the RGB image stack (T, H*ss, W*ss, 3) or the label stack (T, H, W)."""
    x, y = _grid(size, ss)
    pos, head = scene.arena_poses(u)
    n = scene.nuisance
    t = len(u)
    shape_hw = (size * ss, size * ss)
    if colour:
        bg = np.asarray(n.background)
        tex = _texture(scene, x, y)[..., None] * n.texture_contrast
        img = np.broadcast_to(np.clip(bg + tex, 0, 1), (t, *shape_hw, 3)).copy()
    else:
        labels = np.zeros((t, *shape_hw), dtype=np.uint8)
    for a in range(scene.n_agents):
        r = n.size * n.size_factors[a]
        dx = x[None] - pos[a, :, 0, None, None]
        dy = y[None] - pos[a, :, 1, None, None]
        c, s = np.cos(head[a])[:, None, None], np.sin(head[a])[:, None, None]
        lx, ly = dx * c + dy * s, -dx * s + dy * c
        body, eye = _agent_cover(lx, ly, r, n.shapes[a])
        if colour:
            col = np.asarray(n.agent_colors[a])
            lum = float(col @ [0.299, 0.587, 0.114])
            eye_col = np.full(3, 0.05 if lum > 0.5 else 0.97)
            img[body] = col
            img[eye] = eye_col
        else:
            labels[body] = a + 1
    return img if colour else labels


def render_scene(scene: Scene, n_frames: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(frames uint8 (T, H, W, 3), masks uint8 (T, H, W)) of a scene."""
    u = scene.frame_times(n_frames)
    hi = _draw(scene, u, size, SUPERSAMPLE, colour=True)
    t = len(u)
    lo = hi.reshape(t, size, SUPERSAMPLE, size, SUPERSAMPLE, 3).mean(axis=(2, 4))
    frames = np.clip(np.rint(lo * 255), 0, 255).astype(np.uint8)
    masks = _draw(scene, u, size, 1, colour=False)
    return frames, masks


# ---------------------------------------------------------------------- files
def write_mp4(path: str | Path, frames: np.ndarray, fps: float, crf: int = 18) -> Path:
    """Encode RGB frames (T, H, W, 3) as H.264 (libx264, yuv420p) in mp4, atomically and
    byte-reproducibly (:data:`X264_OPTIONS`, bitexact muxer)."""
    import av

    path = Path(path)
    t, h, w, _ = frames.shape
    if h % 2 or w % 2:
        raise ConfigError(f"yuv420p needs an even frame size, got {w}×{h}")
    rate = Fraction(fps).limit_denominator(1001)
    with atomic_path(path, suffix=".mp4") as tmp:
        container = av.open(str(tmp), mode="w", format="mp4", options={"fflags": "+bitexact"})
        try:
            stream = container.add_stream("libx264", rate=rate,
                                          options={**X264_OPTIONS, "crf": str(crf)})
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            for f in frames:
                for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        finally:
            container.close()
    return path


def read_mp4(path: str | Path) -> np.ndarray:
    """Decode every frame of a video as RGB uint8 (T, H, W, 3)."""
    import av

    path = Path(path)
    if not path.exists():
        raise UnreadableFileError(path, "file not found", "check the path")
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def _zip_member(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data, compresslevel=6)


def save_npz(path: str | Path, **arrays: np.ndarray) -> Path:
    """Like ``numpy.savez_compressed`` but byte-reproducible (fixed member timestamps), and
    written atomically. Load with ``numpy.load``."""
    path = Path(path)
    with atomic_path(path, suffix=".npz") as tmp:
        with zipfile.ZipFile(tmp, "w") as zf:
            for key, value in arrays.items():
                buf = io.BytesIO()
                np.lib.format.write_array(buf, np.asarray(value), allow_pickle=False)
                _zip_member(zf, f"{key}.npy", buf.getvalue())
    return path


# ---------------------------------------------------------------------- contact sheet
def contact_sheet(out_dir: str | Path, path: str | Path, n_clips: int = 8, n_frames: int = 4,
                  cell: int = 96) -> Path:
    """A PNG grid of a generated dataset: one row per clip, ``n_frames`` evenly spaced frames
    per row, labelled with the clip's script and parameters. Rows show different scripts first
    (the first clip of each script, in clip order), then further clips in order."""
    from PIL import Image, ImageDraw, ImageFont

    out_dir = Path(out_dir)
    truth_path = out_dir / "truth.json"
    if not truth_path.exists():
        raise UnreadableFileError(truth_path, "file not found",
                                  "give the folder written by `bgs synth make`")
    truth = json.loads(truth_path.read_text())
    clips = truth["clips"]
    seen: set = set()
    first = [k for k, c in enumerate(clips) if not (c["script"] in seen or seen.add(c["script"]))]
    rest = [k for k in range(len(clips)) if k not in set(first)]
    pick = (first + rest)[:n_clips]
    font = ImageFont.load_default()
    label_w, pad = 118, 4
    sheet = Image.new("RGB", (label_w + n_frames * (cell + pad) + pad, len(pick) * (cell + pad) + pad),
                      (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for row, k in enumerate(pick):
        clip = clips[k]
        frames = read_mp4(out_dir / "videos" / clip["video_name"])
        cols = np.linspace(0, len(frames) - 1, n_frames).round().astype(int)
        top = pad + row * (cell + pad)
        for j, f in enumerate(cols):
            im = Image.fromarray(frames[f]).resize((cell, cell), Image.NEAREST)
            sheet.paste(im, (label_w + pad + j * (cell + pad), top))
        p = clip["params"]
        text = (f"{clip['script']}\n{clip['video_name'].rsplit('.', 1)[0]}\n"
                f"spd {p['speed']:.2f}\ndist {p['distance']:.2f}\nint {p['intensity']:.2f}")
        draw.multiline_text((pad, top + 4), text, fill=(0, 0, 0), font=font, spacing=2)
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        sheet.save(tmp, format="PNG", optimize=True)
    return path
