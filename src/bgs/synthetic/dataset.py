"""``make_dataset``: a synthetic stand-in for garcia2025 with planted ground truth.

The output folder mirrors the real data's layout (so ``load_garcia2025(out)`` reads it) and
adds what the real data cannot have::

    OUT/videos/synth_0000.mp4 ...   H.264 clips (yuv420p)
    OUT/masks/synth_0000.npz ...    array 'masks': uint8 (T, H, W), 0 = background, k = agent k-1
    OUT/all_triplets.csv            every judgment, garcia2025 columns (catch trials included)
    OUT/train_triplets.csv, test_triplets.csv   non-catch rows with all three clips in one split
    OUT/video_mapping.csv           index (stimulus id) -> video_name
    OUT/train.csv, test.csv         the stimulus split
    OUT/captions.csv                video_name, caption_index, caption (long format)
    OUT/annotations.csv             video_name, rating-<attribute> (noisy rater means), ...
    OUT/behavior.jsonl              views, likes, comments, replay graph per clip
    OUT/truth.json                  latents, nuisance, scripts, participants, config, true ceiling

Every file is written atomically; ``truth.json`` is written last, so a folder without it is
an interrupted run. ``OUT/.bgs-incomplete`` marks the folder while it is being written:
readers (:func:`bgs.data.tables.read_table`, :func:`read_truth`) refuse such a folder, and
``--force`` replaces it, temporary files of a killed run included. Every random draw comes
from ``numpy.random.default_rng([seed, stream, ...])`` with a fixed stream per purpose, so
equal seeds give byte-identical folders and a clip's content does not depend on how many clips
are generated.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from bgs import __version__
from bgs.data.tables import INCOMPLETE, refuse_incomplete
from bgs.errors import ConfigError, OutputExistsError, UnreadableFileError
from bgs.io import atomic_path, ensure_writable, file_sha256, is_new_folder
from bgs.synthetic import behavior as bh
from bgs.synthetic import captions as cap
from bgs.synthetic import observers as obs
from bgs.synthetic import render
from bgs.synthetic.scenes import (
    LATENT_NAMES,
    NUISANCE_NAMES,
    OBSERVER_NUISANCE,
    PARAM_NAMES,
    SCRIPTS,
    STYLES,
    Scene,
    observer_nuisance_features,
    sample_scene,
)

TABLES = ("all_triplets.csv", "train_triplets.csv", "test_triplets.csv", "video_mapping.csv",
          "train.csv", "test.csv", "captions.csv", "annotations.csv", "behavior.jsonl")
TRIPLET_COLUMNS = ("participation", "task", "trial", "stim1_name", "stim2_name", "stim3_name",
                   "choice", "response_time", "catch_trial_flag", "token", "survey_code")
STREAMS = {"scripts": 1, "content": 2, "nuisance": 3, "split": 4, "captions": 5, "ratings": 6,
           "participants": 7, "design": 8, "responses": 9, "behavior": 10, "ceiling": 11}
DEFAULT_WEIGHTS = (1.0, 1.0, 0.6, 0.6, 0.8, 0.8, 0.6, 0.6)  # in LATENT_NAMES order


@dataclass
class SynthConfig:
    """Every parameter of a synthetic dataset (saved into ``truth.json``)."""

    seed: int = 0
    # clips
    n_clips: int = 120
    frames: int = 16
    size: int = 64
    fps: float = 8.0
    render: bool = True  # write videos and masks (False: tables and truth only)
    crf: int = 18  # x264 quality
    scripts: tuple[str, ...] = tuple(SCRIPTS)
    three_agent_share: float = 0.3
    latent_noise: float = 0.05  # per-clip idiosyncratic sd of the social latents
    test_share: float = 0.2
    name_prefix: str = "synth"
    style: str = "default"  # rendering style (scenes.STYLES): same scripts, other look and motion
    # side data
    captions_per_clip: tuple[int, int] = (5, 8)
    raters_per_clip: tuple[int, int] = (8, 12)
    rating_noise: float = 0.15
    # participants and design
    n_participants: int = 60
    sets_per_participant: int = 12
    trials_per_set: int = 10  # including the set's one catch trial
    repeat_share: float = 0.3  # share of regular trials drawn from the pool of shared triads
    repeats_per_triad: int = 5  # participants answering each shared triad
    within_test_share: float = 0.1  # share of triads drawn entirely among the test clips
    flag_catch_trials: bool = False  # the real data never sets catch_trial_flag
    # observer model
    population_weights: tuple[float, ...] = DEFAULT_WEIGHTS
    weight_spread: float = 0.35
    temperature: float = 0.05
    temperature_spread: float = 0.25
    lapse_rate: float = 0.04
    inattentive_share: float = 0.1
    nuisance_weight: float = 0.05
    ceiling_draws: int = 1000

    def validate(self) -> "SynthConfig":
        def need(ok: bool, msg: str):
            if not ok:
                raise ConfigError(msg)

        need(isinstance(self.seed, (int, np.integer)) and self.seed >= 0, "seed must be an integer >= 0")
        need(self.n_clips >= 6, f"need at least 6 clips, got {self.n_clips}")
        need(self.frames >= 2, f"need at least 2 frames, got {self.frames}")
        need(self.size >= 16 and self.size % 2 == 0,
             f"size must be even and >= 16 (yuv420p), got {self.size}")
        need(self.fps > 0, f"fps must be positive, got {self.fps}")
        need(self.n_participants >= 1, f"need at least one participant, got {self.n_participants}")
        need(self.trials_per_set >= 2, "trials_per_set must be >= 2 (one is the catch trial)")
        need(self.sets_per_participant >= 1, "sets_per_participant must be >= 1")
        need(self.repeats_per_triad >= 1, "repeats_per_triad must be >= 1")
        need(self.style in STYLES, f"style must be one of {', '.join(STYLES)}, got {self.style!r}")
        need(len(self.scripts) >= 1 and all(s in SCRIPTS for s in self.scripts),
             f"scripts must be among {', '.join(SCRIPTS)}")
        need(len(self.population_weights) == len(LATENT_NAMES) and min(self.population_weights) >= 0
             and sum(self.population_weights) > 0,
             f"population_weights needs {len(LATENT_NAMES)} non-negative values ({', '.join(LATENT_NAMES)})")
        for name in ("three_agent_share", "test_share", "repeat_share", "within_test_share",
                     "lapse_rate", "inattentive_share"):
            need(0 <= getattr(self, name) <= 1, f"{name} must be in [0, 1]")
        need(self.lapse_rate < 1, "lapse_rate must be below 1")
        need(self.temperature > 0, "temperature must be positive")
        need(self.nuisance_weight >= 0, "nuisance_weight must be >= 0")
        need(1 <= self.captions_per_clip[0] <= self.captions_per_clip[1],
             "captions_per_clip: 1 <= min <= max")
        need(1 <= self.raters_per_clip[0] <= self.raters_per_clip[1], "raters_per_clip: 1 <= min <= max")
        need(self.ceiling_draws >= 2, "ceiling_draws must be >= 2")
        return self

    @property
    def n_test(self) -> int:
        """Test clips: ``test_share`` of the clips, at least 3 when the share is positive."""
        if self.test_share <= 0:
            return 0
        return min(self.n_clips - 3, max(3, int(round(self.test_share * self.n_clips))))

    def to_dict(self) -> dict:
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict) -> "SynthConfig":
        names = {f.name for f in fields(cls)}
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in names}
        return cls(**kwargs)

    def mean_weights(self) -> np.ndarray:
        w = np.asarray(self.population_weights, dtype=float)
        return w / w.sum()


@dataclass
class SynthResult:
    out_dir: Path
    config: SynthConfig
    n_clips: int
    n_participants: int
    n_inattentive: int
    n_rows: int
    n_catch: int
    n_train_triplets: int
    n_test_triplets: int
    true_ceiling: dict
    seconds: float
    files: list[str] = field(default_factory=list)

    def summary(self) -> str:
        c = self.true_ceiling
        return (f"{self.n_clips} clips, {self.n_participants} participants "
                f"({self.n_inattentive} inattentive), {self.n_rows:,} judgments "
                f"({self.n_catch:,} catch trials; {self.n_train_triplets:,} train / "
                f"{self.n_test_triplets:,} test triplets); true odd-one-out ceiling "
                f"{c['value']:.3f} (attentive {c['attentive']:.3f}, chance 0.333); "
                f"{len(self.files)} files in {self.seconds:.1f} s -> {self.out_dir}")


# ---------------------------------------------------------------------- helpers
def _rng(seed: int, stream: str, *extra: int) -> np.random.Generator:
    return np.random.default_rng([seed, STREAMS[stream], *extra])


def _round(obj, nd: int = 6):
    """JSON-ready copy with floats rounded (stable, compact) and numpy scalars converted."""
    if isinstance(obj, dict):
        return {str(k): _round(v, nd) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_round(v, nd) for v in obj]
    if isinstance(obj, np.ndarray):
        return _round(obj.tolist(), nd)
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return round(v, nd) if np.isfinite(v) else None
    return obj


def _write_csv(path: Path, df: pd.DataFrame) -> None:
    with atomic_path(path, suffix=".csv") as tmp:
        df.to_csv(tmp, index=False)


def _write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")




def _prepare_out(out: Path, cfg: SynthConfig, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out} exists and is not a folder; give a folder path")
    ensure_writable(out, folder=True)
    if not is_new_folder(out):
        if not force:
            raise OutputExistsError(
                f"{out} is not empty; refusing to overwrite it. Fix: give an empty or new folder, "
                f"or pass --force (force=True) to replace a previous synthetic dataset there")
        # Remove what a previous run wrote (and nothing else): truth.json first, so that an
        # interrupted forced run never looks complete.
        for name in ("truth.json", *TABLES):
            (out / name).unlink(missing_ok=True)
        for sub, ext in (("videos", "mp4"), ("masks", "npz")):
            if (out / sub).is_dir():
                for f in (out / sub).glob(f"{cfg.name_prefix}_*.{ext}"):
                    f.unlink()
        for folder in (out, out / "videos", out / "masks"):  # temporaries of a killed run
            for f in folder.glob(".*.tmp"):
                f.unlink()
    out.mkdir(parents=True, exist_ok=True)
    _write_text(out / INCOMPLETE, "bgs synth make did not finish\n")  # removed at the end


def _scripts_for(cfg: SynthConfig, index: int) -> str:
    """Balanced script assignment: each block of len(scripts) clips is a seeded permutation."""
    k = len(cfg.scripts)
    block = index // k
    perm = _rng(cfg.seed, "scripts", block).permutation(k)
    return cfg.scripts[perm[index % k]]


def build_scenes(cfg: SynthConfig) -> list[Scene]:
    scenes = []
    for i in range(cfg.n_clips):
        script = _scripts_for(cfg, i)
        scenes.append(sample_scene(i, _rng(cfg.seed, "content", i), _rng(cfg.seed, "nuisance", i),
                                   (script,), cfg.three_agent_share, cfg.latent_noise, cfg.style))
    return scenes


# ---------------------------------------------------------------------- main entry
def make_dataset(out: str | Path, config: SynthConfig | None = None, *, force: bool = False,
                 progress: Callable[[str, int, int], None] | None = None) -> SynthResult:
    """Generate a synthetic dataset into ``out`` (see the module docstring for the layout).

    ``progress(stage, done, total)`` is called as work proceeds. Refuses a non-empty ``out``
    unless ``force`` (then the files of a previous synthetic dataset there are replaced).
    """
    cfg = (config or SynthConfig()).validate()
    t0 = time.perf_counter()
    out = Path(out)
    _prepare_out(out, cfg, force)
    report = progress or (lambda stage, done, total: None)
    n = cfg.n_clips
    names = [f"{cfg.name_prefix}_{i:04d}.mp4" for i in range(n)]

    # ---- scenes and split
    report("scenes", 0, n)
    scenes = build_scenes(cfg)
    report("scenes", n, n)
    n_test = cfg.n_test
    test_idx = np.sort(_rng(cfg.seed, "split").choice(n, size=n_test, replace=False))
    is_test = np.zeros(n, dtype=bool)
    is_test[test_idx] = True
    latent = np.stack([s.latent for s in scenes])
    appearance = np.stack([observer_nuisance_features(s.nuisance) for s in scenes])

    if cfg.render:
        _write_media(out, cfg, scenes, names, report)
    _write_stimulus_tables(out, names, is_test, test_idx)
    _write_captions_and_ratings(out, cfg, scenes, names, is_test)
    report("captions", n, n)

    # ---- participants, design, responses
    people = obs.sample_participants(_rng(cfg.seed, "participants"), cfg.n_participants, cfg,
                                     cfg.mean_weights(), appearance.shape[1])
    design = obs.make_design(_rng(cfg.seed, "design"), cfg, n, test_idx, cfg.n_participants)
    odd, rt = obs.simulate_responses(_rng(cfg.seed, "responses"), design, people, latent, appearance)
    t = design.triads
    choice = t[np.arange(len(t)), odd]
    in_split = _write_judgments(out, cfg, people, design, choice, rt, is_test, test_idx)
    report("judgments", len(t), len(t))

    _write_behavior(out, cfg, scenes, names)
    report("behavior", n, n)

    # ---- true ceiling and truth
    ceiling = obs.true_ceiling(_rng(cfg.seed, "ceiling"), cfg, design, people, latent, appearance,
                               cfg.mean_weights(), test_idx)
    records = _participant_records(people, design, choice)
    clips = _clip_records(cfg, scenes, names, is_test, appearance)
    files = _dataset_files(out, cfg, names)
    truth = _truth(cfg, clips, records, design, in_split, ceiling,
                   {f: file_sha256(out / f) for f in files})
    _write_text(out / "truth.json", json.dumps(_round(truth), indent=1) + "\n")
    (out / INCOMPLETE).unlink()  # the folder is complete
    return SynthResult(out, cfg, n, cfg.n_participants, int(people.inattentive.sum()), int(len(t)),
                       int(design.catch.sum()), int(in_split["train"].sum()),
                       int(in_split["test"].sum()), ceiling, time.perf_counter() - t0,
                       files + ["truth.json"])


def _write_media(out: Path, cfg: SynthConfig, scenes: list[Scene], names: list[str],
                 report: Callable[[str, int, int], None]) -> None:
    """Render every scene: videos/<name>.mp4 and its masks/<name>.npz."""
    n = len(scenes)
    for i, scene in enumerate(scenes):
        frames, masks = render.render_scene(scene, cfg.frames, cfg.size)
        render.write_mp4(out / "videos" / names[i], frames, cfg.fps, cfg.crf)
        render.save_npz(out / "masks" / names[i].replace(".mp4", ".npz"), masks=masks)
        report("videos", i + 1, n)


def _write_stimulus_tables(out: Path, names: list[str], is_test: np.ndarray,
                           test_idx: np.ndarray) -> None:
    """video_mapping.csv, train.csv and test.csv."""
    n = len(names)
    _write_csv(out / "video_mapping.csv", pd.DataFrame({"index": np.arange(n), "video_name": names}))
    _write_csv(out / "train.csv",
               pd.DataFrame({"video_name": [names[i] for i in range(n) if not is_test[i]]}))
    _write_csv(out / "test.csv",
               pd.DataFrame({"index": test_idx, "video_name": [names[i] for i in test_idx]}))


def _write_captions_and_ratings(out: Path, cfg: SynthConfig, scenes: list[Scene],
                                names: list[str], is_test: np.ndarray) -> None:
    """captions.csv (one row per caption) and annotations.csv (one row of ratings per clip)."""
    cap_rows, ann_rows = [], []
    for i, scene in enumerate(scenes):
        rng = _rng(cfg.seed, "captions", i)
        k = int(rng.integers(cfg.captions_per_clip[0], cfg.captions_per_clip[1] + 1))
        sentences = cap.clip_captions(scene, rng, k)
        for j, s in enumerate(sentences):
            cap_rows.append({"video_name": names[i], "caption_index": j + 1,
                             "caption": cap.caption_for_table(s)})
        rr = _rng(cfg.seed, "ratings", i)
        n_raters = int(rr.integers(cfg.raters_per_clip[0], cfg.raters_per_clip[1] + 1))
        ratings = cap.rate_attributes(scene.latent, rr, n_raters, cfg.rating_noise)
        row = {"video_name": names[i]}
        row.update({col: round(float(v), 6) for col, v in zip(cap.RATING_COLUMNS, ratings)})
        row["stimulus_set"] = "test" if is_test[i] else "train"
        row["captions"] = repr(sentences)
        ann_rows.append(row)
    _write_csv(out / "captions.csv", pd.DataFrame(cap_rows))
    _write_csv(out / "annotations.csv", pd.DataFrame(ann_rows))


def _write_judgments(out: Path, cfg: SynthConfig, people, design, choice: np.ndarray,
                     rt: np.ndarray, is_test: np.ndarray,
                     test_idx: np.ndarray) -> dict[str, np.ndarray]:
    """all_triplets.csv and the non-catch train/test triplet files; returns each split's row mask."""
    t = design.triads
    pid = design.participant
    triplets = pd.DataFrame({
        "participation": people.names[pid], "task": [f"set{s}" for s in design.set_number],
        "trial": design.trial, "stim1_name": t[:, 0], "stim2_name": t[:, 1], "stim3_name": t[:, 2],
        "choice": choice, "response_time": rt,
        "catch_trial_flag": design.catch if cfg.flag_catch_trials else np.zeros(len(t), bool),
        "token": people.tokens[pid], "survey_code": people.survey_codes[pid]})
    _write_csv(out / "all_triplets.csv", triplets)
    valid = triplets[~design.catch]
    in_split = {name: np.isin(t[~design.catch], idx).all(axis=1)
                for name, idx in (("train", np.flatnonzero(~is_test)), ("test", test_idx))}
    for name, mask in in_split.items():
        part = valid[mask]
        part.insert(0, "triplet_id", part.index.to_numpy())
        _write_csv(out / f"{name}_triplets.csv", part)
    return in_split


