"""Registry of public datasets, and a downloader that verifies what it fetches.

Each dataset is pinned to one commit of a public repository, and each of its files to a
SHA-256, so a fetch either yields byte-identical files or fails with a
:class:`~bgs.errors.DownloadError` that says what went wrong and how to fix it.

Downloads are written to ``<dest>/<file>.part`` and renamed onto the final name only
after the checksum matched, so a file under its final name is always complete. An
interrupted download keeps its ``.part``; the next fetch resumes it with an HTTP
``Range`` request (and starts over if the server does not honour ranges).

Files can come from a mirror instead of GitHub: a base URL (``http(s)://host/dir/``,
files looked up flat by file name under it) or a local directory holding the files flat.
Pass ``mirror=`` or set the environment variable ``BGS_DATASET_MIRROR``.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bgs import __version__
from bgs.errors import ConfigError, DownloadError

MIRROR_ENV = "BGS_DATASET_MIRROR"
DEFAULT_TIMEOUT = 30.0
_CHUNK = 1 << 16
_USER_AGENT = f"bgs/{__version__} (dataset fetch)"
_MIRROR_FIX = (f"use --mirror URL_OR_DIR (or set {MIRROR_ENV}) to fetch from a copy of the "
               "files")

# Per-file outcomes in a FetchReport.
DOWNLOADED = "downloaded"   # fetched over HTTP from the start (also: restarted from zero)
RESUMED = "resumed"         # an existing .part was completed with a Range request
COPIED = "copied"           # copied from a local mirror directory
PRESENT = "present"         # already in dest with the right checksum; not touched

ProgressCallback = Callable[[str, int, "int | None"], None]


class ChecksumError(DownloadError):
    """A file's SHA-256 differs from the registry's (fetched data, or a file already in dest)."""

    def __init__(self, message: str, path: Path, expected: str, actual: str):
        self.path = Path(path)
        self.expected = expected
        self.actual = actual
        super().__init__(message)


class IncompleteDownloadError(DownloadError):
    """A download stopped early; ``part`` keeps the ``bytes_done`` bytes received so far."""

    def __init__(self, message: str, part: Path, bytes_done: int, bytes_total: int | None):
        self.part = Path(part)
        self.bytes_done = bytes_done
        self.bytes_total = bytes_total
        super().__init__(message)


@dataclass(frozen=True)
class DatasetFile:
    name: str     # file name in the destination (and in a flat mirror)
    path: str     # path inside the source repository
    sha256: str


@dataclass(frozen=True)
class Dataset:
    name: str
    description: str
    citation: str
    repository: str               # GitHub "owner/name"
    commit: str                   # pinned commit: raw URLs never change under us
    files: tuple[DatasetFile, ...]
    license: str = ""
    format: str = ""              # name of the bgs data format that reads these files
    paper: str = ""

    @property
    def base_url(self) -> str:
        return f"https://raw.githubusercontent.com/{self.repository}/{self.commit}/"

    def file(self, name: str) -> DatasetFile:
        for f in self.files:
            if f.name == name:
                return f
        known = ", ".join(f.name for f in self.files)
        raise ConfigError(f"dataset '{self.name}' has no file '{name}'. Known files: {known}")

    def url(self, file: DatasetFile | str) -> str:
        """The raw GitHub URL of one file at the pinned commit."""
        f = self.file(file) if isinstance(file, str) else file
        return self.base_url + urllib.parse.quote(f.path)

    def urls(self) -> dict[str, str]:
        return {f.name: self.url(f) for f in self.files}


@dataclass(frozen=True)
class FileResult:
    name: str
    path: Path        # final path in dest
    status: str       # DOWNLOADED, RESUMED, COPIED or PRESENT
    source: str       # URL or local path it came from ("" for PRESENT)
    size: int


@dataclass(frozen=True)
class FetchReport:
    dataset: str
    dest_dir: Path
    source: str       # GitHub base URL, mirror URL, or mirror directory
    files: tuple[FileResult, ...]

    def count(self, status: str) -> int:
        return sum(1 for r in self.files if r.status == status)

    def summary(self) -> str:
        """'garcia2025: 8 files verified in data/ (6 downloaded, 2 already present)'."""
        labels = [(DOWNLOADED, "downloaded"), (RESUMED, "resumed"), (COPIED, "copied"),
                  (PRESENT, "already present")]
        parts = [f"{self.count(s)} {label}" for s, label in labels if self.count(s)]
        return (f"{self.dataset}: {len(self.files)} files verified in {self.dest_dir} "
                f"({', '.join(parts)})")


_GARCIA_COMMIT = "093ffeaf9e03fcf18ef2e78708ab9356bca76137"

DATASETS: dict[str, Dataset] = {
    "garcia2025": Dataset(
        name="garcia2025",
        description="Human odd-one-out similarity judgments on 250 social video clips, "
                    "with captions, ratings and the authors' train/test splits.",
        citation="Garcia, K. & Isik, L. (2025). Aligning Video Models with Human Social "
                 "Judgments via Behavior-Guided Fine-Tuning. arXiv:2510.01502.",
        repository="garciakathy/similarity-judgments-finetuning",
        commit=_GARCIA_COMMIT,
        files=(
            DatasetFile("all_triplets.csv", "data/interim/similarity/all_triplets.csv",
                        "46b88e5921ed1f032dc97f05d24cbd2bf71a783ba9deca91593b8900ee62444e"),
            DatasetFile("train_triplets.csv", "data/interim/similarity/train_triplets.csv",
                        "3f23d14e3ab380ec001e7eff606910dffee81ce2018b01993f68ad805e0d5bec"),
            DatasetFile("test_triplets.csv", "data/interim/similarity/test_triplets.csv",
                        "36e824355097220ee0a599be47fcf4c93adabbeb8e1928e59fe2e35715a21115"),
            DatasetFile("annotations.csv", "data/raw/utils/annotations.csv",
                        "b3c01bddd58d1d569e97470ccb68f2290fe1e3c46af01453653d5c87757343ad"),
            DatasetFile("captions.csv", "data/raw/utils/captions.csv",
                        "1fb304d6f0626fffbbc9cfbd7a5288cc5139811a87e93b1e763edb5fa42302f5"),
            DatasetFile("test.csv", "data/raw/utils/test.csv",
                        "829bea2088a70e3db78e2d7af3f9a46ea402c10c400500f536268edf402973d1"),
            DatasetFile("train.csv", "data/raw/utils/train.csv",
                        "c027e8ae031a86599be5300a78841d26262d9a5af967865a26e5b96993b5e7d7"),
            DatasetFile("video_mapping.csv", "data/raw/utils/video_mapping.csv",
                        "0046233770e29c6ae6f4c96f4a48395796166659c69ea69b9d3a6a2f1cbe7c05"),
        ),
        license="videos are licensed and not distributed; judgments, captions and ratings "
                "are public",
        format="garcia2025",
        paper="https://arxiv.org/abs/2510.01502",
    ),
}


def list_datasets() -> list[Dataset]:
    return [DATASETS[k] for k in sorted(DATASETS)]


def get_dataset(name: str) -> Dataset:
    try:
        return DATASETS[name]
    except KeyError:
        known = ", ".join(sorted(DATASETS))
        raise ConfigError(f"unknown dataset '{name}'. Known datasets: {known}") from None


def fetch(name: str, dest_dir: str | os.PathLike, mirror: str | os.PathLike | None = None,
          progress: ProgressCallback | None = None, force: bool = False,
          timeout: float = DEFAULT_TIMEOUT) -> FetchReport:
    """Fetch every file of dataset ``name`` into ``dest_dir`` (flat) and verify it.

    ``mirror``: base URL or local directory; None means ``$BGS_DATASET_MIRROR`` if set,
    else GitHub; an empty string means GitHub regardless of the environment.
    ``progress(file_name, bytes_done, bytes_total_or_None)`` is called as bytes arrive
    (once, with done == total, for a file already present).
    ``force`` re-fetches files already present (the old file stays until the new one
    verified) and discards any ``.part``.
    Files are fetched in registry order and the first failure raises; files completed
    before it stay in place, verified.
    """
    dataset = get_dataset(name)
    dest = Path(dest_dir)
    kind, base = _resolve_mirror(dataset, mirror)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"{dest}: cannot create the destination directory ({exc}). "
                            "Fix: choose a writable destination") from None
    results = []
    for f in dataset.files:
        final = dest / f.name
        part = dest / (f.name + ".part")
        if final.exists() and not force:
            actual = _sha256(final)
            if actual != f.sha256:
                raise ChecksumError(
                    f"{final}: file already exists but its SHA-256 is {actual}, expected "
                    f"{f.sha256}. Fix: delete it, or re-run with --force to fetch it again",
                    final, f.sha256, actual)
            size = final.stat().st_size
            if progress is not None:
                progress(f.name, size, size)
            results.append(FileResult(f.name, final, PRESENT, "", size))
            continue
        if force:
            part.unlink(missing_ok=True)
        if kind == "dir":
            source = str(Path(base) / f.name)
            status = _copy_local(Path(source), part, f.name, dataset, progress)
        else:
            source = dataset.url(f) if kind == "github" else base + urllib.parse.quote(f.name)
            status = _download(source, part, f.name, dataset, progress, timeout)
        actual = _sha256(part)
        if actual != f.sha256:
            part.unlink(missing_ok=True)
            where = "the mirror" if kind != "github" else "GitHub"
            raise ChecksumError(
                f"{f.name}: SHA-256 of the data fetched from {source} is {actual}, expected "
                f"{f.sha256}; it was discarded and nothing was written to {final}. Fix: "
                f"check that {where} holds the original file, then re-run the command",
                final, f.sha256, actual)
        os.replace(part, final)
        results.append(FileResult(f.name, final, status, source, final.stat().st_size))
    return FetchReport(dataset.name, dest, base, tuple(results))


def _resolve_mirror(dataset: Dataset, mirror) -> tuple[str, str]:
    """('github' | 'url' | 'dir', base). URL bases always end with '/'."""
    if mirror is None:
        mirror = os.environ.get(MIRROR_ENV) or ""
    mirror = os.fspath(mirror).strip()
    if not mirror:
        return "github", dataset.base_url
    scheme = urllib.parse.urlsplit(mirror).scheme.lower()
    if scheme in ("http", "https"):
        return "url", mirror if mirror.endswith("/") else mirror + "/"
    if scheme == "file":
        mirror = urllib.request.url2pathname(urllib.parse.urlsplit(mirror).path)
    if Path(mirror).is_dir():
        return "dir", str(Path(mirror))
    raise ConfigError(f"mirror '{mirror}' is neither an http(s):// URL nor an existing "
                      f"directory. Fix: pass a base URL or a directory holding the files "
                      f"of '{dataset.name}' flat (check --mirror and {MIRROR_ENV})")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _copy_local(src: Path, part: Path, name: str, dataset: Dataset,
                progress: ProgressCallback | None) -> str:
    if not src.is_file():
        names = ", ".join(f.name for f in dataset.files)
        raise DownloadError(f"{src}: the mirror directory has no file {name}. Fix: put all "
                            f"files of '{dataset.name}' ({names}) flat in the mirror "
                            f"directory, or drop --mirror / {MIRROR_ENV}")
    total = src.stat().st_size
    done = 0
    if progress is not None:
        progress(name, 0, total)
    # Stream rather than shutil.copy: the mirror may be read-only and its mode must not
    # follow the file into dest.
    with open(src, "rb") as fin, open(part, "wb") as fout:
        for block in iter(lambda: fin.read(_CHUNK), b""):
            fout.write(block)
            done += len(block)
            if progress is not None:
                progress(name, done, total)
        fout.flush()
        os.fsync(fout.fileno())
    return COPIED


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """'bytes 100-199/200' -> (100, 200); unknown parts are None."""
    try:
        unit, spec = value.strip().split(" ", 1)
        rng, total = spec.split("/", 1)
        start = int(rng.split("-", 1)[0])
        return start, (None if total.strip() == "*" else int(total))
    except (AttributeError, ValueError):
        return None, None


def _download(url: str, part: Path, name: str, dataset: Dataset,
              progress: ProgressCallback | None, timeout: float) -> str:
    """Fetch ``url`` into ``part``, resuming from the bytes ``part`` already holds."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                      timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and offset:
            # Nothing left past offset: the .part already holds the whole file (e.g. a run
            # stopped between download and rename). The checksum decides whether it is good.
            return RESUMED
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason} while fetching {name} of "
                            f"dataset '{dataset.name}'. Fix: check the URL, or "
                            f"{_MIRROR_FIX}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DownloadError(f"{url}: cannot connect ({reason}) while fetching {name} of "
                            f"dataset '{dataset.name}'. Fix: check your network connection, "
                            f"or {_MIRROR_FIX}") from None
    with resp:
        length = resp.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        if resp.status == 206:
            start, total = _content_range(resp.headers.get("Content-Range"))
            if start != offset:
                # A range we did not ask for: throw the .part away and start over.
                resp.close()
                part.unlink(missing_ok=True)
                return _download(url, part, name, dataset, progress, timeout)
            if total is None and length is not None:
                total = offset + length
            mode, status = "ab", RESUMED
        else:
            # 200: either no .part, or a server that ignores Range — restart from zero.
            offset, total, mode, status = 0, length, "wb", DOWNLOADED
        done = offset
        if progress is not None:
            progress(name, done, total)
        with open(part, mode) as fh:
            while True:
                try:
                    block = resp.read(_CHUNK)
                except (OSError, http.client.HTTPException) as exc:
                    fh.flush()
                    raise _interrupted(url, part, name, done, total,
                                       str(exc) or type(exc).__name__) from None
                if not block:
                    break
                fh.write(block)
                done += len(block)
                if progress is not None:
                    progress(name, done, total)
            fh.flush()
            os.fsync(fh.fileno())
        if total is not None and done < total:
            raise _interrupted(url, part, name, done, total, "connection closed early")
    return status


def _interrupted(url: str, part: Path, name: str, done: int, total: int | None,
                 reason: str) -> IncompleteDownloadError:
    of = f"{done} of {total} bytes" if total is not None else f"{done} bytes (size unknown)"
    return IncompleteDownloadError(
        f"{name}: download from {url} interrupted after {of} ({reason}); the partial "
        f"download was kept in {part}. Fix: re-run the same command to resume from there",
        part, done, total)
