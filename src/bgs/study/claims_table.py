"""The claims table of ``bgs study claims``: one row per claim, its verdict rule, and the
``claims.csv`` / ``claims.json`` / ``claims.md`` files.

The verdict is computed from the numbers, by one rule (docs/claims.md):

* **inconclusive** — a prerequisite failed (the manipulation check, a model that could not be
  trained, a missing caption model), the CI is not finite, or the CI is above 0 but some
  seed's effect is not;
* **reproduced** — the 95 % CI of the pooled effect (mean over seeds) lies above 0 and every
  seed's own effect is above 0;
* **not reproduced** — the CI includes 0 or lies below it.

Effects are signed so that the claim predicts a positive value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from bgs.io import atomic_path, write_json

VERDICTS = ("reproduced", "not reproduced", "inconclusive")


@dataclass
class Claim:
    """One row: what is claimed, how it is measured, the pooled effect with its 95 % CI
    (paired, over held-out clips), each seed's effect, and whether its prerequisite held."""

    id: str
    paper: str
    text: str
    measure: str
    effect: float
    ci_low: float
    ci_high: float
    seed_effects: list[float] = field(default_factory=list)
    prerequisite: str = ""  # what must hold first ("" : nothing)
    prerequisite_ok: bool = True
    details: dict = field(default_factory=dict)  # the sub-results behind the row

    @property
    def seeds_agreeing(self) -> int:
        """Seeds whose own effect is above 0."""
        return sum(1 for v in self.seed_effects if v > 0)

    @property
    def verdict(self) -> str:
        return verdict(self.effect, (self.ci_low, self.ci_high), self.seed_effects, self.prerequisite_ok)

    def row(self) -> dict:
        return {"claim": self.id, "paper": self.paper, "text": self.text, "measure": self.measure,
                "effect": self.effect, "ci_low": self.ci_low, "ci_high": self.ci_high,
                "n_seeds": len(self.seed_effects), "seeds_agreeing": self.seeds_agreeing,
                "seed_effects": ";".join(f"{v:.4f}" for v in self.seed_effects),
                "prerequisite": self.prerequisite, "prerequisite_ok": self.prerequisite_ok,
                "verdict": self.verdict}


def verdict(effect: float, ci: tuple[float, float], seed_effects, prerequisite_ok: bool = True) -> str:
    """The module docstring's rule."""
    lo, hi = ci
    if not prerequisite_ok or not all(math.isfinite(v) for v in (effect, lo, hi)):
        return "inconclusive"
    if lo > 0:
        return "reproduced" if all(v > 0 for v in seed_effects) else "inconclusive"
    return "not reproduced"


def _fmt(v: float) -> str:
    return f"{v:+.3f}" if math.isfinite(v) else "—"


def claims_markdown(claims: list[Claim]) -> str:
    lines = ["| claim | measure | effect [95 % CI over clips] | seeds > 0 | verdict |",
             "|---|---|---|---|---|"]
    for c in claims:
        pre = "" if c.prerequisite_ok else f" (prerequisite not met: {c.prerequisite})"
        seeds = f"{c.seeds_agreeing}/{len(c.seed_effects)}" if c.seed_effects else "—"
        lines.append(f"| {c.id}. {c.text} | {c.measure} | {_fmt(c.effect)} [{_fmt(c.ci_low)}, "
                     f"{_fmt(c.ci_high)}] | {seeds} | **{c.verdict}**{pre} |")
    return "\n".join(lines)


def write_claims(out: Path, claims: list[Claim], header: dict) -> None:
    """``claims.csv`` (one row per claim), ``claims.json`` (the rows with their sub-results
    and the run's header) and ``claims.md`` (the table)."""
    frame = pd.DataFrame([c.row() for c in claims])
    with atomic_path(out / "claims.csv", suffix=".csv") as tmp:
        frame.to_csv(tmp, index=False)
    write_json(out / "claims.json", {**header, "verdict_rule": __doc__.split("\n\n", 2)[1],
                                     "claims": [{**c.row(), "seed_effects": c.seed_effects,
                                                 "details": c.details} for c in claims]})
    with atomic_path(out / "claims.md", suffix=".md") as tmp:
        tmp.write_text(claims_markdown(claims) + "\n", encoding="utf-8")


def claim_from_dict(data: dict) -> Claim:
    """A row of ``claims.json`` back as a :class:`Claim`."""
    keys = {k for k in Claim.__dataclass_fields__}
    known = {k: v for k, v in data.items() if k in keys}
    known["id"] = data["claim"]
    return Claim(**known)


__all__ = ["Claim", "VERDICTS", "claims_markdown", "verdict", "write_claims"]
