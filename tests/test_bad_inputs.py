"""The bad-input corpus: every case runs ``bgs`` on one bad input and asserts the promise of
docs/reliability.md — exit status 2, exactly one error line naming the file or field, no
traceback, and nothing under its final name written or changed.

A case is one row of ``CASES``: an id, the files it writes into its own folder, the command
line (``{t}``: the case's folder, ``{w}``: the shared workspace of valid inputs), the text the
error line must contain, and optionally paths made read-only first.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import shlex
import shutil
import subprocess
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bgs.cli import main


# ---------------------------------------------------------------------- valid inputs
def _triplets(n_stimuli=12, n_participants=8, per=30, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_participants):
        for t in range(per):
            a, b, c = rng.choice(n_stimuli, 3, replace=False)
            rows.append({"participant": f"p{p}", "a": a, "b": b, "c": c,
                         "odd": (a, b, c)[rng.integers(3)], "response_time": 1.5 + rng.random()})
    return pd.DataFrame(rows)


def _write_workspace(w: Path) -> None:
    df = _triplets()
    df.to_csv(w / "tri.csv", index=False)
    pd.DataFrame({"id": range(12), "file": [f"v{i}.mp4" for i in range(12)]}).to_csv(
        w / "stim.csv", index=False)
    rng = np.random.default_rng(1)
    np.savez(w / "emb.npz", ids=np.arange(12), embeddings=rng.normal(size=(12, 5)))
    np.savez(w / "emb2.npz", ids=np.arange(12), embeddings=rng.normal(size=(12, 4)))
    pd.DataFrame({"id": range(12), "warmth": rng.random(12), "size": rng.random(12)}).to_csv(
        w / "attr.csv", index=False)
    pd.DataFrame({"id": range(6)}).to_csv(w / "split.csv", index=False)
    records = [{"id": i, "views": 100 + i, "likes": 3, "comments": ["nice"],
                "replay_graph": [0.1] * 8} for i in range(12)]
    (w / "behavior.jsonl").write_text("".join(__import__("json").dumps(r) + "\n" for r in records))
    assert main(["evaluate", "-e", str(w / "emb.npz"), "-t", str(w / "tri.csv"), "--n-bootstrap", "5",
                 "--n-permutations", "0", "--run", str(w / "run")]) == 0


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    w = tmp_path_factory.mktemp("valid")
    _write_workspace(w)
    return w


TRAIN_TOML = """
[data]
triplets = "syn/all_triplets.csv"
stimuli = "syn/video_mapping.csv"
videos = "syn/videos"
store = "store"
train = "syn/train.csv"
test = "syn/test.csv"
val_fraction = 0.4

[model]
backbone = "timesformer:tsf"
frames = 4

[optim]
epochs = 1
batch_triplets = 8
max_steps_per_epoch = 1

[run]
eval_bootstrap = 0
eval_permutations = 0
"""


def make_model_workspace(m: Path) -> Path:
    """Tiny clips, a tiny random TimeSformer saved as a folder, a config and one finished run."""
    import torch
    import transformers

    from bgs.synthetic import SynthConfig, make_dataset

    make_dataset(m / "syn", SynthConfig(seed=1, n_clips=12, frames=4, size=16, n_participants=8,
                                        ceiling_draws=20))
    torch.manual_seed(0)
    transformers.TimesformerModel(transformers.TimesformerConfig(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=20,
        image_size=16, patch_size=8, num_frames=4)).save_pretrained(m / "tsf")
    (m / "train.toml").write_text(TRAIN_TOML)
    assert main(["train", str(m / "train.toml"), "--out", str(m / "run")]) == 0
    return m


@pytest.fixture(scope="module")
def model_workspace(tmp_path_factory) -> Path:
    pytest.importorskip("transformers")
    pytest.importorskip("av")
    return make_model_workspace(tmp_path_factory.mktemp("models"))


# ---------------------------------------------------------------------- the harness
@dataclass
class Case:
    id: str
    args: str
    expect: str  # text the one error line must contain (the file or the field)
    files: dict = field(default_factory=dict)  # name -> str | bytes | callable(path)
    read_only: tuple = ()  # paths (relative to the case folder) made unwritable
    xfail: str = ""
    models: bool = False  # needs the model workspace {m} (a tiny model, clips and a run)

    def param(self):
        marks = [pytest.mark.xfail(reason=self.xfail, strict=False)] if self.xfail else []
        return pytest.param(self, id=self.id, marks=marks)


def _snapshot(*roots: Path) -> dict:
    """Every file and folder under ``roots`` with its content hash (folders: None)."""
    snap = {}
    for root in dict.fromkeys(roots):
        for dirpath, dirnames, filenames in os.walk(root):
            for d in dirnames:
                snap[os.path.join(dirpath, d)] = None
            for f in filenames:
                p = os.path.join(dirpath, f)
                snap[p] = (hashlib.sha1(Path(p).read_bytes()).hexdigest() if os.path.isfile(p)
                           else "special")  # a pipe: never opened
    return snap


@contextlib.contextmanager
def _unwritable(paths: list[Path]):
    """Make ``paths`` unwritable, also for root (which ignores modes): chmod, else chattr +i."""
    done = []
    try:
        for p in paths:
            p.chmod(0o555 if p.is_dir() else 0o444)
            if os.geteuid() == 0:
                if subprocess.run(["chattr", "+i", str(p)], capture_output=True).returncode:
                    pytest.skip("running as root and chattr +i is not available")
            done.append(p)
        yield
    finally:
        for p in done:
            if os.geteuid() == 0:
                subprocess.run(["chattr", "-i", str(p)], capture_output=True)
            p.chmod(0o755 if p.is_dir() else 0o644)


def run_case(case: Case, tmp: Path, w: Path, capsys, m: Path | None = None) -> None:
    m = m or w
    for name, content in case.files.items():
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if callable(content):
            content(path, m) if getattr(content, "wants_models", False) else content(path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    argv = shlex.split(case.args.format(t=tmp, w=w, m=m))
    with _unwritable([tmp / p for p in case.read_only]):
        before = _snapshot(tmp, w, m)
        capsys.readouterr()
        status = main(argv)
        captured = capsys.readouterr()
        after = _snapshot(tmp, w, m)
    lines = [ln for ln in captured.err.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("bgs: error")]
    assert "Traceback" not in captured.err + captured.out, captured.err
    assert status == 2, f"exit {status}; stderr: {captured.err}"
    assert len(errors) == 1, captured.err
    assert case.expect.format(t=tmp, w=w, m=m) in errors[0], errors[0]
    changed = sorted(set(before) ^ set(after) | {k for k in before if k in after and before[k] != after[k]})
    assert not changed, f"written or changed: {changed}"


# ---------------------------------------------------------------------- file makers
def csv(text: str) -> str:
    return "\n".join(line.strip() for line in text.strip().splitlines()) + "\n"


GOOD_HEADER = "participant,a,b,c,odd\n"
GOOD_ROWS = "".join(f"p{p},{i},{i + 1},{i + 2},{i}\n" for p in range(3) for i in range(6))


def npz(**arrays):
    def make(path: Path):
        with open(path, "wb") as f:
            np.savez(f, **arrays)
    return make


def parquet(df_factory):
    return lambda path: df_factory().to_parquet(path)


class Payload:
    """A pickle that, unpickled, creates a file: proof that code ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(self.marker)}",))


