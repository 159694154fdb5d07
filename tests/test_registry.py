"""Dataset registry and downloader, against a loopback HTTP server (no internet)."""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import stat
import threading
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bgs.data.registry import (
    COPIED,
    DATASETS,
    DOWNLOADED,
    MIRROR_ENV,
    PRESENT,
    RESUMED,
    ChecksumError,
    IncompleteDownloadError,
    fetch,
    get_dataset,
    list_datasets,
)
from bgs.errors import ConfigError, DownloadError

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "garcia2025"
DS = DATASETS["garcia2025"]
BIG = "all_triplets.csv"   # first file fetched


@pytest.fixture
def data_dir() -> Path:
    if not all((DATA / f.name).is_file() for f in DS.files):
        pytest.skip(f"shared garcia2025 data not found at {DATA}")
    return DATA


@pytest.fixture(autouse=True)
def _no_env_mirror(monkeypatch):
    monkeypatch.delenv(MIRROR_ENV, raising=False)


# --- test HTTP handlers -------------------------------------------------------------------

class QuietHandler(SimpleHTTPRequestHandler):
    """Serves a directory; records (path, Range header) of every GET on the server."""

    def log_message(self, *args):
        pass

    def _record(self):
        self.server.requests.append((self.path, self.headers.get("Range")))

    def do_GET(self):
        self._record()
        super().do_GET()


