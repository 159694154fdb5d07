"""Report sections for runs scored on anchor triplets (``head, close, far``; two-way
accuracy, chance 1/2), and for any run that records paired differences against its base
model (``finetuning.differences``) or cross-validation folds (``folds``).

They use the formatting functions of :mod:`bgs.report.html`; the anchor-triplet results
table replaces the odd-one-out one when the models' evaluations are of ``kind`` "anchor
triplets"."""

from __future__ import annotations

from collections.abc import Mapping

ANCHOR_KIND = "anchor triplets"


def is_anchor(ev: Mapping | None) -> bool:
    return isinstance(ev, Mapping) and ev.get("kind") == ANCHOR_KIND


def anchor_scores_text(ev: Mapping) -> str:
    """'two-way accuracy 0.681 [CI over triplets] [CI over stimuli], RSA …' of one evaluation."""
    from bgs.report.html import _ci, _val_ci

    a = ev.get("anchor_accuracy") or {}
    return (f"two-way accuracy {_val_ci(a)}{_ci(a.get('ci_stimuli'))}, "
            f"RSA {_val_ci(ev.get('rsa_spearman'))}")


def _ceiling_note(ev: Mapping) -> str:
    from bgs.report.html import _f

    c = ev.get("ceilings") or {}
    acc = c.get("anchor_accuracy") or {}
    split = c.get("split_half") or {}
    bits = []
    if acc.get("value") is not None:
        bits.append(f"two-way ceiling (leave-one-out agreement on repeated triplets) {_f(acc['value'])}")
    elif acc.get("reason"):
        bits.append(f"no two-way ceiling: {acc['reason']}")
    if split.get("spearman_brown") is None and split.get("reason"):
        bits.append(f"no RSA ceiling: {split['reason']}")
    return "; ".join(bits)


def anchor_results(metrics: Mapping, rep, scored: list[dict]) -> str:
    """The held-out results of anchor-triplet evaluations: the table with CIs over triplets
    and over stimuli, the notes, and the scores figure."""
    from bgs.report import figures
    from bgs.report.html import FIGURE_NAMES, _ci, _int, _p, _p_, _table, _val_ci

    first = scored[0]["eval"]
    pooled = any((m["eval"] or {}).get("pooled_over_folds") for m in scored)
    parts = [_p_(f"All models are scored on the same held-out anchor triplets: {_int(first.get('n_triplets'))} "
                 f"triplets over {_int(first.get('n_stimuli'))} stimuli ({_int(first.get('n_pairs'))} "
                 "observed pairs). Two-way accuracy: a triplet is correct when the model's sim(head, close) "
                 "> sim(head, far); chance 0.5. 95% CIs resample triplets, then stimuli (a triplet weighted "
                 "by the product of its stimuli's draws); RSA CIs resample stimuli."
                 + (" Fine-tuned models are scored per fold, each triplet by the model of the fold that "
                    "held out its three stimuli, and pooled over the folds." if pooled else ""))]
    rows = []
    for m in scored:
        ev = m["eval"]
        a, r = ev.get("anchor_accuracy") or {}, ev.get("rsa_spearman") or {}
        rows.append((m["label"], m["stage"] or "—", _val_ci(a), _ci(a.get("ci_stimuli")).strip() or "—",
                     _p(a.get("p_value")),
                     _val_ci(r), _p(r.get("p_value")), _val_ci(ev.get("rsa_pearson"))))
    parts.append(_table(("model", "stage", "two-way acc. [95% CI over triplets]", "[95% CI over stimuli]",
                         "p", "RSA Spearman r [95% CI over stimuli]", "p", "RSA Pearson r [95% CI]"),
                        rows, numeric=range(2, 8)))
    note = _ceiling_note(first)
    parts.append(_p_("Notes: p-values are stimulus-label permutations (none for models pooled over "
                     "folds, where a permutation would pair stimuli of different folds)"
                     + (f"; {note}" if note else "") + ".", "note"))
    parts.append(rep.figure(FIGURE_NAMES["scores"],
                            "Held-out two-way accuracy (95% CI over stimuli) and Spearman RSA (95% CI) "
                            "per model; dashed: chance",
                            lambda p: figures.plot_model_scores(
                                {m["name"]: metrics["models"][m["name"]] for m in scored}, p)))
    return "".join(parts)


