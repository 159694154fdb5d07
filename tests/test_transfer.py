"""The style-transfer pipeline (bgs.study.transfer) end to end at a tiny size (slow)."""

import json

import pandas as pd
import pytest

pytest.importorskip("torch")
pytest.importorskip("av")
pytest.importorskip("peft")

pytestmark = pytest.mark.slow


def test_transfer_writes_its_tables(tmp_path, monkeypatch):
    from bgs.study.transfer import TransferConfig, run_transfer

    monkeypatch.setenv("BGS_MODELS_DIR", str(tmp_path / "models"))
    cfg = TransferConfig(clips=16, participants=12, epochs=1, steps=2, n_bootstrap=20)
    result = run_transfer(tmp_path / "out", cfg, log=lambda *_: None)
    table = pd.read_csv(tmp_path / "out" / "transfer.csv")
    assert len(table) == 6 and set(table["model"]) == {"base", "BGS on A", "BGS on B"}
    assert set(table["distribution"]) == {"—", "in", "out (zero-shot)"}
    assert table["ooo_accuracy"].between(0, 1).all()
    assert len(result["attention"]) == 2 * 2 * 2  # trained on × clips of × method
    assert "| A | B (abstract) |" in (tmp_path / "out" / "attention.md").read_text()
    a = json.loads((tmp_path / "out" / "timings.json").read_text())
    assert a["total"] > 0
    again = run_transfer(tmp_path / "out", cfg, log=lambda *_: None)  # every step's output reused
    assert again["rows"] == result["rows"] and "train on A" not in again["timings"]