class RangeHandler(QuietHandler):
    """Answers 'Range: bytes=N-' with 206 Partial Content (SimpleHTTPRequestHandler cannot)."""

    def do_GET(self):
        rng = self.headers.get("Range")
        if not rng:
            return super().do_GET()
        self._record()
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            return self.send_error(HTTPStatus.NOT_FOUND)
        data = path.read_bytes()
        start = int(rng.removeprefix("bytes=").split("-")[0])
        if start >= len(data):
            self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
            self.send_header("Content-Range", f"bytes */{len(data)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = data[start:]
        self.send_response(HTTPStatus.PARTIAL_CONTENT)
        self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class TruncatingHandler(QuietHandler):
    """Announces the full Content-Length of BIG but closes after half of its bytes."""

    def do_GET(self):
        if not self.path.endswith(BIG):
            return super().do_GET()
        self._record()
        data = Path(self.translate_path(self.path)).read_bytes()
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.wfile.flush()
        self.close_connection = True


@pytest.fixture
def serve():
    """serve(directory, handler) -> (base_url, server); servers are shut down afterwards."""
    running = []

    def start(directory: Path, handler=QuietHandler):
        server = ThreadingHTTPServer(("127.0.0.1", 0),
                                     functools.partial(handler, directory=str(directory)))
        server.requests = []
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        running.append((server, thread))
        return f"http://127.0.0.1:{server.server_address[1]}/", server

    yield start
    for server, thread in running:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def copy_data(src: Path, dst: Path) -> Path:
    """A writable copy of the (read-only) shared data directory."""
    dst.mkdir()
    for f in DS.files:
        shutil.copyfile(src / f.name, dst / f.name)
        os.chmod(dst / f.name, stat.S_IRUSR | stat.S_IWUSR)
    return dst


def assert_identical(dest: Path, src: Path, names=None):
    for name in names or [f.name for f in DS.files]:
        assert (dest / name).read_bytes() == (src / name).read_bytes(), name
        assert not (dest / (name + ".part")).exists(), name


# --- registry -----------------------------------------------------------------------------

def test_registry_content():
    assert [d.name for d in list_datasets()] == ["garcia2025", "zappos"]
    ds = get_dataset("garcia2025")
    assert ds.format == "garcia2025"
    assert "not distributed" in ds.license and "2510.01502" in ds.citation
    assert len(ds.files) == 8
    assert ds.url("captions.csv") == (
        "https://raw.githubusercontent.com/garciakathy/similarity-judgments-finetuning/"
        "093ffeaf9e03fcf18ef2e78708ab9356bca76137/data/raw/utils/captions.csv")
    assert set(ds.urls()) == {f.name for f in ds.files}


def test_registry_hashes_match_shared_sums(data_dir):
    lines = (data_dir / "SHA256SUMS").read_text().splitlines()
    sums = {name: digest for digest, name in (line.split() for line in lines if line.strip())}
    for f in DS.files:
        actual = hashlib.sha256((data_dir / f.name).read_bytes()).hexdigest()
        assert sums[f.name] == f.sha256 == actual


def test_unknown_dataset(tmp_path):
    with pytest.raises(ConfigError, match="garcia2025"):
        get_dataset("nope")
    with pytest.raises(ConfigError, match="Known datasets: garcia2025"):
        fetch("nope", tmp_path)


# --- fetch --------------------------------------------------------------------------------

def test_fetch_over_http_then_skip(data_dir, serve, tmp_path):
    base, server = serve(data_dir)
    dest = tmp_path / "out"
    calls = []
    report = fetch("garcia2025", dest, mirror=base, progress=lambda *a: calls.append(a))
    assert [r.status for r in report.files] == [DOWNLOADED] * 8
    assert report.source == base
    assert report.files[0].source == base + BIG
    assert_identical(dest, data_dir)
    assert {c[0] for c in calls} == {f.name for f in DS.files}
    assert (BIG, (data_dir / BIG).stat().st_size, (data_dir / BIG).stat().st_size) in calls
    assert "8 downloaded" in report.summary()

    n = len(server.requests)
    again = fetch("garcia2025", dest, mirror=base)
    assert [r.status for r in again.files] == [PRESENT] * 8
    assert len(server.requests) == n           # nothing was requested
    assert "8 already present" in again.summary()


def test_fetch_from_local_directory(data_dir, tmp_path):
    report = fetch("garcia2025", tmp_path / "out", mirror=data_dir)
    assert [r.status for r in report.files] == [COPIED] * 8
    assert_identical(tmp_path / "out", data_dir)
    assert os.access(tmp_path / "out" / BIG, os.W_OK)   # mode of the read-only source not copied


def test_local_directory_mirror_is_verified(data_dir, tmp_path):
    mirror = copy_data(data_dir, tmp_path / "mirror")
    (mirror / "test.csv").write_bytes(b"garbage\n")
    with pytest.raises(ChecksumError, match="test.csv.*SHA-256"):
        fetch("garcia2025", tmp_path / "out", mirror=mirror)
    assert not (tmp_path / "out" / "test.csv").exists()
    assert not (tmp_path / "out" / "test.csv.part").exists()


def test_env_var_mirror(data_dir, serve, tmp_path, monkeypatch):
    base, server = serve(data_dir)
    monkeypatch.setenv(MIRROR_ENV, base.rstrip("/"))   # trailing slash optional
    report = fetch("garcia2025", tmp_path / "out")
    assert report.source == base
    assert {p for p, _ in server.requests} == {"/" + f.name for f in DS.files}
    assert_identical(tmp_path / "out", data_dir)


def test_bad_mirror_is_config_error(tmp_path):
    with pytest.raises(ConfigError, match="neither"):
        fetch("garcia2025", tmp_path / "out", mirror=tmp_path / "missing")


def test_corrupted_file_on_server(data_dir, serve, tmp_path):
    mirror = copy_data(data_dir, tmp_path / "mirror")
    raw = bytearray((mirror / "captions.csv").read_bytes())
    raw[len(raw) // 2] ^= 0x01
    (mirror / "captions.csv").write_bytes(bytes(raw))
    base, _ = serve(mirror)
    dest = tmp_path / "out"
    with pytest.raises(DownloadError) as exc:
        fetch("garcia2025", dest, mirror=base)
    msg = str(exc.value)
    assert "captions.csv" in msg and "SHA-256" in msg
    assert DS.file("captions.csv").sha256 in msg and "re-run" in msg
    assert not (dest / "captions.csv").exists()
    assert not (dest / "captions.csv.part").exists()
    before = [f.name for f in DS.files][: [f.name for f in DS.files].index("captions.csv")]
    assert_identical(dest, data_dir, before)


def test_existing_file_with_wrong_checksum(data_dir, tmp_path):
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "train.csv").write_text("not the file\n")
    with pytest.raises(ChecksumError, match="--force") as exc:
        fetch("garcia2025", dest, mirror=data_dir)
    assert "train.csv" in str(exc.value) and "delete" in str(exc.value)
    report = fetch("garcia2025", dest, mirror=data_dir, force=True)
    assert all(r.status == COPIED for r in report.files)
    assert_identical(dest, data_dir)


def test_resume_with_range(data_dir, serve, tmp_path):
    base, server = serve(data_dir, RangeHandler)
    dest = tmp_path / "out"
    dest.mkdir()
    data = (data_dir / BIG).read_bytes()
    half = len(data) // 2
    (dest / (BIG + ".part")).write_bytes(data[:half])
    calls = []
    report = fetch("garcia2025", dest, mirror=base, progress=lambda *a: calls.append(a))
    assert ("/" + BIG, f"bytes={half}-") in server.requests
    assert report.files[0].status == RESUMED
    assert [r.status for r in report.files[1:]] == [DOWNLOADED] * 7
    assert (BIG, half, len(data)) in calls    # progress starts where the .part ended
    assert_identical(dest, data_dir)


def test_resume_restarts_when_server_ignores_range(data_dir, serve, tmp_path):
    base, server = serve(data_dir, QuietHandler)   # SimpleHTTPRequestHandler: always 200
    dest = tmp_path / "out"
    dest.mkdir()
    data = (data_dir / BIG).read_bytes()
    (dest / (BIG + ".part")).write_bytes(data[:1000])
    report = fetch("garcia2025", dest, mirror=base)
    assert ("/" + BIG, "bytes=1000-") in server.requests
    assert report.files[0].status == DOWNLOADED
    assert_identical(dest, data_dir)


def test_complete_part_is_finalized_on_416(data_dir, serve, tmp_path):
    base, server = serve(data_dir, RangeHandler)
    dest = tmp_path / "out"
    dest.mkdir()
    shutil.copyfile(data_dir / BIG, dest / (BIG + ".part"))
    report = fetch("garcia2025", dest, mirror=base)
    assert report.files[0].status == RESUMED
    assert_identical(dest, data_dir)


def test_resumed_garbage_part_is_discarded(data_dir, serve, tmp_path):
    base, _ = serve(data_dir, RangeHandler)
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / (BIG + ".part")).write_bytes(b"x" * 1000)   # wrong prefix
    with pytest.raises(ChecksumError, match=BIG):
        fetch("garcia2025", dest, mirror=base)
    assert not (dest / (BIG + ".part")).exists() and not (dest / BIG).exists()
    fetch("garcia2025", dest, mirror=base)             # re-run: clean download
    assert_identical(dest, data_dir)


