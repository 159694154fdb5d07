"""One self-contained HTML report of a run directory (``bgs report RUN``).

A run directory (written by ``bgs demo`` and ``bgs train``) holds ``metrics.json``, optionally
``matrices.npz`` (``ids``, ``human`` and one ``model.<name>`` N×N dissimilarity per model) and a
folder ``plots/`` of PNGs. :func:`write_report` reads them and writes ``report.html`` beside
them: a single file with inline CSS and the figures inlined as base64 ``data:`` URIs, nothing
fetched from elsewhere. It reads top-down as a study — what was run, the data and its noise
ceilings, baselines, fine-tuning, held-out results, probes, variance partitioning, attention,
timings, and how to reproduce it. Sections whose data are absent are left out.

Figures already in ``plots/`` are used as they are; missing ones are drawn from
``metrics.json``/``matrices.npz`` with :mod:`bgs.report.figures` and saved into ``plots/``
(into a temporary folder if ``plots/`` is not writable) under these names:
``model_scores.png``, ``similarity_matrices.png``, ``probes.png``, ``partition.png``,
``training_<objective>.png`` and ``training_comparison.png``.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as _dt
import json
import math
import os
import re
import shlex
import tempfile
from collections.abc import Callable, Iterable, Mapping
from html import escape
from pathlib import Path

from bgs.errors import BGSError, FileAccessError, UnreadableFileError
from bgs.io import atomic_path, ensure_writable
from bgs.report.rundir import SCHEMA, START_EPOCH, RunHeader

RUN_DIR_COMMANDS = ("`bgs demo`, `bgs train`, or `bgs evaluate`, `bgs probe` or `bgs partition` "
                    "with --run DIR")
FIGURE_NAMES = {"scores": "model_scores.png", "matrices": "similarity_matrices.png",
                "probes": "probes.png", "partition": "partition.png",
                "training_comparison": "training_comparison.png"}


# ---------------------------------------------------------------------- formatting
def _e(text) -> str:
    return escape("" if text is None else str(text), quote=True)


def _num(v) -> float | None:
    if isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _f(v, digits: int = 3) -> str:
    x = _num(v)
    return "—" if x is None else f"{x:.{digits}f}"


def _int(v) -> str:
    x = _num(v)
    return "—" if x is None else f"{round(x):,}"


def _ci_pair(v) -> tuple[float, float] | None:
    if isinstance(v, (list, tuple)) and len(v) == 2:
        lo, hi = _num(v[0]), _num(v[1])
        if lo is not None and hi is not None:
            return lo, hi
    return None


def _ci(v, digits: int = 3) -> str:
    c = _ci_pair(v)
    return "" if c is None else f" [{c[0]:.{digits}f}, {c[1]:.{digits}f}]"


def _val_ci(entry: Mapping | None, key: str = "ci", digits: int = 3) -> str:
    """'0.512 [0.498, 0.527]' from a score entry with ``value`` and a CI under ``key``."""
    if not isinstance(entry, Mapping):
        return "—"
    v = _f(entry.get("value"), digits)
    return v if v == "—" else v + _ci(entry.get(key), digits)


def _p(v) -> str:
    x = _num(v)
    if x is None:
        return "—"
    return "< 0.001" if x < 0.001 else f"{x:.3f}"


def _seconds(v) -> str:
    x = _num(v)
    if x is None:
        return "—"
    if x < 60:
        return f"{x:.1f} s"
    m, s = divmod(round(x), 60)
    if m < 60:
        return f"{m} min {s:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"


def _cell(v) -> str:
    """A scalar config/free-form value as text."""
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, (list, tuple)):
        text = ", ".join(_cell(x) for x in v)
    elif isinstance(v, Mapping):
        text = json.dumps(v, default=str)
    else:
        text = str(v)
    return text if len(text) <= 240 else text[:239] + "…"


def _flatten(d: Mapping, prefix: str = "") -> list[tuple[str, object]]:
    rows: list[tuple[str, object]] = []
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            rows += _flatten(v, key + ".")
        else:
            rows.append((key, v))
    return rows


# ---------------------------------------------------------------------- HTML pieces
def _table(header: Iterable[str], rows: Iterable[Iterable], numeric: Iterable[int] = (),
           cls: str = "") -> str:
    """An HTML table; every cell is escaped. ``numeric``: column positions aligned right."""
    numeric = set(numeric)
    num = ' class="num"'
    head = "".join(f'<th{num if i in numeric else ""}>{_e(h)}</th>'
                   for i, h in enumerate(header))
    body = []
    for row in rows:
        cells = "".join(f'<td{num if i in numeric else ""}>{_e(c)}</td>'
                        for i, c in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    c = f' class="{_e(cls)}"' if cls else ""
    return (f'<div class="scroll"><table{c}><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def _kv_table(rows: Iterable[tuple[str, str]]) -> str:
    return _table(("", ""), rows, numeric=(1,), cls="kv")


def _p_(text: str, cls: str = "") -> str:
    c = f' class="{cls}"' if cls else ""
    return f"<p{c}>{_e(text)}</p>"


def _img(path: Path, caption: str) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{_e(caption)}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>")


CSS = """
:root { --fg:#1d1d1f; --muted:#5f6368; --line:#d9d9de; --zebra:#f6f6f8; --accent:#0072B2; }
* { box-sizing: border-box; }
body { margin:0; color:var(--fg); background:#fff;
  font: 15px/1.5 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 1.7em; margin: 0.2em 0; }
h2 { font-size: 1.3em; margin: 2em 0 0.5em; padding-bottom: 0.2em;
  border-bottom: 2px solid var(--line); }
h3 { font-size: 1.05em; margin: 1.4em 0 0.4em; }
.meta, .note, figcaption { color: var(--muted); font-size: 0.88em; }
nav ol { columns: 2; margin: 0.6em 0; padding-left: 1.4em; }
nav a { color: var(--accent); text-decoration: none; }
.scroll { overflow-x: auto; margin: 0.6em 0; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--line); text-align: left;
  vertical-align: top; }
