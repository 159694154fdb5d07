"""Video decoding, frame sampling and the clip store, on real mp4 files written by PyAV."""

from __future__ import annotations

import fractions
import os
import warnings

import numpy as np
import pytest

av = pytest.importorskip("av")

from bgs.data.stimuli import StimulusTable  # noqa: E402
from bgs.errors import BGSError, ConfigError, DataFileError  # noqa: E402
from bgs.media import (  # noqa: E402
    ClipNotFoundError,
    ClipStore,
    DecodeError,
    DecodeParams,
    decode_video,
    decode_video_info,
    sample_indices,
    to_float_tensor,
)
from bgs.media import store as store_mod  # noqa: E402

H, W = 48, 64
LO, HI = 16, 236  # brightness of the first and last frame


def level(i: int, n: int) -> int:
    """Grey level encoding frame i of n (evenly spaced, far apart)."""
    return int(round(LO + i * (HI - LO) / max(n - 1, 1)))


def write_video(path, n, w=W, h=H, pts_ms=None, image=None, fps=30):
    """An H.264 mp4 whose frame i is uniformly grey at level(i, n) (or image(i))."""
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"crf": "4", "preset": "ultrafast"}
        if pts_ms is not None:
            s.codec_context.time_base = fractions.Fraction(1, 1000)
        for i in range(n):
            img = image(i) if image else np.full((h, w, 3), level(i, n), np.uint8)
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            if pts_ms is not None:
                f.pts, f.time_base = int(pts_ms[i]), fractions.Fraction(1, 1000)
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def frame_indices(frames: np.ndarray, n: int) -> list[int]:
    """Decode the grey-level code of each frame back to a source frame index."""
    means = frames.reshape(len(frames), -1).mean(axis=1)
    return [int(round((m - LO) * (n - 1) / (HI - LO))) for m in means]


# ---------------------------------------------------------------------------- params
def test_params_validate_and_key():
    p = DecodeParams()
    assert (p.frames, p.size, p.resize) == (16, 224, "crop")
    assert p.key() == DecodeParams(16, 224, "crop").key()
    assert len(p.key()) == 12 and int(p.key(), 16) >= 0
    assert p.key() == "8bed36471471"  # stable across runs and machines (bump PIPELINE_VERSION)
    keys = {p.key(), DecodeParams(frames=8).key(), DecodeParams(size=112).key(),
            DecodeParams(resize="squash").key()}
    assert len(keys) == 4
    for bad in (dict(frames=0), dict(size=-1), dict(frames=2.5), dict(resize="letterbox"),
                dict(size=True)):
        with pytest.raises(ConfigError):
            DecodeParams(**bad)
    assert DecodeParams.from_dict(p.to_dict()) == p


def test_sample_indices():
    assert sample_indices(40, 16).tolist() == [int((k + 0.5) * 40 / 16) for k in range(16)]
    assert sample_indices(16, 16).tolist() == list(range(16))
    assert sample_indices(5, 8).tolist() == [0, 1, 2, 3, 4, 4, 4, 4]
    assert sample_indices(1, 3).tolist() == [0, 0, 0]
    assert sample_indices(3, 1).tolist() == [1]


# ---------------------------------------------------------------------------- decoding
def test_decode_samples_uniform_frames(tmp_path):
    n = 24
    path = write_video(tmp_path / "a.mp4", n)
    frames, n_src = decode_video_info(path, DecodeParams(frames=8, size=32))
    assert n_src == n
    assert frames.shape == (8, 32, 32, 3) and frames.dtype == np.uint8
    assert frame_indices(frames, n) == sample_indices(n, 8).tolist() == [1, 4, 7, 10, 13, 16, 19, 22]


