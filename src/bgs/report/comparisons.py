"""The report section of a run's ``comparisons`` (the demo's): paired differences of each
fine-tuned model against the base, and of the hybrid against each alternative, on the
held-out triplets, with CIs over triplets and over clips, and the findings stated from them."""

from __future__ import annotations

from collections.abc import Mapping


def _cells(d: Mapping | None) -> tuple[str, str, str]:
    """'+0.040 [CI over triplets]', '[CI over clips]', 'share > 0: triplets / clips'."""
    from bgs.report.anchor import _diff_cells
    from bgs.report.html import _num

    value, clips = _diff_cells(d or {})
    shares = [_num((d or {}).get(k)) for k in ("share_positive", "share_positive_stimuli")]
    share = " / ".join("—" if s is None else f"{s:.2f}" for s in shares)
    return value, clips, share


def comparisons_section(metrics: Mapping) -> str:
    """``comparisons.differences`` as the table "paired difference vs base", and
    ``comparisons.findings`` as a list under it."""
    from bgs.report.html import _e, _int, _p_, _table

    comp = metrics.get("comparisons")
    rows_in = comp.get("differences") if isinstance(comp, Mapping) else None
    if not rows_in:
        return ""
    labels = {k: v.get("label", k) for k, v in (metrics.get("models") or {}).items() if isinstance(v, Mapping)}
    rows = []
    for r in rows_in:
        if isinstance(r, Mapping):
            rows.append((labels.get(r.get("model"), r.get("model")), labels.get(r.get("minus"), r.get("minus")),
                         *_cells(r.get("ooo_accuracy")), *_cells(r.get("rsa_spearman")), _int(r.get("n_triplets"))))
    first = next(r for r in rows_in if isinstance(r, Mapping))
    found = [f for f in comp.get("findings") or [] if isinstance(f, Mapping) and f.get("text")]
    return (_p_(f"Paired difference vs base: each fine-tuned model minus the model named, on the same "
                f"held-out triplets ({_int(first.get('n_triplets'))} over {_int(first.get('n_stimuli'))} clips), "
                f"both scored on the same {_int(first.get('n_bootstrap'))} bootstrap draws: 95% CIs over "
                "triplets (the RSA one bias-corrected) and over clips (a clip drawn k times counts k "
                "times for both models), and the share of resamples in which the difference is above 0. "
                "A CI over clips that excludes 0 is a difference that should hold for new clips.")
            + _table(("model", "minus", "3-way accuracy difference [CI over triplets]", "[CI over clips]",
                      "share > 0 (triplets / clips)", "RSA difference [CI over triplets]", "[CI over clips]",
                      "share > 0 (triplets / clips)", "triplets"), rows, numeric=range(2, 9))
            + (("<h3>What the numbers say</h3><ul>" + "".join(f"<li>{_e(f['text'])}</li>" for f in found)
                + "</ul>") if found else "")
            + "".join(_p_(f"Not run: {name} ({why}).", "warn") for name, why in (metrics.get("skipped") or {}).items())
            + _p_("Table: tables/comparisons.csv.", "note"))
