"""The trainer on anchor triplets: a tiny random DINOv2 saved with save_pretrained, loaded
through from_pretrained, images as one-frame clips; the target is the anchor similarity and
the loss's anchor/positive/negative are head/close/far."""

import json

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="module")
def shoes(tmp_path_factory):
    from PIL import Image
    from transformers import Dinov2Config, Dinov2Model

    root = tmp_path_factory.mktemp("anchor")
    rng = np.random.default_rng(0)
    (root / "images").mkdir()
    n = 16
    colours = rng.integers(0, 256, (n, 3))
    for i in range(n):
        img = np.full((30, 40, 3), 255, np.uint8)
        img[8:22, 5:35] = colours[i]
        Image.fromarray(img).save(root / "images" / f"{i}.jpg")
    table = pd.DataFrame({"id": range(n), "file": [f"images/{i}.jpg" for i in range(n)]})
    table.to_csv(root / "stimuli.csv", index=False)
    # judgments: the closer colour wins
    rows = []
    for _ in range(1500):
        h, a, b = rng.choice(n, 3, replace=False)
        close, far = (a, b) if np.abs(colours[h] - colours[a]).sum() < np.abs(colours[h] - colours[b]).sum() else (b, a)
        rows.append((h, close, far))
    pd.DataFrame(rows, columns=["head", "close", "far"]).to_csv(root / "triplets.csv", index=False)
    pd.DataFrame({"id": range(12, n)}).to_csv(root / "test.csv", index=False)
    cfg = Dinov2Config(hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=64,
                       patch_size=8, image_size=32)
    Dinov2Model(cfg).save_pretrained(root / "vit")
    return root


def test_training_data_uses_the_anchor_definitions(shoes):
    from bgs.data.anchor import AnchorTripletSet, read_anchor_triplets
    from bgs.human.anchor import anchor_similarity
    from bgs.train.config import DataConfig, TrainConfig
    from bgs.train.data import load_training_data

    tc = TrainConfig(data=DataConfig(triplets=str(shoes / "triplets.csv"), format="anchor",
                                     stimuli=str(shoes / "stimuli.csv"), test=str(shoes / "test.csv"),
                                     val_fraction=0.4))
    data = load_training_data(tc)
    assert data.judgment == "anchor"
    direct = read_anchor_triplets(shoes / "triplets.csv", stimulus_ids=range(16)).restrict(data.train_ids)
    want = anchor_similarity(direct).dissimilarity
    np.fill_diagonal(want, np.nan)
    np.testing.assert_allclose(data.target, want, equal_nan=True)
    view = AnchorTripletSet.from_triplet_view(data.train)
    assert (view.triplets == direct.triplets).all()
    assert (data.train.pair[:, 0] == direct.head).all() and (data.train.odd_index == direct.far).all()


@pytest.mark.slow
def test_trainer_fits_anchor_triplets_and_scores_them_as_such(shoes, tmp_path):
    from bgs.train.config import DataConfig, TrainConfig
    from bgs.train.trainer import Trainer

    tc = TrainConfig(data=DataConfig(triplets=str(shoes / "triplets.csv"), format="anchor",
                                     stimuli=str(shoes / "stimuli.csv"), videos=str(shoes),
                                     store=str(tmp_path / "store"), test=str(shoes / "test.csv"),
                                     resize="pad", val_fraction=0.4))
    tc.model.backbone = f"dinov2:{shoes / 'vit'}"
    tc.model.frames = 1
    tc.model.layer = "layer.2"
    tc.model.image_size = 32
    tc.objective.name = "hybrid"
    tc.optim.epochs = 2
    tc.optim.max_steps_per_epoch = 2
    tc.optim.batch_triplets = 32
    tc.run.eval_bootstrap = 20
    tc.run.eval_permutations = 5
    summary = Trainer(tc, tmp_path / "run", log=lambda *_: None).run()
    history = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert all(0 <= h["val_anchor_accuracy"] <= 1 and h["val_ooo_accuracy"] is None for h in history)
    ev = json.loads((tmp_path / "run" / "eval.json").read_text())
    assert ev["kind"] == "anchor triplets" and "ooo_accuracy" not in ev
    assert summary["test"]["anchor_accuracy"] == ev["anchor_accuracy"]["value"]
    assert ev["layer"] == "embeddings" and ev["n_stimuli"] == 4
