"""Loader for the garcia2025 dataset (fetch it with ``bgs datasets fetch garcia2025 DIR``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bgs.data.splits import StimulusSplit
from bgs.data.stimuli import StimulusTable, read_stimuli
from bgs.data.triplets import Screening, TripletSet, read_triplets
from bgs.errors import UnreadableFileError

FILES = ("all_triplets.csv", "video_mapping.csv", "captions.csv", "annotations.csv",
         "train.csv", "test.csv")


@dataclass
class Garcia2025:
    triplets: TripletSet  # every valid judgment (catch trials removed, screened)
    stimuli: StimulusTable  # 250 clips with captions and 11 attribute ratings
    split: StimulusSplit  # the authors' 200 train / 50 test clips


def load_garcia2025(directory: str | Path, screening: Screening | None = None) -> Garcia2025:
    directory = Path(directory)
    for name in FILES:
        if not (directory / name).exists():
            raise UnreadableFileError(directory / name, "file not found",
                                      f"fetch the dataset: bgs datasets fetch garcia2025 {directory}")
    stimuli = (read_stimuli(directory / "video_mapping.csv")
               .with_captions(directory / "captions.csv")
               .with_attributes(directory / "annotations.csv"))
    triplets = read_triplets(directory / "all_triplets.csv", format="garcia2025",
                             stimulus_ids=stimuli.ids, screening=screening)
    split = StimulusSplit.from_files(stimuli, train=directory / "train.csv",
                                     test=directory / "test.csv")
    return Garcia2025(triplets, stimuli, split)
