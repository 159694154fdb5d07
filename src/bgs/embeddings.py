"""Embeddings: an ids × D matrix (optionally several named layers) that travels with its ids.

Files: ``.npz`` (arrays ``ids`` and ``embeddings``; extra layers as ``embeddings.<layer>``),
Parquet (an ``id`` column and an ``embedding`` list column; extra layers as
``embedding.<layer>``) and safetensors (tensors ``embeddings`` / ``embeddings.<layer>``, ids in
the metadata). Rows are aligned to a stimulus set by id, never by position.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from bgs.errors import DataFileError, DuplicateIdError, UnreadableFileError
from bgs.io import atomic_path

DEFAULT_LAYER = "embeddings"
SUFFIXES = (".npz", ".parquet", ".pq", ".safetensors")


class MissingEmbeddingError(DataFileError):
    kind = "stimulus without embedding"


def as_ids(values) -> np.ndarray:
    """Stimulus ids as an array: strings as objects, integral floats as int64."""
    ids = np.asarray(values)
    if ids.dtype.kind in "US":
        ids = ids.astype(object)
    if ids.dtype.kind == "f" and np.all(ids == np.round(ids)):
        ids = ids.astype(np.int64)
    return ids


@dataclass(frozen=True, eq=False)
class Embeddings:
    """Rows of every layer correspond to ``ids``. ``layers`` maps a name to an (N, D) array."""

    ids: np.ndarray
    layers: dict[str, np.ndarray] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self):
        if not self.layers:
            raise ValueError("Embeddings need at least one layer")
        for name, x in self.layers.items():
            if x.ndim != 2 or len(x) != len(self.ids):
                raise ValueError(f"layer {name!r} has shape {x.shape}; expected ({len(self.ids)}, D)")
        dup = pd.Index(self.ids).duplicated()
        if dup.any():
            raise DuplicateIdError(self.source or "(embeddings)",
                                   f"stimulus ids appear more than once: {self.ids[dup][:10].tolist()}",
                                   "keep one embedding per stimulus")

    @classmethod
    def from_array(cls, ids, matrix, layer: str = DEFAULT_LAYER, source: str = "") -> "Embeddings":
        return cls(as_ids(ids), {layer: np.asarray(matrix)}, source)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def layer_names(self) -> list[str]:
        return list(self.layers)

    @property
    def matrix(self) -> np.ndarray:
        """The first layer (``embeddings`` when present)."""
        return self.layers.get(DEFAULT_LAYER, next(iter(self.layers.values())))

    def layer(self, name: str | None = None) -> np.ndarray:
        if name is None:
            return self.matrix
        try:
            return self.layers[name]
        except KeyError:
            raise DataFileError(self.source or "(embeddings)", f"no layer {name!r}",
                                f"choose one of: {', '.join(self.layers)}") from None

    def align(self, ids: Iterable, what: str = "the stimulus set",
              fix: str = "embed every stimulus, or restrict the triplets to the embedded "
                         "stimuli") -> "Embeddings":
        """Rows reordered to ``ids``; ids without an embedding are an error naming them."""
        ids = as_ids(list(ids))
        pos = pd.Index(self.ids).get_indexer(ids)
        if (pos < 0).any():
            missing = ids[pos < 0]
            raise MissingEmbeddingError(
                self.source or "(embeddings)",
                f"{len(missing)} stimulus id(s) of {what} have no embedding "
                f"(first: {', '.join(map(repr, missing[:10].tolist()))})", fix)
        return Embeddings(ids, {k: v[pos] for k, v in self.layers.items()}, self.source)

    def require_defined(self, metric: str, layer: str | None = None) -> "Embeddings":
        """Refuse rows whose ``metric`` similarity is undefined (zero or constant vectors):
        scored, they would silently count as dissimilar to everything."""
        bad = undefined_rows(self.layer(layer), metric)
        if bad.any():
            what = "zero vectors" if metric == "cosine" else "constant vectors"
            raise DataFileError(self.source or "(embeddings)",
                                f"{int(bad.sum())} stimuli have {what}, for which {metric} "
                                f"similarity is undefined (ids {self.ids[bad][:10].tolist()})",
                                "re-embed or drop those stimuli, or choose --metric euclidean")
        return self

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path) -> Path:
        """Write atomically; the format follows the suffix (.npz, .parquet, .safetensors)."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in SUFFIXES:
            raise DataFileError(path, f"unknown embeddings format {suffix!r}",
                                f"use one of {', '.join(SUFFIXES)}")
        with atomic_path(path, suffix=suffix) as tmp:
            if suffix == ".npz":
                ids = np.asarray(self.ids)
                arrays = {"ids": ids.astype(str) if ids.dtype == object else ids}
                arrays.update({_npz_key(k): v for k, v in self.layers.items()})
                with open(tmp, "wb") as f:
                    np.savez(f, **arrays)
            elif suffix in (".parquet", ".pq"):
                df = pd.DataFrame({"id": self.ids})
                for k, v in self.layers.items():
                    df["embedding" if k == DEFAULT_LAYER else f"embedding.{k}"] = list(v)
                df.to_parquet(tmp)
            else:
                from safetensors.numpy import save_file

                tensors = {_npz_key(k): np.ascontiguousarray(v) for k, v in self.layers.items()}
                save_file(tensors, str(tmp), metadata={"ids": json.dumps(_jsonable(self.ids))})
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Embeddings":
        path = Path(path)
        if not path.exists():
            raise UnreadableFileError(path, "file not found", "check the path")
        suffix = path.suffix.lower()
        fix = ("write .npz with arrays 'ids' and 'embeddings', Parquet with columns 'id' and "
               "'embedding', or safetensors with tensor 'embeddings' and metadata 'ids'")
        try:
            if suffix == ".npz":
                with np.load(path, allow_pickle=False) as z:
                    if "ids" not in z.files:
                        raise DataFileError(path, f"no array 'ids' (arrays: {', '.join(z.files)})", fix)
                    layers = {_layer_name(k): z[k] for k in z.files if k != "ids"}
                    ids = z["ids"]
            elif suffix in (".parquet", ".pq"):
                df = pd.read_parquet(path)
                if "id" not in df.columns:
                    raise DataFileError(path, "no column 'id'", fix)
                cols = [c for c in df.columns if c == "embedding" or c.startswith("embedding.")]
                layers = {(DEFAULT_LAYER if c == "embedding" else c.split(".", 1)[1]):
                          np.stack(df[c].to_numpy()) for c in cols}
                ids = df["id"].to_numpy()
            elif suffix == ".safetensors":
                from safetensors import safe_open

                with safe_open(str(path), framework="numpy") as f:
                    meta = f.metadata() or {}
                    if "ids" not in meta:
                        raise DataFileError(path, "no 'ids' in the metadata", fix)
                    ids = np.asarray(json.loads(meta["ids"]))
                    layers = {_layer_name(k): f.get_tensor(k) for k in f.keys()}
            else:
                raise DataFileError(path, f"unknown embeddings format {suffix!r}",
                                    f"use one of {', '.join(SUFFIXES)}")
        except DataFileError:
            raise
        except Exception as exc:  # corrupt archives and the like
            raise UnreadableFileError(path, f"cannot be read as embeddings ({type(exc).__name__}: "
                                            f"{str(exc).splitlines()[0] if str(exc) else ''})", fix) from None
        if not layers:
            raise DataFileError(path, "no embedding array", fix)
        _check_ids(path, np.asarray(ids))
        for k, v in layers.items():
            if v.ndim != 2 or len(v) != len(ids):
                raise DataFileError(path, f"layer {k!r} has shape {v.shape} but there are "
                                          f"{len(ids)} ids", "store one row per id")
            if v.dtype.kind not in "biuf":
                raise DataFileError(path, f"layer {k!r} holds {v.dtype} values, not numbers",
                                    "store numeric (float) embeddings")
            if v.shape[1] == 0:
                raise DataFileError(path, f"layer {k!r} has no dimensions (shape {v.shape})",
                                    "store at least one value per id")
            if not np.isfinite(v).all():
                bad = np.flatnonzero(~np.isfinite(v).all(axis=1))
                raise DataFileError(path, f"layer {k!r} has NaN or infinite values for ids "
                                          f"{as_ids(ids)[bad][:10].tolist()}", "re-embed those stimuli")
        ordered = dict(sorted(layers.items(), key=lambda kv: kv[0] != DEFAULT_LAYER))
        return cls(as_ids(ids), ordered, str(path))


