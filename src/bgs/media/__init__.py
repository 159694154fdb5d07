"""Video decoding (PyAV), deterministic frame sampling, and the clip store.

Each video is decoded once, with one :class:`DecodeParams`, into uint8 frames on disk
(:class:`ClipStore`); training and embedding read them memory-mapped. PyAV is imported only
when a video is actually decoded.
"""

from bgs.media.decode import (
    DecodeError,
    DecodeParams,
    decode_video,
    decode_video_info,
    sample_indices,
    to_float_tensor,
)
from bgs.media.store import BuildReport, ClipNotFoundError, ClipStore, clip_name

__all__ = ["DecodeParams", "DecodeError", "decode_video", "decode_video_info", "sample_indices",
           "to_float_tensor", "ClipStore", "BuildReport", "ClipNotFoundError", "clip_name"]
