"""Synthetic social-interaction videos with simulated observers and planted ground truth.

``make_dataset(out, SynthConfig(...))`` writes a garcia2025-shaped folder (videos, masks,
triplets with catch trials, splits, captions, ratings, receiver behavior) plus ``truth.json``
with everything the generator knows: latent social attributes, nuisance factors, scripts,
participant parameters and the true odd-one-out ceiling. See ``docs/synthetic.md``.
"""

from bgs.synthetic.dataset import (
    OutputExistsError,
    SynthConfig,
    SynthResult,
    Truth,
    make_dataset,
    read_truth,
)
from bgs.synthetic.render import contact_sheet, read_mp4
from bgs.synthetic.scenes import LATENT_NAMES, NUISANCE_NAMES, PARAM_NAMES, SCRIPTS

__all__ = ["SynthConfig", "SynthResult", "Truth", "OutputExistsError", "make_dataset",
           "read_truth", "contact_sheet", "read_mp4", "LATENT_NAMES", "NUISANCE_NAMES",
           "PARAM_NAMES", "SCRIPTS"]
