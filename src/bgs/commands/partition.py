"""``bgs partition``: variance partitioning of human dissimilarity among 2 or 3 models.

    bgs partition --embeddings video.npz --embeddings caption.npz --names video,caption \\
        --triplets all_triplets.csv --format garcia2025 [--split test.csv] [--cv-folds 5] [--json]

Register on an app with :func:`register` (its shared options are in ``bgs.commands.options``).
"""

import json
import sys
from pathlib import Path
from typing import List, Optional

import numpy as np
import typer
from rich.table import Table

from bgs.errors import ConfigError


def split_ids(split: Path, triplets, stimuli: Path | None = None) -> np.ndarray:
    """Stimulus ids listed in the first column of ``split`` (ids, or file names resolved through
    the stimulus table ``stimuli`` when given); an unknown name is an error naming its rows."""
    from bgs.data.stimuli import StimulusTable, read_stimuli
    from bgs.data.tables import first_row_number, read_table
    from bgs.errors import UnknownStimulusError

    table = (read_stimuli(stimuli) if stimuli is not None
             else StimulusTable(ids=np.asarray(triplets.stimulus_ids),
                                source=f"the triplet file {triplets.source}"))
    df = read_table(split)
    col = df.columns[0]
    try:
        ids = table.to_ids(df[col], split, col, first_row_number(split))
    except UnknownStimulusError as exc:
        if stimuli is not None:
            raise
        raise UnknownStimulusError(split, exc.problem,
                                   "list stimulus ids in the first column, or pass the stimulus "
                                   "table with --stimuli to name stimuli by file name",
                                   rows=exc.rows, column=exc.column) from None
    return np.asarray(list(dict.fromkeys(ids.tolist())), dtype=ids.dtype)


def model_names(paths: list[Path], names: str | None) -> list[str]:
    if names is None:
        out = [Path(p).stem for p in paths]
        if len(set(out)) != len(out):
            raise ConfigError(f"embedding files share a name ({', '.join(out)}); give distinct "
                              "model names with --names a,b[,c]")
        return out
    out = [s.strip() for s in names.split(",")]
    if len(out) != len(paths) or not all(out) or len(set(out)) != len(out):
        raise ConfigError(f"--names gives {len(set(out))} distinct name(s) ({names!r}) for "
                          f"{len(paths)} --embeddings file(s); give one distinct non-empty name "
                          "per file")
    return out


def _fmt(v) -> str:
    return "—" if v is None else f"{v:.4f}"


def report_table(report: dict) -> Table:
    ins, cv = report["in_sample"], report["cross_validated"]
    t = Table(title=f"Variance partitioning of human D ({report['metric']} model dissimilarity)",
              header_style="bold")
    t.add_column("component")
    t.add_column("in-sample", justify="right")
    t.add_column(f"cross-validated ({cv['cv_folds']} folds)" if cv else "cross-validated",
                 justify="right")
    get = lambda d, part, k=None: None if d is None else (d[part] if k is None else d[part][k])  # noqa: E731
    for k in ins["r2"]:
        t.add_row(f"R² {k}", _fmt(get(ins, "r2", k)), _fmt(get(cv, "r2", k)))
    t.add_section()
    for k in ins["unique"]:
        t.add_row(f"unique {k}", _fmt(get(ins, "unique", k)), _fmt(get(cv, "unique", k)))
    for k in ins["shared"]:
        t.add_row(f"shared {k}", _fmt(get(ins, "shared", k)), _fmt(get(cv, "shared", k)))
    t.add_row("unexplained", _fmt(ins["unexplained"]), _fmt(get(cv, "unexplained")))
    t.add_section()
    t.add_row("pairs scored", f"{ins['n_pairs']:,}", "—" if cv is None else f"{cv['n_pairs']:,}")
    return t


def _print_report(report: dict, console) -> None:
    """The terminal table of a partition report and the definitions under it."""
    console.print(report_table(report))
    tr = report["triplets"]
    console.print(f"[dim]{tr['n_used']:,} triplets over {tr['n_stimuli']:,} stimuli; "
                  f"{report['in_sample']['n_observed_pairs']:,} observed pairs. "
                  f"{report['in_sample']['definition']}.[/dim]")
    if report["cross_validated"]:
        console.print(f"[dim]{report['cross_validated']['definition']}.[/dim]")