def _write_behavior(out: Path, cfg: SynthConfig, scenes: list[Scene], names: list[str]) -> None:
    """behavior.jsonl: one receiver-behavior record per clip."""
    lines = []
    for i, scene in enumerate(scenes):
        rec = {"id": i, "video_name": names[i]}
        rec.update(bh.clip_behavior(scene, _rng(cfg.seed, "behavior", i), cfg.frames, cfg.fps))
        lines.append(json.dumps(rec, ensure_ascii=False))
    _write_text(out / "behavior.jsonl", "\n".join(lines) + "\n")


def _participant_records(people, design, choice: np.ndarray) -> list[dict]:
    """Each participant's truth record with their trial, catch and failed-catch counts."""
    t = design.triads
    pid = design.participant
    catch_single = np.where(t[:, 0] == t[:, 1], t[:, 2], np.where(t[:, 0] == t[:, 2], t[:, 1], t[:, 0]))
    failed = design.catch & (choice != catch_single)
    records = people.records(LATENT_NAMES, OBSERVER_NUISANCE)
    for p, rec in enumerate(records):
        mine = pid == p
        rec["n_trials"] = int(mine.sum())
        rec["n_catch"] = int((design.catch & mine).sum())
        rec["n_catch_failed"] = int((failed & mine).sum())
    return records


