"""Hypothesis strategies shared by the resampling tests."""

import numpy as np
from hypothesis import strategies as st

from bgs.data.triplets import TripletSet


@st.composite
def triplet_sets(draw, max_stimuli: int, min_rows: int, max_rows: int = 40) -> TripletSet:
    """Random odd-one-out triplets over 3..``max_stimuli`` stimuli, with up to 4 participants."""
    n = draw(st.integers(3, max_stimuli))
    rows = draw(st.lists(st.tuples(st.permutations(range(n)).map(lambda p: p[:3]),
                                   st.integers(0, 2), st.integers(0, 3)), min_size=min_rows, max_size=max_rows))
    a, b, c = ([r[0][k] for r in rows] for k in range(3))
    return TripletSet.from_arrays(a, b, c, [r[0][r[1]] for r in rows],
                                  participant=[r[2] for r in rows], stimulus_ids=np.arange(n))