def _write_partition_run(run: Path, report: dict, config: dict) -> None:
    """The ``--run`` folder: the report in ``metrics.json`` and one long table of its parts."""
    import pandas as pd

    from bgs.report.rundir import RunHeader, command_line, write_run

    rows = [{"mode": mode, "part": part, "component": k, "value": v}
            for mode in ("in_sample", "cross_validated") if report.get(mode)
            for part in ("r2", "unique", "shared") for k, v in report[mode][part].items()]
    header = RunHeader("partition", "bgs partition: " + " vs ".join(config["names"]),
                       command_line(["bgs", "partition"]), config)
    write_run(run, header, {"partition": report}, {"partition": pd.DataFrame(rows)})


def register(app: typer.Typer) -> None:
    """Add the ``partition`` command to ``app`` (uses ``bgs.commands.options``' shared options and loader,
    so call it after they are defined)."""
    from bgs.commands import options as opts

    @app.command("partition")
    def partition(
            embeddings: List[Path] = typer.Option(..., "--embeddings", "-e",
                                                  help="Embeddings file of one model (.npz, "
                                                       ".parquet, .safetensors); give 2 or 3."),
            names: Optional[str] = typer.Option(None, "--names",
                                                help="Model names, comma-separated, one per "
                                                     "--embeddings (default: the file names)."),
            triplets: Path = typer.Option(..., "--triplets", "-t",
                                          help="Triplet file (CSV, TSV, Parquet, JSONL)."),
            format: str = opts.FormatOpt, columns: Optional[str] = opts.ColumnsOpt,
            id_type: Optional[str] = opts.IdTypeOpt, stimuli: Optional[Path] = opts.StimuliOpt,
            on_error: opts.OnError = opts.OnErrorOpt, max_catch_failure: float = opts.CatchOpt,
            min_rt: Optional[float] = opts.MinRtOpt, max_rt: Optional[float] = opts.MaxRtOpt,
            min_median_rt: Optional[float] = opts.MinMedianRtOpt,
            split: Optional[Path] = typer.Option(
                None, "--split", help="Use only the triplets among the stimuli listed in this "
                                      "file (first column: ids, or file names with --stimuli)."),
            metric: str = typer.Option("cosine", "--metric",
                                       help="Model dissimilarity: cosine, correlation, "
                                            "euclidean or dot."),
            layer: Optional[str] = typer.Option(None, "--layer",
                                                help="Embedding layer (default: the first)."),
            cv_folds: int = typer.Option(5, "--cv-folds",
                                         help="Stimulus folds for the cross-validated "
                                              "partition (0: in-sample only)."),
            seed: int = typer.Option(0, "--seed", help="Seed of the stimulus folds."),
            weighted: bool = typer.Option(False, "--weighted",
                                          help="Weight each pair by its co-occurrence count."),
            as_json: bool = opts.JsonOpt,
            output: Optional[Path] = opts.JsonOutOpt,
            run: Optional[Path] = opts.RunOpt):
        """Unique and shared variance of human dissimilarity explained by 2 or 3 models
        (in-sample and cross-validated over stimuli)."""
        from bgs.embeddings import Embeddings
        from bgs.io import ensure_writable, write_json
        from bgs.report.rundir import new_run_dir

        if run is not None:
            new_run_dir(run, create=False)
            ensure_writable(run, folder=True)
        if output is not None:
            ensure_writable(output)
        if not 2 <= len(embeddings) <= 3:
            raise ConfigError(f"give 2 or 3 --embeddings files, got {len(embeddings)}")
        if cv_folds < 0 or cv_folds == 1:
            raise ConfigError(f"--cv-folds must be 0 (off) or at least 2, got {cv_folds}")
        labels = model_names(embeddings, names)
        embs = {name: Embeddings.load(p) for name, p in zip(labels, embeddings)}
        ts = opts.load_triplets(triplets, format, columns, id_type, stimuli, on_error, max_catch_failure,
                       min_rt, max_rt, min_median_rt)
        from bgs.metrics.partition import partition_report

        n_read = len(ts)
        if split is not None:
            ts = ts.restrict(split_ids(split, ts, stimuli))
            opts.require_triplets(ts, split)
        if metric in ("cosine", "correlation"):
            for e in embs.values():
                opts.require_defined(e, ts, metric, layer)
        report = partition_report(ts, embs, metric=metric, layer=layer, cv_folds=cv_folds,
                                  seed=seed, weighted=weighted, paths=dict(zip(labels, embeddings)))
        report["triplets"].update(n_valid=n_read, split=None if split is None else str(split))
        if output is not None:
            write_json(output, report)
        if run is not None:
            _write_partition_run(run, report, {"embeddings": [str(p) for p in embeddings], "names": labels,
                                               "triplets": str(triplets), "metric": metric,
                                               "cv_folds": cv_folds, "seed": seed})
        if as_json:
            sys.stdout.write(json.dumps(report, indent=2) + "\n")
            return
        _print_report(report, opts.out)
