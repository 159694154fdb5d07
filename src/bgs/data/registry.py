"""Registry of public datasets, and a downloader that verifies what it fetches.

Each dataset is pinned to one commit of a public repository, and each of its files to a
SHA-256, so a fetch either yields byte-identical files or fails with a
:class:`~bgs.errors.DownloadError` that says what went wrong and how to fix it.

Downloads are written to ``<dest>/<file>.part`` and renamed onto the final name only
after the checksum matched, so a file under its final name is always complete. An
interrupted download keeps its ``.part``; the next fetch resumes it with an HTTP
``Range`` request (and starts over if the server does not honour ranges).

Files can come from a mirror instead of GitHub: a base URL (``http(s)://host/dir/``,
files looked up flat by file name under it) or a local directory holding the files flat.
Pass ``mirror=`` or set the environment variable ``BGS_DATASET_MIRROR``.
"""

from __future__ import annotations

import http.client
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bgs import __version__
from bgs.errors import ConfigError, DownloadError
from bgs.io import file_sha256

MIRROR_ENV = "BGS_DATASET_MIRROR"
DEFAULT_TIMEOUT = 30.0
_CHUNK = 1 << 16
_USER_AGENT = f"bgs/{__version__} (dataset fetch)"
_MIRROR_FIX = (f"use --mirror URL_OR_DIR (or set {MIRROR_ENV}) to fetch from a copy of the "
               "files")

# Per-file outcomes in a FetchReport.
DOWNLOADED = "downloaded"   # fetched over HTTP from the start (also: restarted from zero)
RESUMED = "resumed"         # an existing .part was completed with a Range request
COPIED = "copied"           # copied from a local mirror directory
PRESENT = "present"         # already in dest with the right checksum; not touched

ProgressCallback = Callable[[str, int, "int | None"], None]


class ChecksumError(DownloadError):
    """A file's SHA-256 differs from the registry's (fetched data, or a file already in dest)."""

    def __init__(self, message: str, path: Path, expected: str, actual: str):
        self.path = Path(path)
        self.expected = expected
        self.actual = actual
        super().__init__(message)


class IncompleteDownloadError(DownloadError):
    """A download stopped early; ``part`` keeps the ``bytes_done`` bytes received so far."""

    def __init__(self, message: str, part: Path, bytes_done: int, bytes_total: int | None):
        self.part = Path(part)
        self.bytes_done = bytes_done
        self.bytes_total = bytes_total
        super().__init__(message)


@dataclass(frozen=True)
class DatasetFile:
    name: str     # file name in the destination (and in a flat mirror)
    path: str     # path inside the source repository
    sha256: str


@dataclass(frozen=True)
class Dataset:
    name: str
    description: str
    citation: str
    repository: str               # GitHub "owner/name"
    commit: str                   # pinned commit: raw URLs never change under us
    files: tuple[DatasetFile, ...]
    license: str = ""
    format: str = ""              # name of the bgs data format that reads these files
    paper: str = ""

    @property
    def base_url(self) -> str:
        return f"https://raw.githubusercontent.com/{self.repository}/{self.commit}/"

    def file(self, name: str) -> DatasetFile:
        for f in self.files:
            if f.name == name:
                return f
        known = ", ".join(f.name for f in self.files)
        raise ConfigError(f"dataset '{self.name}' has no file '{name}'. Known files: {known}")

    def url(self, file: DatasetFile | str) -> str:
        """The raw GitHub URL of one file at the pinned commit."""
        f = self.file(file) if isinstance(file, str) else file
        return self.base_url + urllib.parse.quote(f.path)

    def urls(self) -> dict[str, str]:
        return {f.name: self.url(f) for f in self.files}


@dataclass(frozen=True)
class FileResult:
    name: str
    path: Path        # final path in dest
    status: str       # DOWNLOADED, RESUMED, COPIED or PRESENT
    source: str       # URL or local path it came from ("" for PRESENT)
    size: int


