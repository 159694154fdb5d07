"""Does a physical pre-training config give the demo's clips an embedding that holds what the
observers judge? One cheap, measured loop per config, without BGS fine-tuning.

For a ``PhysicalConfig`` (the defaults, overridden by ``--set name=value``), the backbone is
pre-trained into a temporary folder; the demo's clips (its ``SynthConfig``: seed, 200 clips,
100 participants, a quarter held out, 8 frames of 32²) are rendered, decoded through the clip
store and embedded through the registry (the CLS token, as the demo embeds). Reported:

- 5-fold cross-validated ridge R² of each visible cue (``bgs.synthetic.scenes.CUE_NAMES``)
  from the embedding, over all the demo's clips;
- the held-out gain of a frozen linear head (``physical_headroom.fit_projection``: trained
  with the triplet loss on the training clips' triplets, on the standardised embedding) over
  the raw registry embedding (the demo's base: the CLS, or for a folder pre-trained with
  ``pooling=1`` the CLS ‖ the moment pooling), paired on the held-out triplets, 95 % CI over held-out clips;
- the base's own held-out 3-way accuracy and RSA, as the demo embeds (``base_as_embedded``),
  and for a base that is not the CLS alone the CLS's and the base's paired gain over it;
- the pre-training's CPU seconds.

    python benchmarks/backbone_probe.py [--set patch=4 --set stem_channels=16 --set pooling=1 ...] [--seed 0]
        [--folder <a pre-trained folder of that config>] [--keep <folder>] [--swap]

With a saved per-token read-out (``readout.safetensors``: folders pre-trained since it is
saved) the parameter-free moment pooling of its predictions (``bgs.pretrain.moments``) is
probed too, alone and beside the CLS; ``--swap`` adds the pooling of the exact per-token
targets and of the predictions with one part (weights, positions, headings, speeds) exact.

docs/pretraining.md quotes its rows.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bgs.embeddings import Embeddings  # noqa: E402
from bgs.metrics.evaluate import evaluate_embeddings  # noqa: E402
from bgs.metrics.paired import compare_embeddings  # noqa: E402
from bgs.metrics.probes import linear_probe  # noqa: E402
from bgs.pretrain.moments import pooled_moments as pool_tokens  # noqa: E402
from bgs.pretrain.physical import (  # noqa: E402
    DENSE_NAMES,
    PhysicalConfig,
    clip_cues,
    physical_targets,
    pretrain_physical,
)
from bgs.pretrain.physical_probes import pooled_features  # noqa: E402
from bgs.pretrain.readout import POOLING_KEY, READOUT_FILE, token_predictions  # noqa: E402
from bgs.synthetic import SynthConfig, make_dataset  # noqa: E402
from bgs.synthetic.dataset import build_scenes  # noqa: E402
from bgs.synthetic.scenes import CUE_NAMES  # noqa: E402
from physical_headroom import NO_HEADING, fit_projection, split_triplets  # noqa: E402


def demo_frames(data_dir: Path, work: Path, frames: int, size: int) -> np.ndarray:
    """The demo dataset's clips decoded through the clip store, in id order."""
    from bgs.media import ClipStore, DecodeParams

    mapping = pd.read_csv(data_dir / "video_mapping.csv")
    ids = list(mapping["index"])
    store = ClipStore(work / "store", DecodeParams(frames, size, "crop"))
    store.build(ids, [data_dir / "videos" / f for f in mapping["video_name"]], on_error="fail")
    return store.get_batch(ids)


#: State channel groups of the per-token targets, for :func:`swapped_sets`.
STATE_GROUPS = {"position": ("x", "y"), "heading": ("heading_x", "heading_y"), "speed": ("speed",)}


def pooled_moments(tokens: np.ndarray) -> np.ndarray:
    """The moment pooling of per-token channels: the states' moments and the grid spread."""
    return pool_tokens(tokens, DENSE_NAMES)


#: The base of the gains: the registry's embedding (the demo embeds with it).
BASE = "registry embedding"


def embedding_sets(folder: Path, frames: np.ndarray) -> dict[str, np.ndarray]:
    """Named (clips, features) embeddings of the demo's clips: the registry's embedding (the
    base: the CLS, or CLS ‖ moments for a folder whose config asks for it); with a saved
    per-token read-out also the CLS, its moment pooling (:func:`pooled_moments`; all, and
    without the heading features) and the CLS concatenated with it."""
    base = pooled_features(folder, frames)
    if not (folder / READOUT_FILE).is_file():
        return {BASE: base}
    model_config = json.loads((folder / "config.json").read_text())
    moments = pooled_moments(token_predictions(folder, frames))
    sets = {BASE: base, "moments": moments, "moments without heading": moments[:, NO_HEADING]}
    if model_config.get(POOLING_KEY) != "moments":  # the base starts with the CLS
        cls = base[:, :model_config["hidden_size"]]
        sets.update({"CLS": cls, "CLS ‖ moments": np.concatenate([cls, moments], axis=1)})
    return sets