def zip_bytes(name: str, data: bytes) -> bytes:
    import io

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(name, data)
    return buf.getvalue()


BINARY = bytes(range(256)) * 8
UTF16 = "participant,a,b,c,odd\np0,0,1,2,0\n".encode("utf-16")
BIG = 2**63 + 5


# ---------------------------------------------------------------------- the cases
def data_cases() -> list[Case]:
    v, s = "data validate", "data stats --n-bootstrap 20 --n-splits 5"
    cases = []
    for cmd in (v, s):
        k = cmd.split()[1]
        cases += [
            Case(f"{k}-missing-file", f"{cmd} {{t}}/nope.csv", "nope.csv"),
            Case(f"{k}-directory", f"{cmd} {{t}}", "{t}"),
            Case(f"{k}-empty", f"{cmd} {{t}}/e.csv", "e.csv", {"e.csv": ""}),
            Case(f"{k}-header-only", f"{cmd} {{t}}/h.csv", "h.csv", {"h.csv": GOOD_HEADER}),
            Case(f"{k}-binary", f"{cmd} {{t}}/b.csv", "b.csv", {"b.csv": BINARY}),
            Case(f"{k}-semicolon", f"{cmd} {{t}}/s.csv", "delimit",
                 {"s.csv": GOOD_HEADER.replace(",", ";") + GOOD_ROWS.replace(",", ";")}),
            Case(f"{k}-tab-in-csv", f"{cmd} {{t}}/tab.csv", "delimit",
                 {"tab.csv": GOOD_HEADER.replace(",", "\t") + GOOD_ROWS.replace(",", "\t")}),
            Case(f"{k}-missing-column", f"{cmd} {{t}}/m.csv", "'odd'",
                 {"m.csv": "participant,a,b,c\np0,0,1,2\n"}),
            Case(f"{k}-text-id", f"{cmd} {{t}}/x.csv", "x.csv",
                 {"x.csv": GOOD_HEADER + "p0,zero,1,2,1\n" + GOOD_ROWS}),
            Case(f"{k}-id-too-large", f"{cmd} {{t}}/big.csv", "big.csv",
                 {"big.csv": GOOD_HEADER + f"p0,{BIG},1,2,1\n" + GOOD_ROWS}),
            Case(f"{k}-negative-id-too-large", f"{cmd} {{t}}/nbig.csv", "nbig.csv",
                 {"nbig.csv": GOOD_HEADER + f"p0,-{BIG},1,2,1\n" + GOOD_ROWS}),
            Case(f"{k}-float-id", f"{cmd} {{t}}/f.csv", "f.csv",
                 {"f.csv": GOOD_HEADER + "p0,0.5,1,2,1\n" + GOOD_ROWS}),
            Case(f"{k}-odd-not-in-triad", f"{cmd} {{t}}/o.csv", "o.csv",
                 {"o.csv": GOOD_HEADER + "p0,0,1,2,7\n" + GOOD_ROWS}),
            Case(f"{k}-missing-value", f"{cmd} {{t}}/n.csv", "n.csv",
                 {"n.csv": GOOD_HEADER + "p0,0,,2,0\n" + GOOD_ROWS}),
            Case(f"{k}-ragged-rows", f"{cmd} {{t}}/r.csv", "r.csv",
                 {"r.csv": GOOD_HEADER + "p0,0,1,2,0,5,6,7\n" + GOOD_ROWS}),
            Case(f"{k}-utf16", f"{cmd} {{t}}/u.csv", "u.csv", {"u.csv": UTF16}),
            Case(f"{k}-broken-jsonl", f"{cmd} {{t}}/j.jsonl", "line 3",
                 {"j.jsonl": '{"participant":"p0","a":0,"b":1,"c":2,"odd":0}\n'
                             '{"participant":"p0","a":1,"b":2,"c":3,"odd":1}\n{"participant": "p1", a\n'}),
            Case(f"{k}-jsonl-not-objects", f"{cmd} {{t}}/l.jsonl", "l.jsonl",
                 {"l.jsonl": "[1,2,3]\n[4,5,6]\n"}),
            Case(f"{k}-corrupt-parquet", f"{cmd} {{t}}/c.parquet", "c.parquet",
                 {"c.parquet": b"PAR1" + BINARY + b"PAR1"}),
            Case(f"{k}-unknown-suffix-binary", f"{cmd} {{t}}/z.xlsx", "z.xlsx",
                 {"z.xlsx": zip_bytes("x.xml", b"<a/>")}),
            Case(f"{k}-unknown-format", f"{cmd} --format nope {{w}}/tri.csv", "nope"),
            Case(f"{k}-bad-columns", f"{cmd} --columns 'a=x,zzz' {{w}}/tri.csv", "zzz"),
            Case(f"{k}-columns-unknown-field", f"{cmd} --columns 'subject=x' {{w}}/tri.csv", "subject"),
            Case(f"{k}-bad-id-type", f"{cmd} --id-type float {{w}}/tri.csv", "--id-type"),
            Case(f"{k}-stimuli-missing", f"{cmd} -s {{t}}/nostim.csv {{w}}/tri.csv", "nostim.csv"),
            Case(f"{k}-stimuli-duplicate-ids", f"{cmd} -s {{t}}/dup.csv {{w}}/tri.csv", "dup.csv",
                 {"dup.csv": "id,file\n0,a.mp4\n0,b.mp4\n" + "".join(f"{i},v{i}.mp4\n" for i in range(1, 12))}),
            Case(f"{k}-unknown-stimulus", f"{cmd} -s {{t}}/few.csv {{w}}/tri.csv", "tri.csv",
                 {"few.csv": "id,file\n0,a.mp4\n1,b.mp4\n"}),
            Case(f"{k}-rt-bounds-drop-everything", f"{cmd} --max-rt 0.001 {{w}}/tri.csv", "tri.csv"),
        ]
    one = _triplets(n_participants=1).to_csv(index=False)
    catch = "participant,a,b,c,odd\n" + "".join(f"p{p},{i},{i},{i + 1},{i + 1}\n"
                                                 for p in range(4) for i in range(5))
    cases += [
        Case("stats-one-participant", f"{s} {{t}}/one.csv", "participant", {"one.csv": one}),
        Case("stats-all-catch-trials", f"{s} {{t}}/catch.csv", "catch.csv", {"catch.csv": catch}),
        Case("stats-zero-splits", "data stats --n-splits 0 {w}/tri.csv", "--n-splits"),
        Case("stats-negative-bootstrap", "data stats --n-bootstrap -3 {w}/tri.csv", "--n-bootstrap"),
        Case("stats-out-parent-is-file", f"{s} {{w}}/tri.csv --out {{t}}/f/out.json", "f/out.json",
             {"f": "x"}),
        Case("stats-out-read-only", f"{s} {{w}}/tri.csv --out {{t}}/ro/out.json", "ro/out.json",
             {"ro/keep": "x"}, read_only=("ro",)),
        Case("stats-out-is-a-pipe", f"{s} {{w}}/tri.csv --out {{t}}/pipe", "pipe", {"pipe": os.mkfifo}),
        Case("stats-out-is-a-folder", f"{s} {{w}}/tri.csv --out {{t}}/d", "{t}/d", {"d/keep": "x"}),
        Case("stats-out-existing-read-only", f"{s} {{w}}/tri.csv --out {{t}}/ro2/o.json",
             "ro2/o.json", {"ro2/o.json": "{}"}, read_only=("ro2/o.json", "ro2")),
    ]
    return cases


