"""``bgs report``: one self-contained HTML report of a run directory.

    bgs report runs/demo            # writes runs/demo/report.html and prints its path

Register on an app with :func:`register`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    """Add the ``report`` command to ``app``."""

    @app.command("report")
    def report(
            run: Path = typer.Argument(..., metavar="RUN",
                                       help="Run directory (holding metrics.json, optionally "
                                            "matrices.npz and plots/), as written by `bgs demo` "
                                            "or `bgs train`."),
            output: Optional[Path] = typer.Option(None, "--out", "-o",
                                                  help="Write the HTML here instead of "
                                                       "RUN/report.html."),
            shot: Optional[Path] = typer.Option(None, "--screenshot",
                                                help="Also save a PNG of the report's top as "
                                                     "headless Chromium draws it."),
            width: int = typer.Option(1280, "--width", help="Screenshot width (CSS pixels)."),
            height: int = typer.Option(1600, "--height", help="Screenshot height (CSS pixels).")):
        """Write RUN/report.html: the study of a run in one file (figures embedded), with
        data and ceilings, baselines, fine-tuning, held-out results, probes, variance
        partitioning, attention and timings. Missing figures are drawn into RUN/plots/."""
        from bgs.report.html import write_report

        path = write_report(run, output)
        typer.echo(str(path))
        if shot is not None:
            from bgs.report.browser import screenshot

            typer.echo(str(screenshot(path, shot, width=width, height=height)))
