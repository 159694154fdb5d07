"""``bgs data validate|stats`` and ``bgs evaluate`` for anchor-triplet formats (``--format
anchor`` or ``zappos``): the same commands, the anchor definitions (bgs.human.anchor)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rich.table import Table

from bgs.commands.options import err, out


def load_anchor(file: Path, format: str, columns, id_type, stimuli, on_error):
    from bgs.data.anchor import read_anchor_triplets
    from bgs.data.stimuli import read_stimuli

    ids = read_stimuli(stimuli).ids if stimuli is not None else None
    return read_anchor_triplets(file, format=format, columns=columns, id_type=id_type,
                                stimulus_ids=ids, on_error=getattr(on_error, "value", on_error))


def anchor_validate(file: Path, format: str, columns, id_type, stimuli, on_error) -> None:
    ts = load_anchor(file, format, columns, id_type, stimuli, on_error)
    t = Table(title=f"{ts.report.source} (anchor triplets: head, close, far)", header_style="bold")
    t.add_column("rows")
    t.add_column("count", justify="right")
    t.add_row("in file", f"{ts.report.n_rows:,}")
    for reason, n in ts.report.dropped.items():
        t.add_row(f"dropped: {reason}", f"{n:,}")
    t.add_row("[bold]valid anchor triplets[/bold]", f"[bold]{len(ts):,}[/bold]")
    out.print(t)
    out.print(f"[green]OK[/green]: {len(ts):,} valid anchor triplets over {ts.n_stimuli:,} stimuli")


def anchor_stats_dict(ts, n_splits: int, seed: int) -> dict:
    import numpy as np

    from bgs.human.anchor import anchor_similarity, anchor_split_half, repeat_agreement_ceiling

    human = anchor_similarity(ts)
    n = ts.n_stimuli
    key = (ts.head.astype(np.int64) * n + np.minimum(ts.close, ts.far)) * n + np.maximum(ts.close, ts.far)
    return {**ts.report.to_dict(), "n_stimuli": n, "n_pairs": n * (n - 1) // 2,
            "n_observed_pairs": int(np.triu(human.observed, 1).sum()),
            "n_distinct_head_pairs": int(len(np.unique(key))),
            "similarity_definition": "S[x,y] = n({x,y} judged closer) / n({x,y} compared as (head, comparison))",
            "two_way_ceiling": repeat_agreement_ceiling(ts),
            "split_half": anchor_split_half(ts, n_splits=n_splits, seed=seed)}


def anchor_stats(file: Path, format: str, columns, id_type, stimuli, on_error, n_splits: int,
                 seed: int, as_json: bool, output: Path | None) -> None:
    from bgs.io import write_json

    ts = load_anchor(file, format, columns, id_type, stimuli, on_error)
    with err.status("anchor similarity and ceilings ..."):
        stats = anchor_stats_dict(ts, n_splits, seed)
    if output is not None:
        write_json(output, stats)
    if as_json:
        sys.stdout.write(json.dumps(stats, indent=2) + "\n")
        return
    t = Table(title=f"{file.name}: anchor triplets", header_style="bold")
    t.add_column("statistic")
    t.add_column("value", justify="right")
    t.add_row("valid anchor triplets", f"{len(ts):,}")
    t.add_row("stimuli", f"{stats['n_stimuli']:,}")
    t.add_row("observed pairs / all pairs", f"{stats['n_observed_pairs']:,} / {stats['n_pairs']:,}")
    t.add_row("distinct (head, {close, far})", f"{stats['n_distinct_head_pairs']:,}")
    c, s = stats["two_way_ceiling"], stats["split_half"]
    t.add_row("two-way accuracy ceiling", f"{c['value']:.3f}" if c["value"] is not None else "none")
    t.add_row("split-half reliability (Spearman–Brown)",
              f"{s['spearman_brown']:.3f}" if s["spearman_brown"] is not None else "none")
    out.print(t)
    for entry in (c, s):
        if "reason" in entry:
            out.print(f"[yellow]{entry['reason']}[/yellow]")
    from rich.markup import escape

    out.print(f"[dim]human similarity: {escape(stats['similarity_definition'])}[/dim]")


def anchor_evaluate(embeddings: Path, triplets: Path, format: str, columns, id_type, stimuli, on_error,
                    split: Path | None, metric: str, layer, n_bootstrap: int, n_permutations: int,
                    seed: int, as_json: bool, output: Path | None) -> None:
    from bgs.commands.options import load_split_ids
    from bgs.embeddings import Embeddings
    from bgs.io import write_json
    from bgs.metrics.anchor import evaluate_anchor_embeddings

    ts = load_anchor(triplets, format, columns, id_type, stimuli, on_error)
    if split is not None:
        ts = ts.restrict(load_split_ids(split, stimuli))
    with err.status(f"evaluating on {len(ts):,} anchor triplets ..."):
        result = evaluate_anchor_embeddings(Embeddings.load(embeddings), ts, metric=metric, layer=layer,
                                            n_bootstrap=n_bootstrap, n_permutations=n_permutations, seed=seed)
    result.update(triplets=str(triplets), split=str(split) if split else None)
    if output is not None:
        write_json(output, result)
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
        return
    t = Table(title=f"{embeddings.name} vs {triplets.name}: {result['n_triplets']:,} anchor triplets, "
                    f"{result['n_stimuli']} stimuli", header_style="bold")
    for col in ("score", "value", "95% CI", "95% CI (stimuli)", "chance", "ceiling"):
        t.add_column(col, justify="left" if col == "score" else "right")
    fmt = lambda ci: f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "—"  # noqa: E731
    a = result["anchor_accuracy"]
    t.add_row("two-way accuracy", f"{a['value']:.3f}", fmt(a.get("ci")), fmt(a.get("ci_stimuli")), "0.5",
              f"{a['ceiling']:.3f}" if a["ceiling"] is not None else "none")
    for m in ("spearman", "pearson"):
        r = result[f"rsa_{m}"]
        t.add_row(f"RSA {m} r", f"{r['value']:.3f}", "", fmt(r.get("ci")), "0",
                  f"{r['ceiling']:.3f}" if r["ceiling"] is not None else "none")
    out.print(t)
    for entry in result["ceilings"].values():
        if "reason" in entry:
            out.print(f"[yellow]{entry['reason']}[/yellow]")
