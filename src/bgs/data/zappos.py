"""The Zappos shoes folder (``bgs datasets fetch zappos``): 85 images, 283,770 anchor triplets
and the AlexNet features shipped with them.

``cnn_feats.csv`` is one line of 85 × 4096 comma-separated numbers whose rows were written
without a separator, so at the 84 row boundaries two numbers are glued together
(``0.08834980.0`` = ``0.0883498`` then ``0.0``). The second number of such a pair has a
one-digit integer part; :func:`read_alexnet_features` splits there and checks the count.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bgs.data.anchor import AnchorTripletSet, read_anchor_triplets
from bgs.errors import DataFileError

N_IMAGES = 85
ALEXNET_DIM = 4096
TRIPLETS_FILE = "deconflicted_triplets.csv.zip"
FEATURES_FILE = "cnn_feats.csv.zip"


@dataclass
class ZapposData:
    folder: Path
    ids: np.ndarray  # 0..84
    files: list[str]  # image paths relative to ``folder``
    triplets: AnchorTripletSet


def load_zappos(folder: str | Path) -> ZapposData:
    """The stimuli and validated anchor triplets of a fetched Zappos folder."""
    folder = Path(folder)
    ids = np.arange(N_IMAGES)
    files = [f"images/{i}.jpg" for i in ids]
    missing = [f for f in files if not (folder / f).exists()]
    if missing:
        raise DataFileError(folder / missing[0], f"{len(missing)} of the {N_IMAGES} shoe images "
                            f"are missing", f"fetch the data again: bgs datasets fetch zappos {folder}")
    triplets = read_anchor_triplets(folder / TRIPLETS_FILE, format="zappos", stimulus_ids=ids)
    return ZapposData(folder, ids, files, triplets)


def read_alexnet_features(path: str | Path) -> np.ndarray:
    """(85, 4096) float array from ``cnn_feats.csv.zip`` (or the unzipped ``.csv``)."""
    path = Path(path)
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as z:
            text = z.read(z.namelist()[0]).decode()
    else:
        text = path.read_text()
    values = []
    for token in text.strip().split(","):
        if token.count(".") == 2:  # two numbers glued at a row boundary
            cut = token.index(".", token.index(".") + 1) - 1
            values += [token[:cut], token[cut:]]
        else:
            values.append(token)
    if len(values) != N_IMAGES * ALEXNET_DIM:
        raise DataFileError(path, f"holds {len(values)} numbers, expected {N_IMAGES} × {ALEXNET_DIM}",
                            "fetch the file again: bgs datasets fetch zappos")
    return np.asarray(values, dtype=np.float64).reshape(N_IMAGES, ALEXNET_DIM)