def test_decode_variable_frame_rate_samples_by_frame(tmp_path):
    n = 24
    gaps = [10, 300, 15, 40, 200, 33] * 4
    pts = np.concatenate([[0], np.cumsum(gaps)[: n - 1]])
    path = write_video(tmp_path / "vfr.mp4", n, pts_ms=pts)
    with av.open(str(path)) as c:  # the file really has irregular timestamps
        got_pts = [f.pts for f in c.decode(video=0)]
    assert len(set(np.diff(got_pts))) > 3
    frames = decode_video(path, DecodeParams(frames=8, size=32))
    assert frame_indices(frames, n) == sample_indices(n, 8).tolist()


def test_decode_short_clip_repeats_last_frame(tmp_path):
    n = 5
    path = write_video(tmp_path / "short.mp4", n)
    frames = decode_video(path, DecodeParams(frames=8, size=32))
    assert frame_indices(frames, n) == [0, 1, 2, 3, 4, 4, 4, 4]
    assert np.array_equal(frames[4], frames[7])


def test_decode_is_deterministic(tmp_path):
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (6, H, W, 3), dtype=np.uint8)
    path = write_video(tmp_path / "noise.mp4", 6, image=lambda i: noise[i])
    p = DecodeParams(frames=4, size=40)
    a, b = decode_video(path, p), decode_video(path, p)
    assert a.tobytes() == b.tobytes()


def _bars(w, h, vertical: bool, bar=6):
    """A grey frame with black bars at the two ends of its long side."""
    img = np.full((h, w, 3), 200, np.uint8)
    if vertical:
        img[:, :bar] = img[:, -bar:] = 0
    else:
        img[:bar] = img[-bar:] = 0
    return img


def _decode_bars(tmp_path, w, h, *resizes):
    img = _bars(w, h, vertical=w > h)
    path = write_video(tmp_path / "bars.mp4", 3, w=w, h=h, image=lambda i: img)
    return [decode_video(path, DecodeParams(frames=2, size=24, resize=r)) for r in resizes]


@pytest.mark.parametrize("w,h", [(64, 48), (48, 64)])
def test_crop_keeps_aspect_and_squash_keeps_everything(tmp_path, w, h):
    landscape = w > h
    crop, squash = _decode_bars(tmp_path, w, h, "crop", "squash")
    assert crop.shape == squash.shape == (2, 24, 24, 3)
    # the long side's ends: crop cuts the bars off, squash keeps them
    edges = (lambda a: a[:, :, [0, -1]]) if landscape else (lambda a: a[:, [0, -1], :])
    assert edges(crop).min() > 150
    assert edges(squash).max() < 60
    # the middle is the same grey in both
    assert abs(int(crop[:, 12, 12].mean()) - 200) < 8


@pytest.mark.parametrize("w,h", [(64, 48), (48, 64)])
def test_pad_keeps_everything_and_the_aspect_on_white(tmp_path, w, h):
    landscape = w > h
    (pad,) = _decode_bars(tmp_path, w, h, "pad")
    assert pad.shape == (2, 24, 24, 3)
    # 64×48 fits as 24×18: three white rows (columns) on each side of the short side
    border = (lambda a: a[:, [0, 1, 2, -3, -2, -1], :]) if landscape else (lambda a: a[:, :, [0, 1, 2, -3, -2, -1]])
    assert (border(pad) == 255).all()
    # the long side's ends keep their black bars, the middle its grey
    edges = (lambda a: a[:, 5:19, [0, -1]]) if landscape else (lambda a: a[:, [0, -1], 5:19])
    assert edges(pad).max() < 60
    assert abs(int(pad[:, 12, 12].mean()) - 200) < 8