def _diff_cells(e: Mapping) -> tuple[str, str]:
    from bgs.report.html import _ci, _num

    v = _num((e or {}).get("value"))
    if v is None:
        return "—", "—"
    return f"{v:+.3f}{_ci(e.get('ci'))}", _ci(e.get("ci_stimuli")).strip() or "—"


def differences_section(metrics: Mapping) -> str:
    """``finetuning.differences`` (and ``versus_alexnet`` or any ``versus_*``): each tuned model
    minus the base on the same triplets, with paired CIs from the same bootstrap draws."""
    from bgs.report.html import _e, _int, _p_, _table

    ft = metrics.get("finetuning")
    if not isinstance(ft, Mapping) or not isinstance(ft.get("differences"), Mapping) or not ft["differences"]:
        return ""
    against = {"differences": f"the base model ({ft.get('base', 'untuned')})"}
    against.update({k: k.removeprefix("versus_").replace("_", " ") for k in ft if k.startswith("versus_")})
    rows = []
    for key, label in against.items():
        for name, d in (ft.get(key) or {}).items():
            if not isinstance(d, Mapping):
                continue
            acc, acc_s = _diff_cells(d.get("anchor_accuracy") or d.get("ooo_accuracy"))
            rsa, rsa_s = _diff_cells(d.get("rsa_spearman"))
            folds = d.get("folds")
            rows.append((name, label, acc, acc_s, rsa, rsa_s, _int(d.get("n_triplets")),
                         ", ".join(str(f) for f in folds) if folds else "—"))
    return (_p_("Paired differences on the same held-out triplets: each fine-tuned model minus the "
                "model named, both scored on the same bootstrap draws (95% CIs over triplets, then over "
                "stimuli). An interval that excludes 0 is a difference the resampling supports.")
            + _table(("model", "minus", "accuracy difference [CI over triplets]", "[CI over stimuli]",
                      "RSA difference [CI over triplets]", "[CI over stimuli]", "triplets", "folds"),
                     rows, numeric=range(2, 7))
            + (_p_(f"Base model: {_e(ft.get('base'))}.", "note") if ft.get("base") else ""))


def folds_section(metrics: Mapping) -> str:
    """``folds``: one row per (fold, objective): the split, the selected epoch, the tuned and
    base scores on the fold's held-out triplets and their paired difference."""
    from bgs.report.html import _ci as ci
    from bgs.report.html import _f, _int, _p_, _table

    folds = metrics.get("folds")
    if not isinstance(folds, list) or not folds:
        return ""
    rows = [(_int(r.get("fold")), r.get("objective", "—"),
             f"{_int(r.get('n_train_shoes'))} / {_int(r.get('n_val_shoes'))} / {_int(r.get('n_test_shoes'))}",
             _int(r.get("n_test_triplets")), _int(r.get("best_epoch")), _f(r.get("base_accuracy")),
             _f(r.get("tuned_accuracy")), f"{r.get('difference', float('nan')):+.3f}{ci(r.get('difference_ci'))}",
             ci(r.get("difference_shoe_ci")).strip() or "—", _f(r.get("base_rsa")), _f(r.get("tuned_rsa")))
            for r in folds if isinstance(r, Mapping)]
    return (_p_("Cross-validation over stimuli: each fold holds out its test stimuli, trains on the "
                "triplets among the other folds' training stimuli, selects its epoch on their validation "
                "stimuli and is scored on the triplets inside its test stimuli.")
            + _table(("fold", "objective", "stimuli train / val / test", "test triplets", "best epoch",
                      "base two-way", "tuned two-way", "difference [CI over triplets]", "[CI over stimuli]",
                      "base RSA", "tuned RSA"), rows, numeric=range(3, 11)))