th { background: #eef0f3; font-weight: 600; }
tbody tr:nth-child(even) { background: var(--zebra); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.num { white-space: nowrap; }
th { max-width: 16em; }
.lead { font-size: 1.05em; background: #f2f7fb; border-left: 4px solid var(--accent);
  padding: 8px 12px; }
table.kv thead { display: none; }
table.kv td:first-child { color: var(--muted); }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
pre, code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: 0.88em; }
pre { background: var(--zebra); padding: 10px 12px; overflow-x: auto; border-radius: 4px;
      white-space: pre-wrap; overflow-wrap: anywhere; }
.warn { color: #a04000; }
details { margin: 0.6em 0; }
summary { cursor: pointer; color: var(--accent); }
footer { margin-top: 3em; padding-top: 1em; border-top: 2px solid var(--line); }
"""


# ---------------------------------------------------------------------- reading
def _load_metrics(run_dir: Path) -> dict:
    path = run_dir / "metrics.json"
    if not run_dir.is_dir():
        raise UnreadableFileError(run_dir, "no such folder",
                                  f"give a run directory written by {RUN_DIR_COMMANDS}")
    if not path.is_file():
        raise UnreadableFileError(run_dir, "no metrics.json in this folder, so it is not a run "
                                           "directory",
                                  f"give a run directory written by {RUN_DIR_COMMANDS} (a folder "
                                  "holding metrics.json, and optionally matrices.npz and plots/)")
    try:
        metrics = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnreadableFileError(path, f"cannot read it as JSON ({exc})",
                                  "write it again with the command that made the run "
                                  "directory") from None
    if not isinstance(metrics, dict):
        raise UnreadableFileError(path, "the JSON is not an object",
                                  f"give a run directory written by {RUN_DIR_COMMANDS}")
    if RunHeader.from_metrics(metrics) is None:
        raise UnreadableFileError(path, f"no run-directory header (schema {SCHEMA}: kind, title, "
                                        "command, config)",
                                  "make the run again with this version of bgs, or give a run "
                                  f"directory written by {RUN_DIR_COMMANDS}")
    return metrics


def _load_matrices(run_dir: Path):
    """(ids, human, {name: matrix}) from matrices.npz, or None."""
    path = run_dir / "matrices.npz"
    if not path.is_file():
        return None
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as z:
            if "human" not in z.files:
                return None
            human = z["human"]
            ids = z["ids"] if "ids" in z.files else np.arange(len(human))
            models = {k[len("model."):]: z[k] for k in z.files if k.startswith("model.")}
    except (OSError, ValueError, EOFError) as exc:
        raise UnreadableFileError(path, f"cannot be read as an .npz archive ({type(exc).__name__})",
                                  "write the run directory again, or delete matrices.npz to "
                                  "report without the matrices") from None
    return ids, human, models


# ---------------------------------------------------------------------- the report
class _Report:
    def __init__(self, run_dir: Path, plots_dir: Path):
        self.run_dir = run_dir
        self.plots_dir = plots_dir
        self.used: set[Path] = set()
        self.sections: list[tuple[str, str, str]] = []  # (id, heading, body html)

    def add(self, sid: str, heading: str, body: str) -> None:
        if body:
            self.sections.append((sid, heading, body))

    def figure(self, name: str, caption: str, make: Callable[[Path], Path] | None) -> str:
        """The figure ``plots/<name>`` inlined; drawn with ``make`` first if it is missing."""
        existing = self.run_dir / "plots" / name
        path = existing if existing.is_file() else self.plots_dir / name
        if not path.is_file():
            if make is None:
                return ""
            try:
                make(path)
            except ImportError as exc:
                return _p_(f"Figure not drawn ({caption}): {exc}. Install the plots extra "
                           "(pip install 'bgs[plots]').", "warn figure-error")
            except Exception as exc:  # noqa: BLE001 -- a figure must not sink the report
                return _p_(f"Figure not drawn ({caption}): {type(exc).__name__}: {exc}",
                           "warn figure-error")
        return self.image(path, caption)

    def image(self, path: Path, caption: str) -> str:
        path = Path(path)
        if not path.is_file():
            return _p_(f"Missing figure: {caption}", "warn")
        self.used.add(path.resolve())
        return _img(path, caption)


def _models(metrics: dict) -> list[dict]:
    from bgs.report.figures import model_entry

    return [model_entry(k, v) for k, v in (metrics.get("models") or {}).items()
            if isinstance(v, Mapping)]


def _selected(entry: Mapping, history) -> Mapping | None:
    """The record of a training run's selected epoch; its scores before training
    (``start``) when no epoch beat them."""
    if entry.get("best_epoch") == START_EPOCH:
        start = entry.get("start")
        return start if isinstance(start, Mapping) else None
    return next((h for h in history if isinstance(h, Mapping) and h.get("epoch") == entry.get("best_epoch")),
                None)


def _val_rsa_at_selection(model: dict, training) -> float | None:
    """Validation RSA at the selected epoch of the training run that made ``model`` (runs
    are keyed by objective; fine-tuned models are named ``..._<objective>``)."""
    for key, entry in (training or {}).items():
        if isinstance(entry, Mapping) and model["name"].endswith(str(key)):
            return _num((_selected(entry, entry.get("history") or []) or {}).get("val_rsa"))
    return None


def _headline_model(models: list[dict], training) -> tuple[dict, str] | None:
    """The fine-tuned model the summary names, chosen without the held-out data: the hybrid
    BGS model (the paper's objective; the others are its ablations and controls) when there is one, else
    the best validation RSA among the fine-tuned runs (else the first listed)."""
    tuned = [m for m in models if m["stage"] == "fine-tuned" and m["eval"]]
    if len(tuned) == 1:
        return tuned[0], ""
    hybrid = [m for m in tuned if str(m["name"]).endswith("_hybrid")]
    if len(hybrid) == 1:
        return hybrid[0], " (the hybrid objective; the other fine-tuned models are its ablations and controls)"
    by_val = [(m, v) for m in tuned if (v := _val_rsa_at_selection(m, training)) is not None]
    if by_val:
        return (max(by_val, key=lambda mv: mv[1])[0],
                f" (selected among {len(tuned)} fine-tuned models by validation RSA)")
    return (tuned[0], f" (the first of {len(tuned)} fine-tuned models)") if tuned else None


def _scores(m: dict) -> str:
    from bgs.report.anchor import anchor_scores_text, is_anchor

    ev = m["eval"]
    if is_anchor(ev):
        return anchor_scores_text(ev)
    return (f"odd-one-out accuracy {_val_ci(ev.get('ooo_accuracy'))}, "
            f"RSA {_val_ci(ev.get('rsa_spearman'))}")


def _at_a_glance(models: list[dict], training=None, base_name: str | None = None) -> str:
    """One sentence: the fine-tuned model (selected on validation data, never on the held-out
    scores) next to its base model (``base_name``, else the first baseline of its family),
    with 95% CIs, then the ceilings."""
    picked = _headline_model(models, training)
    scored = [m for m in models if m["eval"]]
    if picked is None and not scored:
        return ""
    if picked is not None:
        tuned, why = picked
        text = f"On held-out stimuli, {tuned['label']}{why}: {_scores(tuned)}"
        base = (next((m for m in scored if m["name"] == base_name), None)
                or next((m for m in scored if m["stage"] != "fine-tuned" and m["family"] == tuned["family"]), None))
        if base is not None:
            text += f"; its base model, {base['label']}: {_scores(base)}"
    else:
        text = "On held-out stimuli, " + "; ".join(f"{m['label']}: {_scores(m)}" for m in scored[:3])
    ev = scored[0]["eval"] if scored else {}
    o = ev.get("ooo_accuracy") or {}
    c = o.get("ceiling") or {}
    tail = ""
    if _num(c.get("lower")) is not None:
        tail = (f" Ceilings on the same triplets: odd-one-out {_f(c.get('lower'))}–"
                f"{_f(c.get('upper'))} (chance 0.333)")
        if _num((ev.get("rsa_spearman") or {}).get("ceiling")) is not None:
            tail += f", RSA {_f(ev['rsa_spearman']['ceiling'])}"
        tail += ". 95% CIs in brackets."
    return _p_(text + "." + tail, "lead")


def _base_name(metrics: dict) -> str | None:
    """The model the fine-tuning started from, where the run records it."""
    ft = metrics.get("finetuning")
    return str(ft["base"]) if isinstance(ft, Mapping) and ft.get("base") else None


def _header(metrics: dict, run_dir: Path, models: list[dict]) -> str:
    title = metrics.get("title") or f"bgs run {run_dir.name}"
    bits = [f"run directory {run_dir.name}"]
    if metrics.get("kind"):
        bits.append(f"kind: {metrics['kind']}")
    if metrics.get("created"):
        bits.append(f"created {metrics['created']}")
    return (f"<header><h1>{_e(title)}</h1>{_p_(' · '.join(bits), 'meta')}"
            f"{_at_a_glance(models, metrics.get('training'), _base_name(metrics))}</header>")


def _command(metrics: dict) -> str | None:
    """The command line recorded in the run's header."""
    argv = metrics.get("command")
    return shlex.join(str(x) for x in argv) if argv else None


def _section_run(metrics: dict) -> str:
    cfg = metrics.get("config")
    parts = []
    cmd = _command(metrics)
    if cmd:
        parts.append(f"<p>Command:</p><pre>{_e(cmd)}</pre>")
    if isinstance(cfg, Mapping) and cfg:
        # an empty setting takes its default when the run starts (e.g. the registry's LoRA targets)
        rows = [(k, "— (default)" if v in ("", [], ()) else _cell(v)) for k, v in _flatten(cfg)]
        if rows:
            parts.append("<h3>Configuration</h3>" + _table(("setting", "value"), rows))
    if metrics.get("kind") == "demo":
        parts.insert(0, _p_("A demonstration run: a synthetic social-interaction dataset with "
                            "known ground truth, simulated odd-one-out judgments, baseline "
                            "models and fine-tuning, all scored on held-out stimuli."))
    return "".join(parts)


_CEILING_NAMES = {"n_triplets": "triplets",
                  "ooo_lower": "odd-one-out ceiling, lower",
                  "ooo_upper": "odd-one-out ceiling, upper",
                  "split_half_spearman_brown": "split-half reliability ρ (Spearman–Brown)"}


def _ceilings_table(ceilings: Mapping) -> str:
    """The noise ceilings per split (all stimuli, held-out stimuli) and what they mean."""
    keys: list[str] = []
    for c in ceilings.values():
        if isinstance(c, Mapping):
            keys += [k for k in c if not k.endswith("_ci") and k not in keys
                     and not isinstance(c[k], (Mapping, list))]
    has_rho = "split_half_spearman_brown" in keys
    header = ["stimuli"] + [_CEILING_NAMES.get(k, k.replace("_", " ")) for k in keys]
    if has_rho:
        header.append("RSA ceiling √ρ")
    rows = []
    for split, c in ceilings.items():
        if not isinstance(c, Mapping):
            continue
        row = [{"all": "all stimuli", "test": "held-out (test) stimuli"}.get(split, split)]
        row += [_int(c[k]) if isinstance(c.get(k), int) and not isinstance(c[k], bool)
                else _f(c.get(k)) + _ci(c.get(f"{k}_ci")) if _num(c.get(k)) is not None
                else _cell(c.get(k, "—")) for k in keys]
        if has_rho:
            rho = _num(c.get("split_half_spearman_brown"))
            row.append(_f(math.sqrt(rho)) if rho is not None and rho > 0 else "—")
        rows.append(row)
    return ("<h3>Noise ceilings</h3>" + _table(header, rows, numeric=range(1, len(header)))
            + _p_("The odd-one-out ceiling bounds the 3-way accuracy any model can reach "
                  "on these triplets (from triads answered more than once); the RSA "
                  "ceiling is √ρ, the expected correlation of a perfect model with "
                  "noisy human data (for r² it is ρ).", "note"))


def _section_data(metrics: dict, rep: _Report) -> str:
    data = metrics.get("data") if isinstance(metrics.get("data"), Mapping) else {}
    ceilings = metrics.get("ceilings") if isinstance(metrics.get("ceilings"), Mapping) else {}
    parts = []
    if data:
        rows: list[tuple[str, str]] = []
        shown = {"source", "n_rows", "dropped", "n_catch", "n_catch_failed", "n_catch_unscorable",
                 "screened", "n_valid", "n_participants", "excluded_participants", "n_stimuli",
                 "n_clips", "n_pairs", "n_observed_pairs", "n_triads", "n_repeated_triads",
                 "mean_cooccurrence_observed", "split_half_spearman_brown",
                 "split_half_spearman_brown_ci", "split_half", "ooo_ceiling", "true_ceiling",
                 "seed", "screening"}
        if data.get("source"):
            rows.append(("triplet file", Path(str(data["source"])).name))
        if "n_rows" in data:
            rows.append(("rows in the file", _int(data["n_rows"])))
        for reason, n in (data.get("dropped") or {}).items():
            rows.append((f"dropped: {reason}", _int(n)))
        if "n_catch" in data:
            rows.append(("catch trials (a repeated stimulus)", _int(data["n_catch"])))
            rows.append(("  failed catch trials", _int(data.get("n_catch_failed"))))
        for reason, n in (data.get("screened") or {}).items():
            rows.append((f"screened out: {reason}", _int(n)))
        if "n_valid" in data:
            rows.append(("valid triplets", _int(data["n_valid"])))
        if "n_participants" in data:
            rows.append(("participants (with valid triplets)", _int(data["n_participants"])))
        if "excluded_participants" in data:
            ex = data["excluded_participants"]
            rows.append(("participants excluded", _int(len(ex) if isinstance(ex, (Mapping, list))
                                                       else ex)))
        if "n_stimuli" in data:
            rows.append(("stimuli", _int(data["n_stimuli"])))
        if "n_clips" in data:
            rows.append(("generated clips", _int(data["n_clips"])))
        if "n_observed_pairs" in data:
            rows.append(("observed pairs / all pairs",
                         f"{_int(data['n_observed_pairs'])} / {_int(data.get('n_pairs'))}"))
        if "n_triads" in data:
            rows.append(("distinct triads / answered more than once",
                         f"{_int(data['n_triads'])} / {_int(data.get('n_repeated_triads'))}"))
        if "split_half_spearman_brown" in data:
            rows.append(("split-half reliability ρ (Spearman, Spearman–Brown) [95% CI]",
                         _f(data["split_half_spearman_brown"])
                         + _ci(data.get("split_half_spearman_brown_ci"))))
            rho = _num(data["split_half_spearman_brown"])
            if rho is not None and rho > 0:
                rows.append(("RSA ceiling √ρ", _f(math.sqrt(rho))))
        oc = data.get("ooo_ceiling")
        if isinstance(oc, Mapping):
            rows.append(("odd-one-out ceiling, lower [95% CI] (chance 0.333)",
                         _f(oc.get("lower")) + _ci(oc.get("lower_ci"))))
            rows.append(("odd-one-out ceiling, upper [95% CI]",
                         _f(oc.get("upper")) + _ci(oc.get("upper_ci"))))
        rows += _true_ceiling_rows(data.get("true_ceiling"))
        for k, v in data.items():
            if k not in shown and isinstance(v, (int, float, str)) and not isinstance(v, bool):
                rows.append((k.replace("_", " "), _cell(v) if not isinstance(v, float) else _f(v)))
        parts.append("<h3>Human judgments</h3>" + _kv_table(rows))
        if isinstance(oc, Mapping) and oc.get("definition"):
            parts.append(_p_(f"Odd-one-out ceiling: {oc['definition']}", "note"))
        tc = data.get("true_ceiling")
        if isinstance(tc, Mapping) and tc.get("definition"):
            parts.append(_p_(f"True ceiling: {tc['definition']}", "note"))
    if ceilings:
        parts.append(_ceilings_table(ceilings))
    for png in sorted((rep.run_dir / "plots").glob("*contact*.png")):
        parts.append(rep.image(png, "Example stimuli: frames of generated clips"))
    return "".join(parts)


def _true_ceiling_rows(tc) -> list[tuple[str, str]]:
    """Rows for the true odd-one-out ceiling of a simulation (a number, or the dict of
    :func:`bgs.synthetic.observers.true_ceiling`)."""
    if tc is None:
        return []
    if not isinstance(tc, Mapping):
        return [("true odd-one-out ceiling (known generative model)", _f(tc))]
    rows = [("true odd-one-out ceiling (known generative model)", _f(tc.get("value")))]
    if "attentive" in tc:
        rows.append(("  attentive participants only", _f(tc["attentive"])))
    test = tc.get("test_split")
    if isinstance(test, Mapping):
        rows.append(("  on the test split (all / attentive participants)",
                     f"{_f(test.get('all_participants'))} / {_f(test.get('attentive'))}"))
    return rows


def true_test_ceiling(data) -> float | None:
    """The true odd-one-out ceiling on the held-out (test) triplets, when the data were
    simulated (the test-split value, else the overall value)."""
    tc = (data or {}).get("true_ceiling") if isinstance(data, Mapping) else None
    if isinstance(tc, Mapping):
        test = tc.get("test_split")
        v = _num(test.get("all_participants")) if isinstance(test, Mapping) else None
        return v if v is not None else _num(tc.get("value"))
    return _num(tc)


def _headline(ev: Mapping) -> str:
    if (ev or {}).get("anchor_accuracy"):
        rsa = (ev.get("rsa_spearman") or {}).get("value")
        return f"two-way {_f(ev['anchor_accuracy'].get('value'))}, RSA {_f(rsa)}"
    o, r = ev.get("ooo_accuracy"), ev.get("rsa_spearman")
    return (f"odd-one-out {_f((o or {}).get('value'))}, RSA {_f((r or {}).get('value'))}"
            if o or r else "—")


def _section_baselines(models: list[dict]) -> str:
    base = [m for m in models if m["stage"] != "fine-tuned"]
    if not base:
        return ""
    rows = [(m["label"], m["name"], m["family"] or "—", m["stage"] or "—", _headline(m["eval"]))
            for m in base]
    return (_p_("Models scored as they are, without training on human judgments. Their "
                "held-out scores are in the results section.")
            + _table(("model", "name", "family", "stage", "held-out scores"), rows))


def _clean_history(history: list) -> list[dict]:
    keys = ("train_loss", "train_rsa", "val_rsa", "val_ooo_accuracy")
    out = []
    for i, h in enumerate(history):
        if isinstance(h, Mapping):
            row = dict(h)
            row.setdefault("epoch", i)
            for k in keys:
                row[k] = _num(row.get(k))
                if row[k] is None:
                    row[k] = float("nan")
            out.append(row)
    return out


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "objective"


def _section_training(metrics: dict, rep: _Report, models: list[dict]) -> str:
    training = metrics.get("training")
    if not isinstance(training, Mapping) or not training:
        return ""
    from bgs.report import figures

    rows, figs = [], []
    for name, entry in training.items():
        if not isinstance(entry, Mapping):
            continue
        hist = _clean_history(entry.get("history") or [])
        best = entry.get("best_epoch")
        at_best = _selected(entry, hist)
        rows.append((name, _int(len(hist)), ("before training" if best == START_EPOCH else _int(best))
                     if best is not None else "—",
                     _f(at_best.get("val_rsa")) if at_best else "—",
                     _f(_val_accuracy(at_best)) if at_best else "—",
                     str(entry.get("run", "—"))))
        if not hist:
            continue
        caption = (f"Training curves, objective {name}: training loss, RSA on training and "
                   "validation stimuli, validation accuracy: odd-one-out, or two-way on anchor triplets "
                   "(dotted: chance)")
        own = (rep.run_dir / str(entry.get("run", "")) / "training_curves.png"
               if entry.get("run") else None)
        fname = f"training_{_safe_name(str(name))}.png"
        if not (rep.run_dir / "plots" / fname).is_file() and own is not None and own.is_file():
            figs.append(rep.image(own, caption))
        else:
            figs.append(rep.figure(fname, caption, lambda p, h=hist, n=name:
                                   figures.plot_training_curves(h, p, f"objective: {n}")))
    if not rows:
        return ""
    parts = [_p_("Fine-tuning on the triplets among the training stimuli, one run per "
                 "objective (and per fold, when cross-validated); each run's checkpoint is its "
                 "epoch of best validation RSA, or its model before training where that was a candidate "
                 "and no epoch beat it."),
             _table(("objective", "epochs", "best epoch", "val. RSA at best",
                     "val. accuracy at best (odd-one-out; two-way on anchor triplets)", "run"), rows,
                    numeric=(1, 2, 3, 4))]
    parts += figs
    if len(training) > 1:
        parts.append(rep.figure(FIGURE_NAMES["training_comparison"],
                                "Validation RSA and odd-one-out accuracy per epoch, objectives "
                                "overlaid (★: best epoch)",
                                lambda p: figures.plot_training_comparison(
                                    {k: {**v, "history": _clean_history(v.get("history") or [])}
                                     for k, v in training.items() if isinstance(v, Mapping)}, p)))
    tuned = [m for m in models if m["stage"] == "fine-tuned"]
    if tuned:
        parts.append(_p_("Fine-tuned models scored below: "
                         + ", ".join(f"{m['label']} ({_headline(m['eval'])})" for m in tuned)))
    return "".join(parts)


def _val_accuracy(record: Mapping):
    """Validation odd-one-out accuracy, or two-way accuracy for anchor triplets."""
    v = _num(record.get("val_ooo_accuracy"))
    return v if v is not None else record.get("val_anchor_accuracy")


def _fraction(ev: Mapping) -> str:
    bits = []
    o = ev.get("ooo_accuracy") or {}
    fr = o.get("fraction_of_ceiling") or {}
    lo_f, hi_f = _num(fr.get("upper")), _num(fr.get("lower"))  # acc/upper ≤ acc/lower
    if lo_f is None or hi_f is None:
        acc, c = _num(o.get("value")), o.get("ceiling") or {}
        lo, hi = _num(c.get("lower")), _num(c.get("upper"))
        if acc is not None and lo and hi:
            lo_f, hi_f = acc / hi, acc / lo
    if lo_f is not None and hi_f is not None:
        bits.append(f"OOO {100 * lo_f:.0f}–{100 * hi_f:.0f}%")
    r = ev.get("rsa_spearman") or {}
    fr_r = _num(r.get("fraction_of_ceiling"))
    if fr_r is None and _num(r.get("value")) is not None and _num(r.get("ceiling")):
        fr_r = _num(r["value"]) / _num(r["ceiling"])
    if fr_r is not None:
        bits.append(f"RSA {100 * fr_r:.0f}%")
    return "; ".join(bits) or "—"


def _results_notes(first: Mapping, data) -> str:
    """The notes under the results table: the ceilings of its triplets, what two-way means."""
    o = first.get("ooo_accuracy") or {}
    c = o.get("ceiling") or {}
    r = first.get("rsa_spearman") or {}
    notes = []
    if c:
        notes.append(f"odd-one-out ceiling on these triplets {_f(c.get('lower'))}–"
                     f"{_f(c.get('upper'))} (chance {_f(o.get('chance', 1 / 3))})")
    if _num(r.get("ceiling")) is not None:
        notes.append(f"RSA ceiling √ρ = {_f(r['ceiling'])} (ρ = {_f(r.get('reliability'))})")
    tc = true_test_ceiling(data)
    if tc is not None:
        notes.append(f"true odd-one-out ceiling of the simulation on these stimuli {_f(tc)}")
    notes.append("two-way accuracy is the paper's anchor two-alternative variant (chance "
                 "0.5), not the 3-way odd-one-out accuracy whose ceiling is shown")
    notes.append("fraction of ceiling: odd-one-out accuracy over the upper–lower ceiling, "
                 "RSA r over √ρ")
    return _p_("Notes: " + "; ".join(notes) + ".", "note")


def _section_results(metrics: dict, rep: _Report, models: list[dict]) -> str:
    from bgs.report import figures

    scored = [m for m in models if m["eval"]]
    mats = _load_matrices(rep.run_dir)
    drawn = (rep.run_dir / "plots" / FIGURE_NAMES["matrices"]).is_file()
    if not scored and mats is None and not drawn:
        return ""
    parts = []
    from bgs.report.anchor import anchor_results, is_anchor

    if scored and is_anchor(scored[0]["eval"]):
        parts.append(anchor_results(metrics, rep, scored))
    elif scored:
        first = scored[0]["eval"]
        parts.append(_p_(f"All models are scored on the same held-out triplets: "
                         f"{_int(first.get('n_triplets'))} triplets over "
                         f"{_int(first.get('n_stimuli'))} stimuli "
                         f"({_int(first.get('n_pairs'))} observed pairs). 95% CIs: bootstrap over "
                         "triplets (accuracies) and over stimuli (RSA); p-values: stimulus-label "
                         "permutation."))
        header = ("model", "stage", "odd-one-out acc. (3-way) [95% CI]", "p",
                  "two-way acc. (anchor 2AFC, the paper's variant) [95% CI]",
                  "RSA Spearman r [95% CI]", "p", "explained variance r²",
                  "fraction of ceiling")
        rows = []
        for m in scored:
            ev = m["eval"]
            o, w, r = (ev.get("ooo_accuracy") or {}, ev.get("two_way_accuracy_symmetric") or {},
                       ev.get("rsa_spearman") or {})
            ex = _f(r.get("explained_variance"))
            if _num(r.get("explained_variance_ceiling")) is not None and ex != "—":
                ex += f" (of {_f(r['explained_variance_ceiling'])})"
            rows.append((m["label"], m["stage"] or "—", _val_ci(o), _p(o.get("p_value")),
                         _val_ci(w), _val_ci(r), _p(r.get("p_value")), ex, _fraction(ev)))
        parts.append(_table(header, rows, numeric=range(2, 9)))
        parts.append(_results_notes(first, metrics.get("data")))
        more = []
        for m in scored:
            ev = m["eval"]
            more.append((m["label"], _val_ci(ev.get("ooo_accuracy"), "ci_stimuli"),
                         _val_ci(ev.get("two_way_accuracy_symmetric"), "ci_stimuli"),
                         _val_ci(ev.get("rsa_spearman"), "ci_triplets"),
                         _val_ci(ev.get("rsa_pearson")), _p((ev.get("rsa_pearson") or {})
                                                           .get("p_value")),
                         _f((ev.get("rsa_kendall_tau_a") or {}).get("value"))))
        parts.append("<details><summary>More scores (other CIs, Pearson and Kendall RSA)"
                     "</summary>"
                     + _table(("model", "odd-one-out [CI over stimuli]",
                               "two-way [CI over stimuli]", "RSA Spearman [CI over triplets]",
                               "RSA Pearson r [CI]", "p", "Kendall τa"), more,
                              numeric=range(1, 7)) + "</details>")
        parts.append(rep.figure(FIGURE_NAMES["scores"],
                                "Held-out odd-one-out accuracy and RSA per model with 95% CIs; "
                                "grey band: odd-one-out ceiling (lower–upper); grey line: RSA "
                                "ceiling √ρ; dashed: chance",
                                lambda p: figures.plot_model_scores(
                                    {m["name"]: metrics["models"][m["name"]] for m in scored}, p,
                                    true_ceiling=true_test_ceiling(metrics.get("data")))))
    caption = ("Human and model dissimilarity of the held-out stimuli as percentile ranks (what "
               "Spearman RSA compares), rows and columns ordered by average-linkage clustering "
               "of the human matrix; grey: pairs no triplet covered")
    if mats is not None:
        ids, human, mm = mats
        labels = {m["name"]: m["label"] for m in models}
        parts.append(rep.figure(FIGURE_NAMES["matrices"], caption,
                                lambda p: figures.plot_similarity_matrices(ids, human, mm, p,
                                                                           labels=labels)))
    else:
        parts.append(rep.figure(FIGURE_NAMES["matrices"], caption, None))
    return "".join(parts)


def _section_probes(metrics: dict, rep: _Report, models: list[dict]) -> str:
    probes = metrics.get("probes")
    if not isinstance(probes, Mapping) or not probes:
        return ""
    from bgs.report import figures

    labels = {m["name"]: m["label"] for m in models}
    rows = []
    for name, prows in probes.items():
        for r in prows or []:
            r2 = _f(r.get("r2"))
            if r2 != "—":
                r2 += _ci((r.get("r2_ci_low"), r.get("r2_ci_high")))
            pr = _f(r.get("pearson_r"))
            if pr != "—":
                pr += _ci((r.get("r_ci_low"), r.get("r_ci_high")))
            rows.append((labels.get(name, name), r.get("attribute", "—"), r2, pr, _int(r.get("n"))))
    return (_p_("Ridge regression from each model's embeddings to per-stimulus attribute ratings, "
                "scored on held-out stimuli (R² can be negative: worse than predicting the mean). "
                "95% CIs: bootstrap over held-out stimuli.")
            + _table(("model", "attribute", "R² [95% CI]", "Pearson r [95% CI]", "stimuli"),
                     rows, numeric=(2, 3, 4))
            + rep.figure(FIGURE_NAMES["probes"], "Held-out R² of linear probes per attribute "
                                                 "and model (whiskers: 95% CI)",
                         lambda p: figures.plot_probes(probes, p, labels=labels)))


def _section_partition(metrics: dict, rep: _Report) -> str:
    part = metrics.get("partition")
    if not isinstance(part, Mapping) or not part:
        return ""
    from bgs.report import figures

    ins, cv = part.get("in_sample"), part.get("cross_validated")
    if not isinstance(ins, Mapping):
        if "unique" in part:
            ins, cv = part, None
        else:
            return ""
    cv = cv if isinstance(cv, Mapping) else None
    cv_head = f"cross-validated ({cv.get('cv_folds')} folds)" if cv else "cross-validated"
    rows = []

    def get(d, section, k=None):
        if d is None:
            return None
        return d.get(section) if k is None else (d.get(section) or {}).get(k)

    for k in ins.get("r2") or {}:
        rows.append((f"R² {k.replace('+', ' + ')}", _f(get(ins, "r2", k), 4),
                     _f(get(cv, "r2", k), 4)))
    for k in ins.get("unique") or {}:
        rows.append((f"unique {k}", _f(get(ins, "unique", k), 4), _f(get(cv, "unique", k), 4)))
    for k in ins.get("shared") or {}:
        rows.append((f"shared {k.replace('+', ' ∩ ')}", _f(get(ins, "shared", k), 4),
                     _f(get(cv, "shared", k), 4)))
    rows.append(("unexplained", _f(ins.get("unexplained"), 4), _f(get(cv, "unexplained"), 4)))
    rows.append(("pairs scored", _int(ins.get("n_pairs")), _int(get(cv, "n_pairs"))))
    notes = [d.get("definition") for d in (ins, cv) if d and d.get("definition")]
    models = part.get("models") or ins.get("models") or []
    return (_p_("How much of the variance of human dissimilarity (over observed pairs) each "
                "model explains uniquely, and how much the models share "
                f"({', '.join(map(str, models))}"
                "). Shared parts can be negative (suppression); cross-validated parts can be "
                "negative too.")
            + _table(("component", "in-sample", cv_head), rows, numeric=(1, 2))
            + "".join(_p_(n[0].upper() + n[1:] + ".", "note") for n in notes)
            + rep.figure(FIGURE_NAMES["partition"], "Unique and shared parts of the variance of "
                                                    "human dissimilarity",
                         lambda p: figures.plot_partition(part, p)))


def _section_attention(metrics: dict, rep: _Report) -> str:
    att = metrics.get("attention")
    if not isinstance(att, Mapping) or not att:
        return ""
    parts = []
    text = att.get("description") or att.get("summary")
    if isinstance(text, str):
        parts.append(_p_(text))
    rows = [(k, _cell(v)) for k, v in _flatten({k: v for k, v in att.items()
                                                if k not in ("plots", "description", "summary")})]
    if rows:
        parts.append(_table(("quantity", "value"), rows))
    run_root = rep.run_dir.resolve()
    for rel in att.get("plots") or []:
        p = (rep.run_dir / str(rel)).resolve()
        if run_root not in p.parents or p.suffix.lower() != ".png":
            parts.append(_p_(f"Skipped {rel}: not a PNG inside the run directory", "warn"))
            continue
        parts.append(rep.image(p, f"Attention: {Path(str(rel)).stem.replace('_', ' ')}"))
    return "".join(parts)


def _section_timings(metrics: dict) -> str:
    res = metrics.get("resources")  # CPU time and load: wall time alone misleads on a shared machine
    extra = (_kv_table([(k.replace("_", " "), _cell(v)) for k, v in res.items()])
             if isinstance(res, Mapping) and res else "")
    t = metrics.get("timings")
    if not isinstance(t, Mapping) or not t:
        return extra
    vals = {k: _num(v) for k, v in t.items() if k != "total"}
    total = _num(t.get("total"))
    if total is None:  # no recorded wall time: the sum of the steps
        total = sum(v for v in vals.values() if v is not None)
    rows = [(k, _seconds(v), f"{100 * v / total:.0f}%" if v is not None and total > 0 else "—")
            for k, v in vals.items()]
    rows.append(("total (wall time)" if "total" in t else "total", _seconds(total),
                 "100%" if total > 0 else "—"))
    return _table(("step", "time", "share"), rows, numeric=(1, 2)) + extra


def _section_other_figures(rep: _Report) -> str:
    plots = rep.run_dir / "plots"
    if not plots.is_dir():
        return ""
    rest = [p for p in sorted(plots.glob("*.png")) if p.resolve() not in rep.used]
    return "".join(rep.image(p, p.stem.replace("_", " ")) for p in rest)


def _footer(metrics: dict, run_dir: Path) -> str:
    from bgs import __version__

    cmd = _command(metrics)
    parts = ["<footer><h2 id=\"reproduce\">How to reproduce</h2>"]
    if cmd:
        parts.append("<p>Run the command that made this run directory:</p>"
                     f"<pre>{_e(cmd)}</pre>")
    else:
        parts.append(_p_("metrics.json records no command; the configuration above lists the "
                         "settings of the run."))
    shown = run_dir.name if run_dir.is_absolute() else str(run_dir)  # no absolute paths
    parts.append("<p>Then rebuild this report from the run directory:</p>"
                 f"<pre>{_e('bgs report ' + shlex.quote(shown))}</pre>")
    now = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
    parts.append(_p_(f"Report written by bgs {__version__} on {now}. Self-contained: every "
                     "figure is embedded in this file.", "meta"))
    parts.append("</footer>")
    return "".join(parts)


def render_report(run_dir: str | os.PathLike, plots_dir: str | os.PathLike | None = None) -> str:
    """The report of ``run_dir`` as an HTML string (figures missing from ``plots/`` are drawn
    into ``plots_dir``, by default ``run_dir/plots``)."""
    run_dir = Path(run_dir)
    metrics = _load_metrics(run_dir)
    rep = _Report(run_dir, Path(plots_dir) if plots_dir is not None else run_dir / "plots")
    models = _models(metrics)
    rep.add("run", "What was run", _section_run(metrics))
    rep.add("data", "Data and noise ceilings", _section_data(metrics, rep))
    rep.add("baselines", "Baselines", _section_baselines(models))
    rep.add("fine-tuning", "Fine-tuning", _section_training(metrics, rep, models))
    rep.add("results", "Held-out results", _section_results(metrics, rep, models))
    from bgs.report.anchor import differences_section, folds_section

    rep.add("differences", "Paired differences against the base model", differences_section(metrics))
    from bgs.report.comparisons import comparisons_section

    rep.add("comparisons", "Paired difference vs base", comparisons_section(metrics))
    rep.add("folds", "Cross-validation folds", folds_section(metrics))
    rep.add("probes", "Linear probes", _section_probes(metrics, rep, models))
    rep.add("partition", "Variance partitioning", _section_partition(metrics, rep))
    rep.add("attention", "Attention", _section_attention(metrics, rep))
    rep.add("timings", "Timings", _section_timings(metrics))
    rep.add("other-figures", "Other figures", _section_other_figures(rep))
    title = metrics.get("title") or f"bgs run {run_dir.name}"
    toc = "".join(f'<li><a href="#{sid}">{_e(h)}</a></li>' for sid, h, _ in rep.sections)
    toc += '<li><a href="#reproduce">How to reproduce</a></li>'
    body = "".join(f'<section id="{sid}"><h2>{i}. {_e(h)}</h2>{html}</section>'
                   for i, (sid, h, html) in enumerate(rep.sections, 1))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{_e(title)}</title><style>{CSS}</style></head><body><main>"
            f"{_header(metrics, run_dir, models)}<nav><ol>{toc}</ol></nav>{body}"
            f"{_footer(metrics, run_dir)}</main></body></html>\n")


def _plots_dir(run_dir: Path) -> Path | None:
    """``run_dir/plots`` if it can be written, else None."""
    plots = run_dir / "plots"
    try:
        plots.mkdir(exist_ok=True)
    except OSError:
        return None
    return plots if os.access(plots, os.W_OK) else None


def write_report(run_dir: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """Write the self-contained HTML report of ``run_dir`` to ``run_dir/report.html`` (or
    ``out``) atomically and return its path."""
    run_dir = Path(run_dir)
    _load_metrics(run_dir)  # fail before touching anything
    _load_matrices(run_dir)
    try:
        target = ensure_writable(Path(out) if out is not None else run_dir / "report.html")
    except FileAccessError as exc:
        raise BGSError(f"{exc.path}: cannot write the report ({exc.problem}). Fix: write it "
                       "elsewhere with --out FILE") from None
    plots = _plots_dir(run_dir)
    with contextlib.ExitStack() as stack:
        if plots is None:
            plots = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bgs-report-")))
        text = render_report(run_dir, plots)
    try:
        with atomic_path(target, suffix=".html") as tmp:
            tmp.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise BGSError(f"{target}: cannot write the report ({exc.strerror or exc}). Fix: write "
                       "it elsewhere with --out FILE") from None
    return target
