"""Zero-shot style transfer of BGS alignment, and where the models look (docs/attention-transfer.md).

Two synthetic datasets with the same seed — so the same scripts, motion, latents, split and
(nearly) the same simulated judgments — rendered in two styles: A = ``default`` (textured
backgrounds, circles/squares/triangles, smooth motion) and B = ``abstract`` (flat grey,
neon diamonds/crosses/hexagons, jerky motion). The small physically pre-trained video ViT of ``bgs demo --quick`` is
fine-tuned with BGS (hybrid) on A's training clips and, separately, on B's; the base model
and both fine-tuned models embed both datasets and are scored on each dataset's held-out
clips (the same clips in both styles) against that dataset's ceiling. The agent share of
attention, base vs fine-tuned, is then measured on each.

Writes ``OUT/transfer.csv`` / ``transfer.md`` (the table), ``OUT/attention.md`` and
``OUT/timings.json``. A step whose output is already in ``OUT`` is not run again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from bgs.study.finetune import finetune, train_config
from bgs.train.config import DataConfig, ModelConfig, OptimConfig

STYLES = {"A": "default", "B": "abstract"}


@dataclass
class TransferConfig:
    clips: int = 120
    participants: int = 60
    frames: int = 8
    size: int = 32
    epochs: int = 5
    steps: int = 20
    lr: float = 1e-3
    seed: int = 0
    n_bootstrap: int = 1000

    def optim(self) -> OptimConfig:
        """The demo's fine-tuning settings: every epoch kept, the best selected."""
        return OptimConfig(epochs=self.epochs, max_steps_per_epoch=self.steps, batch_triplets=16,
                           lr=self.lr, early_stopping=self.epochs)


class _Timed:
    def __init__(self, log: Callable[[str], None]):
        self.log, self.timings = log, {}

    def __call__(self, name: str, fn, *args, **kwargs):
        self.log(f"{name} ...")
        t0 = time.perf_counter()
        result = fn(*args, **kwargs)
        self.timings[name] = round(time.perf_counter() - t0, 1)
        return result


def run_transfer(out: str | Path, cfg: TransferConfig | None = None,
                 log: Callable[[str], None] = print) -> dict:
    """Every step into ``out``; returns the table rows, the attention rows and the timings."""
    from bgs.pretrain.physical import PhysicalConfig, cached_physical
    from bgs.synthetic import SynthConfig, make_dataset

    cfg = cfg or TransferConfig()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    timed = _Timed(log)
    t_all = time.perf_counter()
    for key, style in STYLES.items():
        if not (out / key / "truth.json").exists():
            timed(f"synth {key}", make_dataset, out / key, SynthConfig(
                seed=cfg.seed, n_clips=cfg.clips, n_participants=cfg.participants, frames=cfg.frames,
                size=cfg.size, style=style), force=True)
    pretrain = replace(PhysicalConfig.quick(), frames=cfg.frames, size=cfg.size)
    backbone = f"timesformer:{timed('pre-trained backbone (cached)', cached_physical, pretrain, log=log)}"
    for key in STYLES:  # fine-tune on each style
        if not (out / f"train_{key}" / "metrics.json").exists():
            data = DataConfig.for_dataset(out / key, videos=str(out / key / "videos"), store=str(out / "store" / key))
            tc = train_config(data, ModelConfig(full_finetune=True), cfg.optim(), "hybrid", backbone,
                              cfg.seed, cfg.n_bootstrap, 0)
            timed(f"train on {key}", finetune, tc, out / f"train_{key}", log)
    rows = _scores(out, backbone, cfg, timed)
    attention = _attention(out, cfg, timed)
    timed.timings["total"] = round(time.perf_counter() - t_all, 1)
    pd.DataFrame(rows).to_csv(out / "transfer.csv", index=False)
    (out / "transfer.md").write_text(transfer_markdown(rows) + "\n")
    (out / "attention.md").write_text(attention_markdown(attention) + "\n")
    (out / "timings.json").write_text(json.dumps(timed.timings, indent=2) + "\n")
    return {"rows": rows, "attention": attention, "timings": timed.timings}


def style_store(store_dir: Path, data_dir: Path, backbone):
    """The clip store of the synthetic dataset ``data_dir`` at the backbone's frames and
    size, built (a clip already stored is not decoded again)."""
    from bgs.data.stimuli import read_stimuli
    from bgs.media.decode import DecodeParams
    from bgs.media.store import ClipStore

    store = ClipStore(store_dir, DecodeParams(backbone.frames, backbone.size, "crop"))
    store.build_from_table(read_stimuli(data_dir / "video_mapping.csv"), data_dir / "videos", on_error="fail")
    return store


def embed_dataset(path: Path, backbone_ref: str, checkpoint: Path | None, data_dir: Path,
                  store_dir: Path):
    """The embeddings of every clip of ``data_dir`` by the base model (``checkpoint`` None)
    or a fine-tuned run, cached at ``path``."""
    from bgs.embeddings import Embeddings
    from bgs.models.embed import embed_clips
    from bgs.models.registry import parse_model
    from bgs.models.vision import load_vision_backbone
    from bgs.train.restore import embed_finetuned, load_finetuned_vision

    if path.exists():
        return Embeddings.load(path)
    if checkpoint is None:
        backbone = load_vision_backbone(parse_model(backbone_ref))
        store = style_store(store_dir, data_dir, backbone)
        emb = embed_clips(backbone, store, list(store.ids), batch_size=16)
    else:
        model, backbone, _ = load_finetuned_vision(checkpoint)
        store = style_store(store_dir, data_dir, backbone)
        emb = embed_finetuned(model, store, list(store.ids), 16)
    path.parent.mkdir(parents=True, exist_ok=True)
    emb.save(path)
    return emb


