"""The `_target_` functions, the cache directory and the corpus fingerprint."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.data import sources
from bench.data.beir import DatasetError, load_beir_folder
from bench.data.cache import cache_dir
from bench.data.fingerprint import fingerprint_corpus


def test_local_loads_a_folder_named_after_itself(tiny_beir: Path) -> None:
    dataset = sources.local(str(tiny_beir))

    assert (dataset.name, dataset.split, dataset.source) == ("tiny", "test", str(tiny_beir))
    assert sorted(dataset.queries) == ["q1", "q2"]
    assert sources.local(tiny_beir, split="train", name="mine").name == "mine"


def test_local_without_a_folder_says_how_to_give_one(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="dataset=local dataset.path="):
        sources.local(tmp_path / "absent")


def test_demo_reads_the_packaged_folder(tiny_beir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources, "DEMO_DIR", tiny_beir)

    dataset = sources.demo()

    assert (dataset.name, dataset.source) == ("demo", "bench/data/demo")
    assert dataset.qrels == {"q1": {"d1": 1}, "q2": {"d2": 2, "d1": 0}}


def test_shipped_demo_loads_cleanly() -> None:
    if not (sources.DEMO_DIR / "corpus.jsonl").is_file():
        pytest.skip("bench/data/demo/ is not written yet")

    dataset = sources.demo()

    assert dataset.queries and dataset.qrels
    assert dataset.report.qrels_unknown_query == dataset.report.qrels_unknown_document == 0


class TestCacheDir:
    def test_bench_cache_wins(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "mine"))
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))

        assert cache_dir() == tmp_path / "mine"

    def test_xdg_cache_home_next(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        monkeypatch.delenv("BENCH_CACHE", raising=False)
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))

        assert cache_dir() == tmp_path / "xdg" / "bench"

    @pytest.mark.parametrize("xdg", [None, "relative/path"])
    def test_home_cache_last(self, xdg: str | None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        monkeypatch.delenv("BENCH_CACHE", raising=False)
        if xdg is None:
            monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
        else:
            monkeypatch.setenv("XDG_CACHE_HOME", xdg)
        monkeypatch.setenv("HOME", str(tmp_path))

        assert cache_dir() == tmp_path / ".cache" / "bench"

    def test_beir_downloads_into_bench_cache(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, file_server, tiny_beir: Path, make_zip
    ) -> None:
        monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "env-cache"))
        file_server.add("tiny.zip", make_zip(tiny_beir, "tiny"))

        sources.beir("tiny", base_url=file_server.base_url)

        assert (tmp_path / "env-cache" / "beir" / "tiny" / "corpus.jsonl").is_file()


class TestFingerprint:
    def test_is_stable_across_loads(self, tiny_beir: Path) -> None:
        first = fingerprint_corpus(load_beir_folder(tiny_beir).corpus)

        assert fingerprint_corpus(load_beir_folder(tiny_beir).corpus) == first
        assert len(first) == 16 and int(first, 16) >= 0

    def test_ignores_name_and_source(self, tiny_beir: Path) -> None:
        assert fingerprint_corpus(load_beir_folder(tiny_beir).corpus) == fingerprint_corpus(
            load_beir_folder(tiny_beir, name="other", source="elsewhere").corpus
        )

    @pytest.mark.parametrize(
        ("old", "new"),
        [
            ("Cats purr", "Cats pur!"),  # a document's text
            ('"Dogs"', '"Dogz"'),  # a title
        ],
    )
    def test_changes_with_one_character(self, tiny_beir: Path, old: str, new: str) -> None:
        before = fingerprint_corpus(load_beir_folder(tiny_beir).corpus)
        path = tiny_beir / "corpus.jsonl"
        text = path.read_text(encoding="utf-8")
        assert text.count(old) == 1 and len(old) == len(new)
        path.write_text(text.replace(old, new), encoding="utf-8")

        assert fingerprint_corpus(load_beir_folder(tiny_beir).corpus) != before


def test_beir_through_sources_accepts_both_checksums(
    file_server, tiny_beir: Path, make_zip: Callable[..., bytes], tmp_path: Path
) -> None:
    body = make_zip(tiny_beir, "tiny")
    file_server.add("tiny.zip", body)

    dataset = sources.beir(
        "tiny",
        cache_dir=str(tmp_path),
        base_url=file_server.base_url,
        md5=hashlib.md5(body, usedforsecurity=False).hexdigest(),
        sha256=hashlib.sha256(body).hexdigest(),
    )

    assert dataset.report.checksum.count("verified") == 1
    assert dataset.report.checksum.startswith("md5 ") and ", sha256 " in dataset.report.checksum
