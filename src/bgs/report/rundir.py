"""Run directories: every command that produces results can write one (``--run DIR``):
``config.json`` (the command and its options), ``metrics.json``, tables as CSV and Parquet,
and ``plots/``; ``bgs report DIR`` turns it into report.html. Never overwritten.

Every ``metrics.json`` — of ``bgs train``, the demo, the studies and the commands' ``--run``
folders — starts with the same typed header (:class:`RunHeader`): ``schema``, ``kind``,
``title``, ``created``, ``command`` (the argv list) and ``config``. What follows depends on
the kind, in the same names everywhere: ``models`` (name → label, family, stage, metric,
``eval``), ``training`` (objective → run, history, best_epoch, and ``start``: the scores before
training when they were a selection candidate), ``data``, ``ceilings``,
``probes``, ``partition``, ``attention``, ``timings``."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from bgs.io import atomic_path, require_new_folder, write_json

SCHEMA = 1  # the version of the run-directory layout
START_EPOCH = -1  # best_epoch of a run that kept its model before training (no epoch beat it)
KINDS = ("train", "demo", "study", "evaluate", "probe", "partition", "experiment")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


@dataclass
class RunHeader:
    """The fields every run directory's ``metrics.json`` starts with."""

    kind: str  # one of KINDS
    title: str
    command: list  # the argv of the command that made the run, e.g. ["bgs", "demo", "--quick"]
    config: dict  # the settings, as the command resolved them
    created: str = field(default_factory=_now)
    schema: int = SCHEMA

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"run kind {self.kind!r} is not one of {', '.join(KINDS)}")
        self.command = [str(a) for a in self.command]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_metrics(cls, metrics: dict) -> "RunHeader | None":
        """The header of a ``metrics.json``; None when it has none (a run written before the
        schema)."""
        if not isinstance(metrics.get("schema"), int) or metrics.get("kind") not in KINDS:
            return None
        return cls(kind=metrics["kind"], title=str(metrics.get("title", "")),
                   command=list(metrics.get("command") or []), config=dict(metrics.get("config") or {}),
                   created=str(metrics.get("created", "")), schema=metrics["schema"])


_COMMAND: list[str] | None = None  # the running bgs command line, set by bgs.cli.main


def record_command(argv: list[str] | None) -> None:
    """Remember the command line being run (``None``: none; bgs runs as a library)."""
    global _COMMAND
    _COMMAND = None if argv is None else ["bgs", *map(str, argv)]


def command_line(default: list[str]) -> list[str]:
    """The argv of the running ``bgs`` command; ``default`` when bgs runs as a library."""
    return list(_COMMAND) if _COMMAND is not None else list(default)


def new_run_dir(path: str | Path, create: bool = True) -> Path:
    """Check that ``path`` is free for a new run (absent or empty); create it with ``plots/``."""
    path = require_new_folder(path, "give a new --run folder (run directories are never overwritten)")
    if create:
        (path / "plots").mkdir(parents=True, exist_ok=True)
    return path


def write_table(df: pd.DataFrame, base: Path) -> None:
    """``base``.csv, and ``base``.parquet when the columns allow it."""
    base.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(base.with_suffix(".csv")) as tmp:
        df.to_csv(tmp, index=False)
    try:
        with atomic_path(base.with_suffix(".parquet")) as tmp:
            df.to_parquet(tmp, index=False)
    except (ImportError, ValueError, TypeError):  # mixed-type columns: the CSV is enough
        pass


def write_run(path: str | Path, header: RunHeader, metrics: dict,
              tables: dict[str, pd.DataFrame] | None = None) -> Path:
    """Write a complete run directory for a command's results."""
    path = new_run_dir(path)
    write_json(path / "config.json", {"command": header.command, **header.config})
    for name, df in (tables or {}).items():
        write_table(df, path / "tables" / name)
    write_json(path / "metrics.json", {**header.to_dict(), **metrics})
    return path


def score_row(name: str, entry: dict) -> dict:
    """One row of a results table: a model's held-out scores with CIs and p-values."""
    ev = entry["eval"]
    row = {"model": name, "label": entry["label"], "family": entry["family"], "stage": entry["stage"],
           "n_triplets": ev["n_triplets"]}
    for key in ("ooo_accuracy", "two_way_accuracy_symmetric", "rsa_spearman", "rsa_pearson"):
        row[key] = ev[key]["value"]
        ci = ev[key].get("ci")
        row[f"{key}_ci_low"], row[f"{key}_ci_high"] = (ci if ci else (None, None))
        row[f"{key}_p"] = ev[key].get("p_value")
    row["explained_variance_spearman"] = ev["rsa_spearman"]["explained_variance"]
    return row


@contextlib.contextmanager
def timed_step(timings: dict, log: Callable[[str], None], name: str):
    """Log a step of a study and record its duration (seconds) in ``timings[name]``."""
    t0 = time.perf_counter()
    log(f"[bold]{name}[/bold] ...")
    try:
        yield
    finally:
        timings[name] = round(time.perf_counter() - t0, 2)


def write_matrices(out: Path, triplets, embeddings: dict, metrics: dict | None = None) -> None:
    """``out/matrices.npz`` for the report: the human dissimilarity of ``triplets`` and one
    ``model.<name>`` dissimilarity per entry of ``embeddings`` (name → Embeddings; distance
    from ``metrics[name]``, default cosine), over the triplets' stimuli."""
    import numpy as np

    from bgs.human.similarity import human_similarity
    from bgs.metrics.distance import dissimilarity_matrix

    ids = triplets.stimulus_ids
    mats = {"ids": np.asarray(ids), "human": human_similarity(triplets).dissimilarity}
    for name, emb in embeddings.items():
        mats[f"model.{name}"] = dissimilarity_matrix(emb.align(ids).matrix, (metrics or {}).get(name, "cosine"))
    with atomic_path(out / "matrices.npz", suffix=".npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **mats)


def write_metrics_and_report(out: Path, metrics: dict, log: Callable[[str], None]) -> None:
    """``metrics.json``, then ``report.html`` when matplotlib (the plots extra) is there."""
    write_json(out / "metrics.json", metrics)
    try:
        from bgs.report.html import write_report

        write_report(out)
    except ImportError as exc:
        log(f"  no report: {exc}")