@dataclass(frozen=True)
class FetchReport:
    dataset: str
    dest_dir: Path
    source: str       # GitHub base URL, mirror URL, or mirror directory
    files: tuple[FileResult, ...]

    def count(self, status: str) -> int:
        return sum(1 for r in self.files if r.status == status)

    def summary(self) -> str:
        """'garcia2025: 8 files verified in data/ (6 downloaded, 2 already present)'."""
        labels = [(DOWNLOADED, "downloaded"), (RESUMED, "resumed"), (COPIED, "copied"),
                  (PRESENT, "already present")]
        parts = [f"{self.count(s)} {label}" for s, label in labels if self.count(s)]
        return (f"{self.dataset}: {len(self.files)} files verified in {self.dest_dir} "
                f"({', '.join(parts)})")


_GARCIA_COMMIT = "093ffeaf9e03fcf18ef2e78708ab9356bca76137"

_ZAPPOS_COMMIT = "3e92c9c6c364c0a15a6f344607324b8f83d914eb"
_ZAPPOS_SHA256 = {  # from the data's SHA256SUMS
    "deconflicted_triplets.csv.zip": "c36e790fbea1f992e44237be15a90781ff7e1d7bb827170bcd7603eb9dcbd02f",
    "cnn_feats.csv.zip": "f35803c0c85e8bc7b28299d3f3c56d1a6f76160fbe9fc0e7f84504a8544c14a4",
    "images/0.jpg": "69dc62d4fbedb28081ada02570174e1733239b57d14e7d2ab72f814530ef5474",
    "images/1.jpg": "85e62aa1c78351d2f7bbaf3feaec6032b292cf405a23b3f96941e12145a57f78",
    "images/2.jpg": "6bdeb5eaa517f145ee2a2111e5d6f0c93f1c70dafd8a7e36bf4d57510c4bbef9",
    "images/3.jpg": "0b457e67dd71571d3e6b917a7f7f8eb53968a3800c2301267101ec5c970d17b6",
    "images/4.jpg": "b6e66541c94ddcfde91abc51ba9ccaef6f9dd3c632e62ddcbad8875605dfb885",
    "images/5.jpg": "37114565ad9d60b3c9a7a21720a7ab5ca434379b346671690b57924b647cc399",
    "images/6.jpg": "f6c7ca945530320c35428fec22b1ca52260ac74a3169fabbedc4b7f8e6602aea",
    "images/7.jpg": "8da2a134d37ff48d34d807ecd5920f9ad2813f1d9c48c946df11cc0ceae20eed",
    "images/8.jpg": "0ad495a1df3f8ba402ef1eb1e53d03b9f5112febfa1341c969a63dc6a79b2bc9",
    "images/9.jpg": "41c1c4ded21b27c2a9a248aba87cb7f94085cfcb1977d558ad4e3eab8a88bd1b",
    "images/10.jpg": "f061cb928f2729efb2d68220974f012593e9a4c92e4b52907e2839ea418fb276",
    "images/11.jpg": "fa3efbcb22530cfb92e58c3b621137f3d86aa6eb8a0bbdba6d3352b1865f2949",
    "images/12.jpg": "07be0f0567404e68a5e785d00c0db911728f7f6688ef715ffe3ab23d1d5be095",
    "images/13.jpg": "c62f4814f8832d1f5bedbbfadabfb909c9e994c321d08710cb4613fecf95fe1f",
    "images/14.jpg": "200217818fdb099de4b9bf637c1e307799f490b2065cf019ef8b401431184af1",
    "images/15.jpg": "0c81898fef21514fe943fc4c5723dc4c0a7918a45345471ed57c38239ce903de",
    "images/16.jpg": "a3d578f14d876c75d28b655f0e94b68f21d23d8f0babc90c5b8cc5966aebf963",
    "images/17.jpg": "9a0310711ac42f66383d1b16ef0abe58bd80def2154bd5f845061eaa3db9a49d",
    "images/18.jpg": "a5c1c9574cad6c8236c8b60c9baa8bb88da9a7713d170a46d7118501c7fbaed0",
    "images/19.jpg": "14fa7c7348c93456ff38f6e9c9ad5d7aaf5b9b080b7660de9d3a67b1de8e42f3",
    "images/20.jpg": "5975afa7259cd92a4b3174eaaea6f9ffc000cbba536f118226f0b68dc83b83d1",
    "images/21.jpg": "bbbad33c066af65faa61a6169e37ff7e4fbf51e8c42d203c4553a2c665e80cb0",
    "images/22.jpg": "62b9e46cf3520adbc2f7237488894b8495eddf6b88378ae7fdca6eb037114d95",
    "images/23.jpg": "4f65425cfe51795c51059e65caaca2e5693d0a3f10e270c798dc99c59a1cfe85",
    "images/24.jpg": "3ef0bde76256357d7dfcacfaf25dd8e2687d5dc1d91875eff3b918fcef738545",
    "images/25.jpg": "82c6c7a04d352c928e15d961b005ae427532f83efca6ec449918b435a5e69b12",
    "images/26.jpg": "8140e29c5ca972ac635d5d58764ac9792b6b78539b43bf0d374f7a435b11731a",
    "images/27.jpg": "8669e4d5f7e16650a860e9c6ce05333af32ba1c33c176ce33c9b64049aae433b",
    "images/28.jpg": "ced3c7af502e42b24f4c16c9d1ee0ab3c0c04b38c649332250433c0008969830",
    "images/29.jpg": "1ddd4deea10c8c8dd1bed1634eb8066442a7a79cc5240ebb52c1eb80df16778b",
    "images/30.jpg": "42d2860a0037cc4733ac4bd5fb6e7b888ae40d983a5ae3f6e607bf4293ef8b8f",
    "images/31.jpg": "5613eb93defdcd9c3f1f88ff7e069406f086ef5dad864a4832cb8c188ab074d7",
    "images/32.jpg": "b5491f9b82e440ec47822684b08a8fbed2ca697641eab1b11c7722f76f33dad8",
    "images/33.jpg": "f61b035f42c98c487aa06f527260704272dee5f831e27791a2e1bb22de083714",
    "images/34.jpg": "9150041fd052fa3fc9643cc88fecef190d30f18329830b2e5112e4ed67fd2493",
    "images/35.jpg": "8b01194695d4c8a27f0d70f6e2dfa76b4f4f3a33f5ccf9ecd4424e6e050c56dc",
    "images/36.jpg": "7d28d21244092906279eb0ea9ba8db9f7235f733654ed80448c7046bd2b872b3",
    "images/37.jpg": "4f3d774f5e76884ef28f68cb06509cf6445aa0a7dd530394920df5f7e2857abd",
    "images/38.jpg": "b8edd6a13b1cd16f20e29fa38b052209a929f49b961eb96920d12e42108ea657",
    "images/39.jpg": "df8a66f2c14aacf4e71bb461f4614d96676c468186fa2cdfb5cafd5e5475efd2",
    "images/40.jpg": "68253171d797b321698a532718387a4e3de57376086873eafc590bf9000ccedc",
    "images/41.jpg": "f48762e4d6e333fc9a27f9b9d716853f20cc13fba9562b0f067c5422bc3c5a37",
    "images/42.jpg": "4c3cab0e0c38d8117ef1553553aae7f2d963579d5cfc5221fb2e936f58b1138b",
    "images/43.jpg": "4195a0278b5703974442a5f9061ae9630b44eca3277d0461943bf7ae85e15ae0",
    "images/44.jpg": "e79f00bea51e2216ae4d165a4136768fbdbb6253c0bb4bba5110e952f3b8ec6f",
    "images/45.jpg": "52af7d7e5825a25ebd94731dc7d16d88cfc8559e084686e2897ac155212c7717",
    "images/46.jpg": "f0e153f8db9d061b1434a7805742fa9f0adfe20adb7ffce57e639e043f54e305",
    "images/47.jpg": "3a050b2a8383e3f7dfde0043c789b858a1d6b99d0c7858fb2b2d833591b9a1a8",
    "images/48.jpg": "025a5d7ab99e51b74c45237c29a0836629dd2c2366bdc3cf7925bbf15f898c36",
    "images/49.jpg": "cacbb79ebe3c695bbb3fbb4bcb2fddd5e1d1132959d417246ff9ef44c795b9d7",
    "images/50.jpg": "f8161fb1b75ed11a5101b89fcd22a112c38dd6d000e64be09298a05a555b5c10",
    "images/51.jpg": "c1da837c60e1a5a1a4b7984e2cec748fcaf6f3d8c5247fe26ff35643a29299d5",
    "images/52.jpg": "b5a24e9fe99ada34f862a4f9689cf176e66f8c65d5e9951507caebb222b1c7e7",
    "images/53.jpg": "0340f59659fb2aa464e094318a823c7cadc7bc4fb783d1f9defaa862ecac0cb6",
    "images/54.jpg": "0ffbaf9b981f1be53fb80ee287cdb5d5eb3ff5cb890323b6f8f0865fbeea0c68",
    "images/55.jpg": "03cc42ab9f45abafa907a902930f3b0a339f5969c38309af432a8c418ab43f89",
    "images/56.jpg": "ceb68529af14fee0fcf55fefac05b2341a63ade2673b2d20bf3643cdda05977e",
    "images/57.jpg": "4fdd4ae422b2494e82b6101d675da2f5083188988236d2068387ed3c2d0605f7",
    "images/58.jpg": "7f98f5a6da7fb9739151c844a4df7b4d5a2e3a795fabb27c3186fcce5aa3a05b",
    "images/59.jpg": "bb3e22342c047f2e687777035cb0f30b178f73624f8c9925f3428cdc808bce09",
    "images/60.jpg": "6009d8196c580a86212d2cbb0dc478b4fa986d5dcd3ac8b4bebc295350544e5d",
    "images/61.jpg": "4566080bed3188a95387c7f874bea80818e4074b8f1f86a22ced46764197efbe",
    "images/62.jpg": "f01f1173edee8214501e425fcb2d85b4815984070c5c72fe9be986005b2a9e7d",
    "images/63.jpg": "8aae0b3b40b74ecec79a1598ba69ce56e4c60ee0d00061af75391a29f0c77780",
    "images/64.jpg": "6234f6e6d5fe7d0529c513ac4c6d3ec7e43df4ab19aea5599125099e056d5ab7",
    "images/65.jpg": "fcc23016f485ab2c1667c2469b42dee6e900bc5dc63dbcefc4383e026535e9bd",
    "images/66.jpg": "1d4bb2c24616d18b2570bcdda49d7d6669da636aa4a8a6f308399d8d722e4522",
    "images/67.jpg": "f96dff846963de0ea4aa801a69b6d437c45bd5073c748ce764a405ce7985dd63",
    "images/68.jpg": "551cc88614c2018f8b6c88d47b569f2347fcc21d01de510fc3963fa42105fc97",
    "images/69.jpg": "6548e2df7cffaf79f4aa924619127186c7730633b135833b235709bcec542498",
    "images/70.jpg": "b9bee4b7baee108064dfedf3a92840de7e532df41ec92c7c3157e1961cd0c9db",
    "images/71.jpg": "873739bbb8382c49f46b44fc47f3c2e5e8104d1a5f6117db4107c9999ac93ed4",
    "images/72.jpg": "c32eab011142c3aa6bfed9a31b7992f95747eea995beef46713da87a59df942d",
    "images/73.jpg": "76f70aa6bfb7d54231032061b39cc09a1158ca73da8f47c0f02bd8ee5a436a50",
    "images/74.jpg": "f0f0378b2963b271c41b09756ec3d107cb0d3fd1167026e19acdac7a87367bb5",
    "images/75.jpg": "27127c46fdafae7195dce989a15bc9f42bb5dfb951782d350175af29b29a6b19",
    "images/76.jpg": "a17db1899f82182897d900ede2d0683b8f62262390c72a7362651752c92b67ec",
    "images/77.jpg": "342d51da3edfa055338884af01acd29b1705a1a2d87c7114e2483102911dbadf",
    "images/78.jpg": "7bd57fa09ef61890ede50acbade9a887c12cb0fa97ba1c0976c5c57fb40bae26",
    "images/79.jpg": "16f89bcf6048350df1a5fb069fe1c27460b340576e0c1754db97a1baaadbe88e",
    "images/80.jpg": "6ed0d5ba75b2f861262532cdc7d093bc04574839108e19a3735d636d7b08a77b",
    "images/81.jpg": "cd515a2e003a45b23fa8b8ba3a820e7fc6cb2ab5474b276ccc618f1a7c42a771",
    "images/82.jpg": "b95cee1ae1c71fba094463683507c12ae03496c82da09bbae995626710f00adf",
    "images/83.jpg": "e82fa96fbe7f5789df3a84c20de207ef6dfd1d318a82357eb96e12630b46f80c",
    "images/84.jpg": "913012cb8a6b37382315dce366882b70c1c11ba2f9e2dc1fd4148231e284d758",
}

