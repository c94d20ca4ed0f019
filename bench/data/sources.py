"""Where a `Dataset` comes from: the `_target_`s of `configs/dataset/*.yaml`.

    demo()                     the small BEIR folder shipped in bench/data/demo/ (the default)
    local(path)                any BEIR folder on disk
    beir(name, md5=...)        a public BEIR dataset, downloaded once into the cache

Only `beir` marks its dataset `ignore_identical_ids` (BEIR's self-hit convention, which
`remove_self_hits=auto` follows): the demo, local folders and the synthetic set keep their ids apart.
"""

from __future__ import annotations

from pathlib import Path

from bench.data import cache
from bench.data.beir import LOCAL_HINT, DatasetError, load_beir_folder, sub_datasets
from bench.data.download import BEIR_BASE_URL, fetch_beir
from bench.data.records import Dataset
from bench.errors import did_you_mean

DEMO_DIR = Path(__file__).with_name("demo")


def demo(split: str = "test", name: str = "demo") -> Dataset:
    """The demo set that ships inside the package: no network, small enough to check by hand."""
    hint = "the demo data ships inside the package: reinstall bench with `pip install -e .`"
    return load_beir_folder(DEMO_DIR, split=split, name=name, source="bench/data/demo", hint=hint)


def local(path: str | Path, split: str = "test", name: str | None = None) -> Dataset:
    """A BEIR folder on disk; `name` defaults to the folder's name."""
    return load_beir_folder(Path(path).expanduser(), split=split, name=name, hint=LOCAL_HINT)


def beir(
    name: str,
    split: str = "test",
    subset: str | None = None,
    cache_dir: str | Path | None = None,
    base_url: str = BEIR_BASE_URL,
    md5: str | None = None,
    sha256: str | None = None,
    timeout: float = 60.0,
) -> Dataset:
    """A public BEIR dataset, from `<base_url>/<name>.zip`, extracted under `<cache_dir>/beir/`.

    `md5` / `sha256` are the published digests of the zip (None when none is known: the load
    report says the download was not verified). cqadupstack holds one folder per sub-forum:
    choose one with `subset="android"` or `name="cqadupstack/android"`.
    """
    archive, subset = split_name(name, subset)
    expected = {k: v for k, v in (("md5", md5), ("sha256", sha256)) if v}
    folder = Path(cache_dir).expanduser() if cache_dir else cache.cache_dir()
    fetched = fetch_beir(archive, cache_dir=folder, base_url=base_url, expected=expected, timeout=timeout)
    dataset = load_beir_folder(
        subset_folder(fetched.folder, subset),
        split=split,
        name=f"{archive}/{subset}" if subset else archive,
        source=fetched.url,
        hint=f"remove {fetched.folder} to download it again",
    )
    dataset.report.checksum = fetched.checksum
    dataset.ignore_identical_ids = True  # BEIR evaluates every dataset of its table this way
    return dataset


def split_name(name: str, subset: str | None) -> tuple[str, str | None]:
    """'cqadupstack/android' -> ('cqadupstack', 'android'); a separate `subset` must agree."""
    archive, _, inner = name.partition("/")
    if inner and subset and inner != subset:
        raise DatasetError(f"dataset name {name!r} and subset {subset!r} disagree: give the sub-forum once")
    return archive, subset or inner or None


def subset_folder(folder: Path, subset: str | None) -> Path:
    """`folder/subset`, checked against the sub-datasets actually present."""
    inner = sub_datasets(folder)
    if subset is None and inner and not (folder / "corpus.jsonl").is_file():
        raise DatasetError(
            f"{folder} holds one dataset per sub-forum: choose one with `dataset.subset=NAME`, "
            f"NAME one of: {', '.join(inner)}"
        )
    if subset is None:
        return folder
    if subset not in inner:
        raise DatasetError(
            f"{folder} has no sub-dataset {subset!r}.{did_you_mean(subset, inner)} "
            f"Choose one of: {', '.join(inner) or 'none'}"
        )
    return folder / subset
