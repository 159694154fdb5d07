"""The demo's comparison: every fine-tuned video model minus the base on the held-out clips,
the hybrid minus each of its ablations, with paired CIs (:mod:`bgs.metrics.paired`), and
what the numbers say about the paper's claims, stated from the CIs over clips."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from bgs.embeddings import Embeddings
from bgs.metrics.paired import compare_embeddings

BASE = "video_base"
HYBRID = "video_hybrid"
SHUFFLED = "video_hybrid_shuffled"
KEYS = {"ooo_accuracy": "3-way accuracy", "rsa_spearman": "Spearman RSA"}


@dataclass(frozen=True)
class FinetuneRun:
    """One fine-tuning run of the comparison: its objective, and what it is trained on."""

    objective: str
    label: str
    short: str  # how a sentence names it
    target: str = "human"  # "language": the captions' geometry is the RSA target
    shuffle_labels: bool = False  # the negative control: judgments relabelled among the training clips


FINETUNE_RUNS = {
    "hybrid": FinetuneRun("hybrid", "video model + BGS (hybrid)", "BGS hybrid"),
    "triplet": FinetuneRun("triplet", "video model + BGS (triplet)", "triplet-only"),
    "rsa": FinetuneRun("rsa", "video model + BGS (rsa)", "RSA-only"),
    "budget_matched": FinetuneRun("budget_matched", "video model + budget-matched (triplet + hard negatives)",
                                  "budget-matched"),
    "hybrid_language": FinetuneRun("hybrid", "video model + language distillation (hybrid, captions' geometry)",
                                   "language distillation", target="language"),
    "hybrid_shuffled": FinetuneRun("hybrid", "video model + BGS (hybrid) on shuffled labels (negative control)",
                                   "the shuffled-label control", shuffle_labels=True),
}
DEFAULT_RUNS = ("hybrid", "triplet", "rsa", "hybrid_shuffled")
QUICK_RUNS = ("hybrid", "hybrid_shuffled")  # --quick: the hybrid and its negative control
FULL_RUNS = DEFAULT_RUNS + ("budget_matched", "hybrid_language")


def compared_pairs(names) -> list[tuple[str, str]]:
    """(model, minus) pairs: each fine-tuned model minus the base, then the hybrid minus each
    other model trained on the true judgments (its ablations and alternatives)."""
    tuned = [f"video_{n}" for n in names]
    pairs = [(t, BASE) for t in tuned]
    if HYBRID in tuned:
        pairs += [(HYBRID, t) for t in tuned if t not in (HYBRID, SHUFFLED)]
    return pairs


def compare_all(embeddings: dict[str, Embeddings], names, test, n_bootstrap: int, seed: int) -> list[dict]:
    """The paired differences of :func:`compared_pairs` on the held-out triplets ``test``."""
    return [{"model": a, "minus": b, **compare_embeddings(embeddings[a], embeddings[b], test,
                                                         n_bootstrap=n_bootstrap, seed=seed)}
            for a, b in compared_pairs(n for n in names if f"video_{n}" in embeddings)]


def _side(ci) -> str:
    """Where a CI lies with respect to 0."""
    if ci is None:
        return "no CI"
    lo, hi = ci
    return "above 0" if lo > 0 else "below 0" if hi < 0 else "includes 0"


def _numbers(row: dict) -> str:
    return ", ".join(f"{KEYS[k]} {row[k]['value']:+.3f} [{ci_text(row[k].get('ci_stimuli'))}]" for k in KEYS)


def ci_text(ci) -> str:
    """'+0.012, +0.080' (a CI of a difference), or a dash."""
    return "—" if ci is None else f"{ci[0]:+.3f}, {ci[1]:+.3f}"


def _short(name: str) -> str:
    run = FINETUNE_RUNS.get(name.removeprefix("video_"))
    return run.short if run else "the base model" if name == BASE else name


def _finding(claim: str, holds: bool | None, verdict: str, row: dict) -> dict:
    return {"claim": claim, "holds": holds, "model": row["model"], "minus": row["minus"],
            "text": f"{claim[0].upper()}{claim[1:]}? {verdict} ({_numbers(row)}; paired 95% CIs over clips)."}


def findings(rows: list[dict]) -> list[dict]:
    """What the paired CIs over clips say, claim by claim: the hybrid against the base and
    against each alternative (``holds`` True: both differences' CIs above 0; False: neither;
    None: one of the two), and whether the shuffled-label control stays within its CI of
    the base (True: both CIs include 0)."""
    out = []
    for row in rows:
        a, b = row["model"], row["minus"]
        sides = {k: _side(row[k].get("ci_stimuli")) for k in KEYS}
        if a == SHUFFLED and b == BASE:
            within = all(s == "includes 0" for s in sides.values())
            verdict = ("Yes: both paired CIs include 0" if within else "No: " + ", ".join(
                f"the {KEYS[k]} difference's CI is {s}" for k, s in sides.items() if s != "includes 0"))
            out.append(_finding("the shuffled-label control stays within its CI of the base", within, verdict, row))
        elif a == HYBRID:
            above = [k for k, s in sides.items() if s == "above 0"]
            holds = True if len(above) == len(KEYS) else False if not above else None
            below = [k for k, s in sides.items() if s == "below 0"]
            verdict = {True: "Yes: both paired CIs are above 0",
                       False: "Not shown: neither paired CI is above 0",
                       None: f"In {KEYS[above[0]] if above else ''} only"}[holds]
            if below:
                verdict += f"; {_short(b)} is better in " + " and ".join(KEYS[k] for k in below)
            out.append(_finding(f"BGS hybrid beats {_short(b)}", holds, verdict, row))
    return out


def comparison_table(rows: list[dict]) -> pd.DataFrame:
    """One row per (model, minus): both differences, both CIs, the shares of resamples > 0."""
    records = []
    for row in rows:
        rec = {"model": row["model"], "minus": row["minus"], "n_triplets": row["n_triplets"],
               "n_clips": row["n_stimuli"], "n_bootstrap": row["n_bootstrap"]}
        for key, short in (("ooo_accuracy", "ooo"), ("rsa_spearman", "rsa")):
            d = row[key]
            rec[f"{short}_difference"] = d["value"]
            for ci, tag in (("ci", "triplets"), ("ci_stimuli", "clips")):
                rec[f"{short}_ci_low_{tag}"], rec[f"{short}_ci_high_{tag}"] = d[ci] or (None, None)
            rec[f"{short}_share_positive_triplets"] = d["share_positive"]
            rec[f"{short}_share_positive_clips"] = d["share_positive_stimuli"]
        records.append(rec)
    return pd.DataFrame(records)
