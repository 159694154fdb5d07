"""``bgs probe``: cross-validated linear (ridge) probes from embeddings to attribute ratings."""

from __future__ import annotations

import json
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd
import typer
from rich.table import Table

from bgs.commands import options as opts
from bgs.errors import ConfigError, UnknownStimulusError

out, err = opts.out, opts.err


def _parse_alphas(text: str) -> np.ndarray:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"--alphas must be comma-separated numbers, got {text!r}") from None
    if not values:
        raise ConfigError("--alphas is empty")
    return np.asarray(values)


def _select_columns(attrs: pd.DataFrame, columns: str, path: Path) -> pd.DataFrame:
    """The requested columns, by their name in the table or with the common prefix stripped."""
    wanted = [c.strip() for c in columns.split(",") if c.strip()]
    if not wanted:
        raise ConfigError("--columns is empty")
    picked = []
    for c in wanted:
        if c in attrs.columns:
            picked.append(c)
            continue
        match = [a for a in attrs.columns if c.endswith(f"-{a}") or c.endswith(f"_{a}")]
        if len(match) != 1:
            raise ConfigError(f"--columns: {path} has no rating column {c!r}; choose from "
                              f"{', '.join(map(str, attrs.columns))}")
        picked.append(match[0])
    return attrs[list(dict.fromkeys(picked))]


def _read_split_part(stimuli, path: Path, name: str) -> np.ndarray:
    """Stimulus ids listed in a split file: the first column (as StimulusSplit.from_files
    reads it), else the one id or file-name column that names only known stimuli."""
    from bgs.data.splits import StimulusSplit
    from bgs.data.stimuli import FILE_COLUMNS, ID_COLUMNS
    from bgs.data.tables import first_row_number, read_table

    try:
        return StimulusSplit.from_files(stimuli, **{name: path})[name]
    except UnknownStimulusError as first_error:
        df = read_table(path)
        for col in [c for c in ID_COLUMNS + FILE_COLUMNS if c in df.columns and c != df.columns[0]]:
            try:
                return stimuli.to_ids(df[col], path, col, first_row_number(path))
            except UnknownStimulusError:
                continue
        raise first_error from None


def _embeddings_by_table_id(emb, stimuli):
    """Embeddings keyed by the stimuli's file names, re-keyed to the stimulus table's ids."""
    from bgs.embeddings import Embeddings

    if stimuli.files is None or (pd.Index(stimuli.ids).get_indexer(emb.ids) >= 0).all():
        return emb
    pos = pd.Index(stimuli.files).get_indexer(pd.Index(emb.ids))
    if (pos < 0).any():
        return emb  # not (all) file names: aligning will name the stimuli without embeddings
    return Embeddings(stimuli.ids[pos], emb.layers, emb.source)


def _fmt(v: float, digits: int = 3) -> str:
    return "—" if v is None or not np.isfinite(v) else f"{v:.{digits}f}"


def _fmt_ci(c) -> str:
    return "—" if not all(np.isfinite(c)) else f"[{c[0]:.3f}, {c[1]:.3f}]"


def _fmt_alphas(alphas: list[float]) -> str:
    uniq = sorted(set(alphas))
    if len(uniq) == 1:
        return f"{uniq[0]:.3g}"
    return " ".join(f"{a:.3g}" for a in alphas)


def _table(result) -> Table:
    where = (f"{result.n_folds}-fold over stimuli, seed {result.seed}" if result.mode == "kfold"
             else "given train/test split")
    t = Table(title=f"Linear probes (ridge; {where}; {result.n_stimuli} stimuli)", header_style="bold")
    for col, just in (("attribute", "left"), ("R²", "right"), ("95% CI", "right"),
                      ("Pearson r", "right"), ("95% CI ", "right"), ("n", "right"),
                      ("alpha per fold", "right")):
        t.add_column(col, justify=just)
    for s in result.scores:
        t.add_row(s.attribute, _fmt(s.r2), _fmt_ci(s.r2_ci), _fmt(s.pearson_r), _fmt_ci(s.r_ci),
                  f"{s.n:,}", _fmt_alphas(s.alphas))
    return t


def _inputs(embeddings: Path, attributes: Path, stimuli: Path | None, columns: str | None,
            train: Path | None, test: Path | None):
    """(embeddings, attribute table, train/test split or None) of the command's files."""
    from bgs.data.stimuli import read_stimuli
    from bgs.embeddings import Embeddings

    table = read_stimuli(stimuli if stimuli is not None else attributes)
    table = table.with_attributes(attributes)
    attrs = table.attributes
    if columns is not None:
        attrs = _select_columns(attrs, columns, attributes)
    if attrs.shape[1] == 0:
        raise ConfigError(f"{attributes} has no numeric rating columns; name them with --columns")
    emb = Embeddings.load(embeddings)
    if stimuli is not None:
        emb = _embeddings_by_table_id(emb, table)
    split = None
    if train is not None:
        split = (_read_split_part(table, train, "train"), _read_split_part(table, test, "test"))
    return emb, attrs, split


