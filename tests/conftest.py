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
