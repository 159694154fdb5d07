"""One summary of a triplet file: row accounting, screening, reliability and ceilings."""

from __future__ import annotations

from bgs.data.triplets import TripletSet
from bgs.human.reliability import ooo_ceiling, split_half_reliability, triad_choice_counts
from bgs.human.similarity import PairIndex, human_similarity


def triplet_stats(triplets: TripletSet, n_splits: int = 100, n_bootstrap: int = 1000,
                  seed: int = 0) -> dict:
    """The numbers ``bgs data stats`` prints: a JSON-ready dict.

    ``split_half_spearman_brown`` is the Spearman split-half reliability over all stimuli,
    Spearman–Brown corrected, mean over ``n_splits`` random participant splits.
    """
    report = triplets.report
    _, counts = triad_choice_counts(triplets)
    n_answers = counts.sum(axis=1)
    index = PairIndex(triplets)
    sim = human_similarity(triplets, index=index)
    n_pairs = triplets.n_stimuli * (triplets.n_stimuli - 1) // 2
    n_observed = sim.n_pairs
    split = split_half_reliability(triplets, n_splits=n_splits, seed=seed,
                                   n_bootstrap=n_bootstrap, index=index)
    ceiling = ooo_ceiling(triplets, n_bootstrap=n_bootstrap, seed=seed)
    out = {
        "source": triplets.source,
        "n_rows": report.n_rows if report else len(triplets),
        "n_valid": len(triplets),
        "n_participants": triplets.n_participants,
        "n_catch": report.n_catch if report else 0,
        "n_catch_failed": report.n_catch_failed if report else 0,
        "n_catch_unscorable": report.n_catch_unscorable if report else 0,
        "n_stimuli": triplets.n_stimuli,
        "n_triads": int(len(counts)),
        "n_repeated_triads": int((n_answers > 1).sum()),
        "n_pairs": int(n_pairs),
        "n_observed_pairs": n_observed,
        "mean_cooccurrence_observed": float(sim.n_cooccur.mean())
        if n_observed else 0.0,
        "split_half_spearman_brown": split.spearman_brown["spearman"],
        "split_half_spearman_brown_ci": split.ci("spearman"),
        "split_half": split.to_dict(),
        "ooo_ceiling": ceiling.to_dict(),
        "seed": seed,
    }
    if report is not None:
        out["dropped"] = dict(report.dropped)
        out["excluded_participants"] = dict(report.excluded_participants)
        out["screened"] = dict(report.screened)
        out["screening"] = dict(report.screening)
    return out


def ceiling_summary(stats: dict) -> dict:
    """The noise ceilings of a :func:`triplet_stats` result, in the form run directories use."""
    oc = stats["ooo_ceiling"]
    return {"ooo_lower": oc["lower"], "ooo_upper": oc["upper"],
            "ooo_lower_ci": oc["lower_ci"], "ooo_upper_ci": oc["upper_ci"],
            "split_half_spearman_brown": stats["split_half_spearman_brown"],
            "split_half_spearman_brown_ci": stats["split_half_spearman_brown_ci"],
            "n_triplets": stats["n_valid"]}