DATASETS: dict[str, Dataset] = {
    "garcia2025": Dataset(
        name="garcia2025",
        description="Human odd-one-out similarity judgments on 250 social video clips, "
                    "with captions, ratings and the authors' train/test splits.",
        citation="Garcia, K. & Isik, L. (2025). Aligning Video Models with Human Social "
                 "Judgments via Behavior-Guided Fine-Tuning. arXiv:2510.01502.",
        repository="garciakathy/similarity-judgments-finetuning",
        commit=_GARCIA_COMMIT,
        files=(
            DatasetFile("all_triplets.csv", "data/interim/similarity/all_triplets.csv",
                        "46b88e5921ed1f032dc97f05d24cbd2bf71a783ba9deca91593b8900ee62444e"),
            DatasetFile("train_triplets.csv", "data/interim/similarity/train_triplets.csv",
                        "3f23d14e3ab380ec001e7eff606910dffee81ce2018b01993f68ad805e0d5bec"),
            DatasetFile("test_triplets.csv", "data/interim/similarity/test_triplets.csv",
                        "36e824355097220ee0a599be47fcf4c93adabbeb8e1928e59fe2e35715a21115"),
            DatasetFile("annotations.csv", "data/raw/utils/annotations.csv",
                        "b3c01bddd58d1d569e97470ccb68f2290fe1e3c46af01453653d5c87757343ad"),
            DatasetFile("captions.csv", "data/raw/utils/captions.csv",
                        "1fb304d6f0626fffbbc9cfbd7a5288cc5139811a87e93b1e763edb5fa42302f5"),
            DatasetFile("test.csv", "data/raw/utils/test.csv",
                        "829bea2088a70e3db78e2d7af3f9a46ea402c10c400500f536268edf402973d1"),
            DatasetFile("train.csv", "data/raw/utils/train.csv",
                        "c027e8ae031a86599be5300a78841d26262d9a5af967865a26e5b96993b5e7d7"),
            DatasetFile("video_mapping.csv", "data/raw/utils/video_mapping.csv",
                        "0046233770e29c6ae6f4c96f4a48395796166659c69ea69b9d3a6a2f1cbe7c05"),
        ),
        license="videos are licensed and not distributed; judgments, captions and ratings "
                "are public",
        format="garcia2025",
        paper="https://arxiv.org/abs/2510.01502",
    ),
    "zappos": Dataset(
        name="zappos",
        description="Human anchor triplets (head, close, far) on 85 shoe images of UT Zappos50K, "
                    "cleaned of cycles, with AlexNet features of the images.",
        citation="Heim, E., Berger, M., Seversky, L. & Hauskrecht, M. (2015). Active Perceptual "
                 "Similarity Modeling with Auxiliary Information. arXiv:1511.02254.",
        repository="stsievert/salmon",
        commit=_ZAPPOS_COMMIT,
        files=tuple(DatasetFile(name, f"examples/zappos/_raw/{name}", sha)
                    for name, sha in _ZAPPOS_SHA256.items()),
        license="BSD-3 (the salmon repository); no separate data licence is stated",
        format="zappos",
        paper="https://arxiv.org/abs/1511.02254",
    ),
}


