"""``bgs evaluate``: how well embeddings match human odd-one-out judgments."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from bgs.commands import options as opts
from bgs.commands.options import load_split_ids


def _fmt(entry: dict, key: str = "ci") -> str:
    ci = entry.get(key)
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "—"


def register(app: typer.Typer) -> None:
    @app.command("evaluate")
    def evaluate(
        embeddings: Path = typer.Option(..., "--embeddings", "-e",
                                        help="Embeddings file (.npz with ids/embeddings, Parquet "
                                             "with id/embedding, or .safetensors)."),
        triplets: Path = typer.Option(..., "--triplets", "-t", help="Triplet file."),
        format: str = opts.FormatOpt, columns: Optional[str] = opts.ColumnsOpt,
        id_type: Optional[str] = opts.IdTypeOpt, stimuli: Optional[Path] = opts.StimuliOpt,
        on_error: opts.OnError = opts.OnErrorOpt, max_catch_failure: float = opts.CatchOpt,
        split: Optional[Path] = typer.Option(
            None, "--split", help="Evaluate only among the stimuli listed in this file (e.g. "
                                  "test.csv): triplets with all three stimuli inside."),
        metric: str = typer.Option("cosine", "--metric",
                                   help="Model similarity: cosine, correlation, euclidean, dot."),
        layer: Optional[str] = typer.Option(None, "--layer", help="Embedding layer to use."),
        ties: str = typer.Option("fractional", "--ties",
                                 help="Odd-one-out ties: fractional (1/k) or wrong (0)."),
        n_bootstrap: int = typer.Option(1000, min=0, help="Bootstrap resamples for CIs (0: none)."),
        n_permutations: int = typer.Option(1000, min=0,
                                           help="Stimulus-label permutations for p-values (0: none)."),
        seed: int = typer.Option(0, help="Seed of every resampling."),
        as_json: bool = opts.JsonOpt,
        output: Optional[Path] = opts.JsonOutOpt,
        run: Optional[Path] = opts.RunOpt,
    ):
        """Odd-one-out accuracy, two-way accuracy and RSA with CIs, p-values and ceilings."""
        return _evaluate(embeddings, triplets, format, columns, id_type, stimuli, on_error,
                         max_catch_failure, split, metric, layer, ties, n_bootstrap, n_permutations,
                         seed, as_json, output, run)


def _evaluate(embeddings, triplets, format, columns, id_type, stimuli, on_error, max_catch_failure,
              split, metric, layer, ties, n_bootstrap, n_permutations, seed, as_json, output, run):
    """The work of ``bgs evaluate`` (its options, in order)."""
    from bgs.embeddings import Embeddings
    from bgs.io import ensure_writable, write_json
    from bgs.metrics.evaluate import evaluate_embeddings
    from bgs.report.rundir import new_run_dir

    if run is not None:
        new_run_dir(run, create=False)  # fail before the work, not after
        ensure_writable(run, folder=True)
    if output is not None:
        ensure_writable(output)
    from bgs.data.anchor import is_anchor_format

    if is_anchor_format(format):
        from bgs.commands.anchor import anchor_evaluate

        return anchor_evaluate(embeddings, triplets, format, columns, id_type, stimuli, on_error, split,
                               metric, layer, n_bootstrap, n_permutations, seed, as_json, output)

    ts = opts.load_triplets(triplets, format, columns, id_type, stimuli, on_error, max_catch_failure,
                   None, None, None)
    if split is not None:
        ts = ts.restrict(load_split_ids(split, stimuli))
        opts.require_triplets(ts, split)
    emb = Embeddings.load(embeddings)
    opts.require_defined(emb, ts, metric, layer)
    with opts.err.status(f"evaluating on {len(ts):,} triplets ({n_bootstrap} bootstrap "
                        f"resamples, {n_permutations} permutations) ..."):
        result = evaluate_embeddings(emb, ts, metric=metric, layer=layer, ties=ties,
                                     n_bootstrap=n_bootstrap, n_permutations=n_permutations,
                                     seed=seed)
    result["triplets"] = str(triplets)
    result["split"] = str(split) if split else None
    if output is not None:
        write_json(output, result)
    if run is not None:
        _write_run_dir(run, embeddings, triplets, format, split, metric, layer, ties, n_bootstrap,
                       n_permutations, seed, result)
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
        return
    title = (f"{embeddings.name} vs {triplets.name}{f' ({split.name})' if split else ''}: "
             f"{result['n_triplets']:,} triplets, {result['n_stimuli']} stimuli, "
             f"{result['n_pairs']:,} observed pairs")
    opts.out.print(_result_table(result, title))
    opts.out.print(NOTE)


def _write_run_dir(run, embeddings, triplets, format, split, metric, layer, ties, n_bootstrap,
                   n_permutations, seed, result) -> None:
    """Write the run folder of one ``bgs evaluate`` result."""
    import pandas as pd

    from bgs.report.rundir import RunHeader, command_line, score_row, write_run

    name = embeddings.stem
    config = {"embeddings": str(embeddings), "triplets": str(triplets),
              "format": format, "split": str(split) if split else None, "metric": metric,
              "layer": layer, "ties": ties, "n_bootstrap": n_bootstrap,
              "n_permutations": n_permutations, "seed": seed}
    entry = {"label": name, "family": "model", "stage": "evaluated", "metric": metric,
             "eval": result}
    header = RunHeader("evaluate", f"bgs evaluate: {name}", command_line(["bgs", "evaluate"]), config)
    write_run(run, header, {"models": {name: entry}},
              {"results": pd.DataFrame([score_row(name, entry)])})


NOTE = ("[dim]odd-one-out acc.: 3-way, the model's odd one out is outside its most similar pair. "
        "*two-way acc.: the paper's anchor 2AFC variant (chance 1/2), mean over both anchors. 95% CI: "
        "bootstrap over triplets (accuracies) or stimuli (RSA); CI²: resampling the other unit. p: "
        "stimulus-label permutation. Odd-one-out ceiling: lower–upper bound from repeated triads; RSA "
        "ceiling: √(split-half reliability), for r² the reliability itself.[/dim]")


def _result_table(result: dict, title: str):
    """The terminal table of an evaluation: every score with its CIs, p-value, chance, ceiling."""
    t = Table(title=title, header_style="bold")
    for col in ("score", "value", "95% CI", "95% CI²", "p", "chance", "ceiling"):
        t.add_column(col, justify="left" if col == "score" else "right")
    o = result["ooo_accuracy"]
    t.add_row("odd-one-out acc.", f"{o['value']:.3f}", _fmt(o), _fmt(o, "ci_stimuli"),
              f"{o.get('p_value', float('nan')):.3g}", "0.333",
              f"{o['ceiling']['lower']:.3f}–{o['ceiling']['upper']:.3f}")
    w = result["two_way_accuracy_symmetric"]
    t.add_row("two-way acc.*", f"{w['value']:.3f}", _fmt(w),
              _fmt(w, "ci_stimuli"), f"{w.get('p_value', float('nan')):.3g}", "0.5", "")
    for m in ("spearman", "pearson"):
        r = result[f"rsa_{m}"]
        t.add_row(f"RSA {m} r", f"{r['value']:.3f}", _fmt(r), _fmt(r, "ci_triplets"),
                  f"{r.get('p_value', float('nan')):.3g}", "0",
                  f"{r['ceiling']:.3f}" if "ceiling" in r else "")
        t.add_row(f"  r² ({m})", f"{r['explained_variance']:.3f}", "", "",
                  "", "0", f"{r['explained_variance_ceiling']:.3f}"
                  if "explained_variance_ceiling" in r else "")
    k = result["rsa_kendall_tau_a"]
    t.add_row("RSA Kendall τa", f"{k['value']:.3f}", "", "", "", "0", "")
    return t
