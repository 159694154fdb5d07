"""Does the physically pre-trained video ViT see? Linear probes of held-out physical quantities.

Clips of yet another synthetic seed (``PROBE_SEED_OFFSET + seed``: never pre-trained on) are
embedded through the registry (``timesformer:<folder>``, the CLS token after the final LayerNorm, exactly as
the demo embeds), and cross-validated ridge probes (:func:`bgs.metrics.probes.linear_probe`,
folds over clips) read the clips' physical quantities from them: where the agents are, how
far apart, how they move relative to each other. The same probes on a randomly initialised
copy of the same architecture (saved and loaded the same way) are the reference.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from bgs.pretrain.physical import CLIP_NAMES, PhysicalConfig, clip_quantities, synthetic_clips

PROBE_SEED_OFFSET = 4000
#: The probed quantities (columns of the per-clip targets).
PROBED = ("mean_midpoint_x", "mean_midpoint_y", "mean_distance_ab", "sd_distance_ab",
          "change_distance_ab", "mean_approach_ab", "mean_speed_sum_ab", "mean_facing_ab",
          "mean_alignment_ab", "mean_third_present", "mean_third_distance")


def probe_clips(config: PhysicalConfig, n_clips: int = 120, seed: int = 0, work=None):
    """(frames uint8 (n, T, H, W, 3), quantities DataFrame indexed 0..n-1) of held-out clips."""
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        frames, scenes, _ = synthetic_clips(Path(tmp), PROBE_SEED_OFFSET + seed, n_clips,
                                            config.frames, config.size, "probe")
    clip = clip_quantities(scenes, config.frames)
    table = pd.DataFrame(clip, columns=list(CLIP_NAMES), index=pd.Index(range(n_clips), name="id"))
    return frames, table[list(PROBED)]


def pooled_features(folder: str | Path, frames: np.ndarray, batch: int = 16) -> np.ndarray:
    """The registry's embedding of ``timesformer:<folder>`` for each clip (n, hidden)."""
    import torch

    from bgs.models.registry import parse_model
    from bgs.models.vision import load_vision_backbone

    backbone = load_vision_backbone(parse_model(f"timesformer:{folder}"))
    out = []
    with torch.inference_mode():
        for i in range(0, len(frames), batch):
            out.append(backbone(backbone.preprocess(frames[i:i + batch]))["embeddings"].numpy())
    return np.concatenate(out)


def save_random_copy(config: PhysicalConfig, folder: str | Path) -> Path:
    """An untrained encoder of the same architecture (seeded), as a loadable folder."""
    import torch
    import transformers

    from bgs.io import write_json
    from bgs.models.conv_stem import add_conv_stem

    folder = Path(folder)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = transformers.TimesformerModel(config.timesformer_config())
        add_conv_stem(model, config.stem)
    model.config.architectures = ["TimesformerModel"]
    model.save_pretrained(folder)
    write_json(folder / "preprocessor_config.json", config.preprocessor())
    return folder


def physical_probes(folder: str | Path, config: PhysicalConfig, n_clips: int = 120, seed: int = 0,
                    folds: int = 5) -> pd.DataFrame:
    """Per probed quantity: cross-validated R² and Pearson r of the pre-trained encoder in
    ``folder`` and of a random copy, on ``n_clips`` held-out clips."""
    from bgs.metrics.probes import linear_probe

    frames, table = probe_clips(config, n_clips, seed)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        models = {"pretrained": Path(folder), "random": save_random_copy(config, Path(tmp) / "random")}
        for name, path in models.items():
            res = linear_probe(pooled_features(path, frames), table, folds=folds, n_bootstrap=0,
                               seed=seed).to_frame()
            rows.append(res.assign(model=name))
    frame = pd.concat(rows)
    wide = frame.pivot(index="attribute", columns="model", values=["r2", "pearson_r"])
    wide.columns = [f"{stat}_{model}" for stat, model in wide.columns]
    return wide.loc[list(PROBED)]
