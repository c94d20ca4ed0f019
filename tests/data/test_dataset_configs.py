"""configs/dataset/*.yaml and configs/experiment/beir_small.yaml compose and build datasets."""

from __future__ import annotations

import hashlib
import inspect
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import get_method, instantiate
from omegaconf import DictConfig, OmegaConf

from bench.data.records import Dataset

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
PUBLIC_BEIR = [
    "scifact", "nfcorpus", "arguana", "scidocs", "fiqa", "trec-covid", "webis-touche2020", "quora",
    "nq", "hotpotqa", "dbpedia-entity", "fever", "climate-fever", "cqadupstack", "msmarco",
]  # fmt: skip
DATASET_CONFIGS = sorted(p.stem for p in (CONFIGS / "dataset").glob("*.yaml"))


@pytest.fixture
def hydra_configs() -> Iterator[None]:
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        yield


def dataset_config(name: str, *overrides: str) -> DictConfig:
    if name == "cqadupstack" and not overrides:
        overrides = ("dataset.subset=android",)
    return compose(overrides=[f"+dataset={name}", *overrides]).dataset


def test_every_public_beir_dataset_and_demo_and_local_has_a_config() -> None:
    assert sorted([*PUBLIC_BEIR, "demo", "local", "synthetic"]) == DATASET_CONFIGS


@pytest.mark.parametrize("name", DATASET_CONFIGS)
def test_config_names_a_callable_that_accepts_its_keys(name: str, hydra_configs: None) -> None:
    config = dataset_config(name, "dataset.path=/somewhere") if name == "local" else dataset_config(name)
    keys = OmegaConf.to_container(config, resolve=True)
    target = get_method(keys.pop("_target_"))

    inspect.signature(target).bind(**keys)
    assert "name" in config  # result rows are labelled with it; null for local means the folder name
    assert config.split == ("dev" if name == "msmarco" else "test")
    if name in PUBLIC_BEIR:
        assert config._target_ == "bench.data.sources.beir"
        assert config.name == ("cqadupstack/android" if name == "cqadupstack" else name)
        assert re.fullmatch("[0-9a-f]{32}", config.md5), "the md5 published in BEIR's dataset table"


def test_cqadupstack_needs_a_sub_forum(hydra_configs: None) -> None:
    config = compose(overrides=["+dataset=cqadupstack"]).dataset

    assert OmegaConf.is_missing(config, "subset")


def test_local_config_requires_a_path(hydra_configs: None) -> None:
    assert OmegaConf.is_missing(compose(overrides=["+dataset=local"]).dataset, "path")


def test_local_config_builds_a_dataset(hydra_configs: None, tiny_beir: Path) -> None:
    dataset = instantiate(dataset_config("local", f"dataset.path={tiny_beir}", "dataset.name=tiny"))

    assert isinstance(dataset, Dataset)
    assert (dataset.name, sorted(dataset.queries)) == ("tiny", ["q1", "q2"])


def test_scifact_config_downloads_through_its_url(
    hydra_configs: None, file_server, tiny_beir: Path, make_zip, tmp_path: Path
) -> None:
    body = make_zip(tiny_beir, "scifact")
    file_server.add("scifact.zip", body)
    config = dataset_config(
        "scifact",
        f"+dataset.base_url={file_server.base_url}",
        f"+dataset.cache_dir={tmp_path}",
        f"dataset.md5={hashlib.md5(body, usedforsecurity=False).hexdigest()}",
    )

    dataset = instantiate(config)

    assert (dataset.name, dataset.split) == ("scifact", "test")
    assert dataset.report.checksum.endswith("verified")


def test_beir_small_turns_the_default_study_into_a_sweep(hydra_configs: None) -> None:
    if not (CONFIGS / "config.yaml").is_file():
        pytest.skip("configs/config.yaml is not written yet")

    config = compose("config", overrides=["experiment=beir_small"], return_hydra_config=True)

    assert str(config.hydra.mode) == "RunMode.MULTIRUN"
    assert config.hydra.sweeper.params == {"dataset": "scifact,nfcorpus,arguana,scidocs"}


def test_beir_small_sweeps_the_four_small_sets() -> None:
    path = CONFIGS / "experiment" / "beir_small.yaml"
    assert path.read_text().startswith("# @package _global_\n")
    config = OmegaConf.load(path)

    assert config.hydra.mode == "MULTIRUN"
    swept = config.hydra.sweeper.params.dataset.split(",")
    assert swept == ["scifact", "nfcorpus", "arguana", "scidocs"]
    assert set(swept) <= set(DATASET_CONFIGS)
