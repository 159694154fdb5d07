"""Video decoding: one deterministic pipeline from a video file to uint8 frames.

Every part of bgs that looks at video pixels (training, embedding, RSA, probes) goes through
:func:`decode_video` with one :class:`DecodeParams`, normally via the clip store
(:mod:`bgs.media.store`), so that no two steps ever see differently sampled or resized
frames (the reference code used 16 frames in one place, 8 in another, and a random temporal
offset in a third).

The pipeline:

1. decode every frame of the first video stream with PyAV, in presentation order (the order
   the decoder returns them), and count them (``n``); variable frame rate needs no special
   case because sampling is over decoded frames, not timestamps;
2. sample ``T = params.frames`` indices, the centres of ``T`` equal segments:
   ``floor((k + 0.5) * n / T)`` for ``k = 0 .. T-1``; a clip with fewer than ``T`` frames
   gives all its frames, then its last frame repeated up to ``T``;
3. convert only the sampled frames to RGB, resizing in the same swscale pass (bilinear, with
   swscale's accurate-rounding and bit-exact flags so that the output does not depend on the
   CPU's SIMD paths): ``"crop"`` scales the short side to ``size`` and centre-crops
   ``size × size``; ``"squash"`` scales to ``size × size`` ignoring the aspect ratio.

The decoded (still YUV, unconverted) frames of one clip are held in memory until the count
is known — fine for the short clips bgs is about (3 s of 1080p is about 280 MB); cut long
videos into clips first.

The result is a ``uint8`` array ``(T, size, size, 3)``. Normalising for a backbone is the
model's job; :func:`to_float_tensor` is the shared helper that does it on a batch.

PyAV (``av``) is imported lazily, so ``import bgs.media`` works without the ``video`` extra.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from bgs.errors import ConfigError, DataFileError

#: Bumped whenever the pipeline's output for the same params changes (sampling rule, scaler,
#: flags), so that clip stores built by an older version land in another folder.
PIPELINE_VERSION = 1

RESIZE_MODES = ("crop", "squash", "pad")
PAD_VALUE = 255  # "pad" fills with white: product photos (e.g. the Zappos shoes) sit on white


class DecodeError(DataFileError):
    """A video file that cannot be decoded into frames (missing, corrupt, no video, empty)."""

    kind = "undecodable video"


@dataclass(frozen=True)
class DecodeParams:
    """How a clip becomes frames: ``frames`` sampled uniformly, each ``size × size`` RGB.

    ``resize="crop"`` scales the short side to ``size`` and centre-crops (keeps the aspect
    ratio, loses the edges of the long side); ``"squash"`` scales to ``size × size``
    ignoring the aspect ratio (keeps everything, distorts shapes); ``"pad"`` scales the long
    side to ``size`` and centres the frame on white (keeps everything and the shapes).
    """

    frames: int = 16
    size: int = 224
    resize: str = "crop"

    def __post_init__(self):
        for name in ("frames", "size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ConfigError(f"DecodeParams.{name} must be a positive integer, got {value!r}. "
                                  f"Fix: pass e.g. frames=16, size=224")
            object.__setattr__(self, name, int(value))
        if self.size > 8192:
            raise ConfigError(f"DecodeParams.size={self.size} is larger than 8192 pixels. "
                              f"Fix: use the backbone's input size (e.g. 224)")
        if self.resize not in RESIZE_MODES:
            raise ConfigError(f"DecodeParams.resize must be one of {', '.join(RESIZE_MODES)}, got "
                              f"{self.resize!r}. Fix: use 'crop' (keep aspect, centre-crop), "
                              f"'squash' (stretch to a square) or 'pad' (fit inside, white border)")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "DecodeParams":
        unknown = set(d) - {"frames", "size", "resize"}
        if unknown:
            raise ConfigError(f"unknown decode parameter(s) {', '.join(sorted(unknown))}. "
                              f"Fix: use frames, size and resize")
        return cls(**d)

    def key(self) -> str:
        """Short stable hash of the params and the pipeline version (a clip-store folder name)."""
        text = json.dumps({**self.to_dict(), "pipeline": PIPELINE_VERSION}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def sample_indices(n: int, t: int) -> np.ndarray:
    """``t`` frame indices out of ``n``: segment centres ``floor((k + 0.5) * n / t)``; with
    ``n < t`` all frames, then the last repeated."""
    if n < 1 or t < 1:
        raise ValueError(f"need n >= 1 and t >= 1, got n={n}, t={t}")
    if n < t:
        return np.concatenate([np.arange(n), np.full(t - n, n - 1)]).astype(np.int64)
    k = np.arange(t, dtype=np.int64)
    return ((2 * k + 1) * n) // (2 * t)  # exact integer floor((k + 0.5) * n / t)


def _resized_size(width: int, height: int, params: DecodeParams) -> tuple[int, int]:
    """(width, height) the frame is scaled to before any crop."""
    s = params.size
    if params.resize == "squash":
        return s, s
    if params.resize == "pad":
        if width >= height:
            return s, max(1, (2 * height * s + width) // (2 * width))
        return max(1, (2 * width * s + height) // (2 * height)), s
    if width <= height:
        return s, max(s, (2 * height * s + width) // (2 * width))  # round half up, exact
    return max(s, (2 * width * s + height) // (2 * height)), s


def _av():
    try:
        import av  # noqa: PLC0415
    except ImportError:  # pragma: no cover - depends on the environment
        raise ConfigError("decoding video needs PyAV, which is not installed. "
                          "Fix: pip install 'bgs[video]' (or pip install av)") from None
    return av


def _interpolation():
    from av.video.reformatter import Interpolation  # noqa: PLC0415

    return int(Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.BITEXACT)


def decode_video(path: str | os.PathLike, params: DecodeParams | None = None) -> np.ndarray:
    """Decode a clip into ``uint8 (T, size, size, 3)`` RGB frames (see the module docstring).

    Raises :class:`DecodeError` naming the file when it is missing, empty, not a media file
    or corrupt, has no video stream, or has no decodable frame.
    """
    frames, _ = decode_video_info(path, params)
    return frames


def decode_video_info(path: str | os.PathLike, params: DecodeParams | None = None
                      ) -> tuple[np.ndarray, int]:
    """:func:`decode_video` plus the number of frames decoded from the source."""
    params = params or DecodeParams()
    path = Path(path)
    if not path.exists():
        raise DecodeError(path, "file not found",
                          "check the path (and the videos folder the stimulus files are relative to)")
    if path.is_dir():
        raise DecodeError(path, "is a folder, not a video file", "point to the video file itself")
    if path.stat().st_size == 0:
        raise DecodeError(path, "empty file (0 bytes), so no frame can be decoded",
                          "re-download or re-export the video; an interrupted copy leaves such files")
    av = _av()
    try:
        container = av.open(str(path), mode="r")
    except av.error.PermissionError:
        raise DecodeError(path, "permission denied", "make the file readable (chmod +r)") from None
    except av.error.FFmpegError as e:
        raise DecodeError(path, f"not a readable media file or corrupt ({_ffmpeg_reason(e)})",
                          "check that it is a video (mp4, webm, mkv, avi, ...) and that the copy is "
                          "complete; re-download or re-encode it (e.g. ffmpeg -i in -c:v libx264 out.mp4)"
                          ) from None
    with container:
        if not container.streams.video:
            found = _describe_streams(container)
            raise DecodeError(path, f"no video stream (the file has {found})",
                              "use a file with video; an audio-only file cannot be a clip")
        stream = container.streams.video[0]
        decoded = []
        try:
            for frame in container.decode(stream):
                decoded.append(frame)  # keep the decoded (YUV) frame; convert only sampled ones
        except av.error.FFmpegError as e:
            raise DecodeError(path, f"corrupt video data after {len(decoded)} decoded frame(s) "
                                    f"({_ffmpeg_reason(e)})",
                              "re-download or re-encode the video (e.g. ffmpeg -i in -c:v libx264 out.mp4)"
                              ) from None
        n = len(decoded)
        if n == 0:
            raise DecodeError(path, "the video stream has no decodable frames",
                              "re-export the video; the file holds a video stream but no picture "
                              "the decoder could read")
        idx = sample_indices(n, params.frames)
        out = np.empty((params.frames, params.size, params.size, 3), dtype=np.uint8)
        interp = _interpolation()
        converted: dict[int, np.ndarray] = {}
        for k, i in enumerate(idx.tolist()):
            if i not in converted:
                converted[i] = _to_rgb(decoded[i], params, interp)
            out[k] = converted[i]
        return out, n


def _to_rgb(frame, params: DecodeParams, interp: int) -> np.ndarray:
    w, h = _resized_size(frame.width, frame.height, params)
    rgb = frame.reformat(width=w, height=h, format="rgb24", interpolation=interp).to_ndarray()
    s = params.size
    if params.resize == "pad":
        out = np.full((s, s, 3), PAD_VALUE, dtype=np.uint8)
        top, left = (s - h) // 2, (s - w) // 2
        out[top:top + h, left:left + w] = rgb
        return out
    top, left = (h - s) // 2, (w - s) // 2
    return rgb[top:top + s, left:left + s]


def _ffmpeg_reason(e) -> str:
    return getattr(e, "strerror", None) or str(e)


def _describe_streams(container) -> str:
    kinds: dict[str, int] = {}
    for s in container.streams:
        kinds[s.type] = kinds.get(s.type, 0) + 1
    if not kinds:
        return "no streams at all"
    return ", ".join(f"{c} {t} stream{'s' if c > 1 else ''}" for t, c in kinds.items())


def to_float_tensor(frames, mean=0.45, std=0.225, device=None):
    """uint8 frames ``(..., T, H, W, 3)`` (numpy, memmap or torch) → float32 torch
    ``(..., T, 3, H, W)`` normalised per channel: ``(x / 255 - mean) / std``.

    ``mean`` and ``std`` are scalars or 3 values (R, G, B). Computed as ``x * scale + bias``
    in float32 (``scale = 1 / (255 std)``, ``bias = -mean / std``), which gives the same
    numbers on every device. On the CPU numpy does it in one pass over the input (a memmap is
    read in place); with ``device`` the uint8 data moves there first (a quarter of the bytes
    of float32) and torch converts it there; a torch input stays on its device when
    ``device`` is None. The result is contiguous.
    """
    import torch  # noqa: PLC0415

    scale, bias = _scale_bias(mean, std)
    if isinstance(frames, torch.Tensor):
        _check_frames(frames.dtype == torch.uint8, frames.dtype, tuple(frames.shape))
        target = torch.device(device) if device is not None else frames.device
        if target.type == "cpu" and frames.device.type == "cpu":
            return _normalise_numpy(frames.numpy(), scale, bias)
        return _normalise_torch(frames.to(target, non_blocking=True), scale, bias)
    arr = np.asarray(frames)
    _check_frames(arr.dtype == np.uint8, arr.dtype, arr.shape)
    target = torch.device(device) if device is not None else torch.device("cpu")
    if target.type == "cpu":
        return _normalise_numpy(arr, scale, bias)
    if not arr.flags.writeable:  # a read-only memmap: torch warns, but nothing writes to it
        import warnings  # noqa: PLC0415

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            x = torch.from_numpy(np.ascontiguousarray(arr))
    else:
        x = torch.from_numpy(np.ascontiguousarray(arr))
    return _normalise_torch(x.to(target, non_blocking=True), scale, bias)


def _scale_bias(mean, std) -> tuple[np.ndarray, np.ndarray]:
    mean = np.asarray(mean, dtype=np.float64).reshape(-1)
    std = np.asarray(std, dtype=np.float64).reshape(-1)
    if mean.size not in (1, 3) or std.size not in (1, 3) or not (std > 0).all():
        raise ConfigError(f"mean and std must be scalars or 3 values (R, G, B), std > 0; got "
                          f"mean={mean.tolist()}, std={std.tolist()}. "
                          f"Fix: pass e.g. mean=(0.45, 0.45, 0.45), std=(0.225, 0.225, 0.225)")
    mean, std = np.broadcast_to(mean, (3,)), np.broadcast_to(std, (3,))
    scale = (1.0 / (255.0 * std)).astype(np.float32).reshape(3, 1, 1)
    bias = (-mean / std).astype(np.float32).reshape(3, 1, 1)
    return scale, bias


def _check_frames(is_uint8: bool, dtype, shape) -> None:
    if not is_uint8:
        raise ConfigError(f"to_float_tensor expects uint8 frames, got {dtype}. "
                          "Fix: pass frames from decode_video or the clip store")
    if len(shape) < 4 or shape[-1] != 3:
        raise ConfigError(f"to_float_tensor expects frames shaped (..., T, H, W, 3), got "
                          f"{tuple(shape)}. Fix: pass frames from decode_video or the clip store")


def _channels_first(nd: int) -> list[int]:
    """(..., T, H, W, C) -> (..., T, C, H, W)"""
    return list(range(nd - 3)) + [nd - 1, nd - 3, nd - 2]


def _normalise_numpy(arr: np.ndarray, scale: np.ndarray, bias: np.ndarray):
    import torch  # noqa: PLC0415

    a = arr.transpose(_channels_first(arr.ndim))
    out = np.empty(a.shape, dtype=np.float32)
    np.multiply(a, scale, out=out, casting="unsafe")  # float32 loop: uint8 -> float32 exactly
    out += bias
    return torch.from_numpy(out)


def _normalise_torch(x, scale: np.ndarray, bias: np.ndarray):
    import torch  # noqa: PLC0415

    out = torch.empty(tuple(x.permute(_channels_first(x.ndim)).shape), dtype=torch.float32,
                      device=x.device)
    out.copy_(x.permute(_channels_first(x.ndim)))
    out.mul_(torch.from_numpy(scale).to(x.device))
    return out.add_(torch.from_numpy(bias).to(x.device))