def test_decode_errors(tmp_path):
    p = DecodeParams(frames=4, size=16)

    def message(path) -> str:
        with pytest.raises(DecodeError) as ei:
            decode_video(path, p)
        assert isinstance(ei.value, DataFileError) and isinstance(ei.value, BGSError)
        text = str(ei.value)
        assert text.startswith(str(path)) and "Fix:" in text
        return text

    assert "file not found" in message(tmp_path / "missing.mp4")

    (tmp_path / "zero.mp4").write_bytes(b"")
    assert "empty file (0 bytes)" in message(tmp_path / "zero.mp4")

    (tmp_path / "random.mp4").write_bytes(np.random.default_rng(1).bytes(4000))
    assert "not a readable media file or corrupt" in message(tmp_path / "random.mp4")

    good = write_video(tmp_path / "good.mp4", 10).read_bytes()
    (tmp_path / "truncated.mp4").write_bytes(good[: len(good) // 2])
    assert "not a readable media file or corrupt" in message(tmp_path / "truncated.mp4")

    with av.open(str(tmp_path / "audio.wav"), "w") as c:
        s = c.add_stream("pcm_s16le", rate=8000)
        fr = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        fr.sample_rate = 8000
        for pkt in s.encode(fr):
            c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    text = message(tmp_path / "audio.wav")
    assert "no video stream" in text and "audio stream" in text

    # a video stream whose packets hold no decodable picture
    with av.open(str(tmp_path / "noframes.mkv"), "w") as c:
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        c.start_encoding()
        for i in range(3):
            pkt = av.Packet(np.random.default_rng(i).bytes(200))
            pkt.stream, pkt.pts, pkt.dts, pkt.time_base = s, i, i, s.time_base
            c.mux(pkt)
    assert "no decodable frames" in message(tmp_path / "noframes.mkv")

    assert "folder" in message(tmp_path)


def test_to_float_tensor(tmp_path):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).integers(0, 256, (2, 3, 4, 5, 3), dtype=np.uint8)
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    t = to_float_tensor(x, mean, std)
    assert t.shape == (2, 3, 3, 4, 5) and t.dtype == torch.float32 and t.is_contiguous()
    ref = (x.astype(np.float64) / 255 - np.array(mean)) / np.array(std)
    np.testing.assert_allclose(t.numpy(), ref.transpose(0, 1, 4, 2, 3), atol=1e-5)
    single = to_float_tensor(torch.from_numpy(x[0]), 0.45, 0.225, device="cpu")
    assert single.shape == (3, 3, 4, 5)
    np.testing.assert_allclose(single.numpy(), ((x[0] / 255 - 0.45) / 0.225).transpose(0, 3, 1, 2),
                               atol=1e-5)
    # the torch path (any device: the uint8 data moves, then converts there) gives the same bits
    from bgs.media.decode import _normalise_torch, _scale_bias

    assert torch.equal(_normalise_torch(torch.from_numpy(x), *_scale_bias(mean, std)), t)
    # a read-only memmap converts in place, without a warning
    mm = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.uint8, shape=x.shape)
    mm[:] = x
    mm.flush()
    ro = np.load(tmp_path / "x.npy", mmap_mode="r")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert torch.equal(to_float_tensor(ro, mean, std), t)
    with pytest.raises(ConfigError):
        to_float_tensor(x.astype(np.float32))
    with pytest.raises(ConfigError):
        to_float_tensor(x[..., :2])
    with pytest.raises(ConfigError):
        to_float_tensor(x, mean=(0.1, 0.2), std=0.2)


# ---------------------------------------------------------------------------- store
P = DecodeParams(frames=4, size=16)


@pytest.fixture
def videos(tmp_path):
    """Five small clips with ids of mixed types and odd characters."""
    d = tmp_path / "videos"
    d.mkdir()
    ids = [0, 7, "7", "clip/ä b?*", "A"]
    files = []
    for k, sid in enumerate(ids):
        files.append(write_video(d / f"v{k}.mp4", 6 + k))
    return ids, files


@pytest.fixture
def count_decodes(monkeypatch):
    """Calls of the store's decoder, per file."""
    calls: dict[str, int] = {}
    real = store_mod.decode_video_info

    def counting(path, params):
        calls[os.path.basename(path)] = calls.get(os.path.basename(path), 0) + 1
        return real(path, params)

    monkeypatch.setattr(store_mod, "decode_video_info", counting)
    return calls