def probe(embeddings: Path = typer.Option(..., "--embeddings", "-e",
                                          help="Embeddings file (.npz, .parquet, .safetensors)."),
          attributes: Path = typer.Option(..., "--attributes", "-a",
                                          help="Attribute ratings (CSV/Parquet), one row per "
                                               "stimulus, keyed by id or file name."),
          stimuli: Optional[Path] = typer.Option(None, "--stimuli", "-s",
                                                 help="Stimulus table mapping ids to file names "
                                                      "(when the ratings are keyed by file name)."),
          columns: Optional[str] = typer.Option(None, "--columns",
                                                help="Comma-separated attribute columns (default: "
                                                     "every numeric column; a common prefix such "
                                                     "as 'rating-' may be left out)."),
          folds: Optional[int] = typer.Option(None, "--folds", "-k",
                                              help="k-fold cross-validation over stimuli "
                                                   "(default 5)."),
          train: Optional[Path] = typer.Option(None, "--train",
                                               help="File listing the training stimuli (with --test)."),
          test: Optional[Path] = typer.Option(None, "--test",
                                              help="File listing the held-out stimuli (with --train)."),
          layer: Optional[str] = typer.Option(None, "--layer",
                                              help="Embedding layer (default: the first)."),
          alphas: Optional[str] = typer.Option(None, "--alphas",
                                               help="Comma-separated ridge penalties (default: "
                                                    "17 values from 1e-3 to 1e5)."),
          n_bootstrap: int = typer.Option(1000, "--n-bootstrap",
                                          help="Bootstrap resamples of held-out stimuli for the "
                                               "confidence intervals (0: none)."),
          seed: int = typer.Option(0, "--seed", help="Seed of the folds and the bootstrap."),
          as_json: bool = opts.JsonOpt,
          output: Optional[Path] = opts.JsonOutOpt,
          run: Optional[Path] = opts.RunOpt):
    """Ridge probes from embeddings to attribute ratings: R² and Pearson r per attribute.

    Folds over stimuli; penalty by leave-one-out inside each training fold; no test leakage.
    """
    from bgs.io import write_json
    from bgs.metrics.probes import linear_probe
    from bgs.report.rundir import RunHeader, command_line, new_run_dir, write_run

    if run is not None:
        new_run_dir(run, create=False)
    if (train is None) != (test is None):
        raise ConfigError("give both --train and --test (or neither, for k-fold)")
    if train is not None and folds is not None:
        raise ConfigError("give either --folds or --train/--test, not both")
    grid = _parse_alphas(alphas) if alphas is not None else None

    emb, attrs, split = _inputs(embeddings, attributes, stimuli, columns, train, test)

    with err.status("fitting probes ...") if err.is_terminal else nullcontext():
        result = linear_probe(emb, attrs, folds=folds, split=split, alphas=grid,
                              n_bootstrap=n_bootstrap, seed=seed, layer=layer)
    payload = result.to_dict()
    payload["embeddings"] = str(embeddings)
    payload["attributes_file"] = str(attributes)
    if output is not None:
        write_json(output, payload)
    if run is not None:
        frame = result.to_frame()
        header = RunHeader("probe", f"bgs probe: {embeddings.stem}", command_line(["bgs", "probe"]),
                           {"embeddings": str(embeddings), "attributes": str(attributes), "folds": folds,
                            "train": str(train) if train else None, "test": str(test) if test else None,
                            "seed": seed, "n_bootstrap": n_bootstrap})
        write_run(run, header,
                  {"probes": {embeddings.stem: json.loads(frame.to_json(orient="records"))}},
                  {"probes": frame.astype({"alphas": str})})
    if as_json:
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return
    out.print(_table(result))
    edge = result.alphas_at_edge()
    if edge:
        out.print(f"[dim]chosen alpha at the end of the grid for: "
                  f"{', '.join(f'{a} ({k} fold(s))' for a, k in edge.items())}; "
                  f"consider a wider --alphas grid[/dim]")
    out.print(f"[dim]R²: {payload['r2_definition']}; CIs: {payload['ci'] or 'none'}[/dim]")


def register(app: typer.Typer) -> None:
    app.command("probe")(probe)
