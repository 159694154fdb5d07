"""One way for every study to fine-tune: a :class:`~bgs.train.config.TrainConfig` in, the
history and the embeddings out, the run written into a folder of the study's run directory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from bgs.embeddings import Embeddings
from bgs.objectives import ObjectiveConfig
from bgs.train.config import DataConfig, ModelConfig, OptimConfig, RunConfig, TrainConfig


@dataclass
class Finetuned:
    """A finished run: its folder, the trainer's summary, one record per epoch, and the
    embeddings of every stimulus from the selected checkpoint."""

    run_dir: Path
    summary: dict
    history: list[dict]
    embeddings: Embeddings

    def entry(self, study_dir: Path) -> dict:
        """The study's ``metrics.json`` ``training`` entry of this run."""
        return {"run": self.run_dir.relative_to(study_dir).as_posix(), "history": self.history,
                "best_epoch": self.summary["best_epoch"],
                **({"start": self.summary["start"]} if "start" in self.summary else {})}


def train_config(data: DataConfig, model: ModelConfig, optim: OptimConfig, objective: str,
                 backbone: str, seed: int, n_bootstrap: int, n_permutations: int,
                 **sections) -> TrainConfig:
    """The study's sections, copied, as one training config; ``sections`` sets the others
    (``behavior=``, ``target=``)."""
    return TrainConfig(data=data, model=replace(model, backbone=backbone),
                       objective=ObjectiveConfig(name=objective), optim=replace(optim),
                       run=RunConfig(seed=seed, eval_bootstrap=n_bootstrap,
                                     eval_permutations=n_permutations), **sections)


def finetune(config: TrainConfig, run_dir: str | Path,
             log: Callable[[str], None] = print) -> Finetuned:
    """Train ``config`` into ``run_dir`` (a new folder); the caller's config is not changed."""
    from bgs.train.trainer import Trainer

    trainer = Trainer(config, run_dir, log=lambda m: log(f"  {m}"))
    summary = trainer.run()
    return Finetuned(Path(run_dir), summary, summary["history"], trainer.embeddings)