def evaluate_cases() -> list[Case]:
    e = "evaluate --n-bootstrap 10 --n-permutations 0 -t {w}/tri.csv"
    ids = np.arange(12)
    return [
        Case("evaluate-embeddings-missing", f"{e} -e {{t}}/no.npz", "no.npz"),
        Case("evaluate-embeddings-garbage-npz", f"{e} -e {{t}}/g.npz", "g.npz", {"g.npz": BINARY}),
        Case("evaluate-embeddings-truncated-npz", f"{e} -e {{t}}/tr.npz", "tr.npz",
             {"tr.npz": _truncated_npz()}),
        Case("evaluate-embeddings-pickled-object-npz", f"{e} -e {{t}}/obj.npz", "obj.npz",
             {"obj.npz": npz(ids=ids, embeddings=np.array([{"a": 1}] * 12, dtype=object))}),
        Case("evaluate-embeddings-strings", f"{e} -e {{t}}/s.npz", "s.npz",
             {"s.npz": npz(ids=ids, embeddings=np.array([["x", "y"]] * 12))}),
        Case("evaluate-embeddings-strings-parquet", f"{e} -e {{t}}/s.parquet", "s.parquet",
             {"s.parquet": parquet(lambda: pd.DataFrame({"id": ids, "embedding": [["a", "b"]] * 12}))}),
        Case("evaluate-embeddings-ragged-parquet", f"{e} -e {{t}}/r.parquet", "r.parquet",
             {"r.parquet": parquet(lambda: pd.DataFrame(
                 {"id": ids, "embedding": [[1.0] * (1 + i % 3) for i in ids]}))}),
        Case("evaluate-embeddings-nan", f"{e} -e {{t}}/nan.npz", "nan.npz",
             {"nan.npz": npz(ids=ids, embeddings=np.full((12, 3), np.nan))}),
        Case("evaluate-embeddings-1d", f"{e} -e {{t}}/d1.npz", "d1.npz",
             {"d1.npz": npz(ids=ids, embeddings=np.ones(12))}),
        Case("evaluate-embeddings-no-ids", f"{e} -e {{t}}/ni.npz", "ni.npz",
             {"ni.npz": npz(embeddings=np.ones((12, 3)))}),
        Case("evaluate-embeddings-wrong-row-count", f"{e} -e {{t}}/wr.npz", "wr.npz",
             {"wr.npz": npz(ids=ids, embeddings=np.ones((5, 3)))}),
        Case("evaluate-embeddings-duplicate-ids", f"{e} -e {{t}}/du.npz", "du.npz",
             {"du.npz": npz(ids=np.zeros(12, int), embeddings=np.ones((12, 3)))}),
        Case("evaluate-embeddings-missing-stimuli", f"{e} -e {{t}}/few.npz", "few.npz",
             {"few.npz": npz(ids=np.arange(3), embeddings=np.ones((3, 3)))}),
        Case("evaluate-embeddings-zero-dim", f"{e} -e {{t}}/z.npz", "z.npz",
             {"z.npz": npz(ids=ids, embeddings=np.ones((12, 0)))}),
        Case("evaluate-zero-vectors-cosine", f"{e} -e {{t}}/zv.npz", "zv.npz",
             {"zv.npz": npz(ids=ids, embeddings=np.vstack([np.zeros((2, 3)), np.ones((10, 3))]))}),
        Case("evaluate-constant-vectors-correlation", f"{e} --metric correlation -e {{t}}/cv.npz",
             "cv.npz", {"cv.npz": npz(ids=ids, embeddings=np.vstack(
                 [np.ones((1, 3)), np.random.default_rng(0).normal(size=(11, 3))]))}),
        Case("evaluate-id-type-mismatch", f"{e} -e {{t}}/sid.npz", "sid.npz",
             {"sid.npz": npz(ids=np.array([f"s{i}" for i in ids]), embeddings=np.ones((12, 3)))}),
        Case("evaluate-safetensors-garbage", f"{e} -e {{t}}/g.safetensors", "g.safetensors",
             {"g.safetensors": BINARY}),
        Case("evaluate-safetensors-bad-ids-meta", f"{e} -e {{t}}/m.safetensors", "m.safetensors",
             {"m.safetensors": _safetensors_with_meta({"ids": "not json ["})}),
        Case("evaluate-unknown-suffix", f"{e} -e {{t}}/e.txt", "e.txt", {"e.txt": "1 2 3\n"}),
        Case("evaluate-unknown-metric", f"{e} -e {{w}}/emb.npz --metric manhattan", "manhattan"),
        Case("evaluate-unknown-ties", f"{e} -e {{w}}/emb.npz --ties random", "random"),
        Case("evaluate-unknown-layer", f"{e} -e {{w}}/emb.npz --layer nope", "nope"),
        Case("evaluate-negative-bootstrap", "evaluate -t {w}/tri.csv -e {w}/emb.npz --n-bootstrap -1",
             "--n-bootstrap"),
        Case("evaluate-split-missing", f"{e} -e {{w}}/emb.npz --split {{t}}/nosplit.csv", "nosplit.csv"),
        Case("evaluate-split-unknown-ids", f"{e} -e {{w}}/emb.npz --split {{t}}/sp.csv", "sp.csv",
             {"sp.csv": "id\n100\n101\n102\n"}),
        Case("evaluate-out-parent-is-file", f"{e} -e {{w}}/emb.npz --out {{t}}/f/o.json", "f/o.json",
             {"f": "x"}),
        Case("evaluate-out-is-a-pipe", f"{e} -e {{w}}/emb.npz --out {{t}}/pipe", "pipe", {"pipe": os.mkfifo}),
        Case("evaluate-out-read-only", f"{e} -e {{w}}/emb.npz --out {{t}}/ro/o.json", "ro/o.json",
             {"ro/keep": "x"}, read_only=("ro",)),
        Case("evaluate-run-read-only", f"{e} -e {{w}}/emb.npz --run {{t}}/ro/run", "ro/run",
             {"ro/keep": "x"}, read_only=("ro",)),
        Case("evaluate-run-parent-is-file", f"{e} -e {{w}}/emb.npz --run {{t}}/f/run", "f/run",
             {"f": "x"}),
        Case("evaluate-run-not-empty", f"{e} -e {{w}}/emb.npz --run {{t}}/full", "full",
             {"full/x": "x"}),
    ]


