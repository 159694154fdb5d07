"""What every study pipeline does around its own steps: a new run directory, its
``config.json``, timed steps, one evaluation entry per model, and ``metrics.json`` with
``report.html`` at the end."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bgs.embeddings import Embeddings
from bgs.io import write_json
from bgs.report.rundir import RunHeader, new_run_dir, timed_step, write_metrics_and_report


class StudyRun:
    """One study's run directory and the ``metrics.json`` content it builds up."""

    def __init__(self, out: str | Path, header: RunHeader, log: Callable[[str], None]):
        from bgs.models.embed import quiet_transformers

        self.out = new_run_dir(out)
        self.log = log
        self.timings: dict = {}
        quiet_transformers()
        write_json(self.out / "config.json", {"command": header.command, **header.config})
        self.metrics: dict = {**header.to_dict(), "models": {}, "training": {}, "probes": {},
                              "timings": self.timings}
        self._t0 = time.perf_counter()

    def step(self, name: str):
        """A context that logs the step ``name`` and records its seconds in the timings."""
        return timed_step(self.timings, self.log, name)

    def save_embeddings(self, name: str, embeddings: Embeddings) -> None:
        embeddings.save(self.out / "embeddings" / f"{name}.npz")

    def record_model(self, name: str, label: str, family: str, stage: str, metric: str,
                     evaluations: dict) -> dict:
        """The ``models`` entry of ``name``: its description and ``evaluations`` (key →
        :func:`~bgs.metrics.evaluate.evaluate_embeddings` result)."""
        entry = {"label": label, "family": family, "stage": stage, "metric": metric, **evaluations}
        self.metrics["models"][name] = entry
        return entry

    def finish(self) -> dict:
        """``metrics.json`` and ``report.html``; returns the metrics."""
        self.timings["total"] = round(time.perf_counter() - self._t0, 2)
        write_metrics_and_report(self.out, self.metrics, self.log)
        self.timings["total"] = round(time.perf_counter() - self._t0, 2)
        write_json(self.out / "metrics.json", self.metrics)
        return self.metrics


def ratings_and_random(attributes, ids, dim: int, seed: int) -> dict[str, Embeddings]:
    """The two reference models of every study: the stimuli's attribute ratings, and random
    vectors of ``dim`` dimensions (seeded) for ``ids``."""
    rng = np.random.default_rng(seed)
    return {"ratings": Embeddings.from_array(attributes.index.to_numpy(), attributes.to_numpy(),
                                             source="annotations.csv"),
            "random": Embeddings.from_array(np.asarray(ids), rng.normal(size=(len(ids), dim)),
                                            source="random")}