def test_store_decodes_each_video_once(tmp_path, videos, count_decodes):
    ids, files = videos
    store = ClipStore(tmp_path / "store", P)
    r1 = store.build(ids, files)
    assert r1.decoded == ids and r1.decodes == 5 and r1.reused == [] and r1.skipped == {}
    r2 = ClipStore(tmp_path / "store", P).build(ids, files)
    assert r2.decodes == 0 and r2.decoded == [] and r2.reused == ids
    assert count_decodes == {f.name: 1 for f in files}
    assert store.path == tmp_path / "store" / P.key()
    assert (store.path / "params.json").exists()

    fresh = ClipStore(tmp_path / "store", P)
    assert len(fresh) == 5 and set(fresh.ids) == set(ids) and fresh.ids[:2] == [0, 7]
    assert 7 in fresh and "7" in fresh and "clip/ä b?*" in fresh and "a" not in fresh
    assert not np.array_equal(fresh.get(7), fresh.get("7"))  # different clips (6 vs 8 frames)
    for sid, f in zip(ids, files):
        m = fresh.get(sid)
        assert isinstance(m, np.memmap) and m.shape == (4, 16, 16, 3) and m.dtype == np.uint8
        assert not m.flags.writeable
        assert np.array_equal(m, decode_video(f, P))
        assert fresh.info(sid)["file"] == str(f)
    batch = fresh.get_batch(["A", 0, "A"])
    assert batch.shape == (3, 4, 16, 16, 3)
    assert np.array_equal(batch[0], fresh.get("A")) and np.array_equal(batch[1], fresh.get(0))
    t = to_float_tensor(batch, 0.45, 0.225)
    assert tuple(t.shape) == (3, 4, 3, 16, 16)


def test_store_missing_id(tmp_path, videos):
    ids, files = videos
    store = ClipStore(tmp_path / "store", P)
    with pytest.raises(ClipNotFoundError) as ei:
        store.get(0)
    assert isinstance(ei.value, BGSError)
    store.build(ids[:2], files[:2])
    with pytest.raises(BGSError, match=r"no clip for stimulus id 'A'.*build the store"):
        store.get("A")
    with pytest.raises(BGSError, match="'A'"):
        store.get_batch([0, "A"])


