"""Training configuration: dataclasses read from TOML, overridden by ``--set key=value`` and
saved (resolved) beside every run so that a run can be repeated from its own folder."""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from bgs.behavior.config import BehaviorConfig
from bgs.constraints import DEVICE, FLAG, TEXT, Checked, Interval, OfType, Options, check
from bgs.errors import ConfigError
from bgs.media.decode import RESIZE_MODES
from bgs.objectives import ObjectiveConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass
class DataConfig(Checked):
    """Where the judgments, stimuli and media are, and how stimuli are split."""

    SECTION: ClassVar[str] = "data"
    CONSTRAINTS: ClassVar[dict] = {
        **{k: [TEXT] for k in ("triplets", "format", "stimuli", "videos", "captions", "store",
                               "train", "test")},
        "val_fraction": [Interval(float, 0, 1, closed="neither")],
        "val_triplets": [Options("within", "mixed")],
        "resize": [Options(*RESIZE_MODES)],
        "caption_pool": [Options("first", "mean")], "shuffle_labels": [FLAG]}

    triplets: str = ""
    format: str = "garcia2025"
    stimuli: str = ""  # stimulus table: id and file columns
    videos: str = ""  # folder of the video files (video and image backbones)
    captions: str = ""  # captions file (text backbones)
    store: str = ""  # clip store folder; default: <videos>/.bgs-clip-store
    train: str = ""  # stimuli used for training (ids or file names, first column)
    test: str = ""  # held-out stimuli for the final evaluation
    val_fraction: float = 0.2  # of the training stimuli, for model selection
    # validation triplets: "within" (all three stimuli validation) or "mixed" (at least one
    # validation stimulus, the others training stimuli; never a test stimulus)
    val_triplets: str = "within"
    resize: str = "crop"
    caption_pool: str = "mean"  # text backbones: "first" or "mean" of the captions
    # negative control: the training judgments' stimulus labels permuted (seeded by run.seed)
    # among the training stimuli, so they no longer belong to the media they name;
    # validation and test judgments stay true
    shuffle_labels: bool = False

    @classmethod
    def for_dataset(cls, folder: str | Path, **settings) -> "DataConfig":
        """The judgments, stimuli and split of a folder in the garcia2025 layout (``bgs
        datasets fetch``, ``bgs synth make``); ``settings`` sets the other fields."""
        folder = Path(folder)
        return cls(triplets=str(folder / "all_triplets.csv"), stimuli=str(folder / "video_mapping.csv"),
                   train=str(folder / "train.csv"), test=str(folder / "test.csv"), **settings)


@dataclass
class LoraSettings(Checked):
    SECTION: ClassVar[str] = "model.lora"
    CONSTRAINTS: ClassVar[dict] = {"r": [Interval(int, 1, None)], "alpha": [Interval(float, 0, None, "neither")],
                                   "dropout": [Interval(float, 0, 1, closed="left")],
                                   "targets": [OfType(list, tuple)]}

    r: int = 8
    alpha: int = 16
    dropout: float = 0.1
    targets: list = field(default_factory=list)  # empty: the registry's targets for the backbone


@dataclass
class ModelConfig(Checked):
    SECTION: ClassVar[str] = "model"
    CONSTRAINTS: ClassVar[dict] = {
        "backbone": [TEXT], "frames": [Interval(int, 0, None)], "full_finetune": [FLAG],
        "head_dim": [Interval(int, 1, None)], "head_dropout": [Interval(float, 0, 1, closed="left")],
        "head_init": [Options("random", "geometry")],
        "gradient_checkpointing": [FLAG], "attention": [Options("sdpa", "eager")],
        "layer": [TEXT], "image_size": [Interval(int, 0, None)], "cache_frozen_prefix": [FLAG]}

    backbone: str = ""  # KIND:SOURCE
    frames: int = 0  # 0: the backbone's default
    lora: LoraSettings = field(default_factory=LoraSettings)
    full_finetune: bool = False  # train every backbone weight instead of LoRA (small models)
    head_dim: int = 128
    head_dropout: float = 0.3
    # "random": PyTorch's initialisation (the paper's); "geometry": the untrained head keeps
    # the backbone's cosine geometry exactly, so training starts from the base model's
    # scores (bgs.train.model.init_geometry_preserving; needs head_dim > the backbone's width)
    head_init: str = "random"
    gradient_checkpointing: bool = False  # recompute each block in the backward (non-reentrant)
    attention: str = "sdpa"  # video/image backbones: "sdpa" (fused kernels) or "eager"
    layer: str = "embeddings"  # video/image: the pooled output, or a hidden state "layer.K"
    image_size: int = 0  # video/image: frame size; 0: the backbone's (DINOv2 interpolates)
    # image backbones with LoRA on blocks K…: compute hidden state K of every stimulus once
    # per run and train from it (bgs.train.prefix_cache)
    cache_frozen_prefix: bool = False


