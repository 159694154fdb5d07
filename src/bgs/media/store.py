"""The clip store: every video decoded once into uint8 frames on disk, memory-mapped by id.

Layout (``root`` is any folder; one store per set of decode params)::

    root/<params.key()>/params.json          the DecodeParams (and pipeline version)
    root/<params.key()>/clips/<name>.npy     uint8 (T, size, size, 3)
    root/<params.key()>/clips/<name>.json    sidecar: id, source file, size, mtime_ns,
                                             sha256, shape, source frame count

``<name>`` is a readable slug of the stimulus id plus a hash of its type and value, so ids
may be ints or strings with any characters (``5`` and ``"5"`` are different clips, and
``"A"``/``"a"`` do not collide on case-insensitive file systems).

Both files are written atomically (temporary file, then rename), the array before the
sidecar; a clip counts as stored once its sidecar exists. An interrupted build therefore
leaves a usable partial store, and the next :meth:`ClipStore.build` resumes: a clip is
reused when its sidecar's source path, size and mtime match the file; when only they
changed, the file's sha256 decides (same content → sidecar refreshed, no decode; new
content → decoded again). Other decode params live in another folder, side by side.

Reading (:meth:`ClipStore.get`) never touches the source videos: a built store can be used
after they are moved or deleted.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bgs.errors import BGSError, ConfigError
from bgs.io import atomic_path, file_sha256, write_json
from bgs.media.decode import PIPELINE_VERSION, DecodeError, DecodeParams, decode_video_info

Progress = Callable[[int, int, object], None]
"""``progress(done, total, id)``, called after each clip (decoded, reused or skipped)."""


class ClipNotFoundError(BGSError, KeyError):
    """A stimulus id the clip store holds no frames for."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


@dataclass
class BuildReport:
    """What one :meth:`ClipStore.build` did. ``decodes`` counts videos decoded in this build
    (equal to ``len(decoded)``); ``refreshed`` are reused clips whose source changed size or
    mtime but not content (only the sidecar was rewritten)."""

    decoded: list = field(default_factory=list)
    reused: list = field(default_factory=list)
    refreshed: list = field(default_factory=list)
    skipped: dict = field(default_factory=dict)
    decodes: int = 0

    @property
    def ok(self) -> bool:
        return not self.skipped

    def summary(self) -> str:
        text = (f"{len(self.decoded)} decoded, {len(self.reused)} reused"
                + (f" ({len(self.refreshed)} with a refreshed sidecar)" if self.refreshed else "")
                + f", {len(self.skipped)} skipped")
        return text


# ---------------------------------------------------------------------------- ids
def _canonical_id(stimulus_id) -> tuple[str, int | str]:
    """('int', 5) or ('str', 'clip a'); anything else is a ConfigError."""
    if isinstance(stimulus_id, (bool, np.bool_)):
        raise ConfigError(f"stimulus id {stimulus_id!r} is a boolean. Fix: use int or string ids")
    if isinstance(stimulus_id, (int, np.integer)):
        return "int", int(stimulus_id)
    if isinstance(stimulus_id, (str, np.str_)):
        return "str", str(stimulus_id)
    if isinstance(stimulus_id, (float, np.floating)) and float(stimulus_id).is_integer():
        return "int", int(stimulus_id)
    raise ConfigError(f"stimulus id {stimulus_id!r} ({type(stimulus_id).__name__}) is not an int "
                      f"or a string. Fix: use int or string stimulus ids")


_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def clip_name(stimulus_id) -> str:
    """File-name stem of a clip: readable slug + 16 hex digits of a hash of (type, value)."""
    kind, value = _canonical_id(stimulus_id)
    digest = hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()[:16]
    slug = _UNSAFE.sub("_", str(value)).strip("_")[:40] or "id"
    return f"{slug}.{digest}"


def _id_from_sidecar(meta: dict):
    return int(meta["id"]) if meta.get("id_type") == "int" else str(meta["id"])