def _clip_records(cfg: SynthConfig, scenes: list[Scene], names: list[str], is_test: np.ndarray,
                  appearance: np.ndarray) -> list[dict]:
    """Each clip's truth record: split, script, parameters, latents, nuisances, event timing."""
    clips = []
    for i, scene in enumerate(scenes):
        clips.append({
            "id": i, "video_name": names[i], "split": "test" if is_test[i] else "train",
            "script": scene.script, "params": scene.params, "n_agents": scene.n_agents,
            "latent": scene.latent_dict(), "nuisance": scene.nuisance.to_dict(),
            "nuisance_vector": scene.nuisance.vector(),
            "observer_nuisance": appearance[i],
            "event_script_time": scene.event_time,
            "event_clip_time_s": scene.event_clip_time(cfg.frames, cfg.fps),
            "shown_script_window": list(scene.window())})
    return clips


def _dataset_files(out: Path, cfg: SynthConfig, names: list[str]) -> list[str]:
    """The dataset's files (but truth.json), sorted, relative to ``out``."""
    files = [name for name in TABLES if (out / name).is_file()]
    if cfg.render:
        files += [f"videos/{v}" for v in names] + [f"masks/{v[:-4]}.npz" for v in names]
    files.sort()
    return files


def _truth(cfg: SynthConfig, clips: list[dict], records: list[dict], design,
           in_split: dict[str, np.ndarray], ceiling, hashes: dict[str, str]) -> dict:
    """The content of truth.json (before rounding)."""
    t = design.triads
    return {
        "generator": "bgs.synthetic", "bgs_version": __version__, "seed": cfg.seed,
        "config": cfg.to_dict(),
        "latent_names": list(LATENT_NAMES), "param_names": list(PARAM_NAMES),
        "nuisance_names": list(NUISANCE_NAMES), "observer_nuisance_names": list(OBSERVER_NUISANCE),
        "scripts": {k: {"base": dict(zip(LATENT_NAMES[:6], s.base)), "third_agent": s.third,
                        "description": s.description} for k, s in SCRIPTS.items()},
        "clips": clips,
        "observer_model": {"population_weights": dict(zip(LATENT_NAMES, cfg.mean_weights())),
                           "temperature": cfg.temperature, "weight_spread": cfg.weight_spread,
                           "temperature_spread": cfg.temperature_spread,
                           "lapse_rate": cfg.lapse_rate, "inattentive_share": cfg.inattentive_share,
                           "nuisance_weight": cfg.nuisance_weight,
                           "distance": "d_p(i,j) = sum_k w_pk (z_ik - z_jk)^2 + sum_m v_pm (a_im - a_jm)^2",
                           "choice": "P(odd = x | x,y,z) = (1 - lapse_p) softmax_x(-d_p(y,z) / tau_p)"
                                     " + lapse_p / 3; inattentive participants answer uniformly"},
        "participants": records,
        "design": {"n_rows": int(len(t)), "n_catch": int(design.catch.sum()),
                   "n_regular": int((~design.catch).sum()),
                   "n_shared_triads": int(len(np.unique(design.pool[design.pool >= 0]))),
                   "n_rows_shared_triads": int((design.pool >= 0).sum()),
                   "n_train_triplets": int(in_split["train"].sum()),
                   "n_test_triplets": int(in_split["test"].sum())},
        "ooo_ceiling": ceiling,
        "files": hashes,
    }


