from pathlib import Path

import pytest
from hypothesis import settings

# The suite draws the same property-test examples on every run, so a red CI names a
# change, not a lucky draw. `pytest --hypothesis-profile=explore` draws fresh ones: run
# it when changing a metric, and pin what it finds with `@example`.
settings.register_profile("default", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile("default")

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


@pytest.fixture(scope="session")
def report_in_browser():
    """A function checking a run's report.html as headless Chromium renders it (network
    off): every section heading of the source visible, every image decoded with a non-zero
    natural size, no console errors, the held-out scores and ceilings of metrics.json in the
    page's text; it saves a screenshot. Skips with the reason when Chromium is unavailable."""
    import json
    from html.parser import HTMLParser

    from bgs.report.browser import check_page, find_chromium, screenshot

    if find_chromium() is None:
        pytest.skip("Chromium is not installed (`make test` installs it with apt-get as root; "
                    "or set BGS_CHROMIUM)")

    class Headings(HTMLParser):  # the section headings of the page's source
        def __init__(self):
            super().__init__()
            self.found, self._in = [], False

        def handle_starttag(self, tag, attrs):
            if tag in ("h1", "h2"):
                self._in, self.found = True, self.found + [""]

        def handle_endtag(self, tag):
            self._in = self._in and tag not in ("h1", "h2")

        def handle_data(self, data):
            if self._in:
                self.found[-1] += data

    def headline_numbers(metrics: dict) -> list[str]:
        numbers = []
        for entry in (metrics.get("models") or {}).values():
            ev = entry.get("eval") or {}
            for key in ("ooo_accuracy", "rsa_spearman"):
                if isinstance((ev.get(key) or {}).get("value"), float):
                    numbers.append(f"{ev[key]['value']:.3f}")
            ceiling = (ev.get("ooo_accuracy") or {}).get("ceiling") or {}
            numbers += [f"{ceiling[k]:.3f}" for k in ("lower", "upper") if isinstance(ceiling.get(k), float)]
        return numbers

    def check(run: Path, png: Path):
        html = run / "report.html"
        parser = Headings()
        parser.feed(html.read_text(encoding="utf-8"))
        page = check_page(html)
        assert page.errors == []
        shown = [h["text"] for h in page.headings if h["tag"] in ("h1", "h2") and h["visible"]]
        assert [" ".join(h.split()) for h in parser.found] == shown and len(shown) >= 5
        assert page.images and page.broken_images == []
        assert all(im["visible"] for im in page.images)
        numbers = headline_numbers(json.loads((run / "metrics.json").read_text()))
        assert numbers and [n for n in numbers if n not in page.text] == []
        screenshot(html, png)
        assert png.stat().st_size > 10_000
        return page

    return check


@pytest.fixture(scope="module")
def tiny_video_workspace(tmp_path_factory):
    """A folder with synthetic mp4 clips and judgments (syn/), a tiny random TimeSformer saved
    with save_pretrained (tsf/) and train.toml training it for two short epochs."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("peft")
    pytest.importorskip("av")
    from bgs.synthetic import SynthConfig, make_dataset

    root = tmp_path_factory.mktemp("tiny")
    make_dataset(root / "syn", SynthConfig(seed=5, n_clips=24, frames=8, size=32, n_participants=16))
    torch.manual_seed(0)
    transformers.TimesformerModel(transformers.TimesformerConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
        image_size=32, patch_size=8, num_frames=8)).save_pretrained(root / "tsf")
    _write_tiny_train_config(root / "train.toml", "timesformer:tsf", model={"frames": 8},
                             optim={"epochs": 2, "max_steps_per_epoch": 3, "lr": 0.01})
    return root