def list_datasets() -> list[Dataset]:
    return [DATASETS[k] for k in sorted(DATASETS)]


def get_dataset(name: str) -> Dataset:
    try:
        return DATASETS[name]
    except KeyError:
        known = ", ".join(sorted(DATASETS))
        raise ConfigError(f"unknown dataset '{name}'. Known datasets: {known}") from None


def fetch(name: str, dest_dir: str | os.PathLike, mirror: str | os.PathLike | None = None,
          progress: ProgressCallback | None = None, force: bool = False,
          timeout: float = DEFAULT_TIMEOUT) -> FetchReport:
    """Fetch every file of dataset ``name`` into ``dest_dir`` (flat) and verify it.

    ``mirror``: base URL or local directory; None means ``$BGS_DATASET_MIRROR`` if set,
    else GitHub; an empty string means GitHub regardless of the environment.
    ``progress(file_name, bytes_done, bytes_total_or_None)`` is called as bytes arrive
    (once, with done == total, for a file already present).
    ``force`` re-fetches files already present (the old file stays until the new one
    verified) and discards any ``.part``.
    Files are fetched in registry order and the first failure raises; files completed
    before it stay in place, verified.
    """
    dataset = get_dataset(name)
    dest = Path(dest_dir)
    kind, base = _resolve_mirror(dataset, mirror)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"{dest}: cannot create the destination directory ({exc}). "
                            "Fix: choose a writable destination") from None
    results = []
    for f in dataset.files:
        final = dest / f.name
        part = dest / (f.name + ".part")
        final.parent.mkdir(parents=True, exist_ok=True)  # names may hold a folder (images/0.jpg)
        if final.exists() and not force:
            actual = file_sha256(final)
            if actual != f.sha256:
                raise ChecksumError(
                    f"{final}: file already exists but its SHA-256 is {actual}, expected "
                    f"{f.sha256}. Fix: delete it, or re-run with --force to fetch it again",
                    final, f.sha256, actual)
            size = final.stat().st_size
            if progress is not None:
                progress(f.name, size, size)
            results.append(FileResult(f.name, final, PRESENT, "", size))
            continue
        if force:
            part.unlink(missing_ok=True)
        if kind == "dir":
            source = str(Path(base) / f.name)
            status = _copy_local(Path(source), part, f.name, dataset, progress)
        else:
            source = dataset.url(f) if kind == "github" else base + urllib.parse.quote(f.name)
            status = _download(source, part, f.name, dataset, progress, timeout)
        actual = file_sha256(part)
        if actual != f.sha256:
            part.unlink(missing_ok=True)
            where = "the mirror" if kind != "github" else "GitHub"
            raise ChecksumError(
                f"{f.name}: SHA-256 of the data fetched from {source} is {actual}, expected "
                f"{f.sha256}; it was discarded and nothing was written to {final}. Fix: "
                f"check that {where} holds the original file, then re-run the command",
                final, f.sha256, actual)
        os.replace(part, final)
        results.append(FileResult(f.name, final, status, source, final.stat().st_size))
    return FetchReport(dataset.name, dest, base, tuple(results))


