"""Training configuration: dataclasses read from TOML, overridden by ``--set key=value`` and
saved (resolved) beside every run so that a run can be repeated from its own folder."""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bgs.behavior.config import BehaviorConfig
from bgs.errors import ConfigError
from bgs.objectives import ObjectiveConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass
class DataConfig:
    """Where the judgments, stimuli and media are, and how stimuli are split."""

    triplets: str = ""
    format: str = "garcia2025"
    stimuli: str = ""  # stimulus table: id and file columns
    videos: str = ""  # folder of the video files (video and image backbones)
    captions: str = ""  # captions file (text backbones)
    store: str = ""  # clip store folder; default: <videos>/.bgs-clip-store
    train: str = ""  # stimuli used for training (ids or file names, first column)
    test: str = ""  # held-out stimuli for the final evaluation
    val_fraction: float = 0.2  # of the training stimuli, for model selection
    resize: str = "crop"
    caption_pool: str = "mean"  # text backbones: "first" or "mean" of the captions

    @classmethod
    def for_dataset(cls, folder: str | Path, **settings) -> "DataConfig":
        """The judgments, stimuli and split of a folder in the garcia2025 layout (``bgs
        datasets fetch``, ``bgs synth make``); ``settings`` sets the other fields."""
        folder = Path(folder)
        return cls(triplets=str(folder / "all_triplets.csv"), stimuli=str(folder / "video_mapping.csv"),
                   train=str(folder / "train.csv"), test=str(folder / "test.csv"), **settings)


@dataclass
class LoraSettings:
    r: int = 8
    alpha: int = 16
    dropout: float = 0.1
    targets: list = field(default_factory=list)  # empty: the registry's targets for the backbone


@dataclass
class ModelConfig:
    backbone: str = ""  # KIND:SOURCE
    frames: int = 0  # 0: the backbone's default
    lora: LoraSettings = field(default_factory=LoraSettings)
    full_finetune: bool = False  # train every backbone weight instead of LoRA (small models)
    head_dim: int = 128
    head_dropout: float = 0.3
    gradient_checkpointing: bool = False  # recompute each block in the backward (non-reentrant)
    attention: str = "sdpa"  # video/image backbones: "sdpa" (fused kernels) or "eager"


@dataclass
class TargetConfig:
    """The target geometry: human judgments, or a language model's caption embeddings
    (language distillation: ``source = "language"`` with an embeddings file)."""

    source: str = "human"
    embeddings: str = ""


@dataclass
class OptimConfig:
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


@dataclass
class RunConfig:
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
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc}). Fix the syntax") from None
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
        if not self.model.backbone:
            raise ConfigError("model.backbone is empty; set it to KIND:SOURCE (e.g. timesformer:FOLDER)")
        if not self.data.triplets or not self.data.stimuli:
            raise ConfigError("data.triplets and data.stimuli are required")
        if not 0 < self.data.val_fraction < 1:
            raise ConfigError(f"data.val_fraction must be in (0, 1), got {self.data.val_fraction}")
        if self.target.source not in ("human", "language"):
            raise ConfigError(f"target.source must be 'human' or 'language', got {self.target.source!r}")
        if self.target.source == "language" and not self.target.embeddings:
            raise ConfigError("target.source = 'language' needs target.embeddings (caption embeddings)")
        if self.optim.batch_triplets < 0:
            raise ConfigError(f"optim.batch_triplets must be at least 1, or 0 for automatic "
                              f"(from free GPU memory), got {self.optim.batch_triplets}")
        if self.optim.epochs < 1:
            raise ConfigError("optim.epochs must be at least 1")
        if self.model.attention not in ("sdpa", "eager"):
            raise ConfigError(f"model.attention must be 'sdpa' (fused) or 'eager', got "
                              f"{self.model.attention!r}")
        if self.optim.select not in ("val_rsa", "last"):
            raise ConfigError(f"optim.select must be 'val_rsa' or 'last', got {self.optim.select!r}")
        if self.run.log not in ("", "tensorboard"):
            raise ConfigError(f"run.log must be '' (none) or 'tensorboard', got {self.run.log!r}")
        self.behavior.validate()


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
        f = fields[name]
        sub = f.default_factory if f.default_factory is not dataclasses.MISSING else None
        if sub is not None and dataclasses.is_dataclass(sub):
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
