"""Stimulus-level splits: a triplet belongs to a split part only if all three stimuli do.

Triplets whose stimuli straddle parts belong to none; every split reports how many it loses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bgs.data.stimuli import StimulusTable
from bgs.data.tables import first_row_number, read_table
from bgs.data.triplets import TripletSet
from bgs.errors import ConfigError


@dataclass(frozen=True)
class StimulusSplit:
    """Disjoint named parts of a stimulus set, e.g. ``{"train": ids, "test": ids}``."""

    parts: dict[str, np.ndarray]

    def __post_init__(self):
        seen: dict = {}
        for name, ids in self.parts.items():
            for i in np.asarray(ids).tolist():
                if i in seen:
                    raise ConfigError(f"stimulus {i!r} is in both split parts "
                                      f"{seen[i]!r} and {name!r}; parts must be disjoint")
                seen[i] = name

    def __getitem__(self, name: str) -> np.ndarray:
        return self.parts[name]

    @property
    def names(self) -> list[str]:
        return list(self.parts)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def random(cls, ids, fractions: dict[str, float] | None = None, seed: int = 0) -> "StimulusSplit":
        """Seeded random split into parts of the given fractions (default 80/20 train/test)."""
        fractions = fractions or {"train": 0.8, "test": 0.2}
        total = sum(fractions.values())
        if not np.isclose(total, 1.0) or any(f < 0 for f in fractions.values()):
            raise ConfigError(f"split fractions must be non-negative and sum to 1, got {fractions}")
        ids = np.asarray(ids)
        perm = np.random.default_rng(seed).permutation(len(ids))
        bounds = np.round(np.cumsum([0.0, *fractions.values()]) * len(ids)).astype(int)
        return cls({name: ids[np.sort(perm[bounds[k]:bounds[k + 1]])]
                    for k, name in enumerate(fractions)})

    @classmethod
    def kfold(cls, ids, k: int = 5, seed: int = 0) -> list["StimulusSplit"]:
        """``k`` train/test splits whose test parts partition the stimuli (seeded)."""
        ids = np.asarray(ids)
        if not 2 <= k <= len(ids):
            raise ConfigError(f"k-fold needs 2 <= k <= number of stimuli ({len(ids)}), got k={k}")
        perm = np.random.default_rng(seed).permutation(len(ids))
        folds = np.array_split(perm, k)
        out = []
        for f in folds:
            test = np.zeros(len(ids), bool)
            test[f] = True
            out.append(cls({"train": ids[~test], "test": ids[test]}))
        return out

    @classmethod
    def from_files(cls, stimuli: StimulusTable, **parts: str | Path) -> "StimulusSplit":
        """Parts from files listing one stimulus per row (by id or file name; first column)."""
        out = {}
        for name, path in parts.items():
            df = read_table(path)
            col = df.columns[0]
            out[name] = stimuli.to_ids(df[col], path, col, first_row_number(path))
        return cls(out)

    # ------------------------------------------------------------------ applying
    def apply(self, triplets: TripletSet, reindex: bool = False) -> "SplitTriplets":
        """The triplets of each part. ``reindex`` re-indexes each part onto its own stimuli."""
        unknown = {name: np.setdiff1d(ids, triplets.stimulus_ids) for name, ids in self.parts.items()}
        for name, u in unknown.items():
            if len(u):
                raise ConfigError(f"split part {name!r} names stimuli the triplets' stimulus set "
                                  f"lacks: {u[:10].tolist()}; give the stimulus table when reading")
        masks = {name: triplets.contains_all(ids) for name, ids in self.parts.items()}
        parts = {name: (triplets.restrict(self.parts[name]) if reindex else triplets.select(m))
                 for name, m in masks.items()}
        in_any = np.zeros(len(triplets), bool)
        for m in masks.values():
            in_any |= m
        return SplitTriplets(parts, {name: len(ids) for name, ids in self.parts.items()},
                             n_total=len(triplets), n_lost=int((~in_any).sum()))


@dataclass
class SplitTriplets:
    """Triplets per split part, and how many straddle parts (in none of them)."""

    parts: dict[str, TripletSet]
    n_stimuli: dict[str, int]
    n_total: int
    n_lost: int

    def __getitem__(self, name: str) -> TripletSet:
        return self.parts[name]

    def summary(self) -> pd.DataFrame:
        """Triplets per part, and the ones lost because their stimuli straddle parts."""
        rows = [{"part": name, "n_stimuli": self.n_stimuli[name], "n_triplets": len(t)}
                for name, t in self.parts.items()]
        rows.append({"part": "(straddling parts: lost)", "n_stimuli": 0, "n_triplets": self.n_lost})
        return pd.DataFrame(rows)