def with_states(tokens: np.ndarray, source: np.ndarray, names) -> np.ndarray:
    """``tokens`` whose states ``names`` (read as channel / agent weight) are those of
    ``source``, at ``tokens``' own weights; ``names`` containing ``agents`` also takes the
    weights (and coverage) of ``source``, keeping ``tokens``' other states."""
    i = {n: k for k, n in enumerate(DENSE_NAMES)}
    w_own, w_src = tokens[..., i["agents"]], source[..., i["agents"]]
    out = tokens.copy()
    if "agents" in names:
        out[..., [i["coverage"], i["agents"]]] = source[..., [i["coverage"], i["agents"]]]
    keep = [n for n in ("x", "y", "heading_x", "heading_y", "speed") if n not in names]
    w_new = out[..., i["agents"]]
    for n in ("x", "y", "heading_x", "heading_y", "speed"):
        src, w = (tokens, w_own) if n in keep else (source, w_src)
        out[..., i[n]] = src[..., i[n]] / np.where(np.abs(w) > 1e-3, w, 1e-3) * w_new
    return out


def swapped_sets(pred: np.ndarray, exact: np.ndarray) -> dict[str, np.ndarray]:
    """Where the predicted moments lose their signal: the moment pooling of the exact per-token
    targets, and of the predicted tokens with one part (the weights, all states, one state
    group) taken from the exact ones."""
    states = [n for group in STATE_GROUPS.values() for n in group]
    sets = {"moments of the exact tokens": pooled_moments(exact),
            "exact weights, predicted states": pooled_moments(with_states(pred, exact, ("agents",))),
            "predicted weights, exact states": pooled_moments(with_states(pred, exact, states))}
    for group, names in STATE_GROUPS.items():
        sets[f"predicted, exact {group}"] = pooled_moments(with_states(pred, exact, names))
    noisy = with_states(pred, rotated_headings(exact, HEADING_KAPPA), STATE_GROUPS["heading"])
    sets["predicted, exact heading rotated by noise (mean cosine 0.86)"] = pooled_moments(noisy)
    return sets


#: von Mises concentration whose mean cosine is 0.86 (I1(κ)/I0(κ)), the accuracy a small CNN
#: reaches on the decoded 32² pixels (benchmarks/heading_visibility.py).
HEADING_KAPPA = 3.9


def rotated_headings(tokens: np.ndarray, kappa: float, seed: int = 0) -> np.ndarray:
    """``tokens`` with each token's heading channels rotated by an independent von Mises
    angle of concentration ``kappa``: a heading read-out with that much error."""
    i = {n: k for k, n in enumerate(DENSE_NAMES)}
    angle = np.random.default_rng(seed).vonmises(0.0, kappa, size=tokens.shape[:-1])
    hx, hy = tokens[..., i["heading_x"]], tokens[..., i["heading_y"]]
    out = tokens.copy()
    out[..., i["heading_x"]] = np.cos(angle) * hx - np.sin(angle) * hy
    out[..., i["heading_y"]] = np.sin(angle) * hx + np.cos(angle) * hy
    return out


def exact_tokens(data_dir: Path, synth: SynthConfig, config: PhysicalConfig) -> np.ndarray:
    """The exact per-token targets (raw units) of the demo's clips, from their masks."""
    names = pd.read_csv(data_dir / "video_mapping.csv")["video_name"]
    masks = np.stack([np.load(data_dir / "masks" / f.replace(".mp4", ".npz"))["masks"] for f in names])
    return physical_targets(build_scenes(synth), masks, config)


