"""Everything a training run reads: triplets, the stimulus split, the target geometry and
the inputs (clip store or captions), built once per run.

Validation triplets (``data.val_triplets``): ``"within"`` keeps the triplets whose three
stimuli are all validation stimuli; ``"mixed"`` keeps every triplet with at least one
validation stimulus and none from the test set (the others are training stimuli), so model
selection sees many more judgments. No triplet is in two parts, and none with a test
stimulus is ever trained or selected on; the validation RSA then runs over the observed
pairs that include a validation stimulus (pairs of two training stimuli are training fit).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import pandas as pd

from bgs.data.anchor import AnchorTripletSet, is_anchor_format, read_anchor_triplets
from bgs.data.splits import StimulusSplit
from bgs.data.stimuli import StimulusTable, read_stimuli
from bgs.data.triplets import TripletSet, read_triplets
from bgs.errors import ConfigError
from bgs.human.anchor import anchor_similarity
from bgs.human.similarity import HumanSimilarity, human_similarity
from bgs.train.config import TrainConfig


@dataclass
class TrainingData:
    stimuli: StimulusTable
    triplets: TripletSet  # all valid triplets
    train_ids: np.ndarray  # stimuli the model is fitted on
    val_ids: np.ndarray  # training stimuli held out for model selection
    test_ids: np.ndarray  # held-out stimuli for the final evaluation (may be empty)
    train: TripletSet  # triplets among train_ids, indexed on train_ids
    val: TripletSet  # validation triplets, indexed on val.stimulus_ids (see the module docs)
    test: TripletSet | None
    target: np.ndarray  # target dissimilarity among train_ids (NaN: unobserved)
    judgment: str = "odd-one-out"  # or "anchor": the triplet sets are anchor-triplet views
    val_triplets: str = "within"  # how the validation triplets were chosen

    def summary(self) -> dict:
        n_test = len(self.test) if self.test is not None else 0
        return {"n_train_stimuli": len(self.train_ids), "n_val_stimuli": len(self.val_ids),
                "n_test_stimuli": len(self.test_ids), "val_triplets": self.val_triplets,
                "n_train_triplets": len(self.train), "n_val_triplets": len(self.val),
                "n_val_pairs": self.val_similarity.n_pairs,
                "n_test_triplets": n_test,
                "n_triplets_lost_to_split": len(self.triplets) - len(self.train) - len(self.val) - n_test}

    @cached_property
    def train_similarity(self) -> HumanSimilarity:
        """The training triplets' human similarity (computed once, scored every epoch)."""
        return human_similarity(self.train)

    @cached_property
    def val_similarity(self) -> HumanSimilarity:
        """The validation triplets' human similarity, with the pairs of two training stimuli
        marked unobserved: validation RSA scores only pairs that include a validation stimulus."""
        h = human_similarity(self.val)
        is_val = np.isin(self.val.stimulus_ids, self.val_ids)
        keep = is_val[h.i] | is_val[h.j]
        return replace(h, i=h.i[keep], j=h.j[keep], n_chosen=h.n_chosen[keep], n_cooccur=h.n_cooccur[keep])


def validation_triplets(triplets: TripletSet, train_ids: np.ndarray, val_ids: np.ndarray,
                        mode: str) -> TripletSet:
    """The validation triplets of ``mode`` (``"within"`` or ``"mixed"``), indexed onto the
    validation stimuli (``"within"``) or onto them followed by the training stimuli."""
    if mode == "within":
        return triplets.restrict(val_ids)
    pool = triplets.restrict(np.concatenate([val_ids, train_ids]))  # validation first
    return pool.select((pool.triads < len(val_ids)).any(axis=1))


def _ids_from(path: str, stimuli: StimulusTable) -> np.ndarray:
    from bgs.data.tables import first_row_number, read_table

    df = read_table(path)
    col = df.columns[-1] if df.columns[0] == "index" and len(df.columns) > 1 else df.columns[0]
    ids = stimuli.to_ids(df[col], path, col, first_row_number(path))
    return ids[~pd.Index(ids).duplicated()]  # a stimulus listed twice is listed once


def load_training_data(config: TrainConfig) -> TrainingData:
    d = config.data
    stimuli = read_stimuli(d.stimuli)
    anchor = is_anchor_format(d.format)
    if anchor:  # (head, close, far) views: the triplet loss's anchor, positive and negative
        triplets = read_anchor_triplets(d.triplets, format=d.format, stimulus_ids=stimuli.ids).as_triplet_set()
    else:
        triplets = read_triplets(d.triplets, format=d.format, stimulus_ids=stimuli.ids)
    all_ids = stimuli.ids
    test_ids = _ids_from(d.test, stimuli) if d.test else np.array([], dtype=all_ids.dtype)
    train_pool = _ids_from(d.train, stimuli) if d.train else np.setdiff1d(all_ids, test_ids)
    if len(np.intersect1d(train_pool, test_ids)):
        raise ConfigError(f"{d.train} and {d.test} share stimuli; training and test must be disjoint")
    split = StimulusSplit.random(train_pool, {"train": 1 - d.val_fraction, "val": d.val_fraction},
                                 seed=config.run.seed)
    train_ids, val_ids = split["train"], split["val"]
    train = triplets.restrict(train_ids)
    if d.shuffle_labels:  # train.stimulus_ids is train_ids: permuting it relabels every triplet
        rng = np.random.default_rng([config.run.seed, 17])
        train = replace(train, stimulus_ids=train_ids[rng.permutation(len(train_ids))])
        train = train.restrict(train_ids)
    val = validation_triplets(triplets, train_ids, val_ids, d.val_triplets)
    test = triplets.restrict(test_ids) if len(test_ids) else None
    if len(train) == 0:
        raise ConfigError(f"no triplet has all three stimuli among the {len(train_ids)} training "
                          f"stimuli; check data.train / data.test")
    if len(val) == 0 and config.optim.select != "last":
        raise ConfigError(f"no validation triplet (data.val_triplets = {d.val_triplets!r}) among the "
                          f"{len(val_ids)} validation stimuli (data.val_fraction = {d.val_fraction} of "
                          f"{len(train_pool)}), so there is nothing to select the best epoch on. Fix: "
                          f"set data.val_triplets = \"mixed\", raise data.val_fraction, or set "
                          f"optim.select = \"last\"")
    if config.target.source == "human" and anchor:
        target = anchor_similarity(AnchorTripletSet.from_triplet_view(train)).dissimilarity
    elif config.target.source == "human":
        target = human_similarity(train).dissimilarity
    else:
        from bgs.embeddings import Embeddings
        from bgs.metrics.distance import dissimilarity_matrix

        emb = Embeddings.load(config.target.embeddings).align(train_ids, "the training stimuli")
        target = dissimilarity_matrix(emb.matrix, "cosine")
    np.fill_diagonal(target, np.nan)
    return TrainingData(stimuli, triplets, train_ids, val_ids, test_ids, train, val, test, target,
                        judgment="anchor" if anchor else "odd-one-out", val_triplets=d.val_triplets)


def stimulus_files(stimuli: StimulusTable, ids) -> list:
    if stimuli.files is None:
        raise ConfigError(f"{stimuli.source} has no file column; video backbones need one")
    pos = pd.Index(stimuli.ids).get_indexer(list(ids))
    return [stimuli.files[p] for p in pos]
