"""Backbones: tiny random models of every video and image kind saved with save_pretrained,
loaded back through the real loading code, embedding real mp4 files written with PyAV."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
av = pytest.importorskip("av")

from bgs.cli import main  # noqa: E402
from bgs.embeddings import Embeddings  # noqa: E402
from bgs.errors import ConfigError  # noqa: E402
from bgs.models.registry import KINDS, parse_model  # noqa: E402
from bgs.models.vision import layer_names, load_vision_backbone  # noqa: E402

TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37)


def tiny_model(kind: str):
    t = transformers
    if kind == "timesformer":
        return t.TimesformerModel(t.TimesformerConfig(**TINY, image_size=32, patch_size=8, num_frames=4))
    if kind == "videomae":
        return t.VideoMAEModel(t.VideoMAEConfig(**TINY, image_size=32, patch_size=8, num_frames=4,
                                                tubelet_size=2))
    if kind == "vjepa2":
        return t.VJEPA2Model(t.VJEPA2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                            mlp_ratio=2, crop_size=32, patch_size=8, frames_per_clip=4,
                                            tubelet_size=2, pred_hidden_size=16,
                                            pred_num_hidden_layers=1, pred_num_attention_heads=2))
    if kind == "vjepa2.1":
        from bgs.models.vjepa21 import VJEPA21Config, VJEPA21Model

        return VJEPA21Model(VJEPA21Config(**TINY, image_size=32, patch_size=8, tubelet_size=2))
    if kind == "xclip":
        return t.XCLIPVisionModel(t.XCLIPVisionConfig(**TINY, image_size=32, patch_size=8, num_frames=4,
                                                      mit_hidden_size=32, mit_intermediate_size=37,
                                                      mit_num_attention_heads=2, mit_num_hidden_layers=1))
    if kind == "clip":
        return t.CLIPVisionModel(t.CLIPVisionConfig(**TINY, image_size=32, patch_size=8))
    if kind == "siglip":
        return t.SiglipVisionModel(t.SiglipVisionConfig(**TINY, image_size=32, patch_size=8))
    raise KeyError(kind)


VISION_KINDS = [k for k, v in KINDS.items() if v.family in ("video", "image")]


def write_mp4(path, n_frames, size=(40, 56), fps=10, seed=0):
    rng = np.random.default_rng(seed)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = size
        stream.pix_fmt = "yuv420p"
        for k in range(n_frames):
            img = np.full((*size, 3), (k * 20) % 255, np.uint8)
            img[: size[0] // 2] = rng.integers(0, 255, 3, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    for k in range(4):
        write_mp4(root / f"clip{k}.mp4", 12, seed=k)
    write_mp4(root / "short.mp4", 2, seed=9)  # fewer frames than any model takes
    (root / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
    table = root / "stimuli.csv"
    table.write_text("id,file\n" + "".join(f"{k},clip{k}.mp4\n" for k in range(4))
                     + "4,short.mp4\n5,broken.mp4\n")
    return root, table


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    folders = {}
    for kind in VISION_KINDS:
        folders[kind] = root / kind
        tiny_model(kind).save_pretrained(folders[kind])
    return folders


@pytest.mark.parametrize("kind", VISION_KINDS)
def test_embed_every_vision_kind_from_saved_folder(kind, saved_models, videos, tmp_path, capsys):
    root, table = videos
    out = tmp_path / "e.npz"
    args = ["embed", "--model", f"{kind}:{saved_models[kind]}", "--stimuli", str(table),
            "--videos", str(root), "--out", str(out), "--layers", "embeddings,-1,0",
            "--store", str(tmp_path / "store"), "--batch-size", "2"]
    assert main(args) == 0, capsys.readouterr().err
    emb = Embeddings.load(out)
    assert emb.ids.tolist() == [0, 1, 2, 3, 4]  # the corrupt clip 5 is skipped ...
    meta = json.loads((tmp_path / "e.npz.meta.json").read_text())
    assert list(meta["skipped"]) == ["5"] and "broken.mp4" in meta["skipped"]["5"]  # ... and listed
    assert emb.layer_names == ["embeddings", "layer.2", "layer.0"]
    assert all(v.shape == (5, 32) and np.isfinite(v).all() for v in emb.layers.values())
    assert not np.allclose(emb.matrix[0], emb.matrix[1])
    # the same embedding through the Python API on the stored frames: deterministic
    backbone = load_vision_backbone(parse_model(f"{kind}:{saved_models[kind]}"))
    from bgs.media.decode import DecodeParams
    from bgs.media.store import ClipStore

    store = ClipStore(tmp_path / "store", DecodeParams(backbone.frames, backbone.size, "crop"))
    with torch.no_grad():
        direct = backbone(backbone.preprocess(store.get_batch([0, 4])))["embeddings"].numpy()
    assert np.allclose(direct, emb.matrix[[0, 4]], atol=1e-5)


def test_fail_on_decode_error(saved_models, videos, tmp_path, capsys):
    root, table = videos
    code = main(["embed", "--model", f"clip:{saved_models['clip']}", "--stimuli", str(table),
                 "--videos", str(root), "--out", str(tmp_path / "e.npz"), "--on-error", "fail",
                 "--store", str(tmp_path / "store")])
    err = capsys.readouterr().err
    assert code == 2 and "broken.mp4" in err and err.count("\n") == 1
    assert not (tmp_path / "e.npz").exists()


def test_layer_names_and_bad_specs():
    assert layer_names("embeddings,-1,0,last", 4) == ["embeddings", "layer.4", "layer.0"]
    with pytest.raises(ConfigError, match="outside"):
        layer_names("9", 4)
    with pytest.raises(ConfigError, match="KIND:SOURCE"):
        parse_model("timesformer")
    with pytest.raises(ConfigError, match="unknown model kind"):
        parse_model("resnet:x")


def test_fixed_frame_models_refuse_other_lengths(saved_models):
    with pytest.raises(ConfigError, match="exactly 4 frames"):
        load_vision_backbone(parse_model(f"videomae:{saved_models['videomae']}"), frames=8)
    b = load_vision_backbone(parse_model(f"timesformer:{saved_models['timesformer']}"), frames=6)
    assert b.frames == 6  # TimeSformer interpolates its time embeddings


def test_missing_model_folder_is_one_line(tmp_path, videos, capsys):
    root, table = videos
    code = main(["embed", "--model", f"timesformer:{tmp_path / 'nope'}", "--stimuli", str(table),
                 "--videos", str(root), "--out", str(tmp_path / "e.npz")])
    err = capsys.readouterr().err
    assert code == 2 and "nope: no such model folder" in err and err.count("\n") == 1


def test_precomputed_rekeys_to_the_stimulus_table(tmp_path, capsys):
    src = Embeddings.from_array([3, 1, 2], np.eye(3)).save(tmp_path / "src.parquet")
    table = tmp_path / "s.csv"
    table.write_text("id\n1\n2\n3\n")
    assert main(["embed", "--model", f"precomputed:{src}", "--stimuli", str(table),
                 "--out", str(tmp_path / "e.safetensors")]) == 0
    e = Embeddings.load(tmp_path / "e.safetensors")
    assert e.ids.tolist() == [1, 2, 3] and e.matrix.tolist() == [[0, 1, 0], [0, 0, 1], [1, 0, 0]]


def test_timesformer_groups_tokens_by_the_clip_length_not_the_config(tmp_path):
    """A 4-frame TimeSformer given 8-frame clips must equal an 8-frame TimeSformer with the
    same weights and its time embeddings interpolated as transformers does (nearest)."""
    small = tiny_model("timesformer").eval()
    small.save_pretrained(tmp_path / "tsf")
    backbone = load_vision_backbone(parse_model(f"timesformer:{tmp_path / 'tsf'}"), frames=8,
                                    attention="eager")
    assert backbone.frames == 8
    cfg = transformers.TimesformerConfig(**TINY, image_size=32, patch_size=8, num_frames=8)
    reference = transformers.TimesformerModel(cfg).eval()
    state = dict(small.state_dict())
    state["embeddings.time_embeddings"] = state["embeddings.time_embeddings"].repeat_interleave(2, dim=1)
    reference.load_state_dict(state)
    x = torch.randn(2, 8, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        got = backbone.model(pixel_values=x).last_hidden_state
        want = reference(pixel_values=x).last_hidden_state
        stale = small(pixel_values=x).last_hidden_state  # the library's grouping with config 4
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    assert (stale - want).abs().max() > 1e-3