def probe_row(folder: Path, synth: SynthConfig, work: Path, n_bootstrap: int = 1000,
              swap: PhysicalConfig | None = None) -> dict:
    """Per embedding (:func:`embedding_sets`, and with ``swap`` — the folder's config —
    :func:`swapped_sets`): cue R², its raw score, and the frozen linear head's paired
    held-out gain over the raw registry embedding (the demo's base)."""
    data_dir = work / "demo"
    make_dataset(data_dir, synth)
    test, train, train_rows, ids, _ = split_triplets(data_dir)
    frames = demo_frames(data_dir, work, synth.frames, synth.size)
    sets = embedding_sets(folder, frames)
    if swap is not None:
        sets.update(swapped_sets(token_predictions(folder, frames), exact_tokens(data_dir, synth, swap)))
    cues = pd.DataFrame(clip_cues(build_scenes(synth)), columns=list(CUE_NAMES),
                        index=pd.Index(ids, name="id"))
    base = Embeddings.from_array(ids, sets[BASE])
    out = {}
    for name, x in sets.items():
        mu, sd = x[train_rows].mean(axis=0), x[train_rows].std(axis=0) + 1e-8
        xs = (x - mu) / sd
        r2 = linear_probe(xs, cues, folds=5, n_bootstrap=0, seed=synth.seed).to_frame().set_index("attribute")["r2"]
        head = fit_projection(xs, train, train_rows, seed=synth.seed)
        raw = evaluate_embeddings(Embeddings.from_array(ids, xs), test, metric="cosine", n_bootstrap=0,
                                  n_permutations=0, seed=synth.seed)
        d = compare_embeddings(Embeddings.from_array(ids, head), base, test, n_bootstrap=n_bootstrap, seed=synth.seed)
        out[name] = {"cue_r2": {k: round(float(r2[k]), 3) for k in CUE_NAMES},
                     "raw": [round(raw["ooo_accuracy"]["value"], 3), round(raw["rsa_spearman"]["value"], 3)],
                     "head_gain_over_base": {k: [round(d[k]["value"], 3), *(round(v, 3) for v in d[k]["ci_stimuli"])]
                                            for k in ("ooo_accuracy", "rsa_spearman")}}
    return {"embeddings": out, "n_test_triplets": int(len(test.odd)),
            **as_embedded(sets, ids, test, n_bootstrap, synth.seed)}


def as_embedded(sets: dict, ids, test, n_bootstrap: int, seed: int) -> dict:
    """The base's held-out 3-way accuracy and RSA as the demo embeds (not standardised) and,
    when the base is not the CLS alone, the CLS's and the base's paired gain over it."""
    def score(name):
        d = evaluate_embeddings(Embeddings.from_array(ids, sets[name]), test, metric="cosine",
                                n_bootstrap=0, n_permutations=0, seed=seed)
        return [round(d["ooo_accuracy"]["value"], 3), round(d["rsa_spearman"]["value"], 3)]

    out = {"base_as_embedded": score(BASE)}
    if "CLS" in sets and sets["CLS"].shape != sets[BASE].shape:
        d = compare_embeddings(Embeddings.from_array(ids, sets[BASE]), Embeddings.from_array(ids, sets["CLS"]),
                               test, n_bootstrap=n_bootstrap, seed=seed)
        out["cls_as_embedded"] = score("CLS")
        out["base_gain_over_cls"] = {k: [round(d[k]["value"], 3), *(round(v, 3) for v in d[k]["ci_stimuli"])]
                                     for k in ("ooo_accuracy", "rsa_spearman")}
    return out


def _parse_sets(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        out[name] = float(value) if "." in value or "e" in value else int(value)
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="a PhysicalConfig field, e.g. patch=4 or cue_weight=1.0 (repeatable)")
    ap.add_argument("--folder", help="probe this pre-trained folder (of the --set config) instead of training one")
    ap.add_argument("--seed", type=int, default=0, help="the demo dataset's seed")
    ap.add_argument("--clips", type=int, default=200)
    ap.add_argument("--participants", type=int, default=100)
    ap.add_argument("--test-share", type=float, default=0.25)
    ap.add_argument("--n-bootstrap", type=int, default=1000)
    ap.add_argument("--keep", help="pre-train into this folder (kept) instead of a temporary one")
    ap.add_argument("--swap", action="store_true",
                    help="also pool the exact per-token targets, and the predicted tokens with one part exact")
    args = ap.parse_args(argv)
    config = PhysicalConfig(**_parse_sets(args.set))
    synth = SynthConfig(seed=args.seed, n_clips=args.clips, n_participants=args.participants,
                        test_share=args.test_share, frames=config.frames, size=config.size)
    with tempfile.TemporaryDirectory() as tmp:
        folder = (Path(args.folder) if args.folder else
                  pretrain_physical(Path(args.keep or Path(tmp) / "backbone"), config, log=None))
        doc = json.loads((folder / "pretraining.json").read_text())
        row = probe_row(folder, synth, Path(tmp), args.n_bootstrap, config if args.swap else None)
    row.update(config={k: v for k, v in config.to_dict().items() if v != getattr(PhysicalConfig(), k)},
               cpu_seconds=doc["cpu_seconds"], val_end=doc["val_end"])
    print(json.dumps(row))


if __name__ == "__main__":
    main()
