"""The ``bgs`` command. Errors on bad input: one line on stderr, exit status 2."""

from __future__ import annotations

import json
import os
import sys
import traceback
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
    require_triplets,
)
from bgs.errors import BGSError
from bgs.io import ensure_writable
from bgs.report.rundir import record_command

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
               n_splits: int = typer.Option(100, min=1,
                                            help="Random participant splits for split-half reliability."),
               n_bootstrap: int = typer.Option(1000, min=0,
                                               help="Bootstrap resamples for confidence intervals (0: none)."),
               seed: int = typer.Option(0, help="Seed of splits and bootstraps."),
               as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
               output: Optional[Path] = typer.Option(None, "--out", "-o",
                                                     help="Also write the JSON to this file.")):
    """Row accounting, reliability (split-half, Spearman–Brown) and the odd-one-out ceiling."""
    from bgs.human.summary import triplet_stats
    from bgs.io import write_json

    ts = load_triplets(file, format, columns, id_type, stimuli, on_error, max_catch_failure, min_rt,
               max_rt, min_median_rt)
    require_triplets(ts, file, participants=2, what="split-half reliability")
    if output is not None:
        ensure_writable(output)
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
    from bgs.commands import (
        attention,
        behavior,
        demo,
        embed,
        evaluate,
        export,
        partition,
        probe,
        report,
        study,
        synth,
        train,
    )

    for module in (evaluate, partition, probe, embed, train, export, synth, behavior, demo, study,
                   report, attention):
        module.register(app)


def version_callback(value: bool):
    if value:
        out.print(f"bgs {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=version_callback,
                                       is_eager=True, help="Print the version and exit."),
          debug: bool = typer.Option(False, "--debug", help="Show the Python traceback of an "
                                                            "unexpected error (also BGS_DEBUG=1).")):
    pass


_register_commands()


def main(argv: list[str] | None = None) -> int:
    """Entry point and the one error boundary of the command line.

    A :class:`BGSError` (bad input, configuration, a file that cannot be read or written)
    is one line on stderr and exit status 2, as are usage errors (reported by the argument
    parser). Anything else is a bug: one line and exit 1, with the traceback under
    ``--debug`` (or ``BGS_DEBUG=1``).
    """
    from bgs.errors import file_access_error

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("BGS_DEBUG", "") not in ("", "0")
    args = [a for a in args if a != "--debug"]
    record_command(args)  # the run directories' "command"
    try:
        status = app(args=args, standalone_mode=False, prog_name="bgs")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except _CLICK_USAGE as exc:  # usage errors: the parser's message, on one line
        if type(exc).__name__ == "NoArgsIsHelpError":
            exc.show()
            return 2
        return _fail(_usage_message(exc), exc.exit_code if exc.exit_code else 2)
    except _CLICK_ABORT:
        sys.stderr.write("bgs: interrupted\n")
        return 130
    except BGSError as exc:
        return _fail(str(exc), 2)
    except OSError as exc:  # reading or writing a path the user gave
        return _fail(str(file_access_error(exc)), 2)
    except KeyboardInterrupt:
        sys.stderr.write("bgs: interrupted\n")
        return 130
    except Exception as exc:  # noqa: BLE001 - the boundary: a bug, not bad input
        if debug:
            traceback.print_exc()
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return _fail(f"unexpected {type(exc).__name__}{': ' + reason if reason else ''} (a bug in "
                     f"bgs; run again with --debug for the traceback and report it)", 1)
    finally:
        record_command(None)
    return status if isinstance(status, int) else 0


def _click_modules() -> list:
    """click, and the copy of it that newer typer versions carry inside (typer._click)."""
    import click

    mods = [click]
    try:
        from typer import _click

        mods.append(_click)
    except ImportError:
        pass
    return mods


_CLICK_USAGE = tuple(m.ClickException for m in _click_modules())
_CLICK_ABORT = tuple(getattr(m.exceptions, "Abort", KeyboardInterrupt) for m in _click_modules())


def _usage_message(exc) -> str:
    """The parser's message (a click.ClickException), on one line, with the --help hint."""
    ctx = getattr(exc, "ctx", None)
    command = ctx.command_path if ctx is not None else "bgs"
    message = exc.format_message().strip()
    return f"{command}: {message}{'' if message.endswith('.') else '.'} Fix: see '{command} --help'"


def _fail(message: str, status: int) -> int:
    """One line on stderr (a multi-line message is joined)."""
    sys.stderr.write("bgs: error: " + " ".join(message.split("\n")) + "\n")
    return status


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()
