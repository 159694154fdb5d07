"""Human similarity from odd-one-out triplets, and the reliability (noise ceilings) of it."""

from bgs.human.reliability import OOOCeiling, SplitHalf, ooo_ceiling, split_half_reliability
from bgs.human.similarity import HumanSimilarity, human_similarity

__all__ = ["HumanSimilarity", "human_similarity", "SplitHalf", "split_half_reliability",
           "OOOCeiling", "ooo_ceiling"]