def _truncated_npz() -> bytes:
    import io

    buf = io.BytesIO()
    np.savez(buf, ids=np.arange(12), embeddings=np.ones((12, 64)))
    return buf.getvalue()[:300]


def _safetensors_with_meta(meta: dict) -> bytes:
    from safetensors.numpy import save

    return save({"embeddings": np.ones((12, 3), dtype=np.float32)}, metadata=meta)


def other_cases() -> list[Case]:
    p = "partition -t {w}/tri.csv --cv-folds 2"
    pr = "probe -e {w}/emb.npz --n-bootstrap 5"
    return [
        Case("partition-one-model", f"{p} -e {{w}}/emb.npz", "--embeddings"),
        Case("partition-missing-model", f"{p} -e {{w}}/emb.npz -e {{t}}/no.npz", "no.npz"),
        Case("partition-names-mismatch", f"{p} -e {{w}}/emb.npz -e {{w}}/emb2.npz --names a", "--names"),
        Case("partition-one-fold", f"{p} -e {{w}}/emb.npz -e {{w}}/emb2.npz --cv-folds 1", "--cv-folds"),
        Case("partition-zero-vectors", f"{p} -e {{w}}/emb.npz -e {{t}}/zero.npz", "zero.npz",
             {"zero.npz": npz(ids=np.arange(12), embeddings=np.zeros((12, 3)))}),
        Case("partition-out-parent-is-file", f"{p} -e {{w}}/emb.npz -e {{w}}/emb2.npz "
                                             f"--out {{t}}/f/o.json", "f/o.json", {"f": "x"}),
        Case("probe-attributes-missing", f"{pr} -a {{t}}/no.csv -k 3", "no.csv"),
        Case("probe-attributes-no-numbers", f"{pr} -a {{t}}/a.csv -k 3", "a.csv",
             {"a.csv": "id,name\n" + "".join(f"{i},n{i}\n" for i in range(12))}),
        Case("probe-attribute-column-unknown", f"{pr} -a {{w}}/attr.csv --columns nope -k 3", "nope"),
        Case("probe-one-fold", f"{pr} -a {{w}}/attr.csv -k 1", "fold"),
        Case("probe-more-folds-than-stimuli", f"{pr} -a {{w}}/attr.csv -k 50", "fold"),
        Case("probe-bad-alphas", f"{pr} -a {{w}}/attr.csv -k 3 --alphas x,y", "--alphas"),
        Case("probe-train-without-test", f"{pr} -a {{w}}/attr.csv --train {{w}}/split.csv", "--test"),
        Case("report-missing-run", "report {t}/norun", "norun"),
        Case("report-empty-folder", "report {t}/empty", "empty", {"empty/.keep": ""}),
        Case("report-broken-metrics", "report {t}/r", "metrics.json", {"r/metrics.json": '{"kind": '}),
        Case("report-metrics-not-object", "report {t}/r2", "metrics.json", {"r2/metrics.json": "[1, 2]"}),
        Case("report-binary-metrics", "report {t}/r3", "metrics.json", {"r3/metrics.json": BINARY}),
        Case("report-out-parent-is-file", "report {w}/run --out {t}/f/r.html", "f/r.html", {"f": "x"}),
        Case("report-corrupt-matrices", "report {t}/r4", "matrices.npz",
             {"r4": with_models(lambda p, w: (shutil.copytree(w / "run", p),
                                              (p / "matrices.npz").write_bytes(BINARY)))}),
        Case("datasets-unknown", "datasets fetch nope {t}/d", "nope"),
        Case("datasets-dest-is-file", "datasets fetch garcia2025 {t}/f --mirror {t}/m", "f",
             {"f": "x", "m/.keep": ""}),
        Case("datasets-mirror-missing", "datasets fetch garcia2025 {t}/d --mirror {t}/nomirror",
             "nomirror"),
        Case("behavior-missing", "behavior validate {t}/no.jsonl", "no.jsonl"),
        Case("behavior-broken-line", "behavior validate {t}/b.jsonl", "row 2",
             {"b.jsonl": '{"id": 0, "views": 1, "likes": 0, "comments": 0}\n{"id": 1, "views": \n'}),
        Case("behavior-binary", "behavior validate {t}/b.parquet", "b.parquet", {"b.parquet": BINARY}),
        Case("behavior-negative-views", "behavior validate {t}/n.jsonl", "n.jsonl",
             {"n.jsonl": '{"id": 0, "views": -5, "likes": 0, "comments": 0}\n'}),
        Case("behavior-id-too-large", "behavior validate {t}/big.jsonl", "big.jsonl",
             {"big.jsonl": f'{{"id": {BIG}, "views": 5, "likes": 0, "comments": 0}}\n'}),
        Case("partition-duplicate-names", f"{p} -e {{w}}/emb.npz -e {{w}}/emb2.npz --names a,a", "--names"),
        Case("behavior-experiment-data-missing", "behavior experiment {t}/bx --quick --data {t}/nodata",
             "nodata"),
        Case("behavior-experiment-zero-epochs", "behavior experiment {t}/bx --epochs 0", "--epochs"),
        Case("study-zero-epochs", "study garcia2025 --data {t}/d --out {t}/s --epochs 0", "--epochs"),
        Case("attention-batch-size-zero", "attention -m timesformer:{m}/tsf -s {m}/syn/video_mapping.csv "
                                          "--videos {m}/syn/videos --out {t}/att --batch-size 0",
             "--batch-size", models=True),
        Case("attention-negative-bootstrap", "attention -m timesformer:{m}/tsf -s {m}/syn/video_mapping.csv "
                                             "--videos {m}/syn/videos --out {t}/att --n-bootstrap -1",
             "--n-bootstrap", models=True),
        Case("attention-model-missing", "attention -m timesformer:{t}/no/model -s {m}/syn/video_mapping.csv "
                                        "--videos {m}/syn/videos --out {t}/att", "no/model", models=True),
        Case("vjepa-checkpoint-pickle-payload", "models convert-vjepa2.1 {t}/evil.pt {t}/out", "evil.pt",
             {"evil.pt": lambda p: p.write_bytes(pickle.dumps(Payload(p.parent / "MARKER")))}),
        Case("vjepa-checkpoint-torch-save-payload", "models convert-vjepa2.1 {t}/evil2.pt {t}/out",
             "evil2.pt", {"evil2.pt": lambda p: __import__("torch").save(
                 {"encoder": Payload(p.parent / "MARKER")}, p)}),
        Case("vjepa-checkpoint-garbage", "models convert-vjepa2.1 {t}/g.pt {t}/out", "g.pt", {"g.pt": BINARY}),
        Case("vjepa-checkpoint-missing", "models convert-vjepa2.1 {t}/no.pt {t}/out", "no.pt"),
        Case("behavior-zero-bins", "behavior validate {w}/behavior.jsonl --replay-bins 0", "--replay-bins"),
    ]


