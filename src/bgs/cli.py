"""The ``bgs`` command. Errors on bad input: one line on stderr, exit status 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from bgs import __version__
from bgs.commands.options import (
    CatchOpt,
    ColumnsOpt,
    FormatOpt,
    IdTypeOpt,
    MaxRtOpt,
    MinMedianRtOpt,
    MinRtOpt,
    OnError,
    OnErrorOpt,
    StimuliOpt,
    err,
    load_triplets,
    out,
)
from bgs.errors import BGSError

app = typer.Typer(help="bgs — measure and fine-tune model representations against human "
                       "odd-one-out judgments.", no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False)
data_app = typer.Typer(help="Validate and summarise odd-one-out triplet files.", no_args_is_help=True)
datasets_app = typer.Typer(help="List and fetch public datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(datasets_app, name="datasets")

def _report_table(report) -> Table:
    t = Table(title=f"{report.source}", show_header=True, header_style="bold")
    t.add_column("rows")
    t.add_column("count", justify="right")
    t.add_row("in file", f"{report.n_rows:,}")
    for reason, n in report.dropped.items():
        t.add_row(f"dropped: {reason}", f"{n:,}")
    t.add_row("catch trials (repeated stimulus)", f"{report.n_catch:,}")
    t.add_row("  failed (odd ≠ the non-repeated stimulus)", f"{report.n_catch_failed:,}")
    if report.n_catch_unscorable:
        t.add_row("  unscorable (all three identical)", f"{report.n_catch_unscorable:,}")
    for reason, n in report.screened.items():
        t.add_row(f"screened out: {reason}", f"{n:,}")
    t.add_row("[bold]valid triplets[/bold]", f"[bold]{report.n_valid:,}[/bold]")
    t.add_row("participants (with valid triplets)", f"{report.n_participants:,}")
    if report.excluded_participants:
        t.add_row("participants excluded", f"{len(report.excluded_participants):,}")
    return t


@data_app.command("validate")
def data_validate(file: Path = typer.Argument(..., metavar="FILE", help="Triplet file (CSV, TSV, Parquet, JSONL)."),
                  format: str = FormatOpt, columns: Optional[str] = ColumnsOpt,
                  id_type: Optional[str] = IdTypeOpt, stimuli: Optional[Path] = StimuliOpt,
                  on_error: OnError = OnErrorOpt, max_catch_failure: float = CatchOpt,
                  min_rt: Optional[float] = MinRtOpt, max_rt: Optional[float] = MaxRtOpt,
                  min_median_rt: Optional[float] = MinMedianRtOpt):
    """Check a triplet file: columns, ids, odd one out, catch trials and screening."""
    ts = load_triplets(file, format, columns, id_type, stimuli, on_error, max_catch_failure, min_rt,
               max_rt, min_median_rt)
    out.print(_report_table(ts.report))
    for p, why in ts.report.excluded_participants.items():
        out.print(f"excluded participant {p}: {why}")
    out.print(f"[green]OK[/green]: {len(ts):,} valid triplets over {ts.n_stimuli:,} stimuli")


@data_app.command("stats")
def data_stats(file: Path = typer.Argument(..., metavar="FILE", help="Triplet file (CSV, TSV, Parquet, JSONL)."),
               format: str = FormatOpt, columns: Optional[str] = ColumnsOpt,
               id_type: Optional[str] = IdTypeOpt, stimuli: Optional[Path] = StimuliOpt,
               on_error: OnError = OnErrorOpt, max_catch_failure: float = CatchOpt,
               min_rt: Optional[float] = MinRtOpt, max_rt: Optional[float] = MaxRtOpt,
               min_median_rt: Optional[float] = MinMedianRtOpt,
               n_splits: int = typer.Option(100, help="Random participant splits for split-half reliability."),
               n_bootstrap: int = typer.Option(1000, help="Bootstrap resamples for confidence intervals (0: none)."),
               seed: int = typer.Option(0, help="Seed of splits and bootstraps."),
               as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
               output: Optional[Path] = typer.Option(None, "--out", "-o",
                                                     help="Also write the JSON to this file.")):
    """Row accounting, reliability (split-half, Spearman–Brown) and the odd-one-out ceiling."""
    from bgs.human.summary import triplet_stats
    from bgs.io import write_json

    ts = load_triplets(file, format, columns, id_type, stimuli, on_error, max_catch_failure, min_rt,
               max_rt, min_median_rt)
    with err.status(f"reliability: {n_splits} splits, {n_bootstrap} bootstrap resamples ..."):
        stats = triplet_stats(ts, n_splits=n_splits, n_bootstrap=n_bootstrap, seed=seed)
    if output is not None:
        write_json(output, stats)
    if as_json:
        sys.stdout.write(json.dumps(stats, indent=2) + "\n")
        return
    out.print(_report_table(ts.report))
    t = Table(title="Human similarity and noise ceilings", header_style="bold")
    t.add_column("statistic")
    t.add_column("value", justify="right")
    t.add_column("95% CI", justify="right")
    ci = stats["split_half_spearman_brown_ci"]
    fmt_ci = lambda c: f"[{c[0]:.3f}, {c[1]:.3f}]" if c else "—"  # noqa: E731
    t.add_row("stimuli", f"{stats['n_stimuli']:,}", "")
    t.add_row("observed pairs / all pairs", f"{stats['n_observed_pairs']:,} / {stats['n_pairs']:,}", "")
    t.add_row("distinct triads / answered more than once",
              f"{stats['n_triads']:,} / {stats['n_repeated_triads']:,}", "")
    t.add_row("split-half reliability (Spearman, Spearman–Brown)",
              f"{stats['split_half_spearman_brown']:.3f}", fmt_ci(ci))
    sh = stats["split_half"]["pearson"]
    t.add_row("split-half reliability (Pearson, Spearman–Brown)", f"{sh['spearman_brown']:.3f}",
              fmt_ci(sh["ci"]))
    oc = stats["ooo_ceiling"]
    t.add_row("odd-one-out ceiling, lower (3-way, chance 0.333)", f"{oc['lower']:.3f}", fmt_ci(oc["lower_ci"]))
    t.add_row("odd-one-out ceiling, upper", f"{oc['upper']:.3f}", fmt_ci(oc["upper_ci"]))
    out.print(t)
    out.print(f"[dim]ceiling: {oc['definition']}[/dim]")


@datasets_app.command("list")
def datasets_list():
    """The datasets bgs can fetch."""
    from bgs.data.registry import list_datasets

    t = Table(header_style="bold")
    for col in ("name", "files", "format", "description"):
        t.add_column(col)
    for d in list_datasets():
        t.add_row(d.name, str(len(d.files)), d.format, d.description)
    out.print(t)


@datasets_app.command("fetch")
def datasets_fetch(name: str = typer.Argument(..., help="Dataset name (see `bgs datasets list`)."),
                   dest: Path = typer.Argument(..., help="Folder to write the files into."),
                   mirror: Optional[str] = typer.Option(
                       None, "--mirror", help="Base URL or local folder holding the files "
                                              "(default: $BGS_DATASET_MIRROR, else the authors' "
                                              "repository at the pinned commit)."),
                   force: bool = typer.Option(False, "--force", help="Download again even if present.")):
    """Download a dataset, verify every file's SHA-256, resume partial downloads."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    from bgs.data.registry import fetch

    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                  TransferSpeedColumn(), console=err, transient=True,
                  disable=not err.is_terminal) as progress:
        tasks: dict[str, int] = {}

        def update(file_name: str, done: int, total: int | None):
            if file_name not in tasks:
                tasks[file_name] = progress.add_task(file_name, total=total)
            progress.update(tasks[file_name], completed=done, total=total)

        report = fetch(name, dest, mirror=mirror, progress=update, force=force)
    out.print(report.summary())


def _register_commands() -> None:
    """Every command group; heavy dependencies are imported inside the commands."""
    from bgs.commands import attention, behavior, demo, embed, evaluate, partition, probe, report, study, synth, train

    for module in (evaluate, partition, probe, embed, train, synth, behavior, demo, study, report,
                   attention):
        module.register(app)


def version_callback(value: bool):
    if value:
        out.print(f"bgs {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=version_callback,
                                       is_eager=True, help="Print the version and exit.")):
    pass


_register_commands()


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app; a :class:`BGSError` becomes one line on stderr and exit 2.

    Usage errors are reported by the argument parser itself (also exit status 2).
    """
    try:
        app(args=argv, standalone_mode=True, prog_name="bgs")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BGSError as exc:
        sys.stderr.write(f"bgs: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("bgs: interrupted\n")
        return 130
    return 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()
