"""benchmarks/compare_metrics.py: two runs' metrics.json compared, timings and paths aside."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "compare_metrics.py"


def _run(tmp_path, a: dict, b: dict, *args):
    for name, doc in (("a", a), ("b", b)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.json").write_text(json.dumps(doc).replace("RUN", str(tmp_path / name)))
    return subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "a"), str(tmp_path / "b"), *args],
                          capture_output=True, text=True)


def _doc(acc=0.5, seconds=1.0, rt=800.0, model="/somewhere/cache/demo-videomae-abc"):
    return {"created": f"2026-01-0{int(seconds)}", "command": ["bgs", "demo", "--out", "RUN"],
            "models": {"m": {"acc": acc, "ci": [acc - 0.1, acc + 0.1], "ref": f"videomae:{model}",
                             "checkpoint": "RUN/train/best"}},
            "data": {"screening": {"min_response_time": rt}},
            "timings": {"train": seconds},
            "training": {"history": [{"loss": 0.25, "seconds": seconds, "clips_per_s": 9 / seconds}]}}


def test_timings_and_paths_aside_identical(tmp_path):
    r = _run(tmp_path, _doc(), _doc(seconds=3.0, model="/elsewhere/models/demo-videomae-abc"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 differ" in r.stdout and "(5 numbers)" in r.stdout


def test_a_result_that_moves_is_reported(tmp_path):
    r = _run(tmp_path, _doc(), _doc(acc=0.5 + 1e-12, rt=801.0, model="/m/demo-videomae-def"))
    assert r.returncode == 1
    # acc and both CI bounds; the response time (data, not a timing); the model, whose cache
    # folder's name (its config key) differs
    assert "5 differ" in r.stdout
    assert "/data/screening/min_response_time: 800.0 != 801.0" in r.stdout
    assert "'videomae:demo-videomae-abc' != 'videomae:demo-videomae-def'" in r.stdout


def test_relative_tolerance(tmp_path):
    assert _run(tmp_path, _doc(), _doc(acc=0.5 + 1e-12), "--rtol", "1e-9").returncode == 0


def test_unreadable_input_exits_2(tmp_path):
    r = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "none"), str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "cannot read" in r.stderr and "Traceback" not in r.stderr