def _resolve_mirror(dataset: Dataset, mirror) -> tuple[str, str]:
    """('github' | 'url' | 'dir', base). URL bases always end with '/'."""
    if mirror is None:
        mirror = os.environ.get(MIRROR_ENV) or ""
    mirror = os.fspath(mirror).strip()
    if not mirror:
        return "github", dataset.base_url
    scheme = urllib.parse.urlsplit(mirror).scheme.lower()
    if scheme in ("http", "https"):
        return "url", mirror if mirror.endswith("/") else mirror + "/"
    if scheme == "file":
        mirror = urllib.request.url2pathname(urllib.parse.urlsplit(mirror).path)
    if Path(mirror).is_dir():
        return "dir", str(Path(mirror))
    raise ConfigError(f"mirror '{mirror}' is neither an http(s):// URL nor an existing "
                      f"directory. Fix: pass a base URL or a directory holding the files "
                      f"of '{dataset.name}' flat (check --mirror and {MIRROR_ENV})")




def _copy_local(src: Path, part: Path, name: str, dataset: Dataset,
                progress: ProgressCallback | None) -> str:
    if not src.is_file():
        names = ", ".join(f.name for f in dataset.files)
        raise DownloadError(f"{src}: the mirror directory has no file {name}. Fix: put all "
                            f"files of '{dataset.name}' ({names}) flat in the mirror "
                            f"directory, or drop --mirror / {MIRROR_ENV}")
    total = src.stat().st_size
    done = 0
    if progress is not None:
        progress(name, 0, total)
    # Stream rather than shutil.copy: the mirror may be read-only and its mode must not
    # follow the file into dest.
    with open(src, "rb") as fin, open(part, "wb") as fout:
        for block in iter(lambda: fin.read(_CHUNK), b""):
            fout.write(block)
            done += len(block)
            if progress is not None:
                progress(name, done, total)
        fout.flush()
        os.fsync(fout.fileno())
    return COPIED


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """'bytes 100-199/200' -> (100, 200); unknown parts are None."""
    try:
        unit, spec = value.strip().split(" ", 1)
        rng, total = spec.split("/", 1)
        start = int(rng.split("-", 1)[0])
        return start, (None if total.strip() == "*" else int(total))
    except (AttributeError, ValueError):
        return None, None