def _sort_key(stimulus_id):
    kind, value = _canonical_id(stimulus_id)
    return (0, value, "") if kind == "int" else (1, 0, value)



def _source_sha256(file: Path) -> str:
    try:
        return file_sha256(file)
    except OSError as e:
        raise DecodeError(file, f"cannot be read ({e.strerror or e})",
                          "check that the file is readable (permissions, a mounted disk)") from None


# ---------------------------------------------------------------------------- store
class ClipStore:
    """Decoded clips of one :class:`DecodeParams`, on disk under ``root/<params.key()>/``.

    ``store.build(ids, files)`` decodes what is missing or changed; ``store.get(id)`` returns
    a read-only memory-mapped ``uint8 (T, H, W, 3)`` array; ``store.get_batch(ids)`` stacks
    several into ``(B, T, H, W, 3)``.
    """

    def __init__(self, root: str | os.PathLike, params: DecodeParams | None = None):
        self.root = Path(root)
        self.params = params or DecodeParams()
        if not isinstance(self.params, DecodeParams):
            raise ConfigError(f"params must be a DecodeParams, got {type(self.params).__name__}. "
                              f"Fix: ClipStore(root, DecodeParams(frames=16, size=224))")
        self.path = self.root / self.params.key()
        self.clips_dir = self.path / "clips"
        self.decodes = 0  # videos decoded by this object, over all builds
        self._cache: dict[str, np.ndarray] = {}
        self._ids: dict[str, object] | None = None  # name -> id, from sidecars
        self._check_params_file()

    def __repr__(self) -> str:
        return f"ClipStore({str(self.path)!r}, {self.params}, {len(self)} clips)"

    @property
    def shape(self) -> tuple[int, int, int, int]:
        p = self.params
        return (p.frames, p.size, p.size, 3)

    # ------------------------------------------------------------------ params file
    def _params_doc(self) -> dict:
        return {**self.params.to_dict(), "pipeline": PIPELINE_VERSION, "key": self.params.key()}

    def _check_params_file(self) -> None:
        pf = self.path / "params.json"
        if not pf.exists():
            return
        try:
            doc = json.loads(pf.read_text())
        except (OSError, ValueError) as e:
            raise BGSError(f"{pf}: unreadable clip-store parameters ({e}). Fix: delete the folder "
                           f"{self.path} and build the store again") from None
        if doc != self._params_doc():
            raise BGSError(f"{pf}: the clip store in this folder was built with {doc}, not "
                           f"{self._params_doc()}. Fix: delete the folder {self.path} and build "
                           f"the store again")

    # ------------------------------------------------------------------ paths / index
    def clip_path(self, stimulus_id) -> Path:
        return self.clips_dir / f"{clip_name(stimulus_id)}.npy"

    def _sidecar_path(self, stimulus_id) -> Path:
        return self.clips_dir / f"{clip_name(stimulus_id)}.json"

    def _index(self) -> dict[str, object]:
        if self._ids is None:
            ids: dict[str, object] = {}
            if self.clips_dir.is_dir():
                for sc in self.clips_dir.glob("*.json"):
                    if sc.name.startswith("."):
                        continue  # a temporary file of an interrupted write
                    meta = self._read_sidecar_file(sc)
                    if meta is not None and sc.with_suffix(".npy").exists():
                        ids[sc.stem] = _id_from_sidecar(meta)
            self._ids = ids
        return self._ids

    def refresh(self) -> None:
        """Forget the cached index and memory maps (after another process built clips)."""
        self._ids = None
        self._cache.clear()

    @property
    def ids(self) -> list:
        """Ids of the stored clips: ints in numeric order, then strings."""
        return sorted(self._index().values(), key=_sort_key)

    def __len__(self) -> int:
        return len(self._index())

    def __contains__(self, stimulus_id) -> bool:
        try:
            return clip_name(stimulus_id) in self._index()
        except ConfigError:
            return False

    def info(self, stimulus_id) -> dict:
        """The sidecar of a stored clip (source file, size, mtime_ns, sha256, shape, ...)."""
        meta = self._read_sidecar(stimulus_id)
        if meta is None:
            raise self._missing(stimulus_id)
        return meta

    # ------------------------------------------------------------------ reading
    def _missing(self, stimulus_id) -> ClipNotFoundError:
        return ClipNotFoundError(
            f"{self.path}: no clip for stimulus id {stimulus_id!r} in the clip store "
            f"({len(self)} clips, params {self.params}). Fix: build the store with this stimulus "
            f"(ClipStore.build / build_from_table) and check the skipped files of the build report")

    def get(self, stimulus_id) -> np.ndarray:
        """Read-only memory-mapped ``uint8 (T, H, W, 3)`` frames of one clip."""
        try:
            name = clip_name(stimulus_id)
        except ConfigError:
            raise self._missing(stimulus_id) from None
        arr = self._cache.get(name)
        if arr is None:
            if name not in self._index():
                # built by another process since the index was read?
                if not ((self.clips_dir / f"{name}.json").exists()
                        and (self.clips_dir / f"{name}.npy").exists()):
                    raise self._missing(stimulus_id)
                self._ids = None
            arr = np.load(self.clips_dir / f"{name}.npy", mmap_mode="r", allow_pickle=False)
            if arr.shape != self.shape or arr.dtype != np.uint8:
                raise BGSError(f"{self.clips_dir / (name + '.npy')}: stored clip has shape "
                               f"{arr.shape} {arr.dtype}, expected {self.shape} uint8. Fix: delete "
                               f"the file and its .json sidecar and build the store again")
            self._cache[name] = arr
        return arr

    def get_batch(self, stimulus_ids: Sequence, out: np.ndarray | None = None) -> np.ndarray:
        """``uint8 (B, T, H, W, 3)`` frames of several clips, in the order given (a copy in
        memory; pass ``out`` to fill a preallocated array)."""
        stimulus_ids = list(stimulus_ids)
        if out is None:
            out = np.empty((len(stimulus_ids), *self.shape), dtype=np.uint8)
        elif out.shape != (len(stimulus_ids), *self.shape) or out.dtype != np.uint8:
            raise ConfigError(f"out has shape {out.shape} {out.dtype}, expected "
                              f"{(len(stimulus_ids), *self.shape)} uint8. Fix: allocate it to match")
        for k, sid in enumerate(stimulus_ids):
            out[k] = self.get(sid)
        return out

    # ------------------------------------------------------------------ building
    def _read_sidecar_file(self, path: Path) -> dict | None:
        try:
            meta = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return meta if isinstance(meta, dict) and "id" in meta else None

    def _read_sidecar(self, stimulus_id) -> dict | None:
        sc = self._sidecar_path(stimulus_id)
        meta = self._read_sidecar_file(sc) if sc.exists() else None
        if meta is None or not sc.with_suffix(".npy").exists():
            return None
        return meta

    def _write_params(self) -> None:
        pf = self.path / "params.json"
        if not pf.exists():
            write_json(pf, self._params_doc())

    def build(self, ids: Sequence, files: Sequence, on_error: str = "skip",
              progress: Progress | None = None) -> BuildReport:
        """Decode every clip not yet stored (or whose source changed); reuse the rest.

        ``files[i]`` is the video of ``ids[i]``. ``on_error="skip"`` records an undecodable
        file in ``report.skipped`` (id → message) and goes on; ``"fail"`` raises its
        :class:`DecodeError` (clips finished before it stay stored). ``progress(done, total,
        id)`` is called after each clip. Temporary files left by a killed build are removed
        first, so one store is built by one process at a time.
        """
        if on_error not in ("skip", "fail"):
            raise ConfigError(f"on_error must be 'skip' or 'fail', got {on_error!r}. "
                              f"Fix: use 'skip' (record and go on) or 'fail' (stop at the first)")
        ids = [_canonical_id(sid)[1] for sid in ids]  # plain int / str (JSON-friendly reports)
        files = list(files)
        if len(ids) != len(files):
            raise ConfigError(f"{len(ids)} ids but {len(files)} files. Fix: pass one file per id")
        names: dict[str, object] = {}
        for sid in ids:
            name = clip_name(sid)
            if name in names:
                raise ConfigError(f"stimulus id {sid!r} appears more than once. "
                                  f"Fix: pass each stimulus once")
            names[name] = sid

        self._check_params_file()
        self.clips_dir.mkdir(parents=True, exist_ok=True)
        for stale in self.clips_dir.glob(".*.tmp"):  # half-written by a build that was killed
            stale.unlink(missing_ok=True)
        self._write_params()
        report = BuildReport()
        total = len(ids)
        try:
            for done, (sid, file) in enumerate(zip(ids, files), start=1):
                try:
                    self._build_one(sid, Path(file), report)
                except DecodeError as e:
                    if on_error == "fail":
                        raise
                    report.skipped[sid] = str(e)
                if progress is not None:
                    progress(done, total, sid)
        finally:
            self._ids = None  # re-read the index on next use
        return report

    def _build_one(self, sid, file: Path, report: BuildReport) -> None:
        try:
            st = file.stat()
        except FileNotFoundError:
            raise DecodeError(file, "file not found", "check the path (and the videos folder "
                                                      "the stimulus files are relative to)") from None
        except OSError as e:
            raise DecodeError(file, f"cannot be read ({e.strerror})", "check its permissions") from None
        if file.is_dir():
            raise DecodeError(file, "is a folder, not a video file", "point to the video file itself")
        meta = self._read_sidecar(sid)
        if meta is not None and meta.get("shape") == list(self.shape):
            if (meta.get("file") == str(file) and meta.get("size") == st.st_size
                    and meta.get("mtime_ns") == st.st_mtime_ns):
                report.reused.append(sid)
                return
            sha = _source_sha256(file)
            if sha == meta.get("sha256"):
                self._write_sidecar(sid, file, st, sha, meta.get("source_frames"))
                report.reused.append(sid)
                report.refreshed.append(sid)
                return
        else:
            sha = _source_sha256(file)
        frames, n = decode_video_info(file, self.params)
        self.decodes += 1
        report.decodes += 1
        target = self.clip_path(sid)
        with atomic_path(target, suffix=".npy") as tmp:
            with open(tmp, "wb") as f:
                np.save(f, frames, allow_pickle=False)
        self._cache.pop(target.stem, None)
        self._write_sidecar(sid, file, st, sha, n)
        report.decoded.append(sid)

    def _write_sidecar(self, sid, file: Path, st: os.stat_result, sha: str, n) -> None:
        kind, value = _canonical_id(sid)
        write_json(self._sidecar_path(sid), {
            "id": value, "id_type": kind, "file": str(file), "size": st.st_size,
            "mtime_ns": st.st_mtime_ns, "sha256": sha, "shape": list(self.shape),
            "dtype": "uint8", "source_frames": n, "params_key": self.params.key(),
        })

    def build_from_table(self, stimuli, videos_dir: str | os.PathLike, on_error: str = "skip",
                         progress: Progress | None = None) -> BuildReport:
        """:meth:`build` for a :class:`~bgs.data.stimuli.StimulusTable`: the video of stimulus
        ``i`` is ``videos_dir / stimuli.files[i]``."""
        if stimuli.files is None:
            raise ConfigError(f"the stimulus table {stimuli.source or ''} has no file column, so "
                              f"there are no videos to decode. Fix: add a 'file' (or 'video_name') "
                              f"column naming each stimulus's video".replace("  ", " "))
        videos_dir = Path(videos_dir)
        if not videos_dir.is_dir():
            raise ConfigError(f"videos folder {videos_dir} does not exist. "
                              f"Fix: pass the folder holding the stimulus videos")
        files = [videos_dir / str(f) for f in stimuli.files]
        return self.build(list(stimuli.ids), files, on_error=on_error, progress=progress)
