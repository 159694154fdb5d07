"""Compare two runs' ``metrics.json``, timings and paths aside.

    python benchmarks/compare_metrics.py RUN_A RUN_B [--ignore REGEX] [--rtol 0]

RUN_A and RUN_B are run folders (or their ``metrics.json`` files). Keys whose name matches the
ignore pattern (durations, throughputs, creation times) are skipped wherever they sit; in
strings, each run's own folder becomes ``<run>`` and any other absolute path its last part (a
cache folder's name still carries its config key). Every number, string and list length is
compared; the script prints how many leaves it compared and each difference, and exits 1 if
there is any (0 when identical; 2 on unreadable input).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path

#: Key names that hold timings, not results. ``response_time`` and the like (data) are kept.
TIMING_KEYS = r"^(created|timings?|wall.*|cpu.*|elapsed.*)$|seconds|_per_s$"
_ABS_PATH = re.compile(r"(?<![\w.>])/[^\s:'\"]+")


def load(path: str) -> tuple[dict, Path]:
    p = Path(path)
    file = p / "metrics.json" if p.is_dir() else p
    try:
        return json.loads(file.read_text(encoding="utf-8")), file.parent.resolve()
    except (OSError, json.JSONDecodeError) as e:
        print(f"error: cannot read {file}: {e}; give a run folder or its metrics.json",
              file=sys.stderr)
        sys.exit(2)


def normalise(text: str, run: Path) -> str:
    text = text.replace(str(run), "<run>")
    return _ABS_PATH.sub(lambda m: m.group(0).rstrip("/").rsplit("/", 1)[-1], text)


def leaves(obj, run: Path, ignore: re.Pattern, path: str = ""):
    """(path, value) of every leaf; ignored keys dropped, strings normalised, list lengths kept."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not ignore.search(str(k)):
                yield from leaves(v, run, ignore, f"{path}/{k}")
    elif isinstance(obj, list):
        yield f"{path}#len", len(obj)
        for i, v in enumerate(obj):
            yield from leaves(v, run, ignore, f"{path}[{i}]")
    elif isinstance(obj, str):
        yield path, normalise(obj, run)
    else:
        yield path, obj


def same(a, b, rtol: float) -> bool:
    numbers = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (a, b))
    if numbers and rtol > 0:
        return math.isclose(a, b, rel_tol=rtol) or (math.isnan(a) and math.isnan(b))
    return a == b or (numbers and math.isnan(a) and math.isnan(b))


def compare(a: dict, run_a: Path, b: dict, run_b: Path, ignore: str = TIMING_KEYS,
            rtol: float = 0.0) -> tuple[int, int, list[tuple[str, object, object]]]:
    """(leaves compared, numbers among them, differences as (path, a, b))."""
    pattern = re.compile(ignore)
    la, lb = dict(leaves(a, run_a, pattern)), dict(leaves(b, run_b, pattern))
    missing = object()
    diffs = [(k, la.get(k, missing), lb.get(k, missing)) for k in sorted(la.keys() | lb.keys())
             if not same(la.get(k, missing), lb.get(k, missing), rtol)]
    numbers = sum(isinstance(v, (int, float)) and not isinstance(v, bool) and not k.endswith("#len")
                  for k, v in la.items())
    return len(la.keys() | lb.keys()), numbers, [
        (k, "<absent>" if x is missing else x, "<absent>" if y is missing else y) for k, x, y in diffs]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--ignore", default=TIMING_KEYS, help="regex of key names to skip")
    ap.add_argument("--rtol", type=float, default=0.0, help="relative tolerance for numbers")
    ap.add_argument("--show", type=int, default=40, help="differences to print")
    args = ap.parse_args(argv)
    (a, run_a), (b, run_b) = load(args.a), load(args.b)
    n, numbers, diffs = compare(a, run_a, b, run_b, args.ignore, args.rtol)
    print(f"{n} leaves compared ({numbers} numbers); {len(diffs)} differ")
    for k, x, y in diffs[:args.show]:
        print(f"  {k}: {x!r} != {y!r}")
    if len(diffs) > args.show:
        print(f"  ... and {len(diffs) - args.show} more")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