def test_interrupted_download_keeps_part_then_resumes(data_dir, serve, tmp_path):
    base, _ = serve(data_dir, TruncatingHandler)
    dest = tmp_path / "out"
    data = (data_dir / BIG).read_bytes()
    half = len(data) // 2
    with pytest.raises(IncompleteDownloadError) as exc:
        fetch("garcia2025", dest, mirror=base)
    msg = str(exc.value)
    assert "partial" in msg and "resume" in msg
    assert f"{half} of {len(data)} bytes" in msg
    assert exc.value.bytes_done == half and exc.value.bytes_total == len(data)
    assert (dest / (BIG + ".part")).read_bytes() == data[:half]
    assert not (dest / BIG).exists()

    base2, server2 = serve(data_dir, RangeHandler)
    report = fetch("garcia2025", dest, mirror=base2)
    assert ("/" + BIG, f"bytes={half}-") in server2.requests
    assert report.files[0].status == RESUMED
    assert_identical(dest, data_dir)


def test_http_404_names_url(serve, tmp_path):
    base, _ = serve(tmp_path)   # empty directory
    with pytest.raises(DownloadError) as exc:
        fetch("garcia2025", tmp_path / "out", mirror=base)
    msg = str(exc.value)
    assert base + BIG in msg and "404" in msg
    assert "--mirror" in msg and MIRROR_ENV in msg
    assert not (tmp_path / "out" / (BIG + ".part")).exists()


def test_unreachable_host_names_url(serve, tmp_path):
    base, server = serve(tmp_path)
    server.shutdown()
    server.server_close()     # port now closed: connection refused
    with pytest.raises(DownloadError) as exc:
        fetch("garcia2025", tmp_path / "out", mirror=base, timeout=2)
    msg = str(exc.value)
    assert base + BIG in msg and "--mirror" in msg