def with_models(make):
    """A file maker that also gets the model workspace (to copy a run or a model from)."""
    make.wants_models = True
    return make


def copied_run(change=None):
    """A copy of the finished run of the model workspace, then ``change(run_folder)``."""
    def make(path: Path, m: Path):
        shutil.copytree(m / "run", path)
        if change is not None:
            change(path)
    return with_models(make)


def copied_model(change):
    def make(path: Path, m: Path):
        shutil.copytree(m / "tsf", path)
        change(path)
    return with_models(make)


def truncate(rel: str, keep: int = 40):
    def change(run: Path):
        p = run / rel
        p.write_bytes(p.read_bytes()[:keep])
    return change


def overwrite(rel: str, data: bytes | str):
    def change(run: Path):
        p = run / rel
        p.write_bytes(data if isinstance(data, bytes) else data.encode())
    return change


def plant_pickle(rel: str):
    """Replace the resume state by a crafted pickle whose loading would create MARKER."""
    def change(run: Path):
        last = run / "checkpoints" / "last"
        for name in ("state.json", "state.safetensors"):
            (last / name).unlink()
        (run / rel).write_bytes(pickle.dumps(Payload(run.parent / "MARKER")))
    return change


def train_cases() -> list[Case]:
    cfg = "train {m}/train.toml --out {t}/run"
    ck = "run/checkpoints/last"
    resume = "train --resume {t}/run"
    toml = lambda old, new: with_models(lambda p, m: p.write_text(  # noqa: E731
        (m / "train.toml").read_text().replace(old, new)))
    cases = [
        Case("train-config-missing", "train {t}/no.toml", "no.toml"),
        Case("train-config-is-folder", "train {t}", "{t}"),
        Case("train-config-syntax", "train {t}/bad.toml", "bad.toml", {"bad.toml": "[data\nx = "}),
        Case("train-config-binary", "train {t}/bin.toml", "bin.toml", {"bin.toml": BINARY}),
        Case("train-config-unknown-section", "train {t}/u.toml", "nope", {"u.toml": "[nope]\nx = 1\n"}),
        Case("train-config-unknown-key", "train {t}/k.toml", "optim.learning_rate",
             {"k.toml": "[optim]\nlearning_rate = 1\n"}),
        Case("train-config-epochs-string", "train {t}/e.toml --out {t}/run", "epochs",
             {"e.toml": toml("epochs = 1", 'epochs = "four"')},
             models=True),
        Case("train-config-head-dim-string", "train {t}/h.toml --out {t}/run", "head_dim",
             {"h.toml": toml("frames = 4", 'frames = 4\nhead_dim = "x"')}, models=True),
        Case("train-set-lr-not-a-number", f"{cfg} --set optim.lr=abc", "optim.lr", models=True),
        Case("train-set-negative-epochs", f"{cfg} --set optim.epochs=-1", "optim.epochs", models=True),
        Case("train-set-zero-lora-rank", f"{cfg} --set model.lora.r=0", "model.lora.r", models=True),
        Case("train-set-unknown-device", f"{cfg} --set run.device='\"tpu\"'", "run.device", models=True),
        Case("train-set-val-fraction-one", f"{cfg} --set data.val_fraction=1.5", "val_fraction", models=True),
        Case("train-set-without-equals", f"{cfg} --set optim.lr", "optim.lr", models=True),
        Case("train-set-unknown-key", f"{cfg} --set optim.nope=1", "optim.nope", models=True),
        Case("train-set-unknown-section", f"{cfg} --set nope.lr=1", "nope", models=True),
        Case("train-unknown-objective", f"{cfg} --objective contrastive", "contrastive", models=True),
        Case("train-no-config", "train", "CONFIG"),
        Case("train-out-parent-is-file", "train {m}/train.toml --out {t}/f/run", "f/run", {"f": "x"},
             models=True),
        Case("train-out-read-only", "train {m}/train.toml --out {t}/ro/run", "ro/run",
             {"ro/keep": "x"}, read_only=("ro",), models=True),
        Case("train-out-holds-a-run", "train {m}/train.toml --out {t}/run", "{t}/run",
             {"run": copied_run()}, models=True),
        Case("train-out-holds-only-a-users-config", "train {m}/train.toml --out {t}/mine", "{t}/mine",
             {"mine/config.toml": "# my own notes\n"}, models=True),
        Case("train-triplets-missing", "train {t}/c.toml --out {t}/run", "nothing.csv",
             {"c.toml": with_models(lambda p, m: p.write_text((m / "train.toml").read_text().replace(
                 'syn/all_triplets.csv', 'syn/nothing.csv').replace('"syn/', f'"{m}/syn/').replace(
                 '"tsf"', f'"{m}/tsf"').replace("timesformer:tsf", f"timesformer:{m}/tsf")))},
             models=True),
        Case("train-model-folder-missing", f"{cfg} --set model.backbone='\"timesformer:{{t}}/no/model\"'",
             "no/model", models=True),
        Case("train-resume-missing", "train --resume {t}/norun", "norun"),
        Case("train-resume-no-config", "train --resume {t}/empty", "config.toml", {"empty/x": "x"}),
        Case("train-resume-pickle-state", resume, "state.pt",
             {"run": copied_run(plant_pickle("checkpoints/last/state.pt"))}, models=True),
        Case("train-resume-pickle-as-safetensors", resume, "state.safetensors",
             {"run": copied_run(overwrite("checkpoints/last/state.safetensors",
                                          pickle.dumps(Payload(Path("/nonexistent/MARKER")))))},
             models=True),
        Case("train-resume-truncated-state", resume, "state.safetensors",
             {"run": copied_run(truncate("checkpoints/last/state.safetensors"))}, models=True),
        Case("train-resume-garbage-state-json", resume, "state.json",
             {"run": copied_run(overwrite("checkpoints/last/state.json", BINARY))}, models=True),
        Case("train-resume-truncated-adapter", resume, "adapter.safetensors",
             {"run": copied_run(truncate("checkpoints/last/adapter.safetensors"))}, models=True),
        Case("train-resume-garbage-head", resume, "head.safetensors",
             {"run": copied_run(overwrite("checkpoints/last/head.safetensors", BINARY))}, models=True),
        Case("train-resume-broken-checkpoint-json", resume, "checkpoint.json",
             {"run": copied_run(overwrite("checkpoints/last/checkpoint.json", '{"epoch": '))}, models=True),
        Case("train-resume-checkpoint-json-list", resume, "checkpoint.json",
             {"run": copied_run(overwrite("checkpoints/last/checkpoint.json", "[1, 2]"))}, models=True),
        Case("train-resume-missing-head", resume, "head.safetensors",
             {"run": copied_run(lambda r: (r / "checkpoints/last/head.safetensors").unlink())}, models=True),
        Case("train-resume-config-binary", resume, "config.toml",
             {"run": copied_run(overwrite("config.toml", BINARY))}, models=True),
    ]
    assert ck  # the folder the resume cases corrupt
    return cases