@dataclass
class TargetConfig(Checked):
    """The target geometry: human judgments, or a language model's caption embeddings
    (language distillation: ``source = "language"`` with an embeddings file)."""

    SECTION: ClassVar[str] = "target"
    CONSTRAINTS: ClassVar[dict] = {"source": [Options("human", "language")], "embeddings": [TEXT]}

    source: str = "human"
    embeddings: str = ""


@dataclass
class OptimConfig(Checked):
    SECTION: ClassVar[str] = "optim"
    CONSTRAINTS: ClassVar[dict] = {
        "lr": [Interval(float, 0, None, closed="neither")], "weight_decay": [Interval(float, 0, None)],
        "batch_triplets": [Interval(int, 0, None)],  # 0: automatic
        "epochs": [Interval(int, 1, None)], "max_steps_per_epoch": [Interval(int, 0, None)],
        "plateau_patience": [Interval(int, 0, None)],
        "plateau_factor": [Interval(float, 0, 1, closed="neither")],
        "early_stopping": [Interval(int, 1, None)], "grad_clip": [Interval(float, 0, None)],
        "select": [Options("val_rsa", "last")], "select_start": [FLAG],
        "score_every": [Interval(int, 1, None)]}

    lr: float = 1e-4
    weight_decay: float = 0.01
    batch_triplets: int = 0  # 0: automatic (CUDA: the largest that fits free memory; CPU: 16)
    epochs: int = 50
    max_steps_per_epoch: int = 0  # 0: one pass over the training triplets
    plateau_patience: int = 3
    plateau_factor: float = 0.5
    early_stopping: int = 5  # epochs without a better validation RSA
    grad_clip: float = 1.0
    select: str = "val_rsa"  # "val_rsa": best checkpoint and LR schedule by validation RSA;
    #                          "last": the last epoch, constant LR (judgments steer nothing)
    # with "val_rsa", the model before training is a candidate too: when no epoch beats its
    # validation RSA, the run keeps it (fine-tuning that does not help is not kept)
    select_start: bool = False
    # epochs between the training and validation scores of the history (the last epoch is
    # always scored); above 1 only with select = "last", which needs no epoch's score.
    # Scoring embeds every training and validation stimulus, which can cost as much as the epoch
    score_every: int = 1


@dataclass
class RunConfig(Checked):
    SECTION: ClassVar[str] = "run"
    CONSTRAINTS: ClassVar[dict] = {
        "seed": [Interval(int, 0, None)], "device": [DEVICE], "amp": [FLAG], "compile": [FLAG],
        "eval_bootstrap": [Interval(int, 0, None)], "eval_permutations": [Interval(int, 0, None)],
        "log": [Options("", "tensorboard")]}

    seed: int = 0
    device: str = "cpu"
    amp: bool = True  # bf16 autocast on CUDA (ignored on CPU)
    compile: bool = False  # torch.compile each transformer block (pays off on long GPU runs)
    eval_bootstrap: int = 1000
    eval_permutations: int = 200
    log: str = ""  # "tensorboard": also log every epoch's numbers under RUN/tensorboard