def _download(url: str, part: Path, name: str, dataset: Dataset,
              progress: ProgressCallback | None, timeout: float) -> str:
    """Fetch ``url`` into ``part``, resuming from the bytes ``part`` already holds."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                      timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and offset:
            # Nothing left past offset: the .part already holds the whole file (e.g. a run
            # stopped between download and rename). The checksum decides whether it is good.
            return RESUMED
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason} while fetching {name} of "
                            f"dataset '{dataset.name}'. Fix: check the URL, or "
                            f"{_MIRROR_FIX}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DownloadError(f"{url}: cannot connect ({reason}) while fetching {name} of "
                            f"dataset '{dataset.name}'. Fix: check your network connection, "
                            f"or {_MIRROR_FIX}") from None
    with resp:
        length = resp.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        if resp.status == 206:
            start, total = _content_range(resp.headers.get("Content-Range"))
            if start != offset:
                # A range we did not ask for: throw the .part away and start over.
                resp.close()
                part.unlink(missing_ok=True)
                return _download(url, part, name, dataset, progress, timeout)
            if total is None and length is not None:
                total = offset + length
            mode, status = "ab", RESUMED
        else:
            # 200: either no .part, or a server that ignores Range — restart from zero.
            offset, total, mode, status = 0, length, "wb", DOWNLOADED
        done = offset
        if progress is not None:
            progress(name, done, total)
        with open(part, mode) as fh:
            while True:
                try:
                    block = resp.read(_CHUNK)
                except (OSError, http.client.HTTPException) as exc:
                    fh.flush()
                    raise _interrupted(url, part, name, done, total,
                                       str(exc) or type(exc).__name__) from None
                if not block:
                    break
                fh.write(block)
                done += len(block)
                if progress is not None:
                    progress(name, done, total)
            fh.flush()
            os.fsync(fh.fileno())
        if total is not None and done < total:
            raise _interrupted(url, part, name, done, total, "connection closed early")
    return status


def _interrupted(url: str, part: Path, name: str, done: int, total: int | None,
                 reason: str) -> IncompleteDownloadError:
    of = f"{done} of {total} bytes" if total is not None else f"{done} bytes (size unknown)"
    return IncompleteDownloadError(
        f"{name}: download from {url} interrupted after {of} ({reason}); the partial "
        f"download was kept in {part}. Fix: re-run the same command to resume from there",
        part, done, total)
