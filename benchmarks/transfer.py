"""Zero-shot style transfer of BGS alignment, and where the models look (docs/attention-transfer.md).

Two synthetic datasets with the same seed — so the same scripts, motion, latents, split and
(nearly) the same simulated judgments — rendered in two styles: A = ``default`` (textured
backgrounds, circles/squares/triangles, smooth motion) and B = ``abstract`` (flat grey,
neon diamonds/crosses/hexagons, jerky motion). The small VideoMAE of ``bgs demo --quick`` is
fine-tuned with BGS (hybrid) on A's training clips and, separately, on B's; the base model
and both fine-tuned models embed both datasets, and ``bgs evaluate`` scores every embedding on
each dataset's held-out clips (the same clips in both styles) against that dataset's ceiling.
``bgs attention`` then measures the agent share of attention, base vs fine-tuned, on each.

Every step is a ``bgs`` command (printed, with its runtime)::

    python benchmarks/transfer.py --out transfer-run [--clips 120 --epochs 5 --steps 20]

Writes ``OUT/transfer.csv`` / ``transfer.md`` (the table), ``OUT/attention.md`` and
``OUT/timings.json``. CPU, one torch thread by default.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import time
from pathlib import Path

TRAIN_TOML = """# written by benchmarks/transfer.py: the demo's fine-tuning settings, on style {key}
[data]
triplets = "{key}/all_triplets.csv"
format = "garcia2025"
stimuli = "{key}/video_mapping.csv"
videos = "{key}/videos"
store = "store/{key}"
train = "{key}/train.csv"
test = "{key}/test.csv"

[model]
backbone = "{backbone}"
full_finetune = true

[objective]
name = "hybrid"

[optim]
epochs = {epochs}
max_steps_per_epoch = {steps}
batch_triplets = 16
lr = {lr}
early_stopping = {epochs}

