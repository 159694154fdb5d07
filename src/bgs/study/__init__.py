"""Studies on real human data: one command reproduces a paper's analyses end to end."""

from bgs.study.garcia2025 import StudyConfig, run_study

__all__ = ["StudyConfig", "run_study"]
