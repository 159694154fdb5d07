"""Options and helpers shared by the ``bgs`` commands (kept apart from cli.py so that
command modules can import them without an import cycle)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer
from rich.console import Console

out = Console()
err = Console(stderr=True)


class OnError(str, Enum):
    fail = "fail"
    drop = "drop"


# ---------------------------------------------------------------------- shared options
FormatOpt = typer.Option("default", "--format", "-f",
                         help="Column format: 'default' (participant, a, b, c, odd) or "
                              "'garcia2025' (participation, stim1_name, ..., choice).")
ColumnsOpt = typer.Option(None, "--columns",
                          help="Map fields to your columns, e.g. 'participant=subj,a=s1,b=s2,"
                               "c=s3,odd=choice' (fields: participant a b c odd response_time "
                               "session trial).")
IdTypeOpt = typer.Option(None, "--id-type", help="Stimulus id type: int (default) or str.")
StimuliOpt = typer.Option(None, "--stimuli", "-s", exists=False,
                          help="Stimulus table (CSV/Parquet with an id and/or file column); ids "
                               "outside it are errors.")
OnErrorOpt = typer.Option(OnError.fail, "--on-error",
                          help="fail: stop at the first kind of invalid row; drop: drop invalid "
                               "rows and report the count per reason.")
CatchOpt = typer.Option(0.5, "--max-catch-failure",
                        help="Exclude participants failing more than this share of catch trials "
                             "(a negative value disables it).")
MinRtOpt = typer.Option(None, "--min-rt", help="Drop trials answered faster than this (seconds).")
MaxRtOpt = typer.Option(None, "--max-rt", help="Drop trials answered slower than this (seconds).")
MinMedianRtOpt = typer.Option(None, "--min-median-rt",
                              help="Exclude participants whose median response time is below "
                                   "this (seconds).")
JsonOpt = typer.Option(False, "--json", help="Print JSON instead of the table(s).")
JsonOutOpt = typer.Option(None, "--out", "-o", help="Also write the JSON to this file.")
RunOpt = typer.Option(None, "--run", help="Also write a run directory (config, metrics.json, tables, "
                                          "plots; `bgs report DIR` makes report.html).")


def load_triplets(file: Path, format: str, columns, id_type, stimuli, on_error, max_catch, min_rt,
          max_rt, min_median_rt):
    from bgs.data.stimuli import read_stimuli
    from bgs.data.triplets import Screening, read_triplets

    screening = Screening(max_catch_failure_rate=None if max_catch < 0 else max_catch,
                          min_response_time=min_rt, max_response_time=max_rt,
                          min_median_response_time=min_median_rt)
    ids = read_stimuli(stimuli).ids if stimuli is not None else None
    ts = read_triplets(file, format=format, columns=columns, id_type=id_type,
                       stimulus_ids=ids, on_error=on_error.value, screening=screening)
    require_triplets(ts, file)
    return ts


def require_triplets(ts, source, participants: int = 0, what: str = "") -> None:
    """Degenerate data named: no valid triplet left, or too few participants for ``what``."""
    from bgs.errors import DataFileError

    if len(ts) == 0:
        r = ts.report
        gone = {**r.dropped, **r.screened, "catch trials": r.n_catch} if r is not None else {}
        why = ", ".join(f"{k}: {v:,}" for k, v in gone.items() if v) or "none with all three stimuli listed"
        raise DataFileError(source, f"no valid triplets remain ({why})",
                            "check the file, the screening options (--min-rt, --max-rt, "
                            "--max-catch-failure) and the --split")
    if ts.n_participants < participants:
        raise DataFileError(source, f"{what} needs at least {participants} participants with "
                                    f"valid triplets; the file has {ts.n_participants}",
                            "give judgments from more participants")


def require_defined(emb, ts, metric: str, layer) -> None:
    """Refuse stimuli of ``ts`` whose embedding has no ``metric`` direction (zero vectors)."""
    import numpy as np

    used = ts.stimulus_ids[np.unique(ts.triads)]
    emb.align(used, "the triplets").require_defined(metric, layer)


def load_split_ids(path: Path, stimuli: Path | None):
    """Stimulus ids listed in a split file (first column; ids, or file names via --stimuli)."""
    import pandas as pd

    from bgs.data.stimuli import read_stimuli
    from bgs.data.tables import first_row_number, read_table

    df = read_table(path)
    col = df.columns[0]
    if stimuli is not None:
        ids = read_stimuli(stimuli).to_ids(df[col], path, col, first_row_number(path))
    else:
        values = df[col]
        ids = values.astype(str).to_numpy(dtype=object) if values.dtype == object else values.to_numpy()
    return ids[~pd.Index(ids).duplicated()]  # a stimulus listed twice is listed once
