from pathlib import Path

import pytest

GARCIA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "garcia2025"


@pytest.fixture(scope="session")
def garcia_dir() -> Path:
    if not (GARCIA / "all_triplets.csv").exists():
        pytest.skip("the garcia2025 data is not beside the repository (../shared/data/garcia2025)")
    return GARCIA


@pytest.fixture(scope="session")
def garcia_triplets(garcia_dir):
    from bgs.data.triplets import read_triplets

    return read_triplets(garcia_dir / "all_triplets.csv", format="garcia2025")


#: The tiny ``bgs train`` run of the test modules: a few steps of three epochs.
TINY_TRAIN = {
    "data": {"val_fraction": 0.25},
    "objective": {"name": "hybrid"},
    "optim": {"epochs": 3, "batch_triplets": 16, "max_steps_per_epoch": 6, "lr": 0.003},
    "run": {"eval_bootstrap": 50, "eval_permutations": 0},
}


def _merge(base: dict, changes: dict) -> dict:
    out = dict(base)
    for key, value in changes.items():
        out[key] = _merge(out.get(key, {}), value) if isinstance(value, dict) else value
    return out


def _write_tiny_train_config(path: Path, backbone: str, dataset: str = "syn", **sections) -> Path:
    """Write the tiny run's TOML to ``path`` for the ``bgs synth make`` folder ``dataset``
    (relative to ``path``'s folder) and ``backbone``; ``sections`` override its values, e.g.
    ``optim={"epochs": 2}``."""
    from bgs.train.config import DataConfig, TrainConfig

    data = DataConfig.for_dataset(dataset, videos=f"{dataset}/videos")
    base = {"data": {k: getattr(data, k) for k in ("triplets", "stimuli", "videos", "train", "test")},
            "model": {"backbone": backbone}}
    config = TrainConfig.from_dict(_merge(_merge(base, TINY_TRAIN), sections), str(path))
    path.write_text(config.to_toml())
    return path


@pytest.fixture(scope="session")
def tiny_train_config():
    """``tiny_train_config(path, backbone, dataset="syn", **sections)`` writes the tiny
    training run's TOML (see ``TINY_TRAIN``) and returns its path."""
    return _write_tiny_train_config