def out_of_range(ids: np.ndarray) -> np.ndarray:
    """Mask of integer ids that do not fit int64 (uint64 above its maximum, huge floats)."""
    if ids.dtype.kind == "u":
        return ids > np.iinfo(np.int64).max
    if ids.dtype.kind == "f":
        return np.isfinite(ids) & ((ids >= 2.0**63) | (ids < -(2.0**63)))
    return np.zeros(len(ids), bool)


def _check_ids(path: Path, ids: np.ndarray) -> None:
    if ids.ndim != 1:
        raise DataFileError(path, f"the ids have shape {ids.shape}", "store one id per row")
    if ids.dtype.kind not in "iufUSO":
        raise DataFileError(path, f"the ids are {ids.dtype} values", "store integer or string ids")
    big = out_of_range(ids)
    if big.any():
        raise DataFileError(path, f"ids outside the 64-bit integer range: {ids[big][:5].tolist()}",
                            "use smaller integer ids, or string ids")


def undefined_rows(x: np.ndarray, metric: str) -> np.ndarray:
    """Rows whose similarity under ``metric`` is undefined: zero vectors under cosine, and
    constant vectors (zero after centring) under correlation."""
    x = np.asarray(x, dtype=np.float64)
    if metric == "correlation":
        x = x - x.mean(axis=1, keepdims=True)
    elif metric != "cosine":
        return np.zeros(len(x), bool)
    return np.linalg.norm(x, axis=1) == 0  # the norm the similarity divides by


def _npz_key(layer: str) -> str:
    return DEFAULT_LAYER if layer == DEFAULT_LAYER else f"{DEFAULT_LAYER}.{layer}"


def _layer_name(key: str) -> str:
    return key.split(".", 1)[1] if key.startswith(f"{DEFAULT_LAYER}.") else key


def _jsonable(ids: np.ndarray) -> list:
    return [i.item() if hasattr(i, "item") else i for i in ids]