def embed_cases() -> list[Case]:
    e = "embed -s {m}/syn/video_mapping.csv --videos {m}/syn/videos --store {m}/store"
    ok = f"{e} -m timesformer:{{m}}/tsf"
    return [
        Case("embed-model-folder-missing", f"{e} -m timesformer:{{t}}/no/model -o {{t}}/e.npz", "no/model",
             models=True),
        Case("embed-model-folder-empty", f"{e} -m timesformer:{{t}}/empty -o {{t}}/e.npz", "empty",
             {"empty/.keep": ""}, models=True),
        Case("embed-model-is-a-file", f"{e} -m timesformer:{{t}}/f -o {{t}}/e.npz", "f", {"f": "x"},
             models=True),
        Case("embed-model-config-garbage", f"{e} -m timesformer:{{t}}/mc -o {{t}}/e.npz", "mc",
             {"mc": copied_model(overwrite("config.json", BINARY))}, models=True),
        Case("embed-model-weights-truncated", f"{e} -m timesformer:{{t}}/mw -o {{t}}/e.npz", "mw",
             {"mw": copied_model(truncate("model.safetensors", 100))}, models=True),
        Case("embed-unknown-kind", f"{e} -m nope:{{m}}/tsf -o {{t}}/e.npz", "nope", models=True),
        Case("embed-model-without-kind", f"{e} -m {{m}}/tsf -o {{t}}/e.npz", "KIND:SOURCE", models=True),
        Case("embed-batch-size-zero", f"{ok} --batch-size 0 -o {{t}}/e.npz", "--batch-size", models=True),
        Case("embed-out-parent-is-file", f"{ok} -o {{t}}/f/e.npz", "f/e.npz", {"f": "x"}, models=True),
        Case("embed-out-read-only", f"{ok} -o {{t}}/ro/e.npz", "ro/e.npz", {"ro/keep": "x"},
             read_only=("ro",), models=True),
        Case("embed-out-is-a-pipe", f"{ok} -o {{t}}/p.npz", "p.npz", {"p.npz": os.mkfifo}, models=True),
        Case("embed-zero-frames", f"{ok} --frames 0 -o {{t}}/e.npz", "--frames", models=True),
        Case("embed-out-unknown-suffix", f"{ok} -o {{t}}/e.csv", "e.csv", models=True),
        Case("embed-store-parent-is-file", "embed -m timesformer:{m}/tsf -s {m}/syn/video_mapping.csv "
                                           "--videos {m}/syn/videos --store {t}/f/store -o {t}/e.npz",
             "f/store", {"f": "x"}, models=True),
        Case("embed-store-read-only", "embed -m timesformer:{m}/tsf -s {m}/syn/video_mapping.csv "
                                      "--videos {m}/syn/videos --store {t}/ro/store -o {t}/e.npz",
             "ro/store", {"ro/keep": "x"}, read_only=("ro",), models=True),
        Case("embed-stimuli-missing", "embed -m timesformer:{m}/tsf -s {t}/no.csv --videos {m}/syn/videos "
                                      "-o {t}/e.npz", "no.csv", models=True),
        Case("embed-no-videos-option", "embed -m timesformer:{m}/tsf -s {m}/syn/video_mapping.csv "
                                       "-o {t}/e.npz", "--videos", models=True),
        Case("embed-text-without-captions", "embed -m text:minilm -s {w}/stim.csv -o {t}/e.npz", "--captions"),
        Case("embed-precomputed-missing", "embed -m precomputed:{t}/no.npz -s {w}/stim.csv -o {t}/e.npz",
             "no.npz"),
        Case("embed-precomputed-garbage", "embed -m precomputed:{t}/g.npz -s {w}/stim.csv -o {t}/e.npz",
             "g.npz", {"g.npz": BINARY}),
        Case("embed-bad-layers", f"{ok} --layers 99 -o {{t}}/e.npz", "99", models=True),
        Case("embed-checkpoint-missing", f"{ok} -c {{t}}/norun -o {{t}}/e.npz", "norun", models=True),
        Case("embed-checkpoint-garbage-head", f"{ok} -c {{t}}/run -o {{t}}/e.npz", "head.safetensors",
             {"run": copied_run(overwrite("checkpoints/best/head.safetensors", BINARY))}, models=True),
    ]