@dataclass
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    target: TargetConfig = field(default_factory=TargetConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)
    behavior: BehaviorConfig = field(default_factory=BehaviorConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict, source: str = "config") -> "TrainConfig":
        return _build(cls, data, source, "")

    @classmethod
    def from_toml(cls, path: str | Path) -> "TrainConfig":
        path = Path(path)
        if not path.exists():
            raise ConfigError(f"{path}: config file not found")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc}). Fix the syntax") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{path}: not a text file (TOML is UTF-8 text). Fix: give the "
                              f"config file, e.g. a copy of docs/training.md's example") from None
        config = cls.from_dict(data, str(path))
        config.resolve_paths(path.parent)
        return config

    def resolve_paths(self, base: Path) -> None:
        """Relative data paths in a config file are relative to the file's folder."""
        for name in ("triplets", "stimuli", "videos", "captions", "store", "train", "test"):
            value = getattr(self.data, name)
            if value and not Path(value).is_absolute():
                setattr(self.data, name, str((base / value).resolve()))
        if self.behavior.file and not Path(self.behavior.file).is_absolute():
            self.behavior.file = str((base / self.behavior.file).resolve())
        if self.target.embeddings and not Path(self.target.embeddings).is_absolute():
            self.target.embeddings = str((base / self.target.embeddings).resolve())
        kind, _, source = self.model.backbone.partition(":")
        if source and kind not in ("text",) and (base / source).exists():
            self.model.backbone = f"{kind}:{(base / source).resolve()}"

    def override(self, assignments: list[str]) -> "TrainConfig":
        """Apply ``section.key=value`` strings (values parsed as TOML, else as strings)."""
        data = self.to_dict()
        for item in assignments:
            if "=" not in item:
                raise ConfigError(f"--set {item!r} is not SECTION.KEY=VALUE, e.g. optim.lr=3e-4")
            key, raw = item.split("=", 1)
            parts = key.strip().split(".")
            node = data
            for p in parts[:-1]:
                if not isinstance(node.get(p), dict):
                    raise ConfigError(f"--set {key!r}: no section {p!r}; sections: "
                                      f"{', '.join(k for k, v in data.items() if isinstance(v, dict))}")
                node = node[p]
            if parts[-1] not in node:
                raise ConfigError(f"--set {key!r}: unknown key {parts[-1]!r}; known: {', '.join(node)}")
            try:
                value = tomllib.loads(f"v = {raw}")["v"]
            except tomllib.TOMLDecodeError:
                value = raw
            node[parts[-1]] = value
        return TrainConfig.from_dict(data, "--set")

    def to_toml(self) -> str:
        return _to_toml(self.to_dict())

    def validate(self) -> None:
        """The values of every section (their ``CONSTRAINTS``), then what needs two fields."""
        for section in (self.data, self.model, self.model.lora, self.target, self.optim, self.run):
            check(section)
        if not self.model.backbone:
            raise ConfigError("model.backbone is empty; set it to KIND:SOURCE (e.g. timesformer:FOLDER)")
        if not self.data.triplets or not self.data.stimuli:
            raise ConfigError("data.triplets and data.stimuli are required")
        if self.target.source == "language" and not self.target.embeddings:
            raise ConfigError("target.source = 'language' needs target.embeddings (caption embeddings)")
        if self.optim.score_every > 1 and self.optim.select != "last":
            raise ConfigError(f"optim.score_every = {self.optim.score_every} needs optim.select = 'last': "
                              "selection by validation RSA scores every epoch. Fix: set optim.score_every = 1, "
                              "or optim.select = 'last'")
        self.behavior.validate()


def build_dataclass(cls, data: dict, source: str):
    """``cls`` from a (possibly nested) dict, as read from TOML or JSON; unknown keys and
    values the fields refuse are a ``ConfigError`` naming ``source`` and the key."""
    return _build(cls, data, source, "")


def _section_type(f: dataclasses.Field):
    """The dataclass a field holds (a nested section), or None."""
    if f.default_factory is dataclasses.MISSING:
        return None
    if dataclasses.is_dataclass(f.default_factory):
        return f.default_factory
    default = f.default_factory()
    return type(default) if dataclasses.is_dataclass(default) else None


def _build(cls, data: dict, source: str, prefix: str):
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: [{prefix.rstrip('.')}] must be a table")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(fields)
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {', '.join(sorted(prefix + k for k in unknown))}; "
                          f"known in this section: {', '.join(fields)}")
    kwargs = {}
    for name, value in data.items():
        sub = _section_type(fields[name])
        if sub is not None:
            kwargs[name] = _build(sub, value, source, f"{prefix}{name}.")
        else:
            kwargs[name] = value
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return json.dumps(str(v))


def _to_toml(data: dict, prefix: str = "") -> str:
    scalars = [(k, v) for k, v in data.items() if not isinstance(v, dict)]
    tables = [(k, v) for k, v in data.items() if isinstance(v, dict)]
    lines = [f"{k} = {_toml_value(v)}" for k, v in scalars]
    out = "\n".join(lines) + ("\n" if lines else "")
    for k, v in tables:
        name = f"{prefix}{k}"
        out += f"\n[{name}]\n" + _to_toml(v, f"{name}.")
    return out