def _store(out: Path, key: str, backbone):
    return style_store(out / "store" / key, out / key, backbone)


def _embed(out: Path, backbone_ref: str, model_name: str, checkpoint: Path | None, key: str):
    path = out / "emb" / f"{model_name.replace(' ', '_')}__{key}.npz"
    return embed_dataset(path, backbone_ref, checkpoint, out / key, out / "store" / key)


def _scores(out: Path, backbone_ref: str, cfg: TransferConfig, timed: _Timed) -> list[dict]:
    """Every model on every style's held-out triplets, against that style's ceilings."""
    from bgs.data.garcia2025 import load_garcia2025
    from bgs.metrics.evaluate import evaluate_embeddings

    rows = []
    models = {"base": None, "BGS on A": out / "train_A", "BGS on B": out / "train_B"}
    for name, ck in models.items():
        for key, style in STYLES.items():
            emb = timed(f"embed {name} / {key}", _embed, out, backbone_ref, name, ck, key)
            data = load_garcia2025(out / key)
            test = data.triplets.restrict(data.split["test"])
            r = timed(f"evaluate {name} / {key}", evaluate_embeddings, emb, test,
                      n_bootstrap=cfg.n_bootstrap, n_permutations=0, seed=cfg.seed)
            truth = json.loads((out / key / "truth.json").read_text())["ooo_ceiling"]
            o, rs = r["ooo_accuracy"], r["rsa_spearman"]
            rows.append({
                "model": name, "evaluated_on": f"{key} ({style})",
                "distribution": "—" if ck is None else ("in" if ck.name[-1] == key else "out (zero-shot)"),
                "ooo_accuracy": o["value"], "ooo_ci_low": o["ci"][0], "ooo_ci_high": o["ci"][1],
                "ooo_ceiling_lower": o["ceiling"]["lower"], "ooo_ceiling_upper": o["ceiling"]["upper"],
                "true_ceiling_test": truth["test_split"]["attentive"],
                "rsa_spearman": rs["value"], "rsa_ci_low": rs["ci"][0], "rsa_ci_high": rs["ci"][1],
                "rsa_ceiling": rs.get("ceiling"), "n_triplets": r["n_triplets"]})
    return rows


def _attention(out: Path, cfg: TransferConfig, timed: _Timed) -> list[dict]:
    """The attention study of each fine-tuned run on each style's held-out clips."""
    from bgs.data.garcia2025 import load_garcia2025
    from bgs.study.attention import attention_study, load_models

    rows = []
    for tk in STYLES:
        for key, style in STYLES.items():
            target = out / "attention" / f"train_{tk}__on_{key}"
            if not (target / "summary.json").exists():
                models = load_models(None, out / f"train_{tk}")
                data = load_garcia2025(out / key)
                ids = list(data.split["test"])
                mapping = pd.read_csv(out / key / "video_mapping.csv").set_index("index")
                timed(f"attention {tk} on {key}", attention_study, target, ids,
                      mapping.loc[ids, "video_name"].tolist(), _store(out, key, models["base"][0]),
                      masks=out / key / "masks", n_bootstrap=cfg.n_bootstrap, seed=cfg.seed,
                      max_overlays=4, backbones=models, checkpoint=out / f"train_{tk}")
            s = json.loads((target / "summary.json").read_text())
            for method, shift in s["shift"].items():
                rows.append({"trained_on": tk, "clips_of": f"{key} ({style})", "method": method,
                             "base": s["models"]["base"][method], "fine_tuned": s["models"]["fine-tuned"][method],
                             "shift": shift})
    return rows


def transfer_markdown(rows: list[dict]) -> str:
    lines = ["| model | evaluated on | distribution | odd-one-out acc. [95% CI] | ceiling (lower–upper; true) "
             "| RSA Spearman [95% CI] | RSA ceiling |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        rc = f"{r['rsa_ceiling']:.3f}" if r["rsa_ceiling"] is not None else "—"
        lines.append(f"| {r['model']} | {r['evaluated_on']} | {r['distribution']} | {r['ooo_accuracy']:.3f} "
                     f"[{r['ooo_ci_low']:.3f}, {r['ooo_ci_high']:.3f}] | {r['ooo_ceiling_lower']:.3f}–"
                     f"{r['ooo_ceiling_upper']:.3f}; {r['true_ceiling_test']:.3f} | {r['rsa_spearman']:+.3f} "
                     f"[{r['rsa_ci_low']:+.3f}, {r['rsa_ci_high']:+.3f}] | {rc} |")
    return "\n".join(lines)


def _ci(c) -> str:
    return f"[{c[0]:.3f}, {c[1]:.3f}]" if c else "—"


def attention_markdown(rows: list[dict]) -> str:
    lines = ["| fine-tuned on | clips of | method | agent ratio base [CI] | fine-tuned [CI] | change [CI] "
             "| clips up |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        b, f, sh = r["base"], r["fine_tuned"], r["shift"]
        lines.append(f"| {r['trained_on']} | {r['clips_of']} | {r['method']} | {b['agent_ratio']:.3f} "
                     f"{_ci(b['agent_ratio_ci'])} | {f['agent_ratio']:.3f} {_ci(f['agent_ratio_ci'])} | "
                     f"{sh['agent_ratio_change']:+.4f} {_ci(sh['agent_ratio_change_ci'])} | "
                     f"{sh['agent_ratio_clips_up']}/{sh['n_clips']} |")
    return "\n".join(lines)