def synth_cases() -> list[Case]:
    sm = "synth make --clips 6 --participants 2 --frames 2 --size 16"
    return [
        Case("synth-out-is-a-file", f"{sm} {{t}}/f", "f", {"f": "x"}),
        Case("synth-out-parent-is-file", f"{sm} {{t}}/f/out", "f/out", {"f": "x"}),
        Case("synth-out-read-only", f"{sm} {{t}}/ro/out", "ro/out", {"ro/keep": "x"}, read_only=("ro",)),
        Case("synth-out-not-empty", f"{sm} {{t}}/full", "full", {"full/x": "x"}),
        Case("synth-too-few-clips", "synth make --clips 2 {t}/o", "clips"),
        Case("synth-odd-size", "synth make --size 33 {t}/o", "size"),
        Case("synth-zero-fps", "synth make --fps 0 {t}/o", "fps"),
        Case("synth-zero-participants", "synth make --participants 0 {t}/o", "participant"),
        Case("synth-unknown-style", "synth make --style baroque {t}/o", "baroque"),
        Case("synth-contact-sheet-without-videos", f"{sm} --no-videos --contact-sheet {{t}}/c.png {{t}}/o",
             "--contact-sheet"),
        Case("synth-contact-sheet-parent-is-file", f"{sm} --contact-sheet {{t}}/f/c.png {{t}}/o",
             "f/c.png", {"f": "x"}),
        Case("synth-incomplete-folder-read", "data validate --format garcia2025 {t}/inc/all_triplets.csv",
             "incomplete", {"inc/all_triplets.csv": "participation\n1\n",
                            "inc/.bgs-incomplete": "bgs synth make did not finish\n"}),
        Case("synth-incomplete-folder-stimuli", "evaluate -t {w}/tri.csv -e {w}/emb.npz -s {t}/inc/video_mapping.csv",
             "incomplete", {"inc/video_mapping.csv": "index,video_name\n0,a.mp4\n",
                            "inc/.bgs-incomplete": "x\n"}),
        Case("synth-incomplete-folder-rerun-without-force", f"{sm} {{t}}/inc", "inc",
             {"inc/.bgs-incomplete": "x\n", "inc/videos/.synth_0000.mp4.abc.mp4.tmp": ""}),
    ]


CASES = data_cases() + evaluate_cases() + other_cases() + train_cases() + embed_cases() + synth_cases()


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_bad_input(case, tmp_path, workspace, capsys, request):
    m = request.getfixturevalue("model_workspace") if case.models else None
    run_case(case, tmp_path, workspace, capsys, m)


def test_the_corpus_is_large_and_distinct():
    ids = [c.id for c in ALL_CASES]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 120


ALL_CASES = CASES