[run]
seed = {seed}
eval_bootstrap = {n_bootstrap}
eval_permutations = 0
"""


def bgs(args: list[str], timings: dict, name: str) -> None:
    from bgs.cli import main

    print("$ bgs " + " ".join(shlex.quote(a) for a in args), flush=True)
    t0 = time.perf_counter()
    code = main(args)
    timings[name] = round(time.perf_counter() - t0, 1)
    if code != 0:
        raise SystemExit(f"bgs {args[0]} failed with status {code}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--clips", type=int, default=120)
    p.add_argument("--participants", type=int, default=60)
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-bootstrap", type=int, default=1000)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()

    import torch

    torch.set_num_threads(a.threads)
    from bgs.pretrain.mae import MAEConfig, cached_videomae

    out = a.out
    out.mkdir(parents=True, exist_ok=True)
    timings: dict = {}
    t_all = time.perf_counter()
    styles = {"A": "default", "B": "abstract"}
    for key, style in styles.items():
        if not (out / key / "truth.json").exists():
            bgs(["synth", "make", str(out / key), "--clips", str(a.clips), "--participants",
                 str(a.participants), "--frames", str(a.frames), "--size", str(a.size), "--seed",
                 str(a.seed), "--style", style, "--force"], timings, f"synth {key}")
    t0 = time.perf_counter()
    mae = MAEConfig.quick()
    if (mae.frames, mae.size) != (a.frames, a.size):
        from dataclasses import replace

        mae = replace(mae, frames=a.frames, size=a.size)
    backbone = f"videomae:{cached_videomae(mae, log=print)}"
    timings["pre-trained backbone (cached)"] = round(time.perf_counter() - t0, 1)

    for key in styles:  # fine-tune on each style
        run = out / f"train_{key}"
        if (run / "metrics.json").exists():
            continue
        toml = out / f"train_{key}.toml"
        toml.write_text(TRAIN_TOML.format(key=key, backbone=backbone, epochs=a.epochs, steps=a.steps,
                                          lr=a.lr, seed=a.seed, n_bootstrap=a.n_bootstrap))
        args = ["train", str(toml), "--out", str(run)]
        bgs(args, timings, f"train on {key}")

    models = {"base": None, "BGS on A": out / "train_A", "BGS on B": out / "train_B"}
    rows = []
    for mname, ck in models.items():
        for key in styles:
            d = out / key
            emb = out / "emb" / f"{mname.replace(' ', '_')}__{key}.npz"
            if not emb.exists():
                args = ["embed", "--model", backbone, "--stimuli", str(d / "video_mapping.csv"),
                        "--videos", str(d / "videos"), "--store", str(out / "store" / key),
                        "--out", str(emb), "--batch-size", "16"]
                if ck is not None:
                    args += ["--checkpoint", str(ck)]
                bgs(args, timings, f"embed {mname} / {key}")
            res = out / "eval" / f"{emb.stem}.json"
            if not res.exists():
                res.parent.mkdir(parents=True, exist_ok=True)
                bgs(["evaluate", "-e", str(emb), "-t", str(d / "all_triplets.csv"), "-f", "garcia2025",
                     "--stimuli", str(d / "video_mapping.csv"), "--split", str(d / "test.csv"),
                     "--n-bootstrap", str(a.n_bootstrap), "--n-permutations", "0", "--json",
                     "--out", str(res)], timings, f"evaluate {mname} / {key}")
            r = json.loads(res.read_text())
            truth = json.loads((d / "truth.json").read_text())["ooo_ceiling"]
            trained = None if ck is None else ck.name[-1]
            o, rs = r["ooo_accuracy"], r["rsa_spearman"]
            rows.append({
                "model": mname, "evaluated_on": f"{key} ({styles[key]})",
                "distribution": "—" if trained is None else ("in" if trained == key else "out (zero-shot)"),
                "ooo_accuracy": o["value"], "ooo_ci_low": o["ci"][0], "ooo_ci_high": o["ci"][1],
                "ooo_ceiling_lower": o["ceiling"]["lower"], "ooo_ceiling_upper": o["ceiling"]["upper"],
                "true_ceiling_test": truth["test_split"]["attentive"],
                "rsa_spearman": rs["value"], "rsa_ci_low": rs["ci"][0], "rsa_ci_high": rs["ci"][1],
                "rsa_ceiling": rs.get("ceiling"), "n_triplets": r["n_triplets"]})

    import pandas as pd

    df = pd.DataFrame(rows)
    df.to_csv(out / "transfer.csv", index=False)
    lines = ["| model | evaluated on | distribution | odd-one-out acc. [95% CI] | ceiling (lower–upper; true) "
             "| RSA Spearman [95% CI] | RSA ceiling |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        rc = f"{r['rsa_ceiling']:.3f}" if r["rsa_ceiling"] is not None else "—"
        lines.append(f"| {r['model']} | {r['evaluated_on']} | {r['distribution']} | {r['ooo_accuracy']:.3f} "
                     f"[{r['ooo_ci_low']:.3f}, {r['ooo_ci_high']:.3f}] | {r['ooo_ceiling_lower']:.3f}–"
                     f"{r['ooo_ceiling_upper']:.3f}; {r['true_ceiling_test']:.3f} | {r['rsa_spearman']:+.3f} "
                     f"[{r['rsa_ci_low']:+.3f}, {r['rsa_ci_high']:+.3f}] | {rc} |")
    (out / "transfer.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))

    att_lines = ["| fine-tuned on | clips of | method | agent ratio base [CI] | fine-tuned [CI] | change [CI] "
                 "| clips up |",
                 "|---|---|---|---|---|---|---|"]
    for tk in styles:
        for key in styles:
            d = out / key
            target = out / "attention" / f"train_{tk}__on_{key}"
            if not (target / "summary.json").exists():
                bgs(["attention", "--checkpoint", str(out / f"train_{tk}"), "--stimuli",
                     str(d / "video_mapping.csv"), "--videos", str(d / "videos"), "--masks", str(d / "masks"),
                     "--split", str(d / "test.csv"), "--store", str(out / "store" / key), "--out", str(target),
                     "--n-bootstrap", str(a.n_bootstrap), "--max-overlays", "4"],
                    timings, f"attention {tk} on {key}")
            s = json.loads((target / "summary.json").read_text())
            for meth, sh in s["shift"].items():
                b, f = s["models"]["base"][meth], s["models"]["fine-tuned"][meth]
                ci = lambda c: f"[{c[0]:.3f}, {c[1]:.3f}]" if c else "—"  # noqa: E731
                att_lines.append(
                    f"| {tk} | {key} ({styles[key]}) | {meth} | {b['agent_ratio']:.3f} {ci(b['agent_ratio_ci'])} | "
                    f"{f['agent_ratio']:.3f} {ci(f['agent_ratio_ci'])} | {sh['agent_ratio_change']:+.4f} "
                    f"{ci(sh['agent_ratio_change_ci'])} | {sh['agent_ratio_clips_up']}/{sh['n_clips']} |")
    (out / "attention.md").write_text("\n".join(att_lines) + "\n")
    print("\n".join(att_lines))
    timings["total"] = round(time.perf_counter() - t_all, 1)
    (out / "timings.json").write_text(json.dumps(timings, indent=2) + "\n")
    print(json.dumps(timings, indent=2))


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
