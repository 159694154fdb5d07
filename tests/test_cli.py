"""The `bgs` command end to end: help, datasets, and errors through the real console script."""

import shutil
import subprocess
import sys
from pathlib import Path

from bgs.cli import main


def run(capsys, *args):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_help_and_version(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "data" in out and "datasets" in out
    code, out, _ = run(capsys, "data", "stats", "--help")
    assert code == 0 and "--format" in out and "--json" in out and "garcia2025" in out
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith("bgs ")


def test_datasets_list(capsys):
    code, out, _ = run(capsys, "datasets", "list")
    assert code == 0 and "garcia2025" in out


def test_fetch_from_local_mirror_then_corrupted(capsys, tmp_path, garcia_dir):
    dest = tmp_path / "g"
    code, out, err = run(capsys, "datasets", "fetch", "garcia2025", dest, "--mirror", garcia_dir)
    assert code == 0, err
    assert (dest / "all_triplets.csv").read_bytes() == (garcia_dir / "all_triplets.csv").read_bytes()
    bad = tmp_path / "mirror"
    shutil.copytree(garcia_dir, bad)
    (bad / "captions.csv").chmod(0o644)
    with open(bad / "captions.csv", "r+b") as f:
        f.seek(100)
        f.write(b"#")
    code, _, err = run(capsys, "datasets", "fetch", "garcia2025", tmp_path / "h", "--mirror", bad)
    assert code == 2 and "captions.csv" in err and err.count("\n") == 1
    assert not (tmp_path / "h" / "captions.csv").exists()
    assert not list((tmp_path / "h").glob("captions.csv*"))


def test_unknown_dataset(capsys, tmp_path):
    code, _, err = run(capsys, "datasets", "fetch", "nope", tmp_path)
    assert code == 2 and "garcia2025" in err


def test_console_script_error_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("participant,a,b,c,odd\np,1,2,3,9\n")
    exe = Path(sys.executable).with_name("bgs")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "bgs.cli"]
    proc = subprocess.run(cmd + ["data", "validate", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
    assert "bad.csv, row 2, column 'odd'" in proc.stderr


def test_usage_error_exits_2(capsys):
    code, _, err = run(capsys, "data", "stats")
    assert code == 2 and "Missing argument" in err and "FILE" in err
