"""Training objectives: triplet, RSA, the hybrid BGS objective and its variants.

Language distillation is any of these objectives with a language target (a text model's
caption dissimilarity) instead of the human one; see :mod:`bgs.objectives.hybrid`.
"""

from bgs.objectives.hybrid import (
    OBJECTIVES,
    Objective,
    ObjectiveConfig,
    mine_hard_negatives,
    mined_triplet_loss,
)
from bgs.objectives.rsa import (
    MIN_PAIRS,
    observed_pair_count,
    observed_pair_indices,
    rsa_loss,
    rsa_loss_from_distances,
    rsa_loss_masked,
)
from bgs.objectives.triplet import (
    cosine_distances,
    triplet_loss,
    triplet_loss_from_distances,
    zero_loss,
)

__all__ = [
    "MIN_PAIRS",
    "OBJECTIVES",
    "Objective",
    "ObjectiveConfig",
    "cosine_distances",
    "mine_hard_negatives",
    "mined_triplet_loss",
    "observed_pair_count",
    "observed_pair_indices",
    "rsa_loss",
    "rsa_loss_from_distances",
    "rsa_loss_masked",
    "triplet_loss",
    "triplet_loss_from_distances",
    "zero_loss",
]