# ---------------------------------------------------------------------- reading the truth
@dataclass
class Truth:
    """``truth.json`` with the per-clip vectors as arrays (rows = stimulus ids 0..N-1)."""

    raw: dict
    ids: np.ndarray
    video_names: np.ndarray
    scripts: np.ndarray
    split: np.ndarray  # "train" / "test"
    latent: np.ndarray  # (N, 8)
    nuisance: np.ndarray  # (N, K) NUISANCE_NAMES
    observer_nuisance: np.ndarray  # (N, M)
    population_weights: np.ndarray  # (8,)
    inattentive: set
    ceiling: dict
    config: SynthConfig

    def latent_embeddings(self, weighted: bool = True):
        """The latent attributes as Embeddings; ``weighted`` scales each by the square root of
        its population weight, so that Euclidean distance is the population's mean latent
        distance (the observer model's core)."""
        from bgs.embeddings import Embeddings

        x = self.latent * (np.sqrt(self.population_weights) if weighted else 1.0)
        return Embeddings.from_array(self.ids, x, source="truth:latent")

    def nuisance_embeddings(self):
        """The nuisance vector (z-scored per column) as Embeddings: appearance only."""
        from bgs.embeddings import Embeddings

        x = self.nuisance
        sd = x.std(axis=0)
        x = (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
        return Embeddings.from_array(self.ids, x, source="truth:nuisance")


def read_truth(out_dir: str | Path) -> Truth:
    path = Path(out_dir) / "truth.json"
    refuse_incomplete(path)
    if not path.exists():
        raise UnreadableFileError(path, "file not found (an incomplete or non-synthetic folder)",
                                  "generate the dataset with `bgs synth make`")
    raw = json.loads(path.read_text(encoding="utf-8"))
    clips = raw["clips"]
    latent_names = raw["latent_names"]
    return Truth(
        raw=raw, ids=np.array([c["id"] for c in clips]),
        video_names=np.array([c["video_name"] for c in clips], dtype=object),
        scripts=np.array([c["script"] for c in clips], dtype=object),
        split=np.array([c["split"] for c in clips], dtype=object),
        latent=np.array([[c["latent"][k] for k in latent_names] for c in clips]),
        nuisance=np.array([c["nuisance_vector"] for c in clips]),
        observer_nuisance=np.array([c["observer_nuisance"] for c in clips]),
        population_weights=np.array([raw["observer_model"]["population_weights"][k] for k in latent_names]),
        inattentive={p["participation"] for p in raw["participants"] if p["inattentive"]},
        ceiling=raw["ooo_ceiling"], config=SynthConfig.from_dict(raw["config"]))