def test_store_touch_and_change(tmp_path, videos, count_decodes):
    ids, files = videos
    store = ClipStore(tmp_path / "store", P)
    store.build(ids, files)
    before = store.get(7).copy()
    # same content, new mtime: the hash says unchanged, only the sidecar is refreshed
    st = files[1].stat()
    os.utime(files[1], ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    r = store.build(ids, files)
    assert r.decodes == 0 and r.refreshed == [7] and r.reused == ids
    assert store.info(7)["mtime_ns"] == files[1].stat().st_mtime_ns
    assert store.build(ids, files).refreshed == []  # and now it is a plain reuse
    # new content: only that clip is decoded again
    write_video(files[1], 9, image=lambda i: np.full((H, W, 3), 255 - level(i, 9), np.uint8))
    r = store.build(ids, files)
    assert r.decoded == [7] and r.decodes == 1 and sorted(map(str, r.reused)) == sorted(
        map(str, [0, "7", "clip/ä b?*", "A"]))
    assert count_decodes[files[1].name] == 2
    assert sum(count_decodes.values()) == 6
    after = store.get(7)
    assert not np.array_equal(before, after) and np.array_equal(after, decode_video(files[1], P))


def test_store_params_use_their_own_folder(tmp_path, videos):
    ids, files = videos
    a = ClipStore(tmp_path / "store", P)
    a.build(ids, files)
    p2 = DecodeParams(frames=2, size=8, resize="squash")
    b = ClipStore(tmp_path / "store", p2)
    assert b.path != a.path and b.path.parent == a.path.parent and len(b) == 0
    r = b.build(ids, files)
    assert r.decodes == 5 and b.get(0).shape == (2, 8, 8, 3)
    assert len(ClipStore(tmp_path / "store", P)) == 5
    assert sorted(p.name for p in (tmp_path / "store").iterdir()) == sorted([P.key(), p2.key()])


def test_store_interrupted_build_resumes(tmp_path, videos, count_decodes):
    ids, files = videos

    class Stop(Exception):
        pass

    def stop_after_two(done, total, sid):
        assert total == 5
        if done == 2:
            raise Stop

    with pytest.raises(Stop):
        ClipStore(tmp_path / "store", P).build(ids, files, progress=stop_after_two)
    partial = ClipStore(tmp_path / "store", P)
    assert set(partial.ids) == {0, 7} and partial.get(0).shape == (4, 16, 16, 3)
    r = partial.build(ids, files)
    assert r.reused == [0, 7] and r.decoded == ["7", "clip/ä b?*", "A"]
    assert count_decodes == {f.name: 1 for f in files}


def test_store_on_error(tmp_path, videos):
    ids, files = videos
    bad = files[2].parent / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 50)
    files = files[:2] + [bad] + files[3:] + [files[0].parent / "gone.mp4"]
    ids = ids + ["gone"]
    # fail: stops at the bad file; what was decoded before it is kept and reused later
    with pytest.raises(DecodeError, match="bad.mp4"):
        ClipStore(tmp_path / "store", P).build(ids, files, on_error="fail")
    store = ClipStore(tmp_path / "store", P)
    assert set(store.ids) == {0, 7}
    # skip: records each failure with its file and reason, builds the rest
    r = store.build(ids, files, on_error="skip")
    assert set(r.skipped) == {"7", "gone"} and not r.ok
    assert "bad.mp4" in r.skipped["7"] and "not a readable media file" in r.skipped["7"]
    assert "gone.mp4" in r.skipped["gone"] and "file not found" in r.skipped["gone"]
    assert r.reused == [0, 7] and r.decoded == ["clip/ä b?*", "A"]
    assert "7" not in store and "gone" not in store and len(store) == 4
    with pytest.raises(ConfigError):
        store.build(ids, files, on_error="ignore")
    with pytest.raises(ConfigError):
        store.build([1, 1], files[:2])
    with pytest.raises(ConfigError):
        store.build([1], files[:2])


def test_store_clip_without_sidecar_is_not_stored(tmp_path, videos):
    """A crash between writing the array and its sidecar: the clip is decoded again."""
    ids, files = videos
    store = ClipStore(tmp_path / "store", P)
    store.build(ids, files)
    store._sidecar_path("A").unlink()
    fresh = ClipStore(tmp_path / "store", P)
    assert "A" not in fresh and len(fresh) == 4
    assert fresh.build(ids, files).decoded == ["A"]
    assert not [p for p in store.clips_dir.iterdir() if p.name.startswith(".")]  # no temp files


def test_build_from_table(tmp_path, videos):
    ids, files = videos
    table = StimulusTable(ids=np.array(["x", "y"], dtype=object),
                          files=np.array([files[0].name, files[3].name], dtype=object))
    store = ClipStore(tmp_path / "store", P)
    r = store.build_from_table(table, files[0].parent)
    assert r.decoded == ["x", "y"] and np.array_equal(store.get("y"), decode_video(files[3], P))
    table_int = StimulusTable(ids=np.array([3, 4]), files=np.array([files[1].name, "nope.mp4"],
                                                                    dtype=object))
    r = store.build_from_table(table_int, files[0].parent)
    assert r.decoded == [3] and list(r.skipped) == [4] and 3 in store
    assert type(r.decoded[0]) is int and np.int64(3) in store and store.get(np.int64(3)).shape[0] == 4
    with pytest.raises(ConfigError, match="no file column"):
        store.build_from_table(StimulusTable(ids=np.array([1, 2])), files[0].parent)
    with pytest.raises(ConfigError, match="does not exist"):
        store.build_from_table(table, tmp_path / "no-such-dir")
