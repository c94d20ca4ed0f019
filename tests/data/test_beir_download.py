"""Downloading BEIR zips, against a local HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import re
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.data import sources
from bench.data.beir import DatasetError
from bench.data.download import MARKER, fetch_beir


def md5(body: bytes) -> str:
    return hashlib.md5(body, usedforsecurity=False).hexdigest()


def leftovers(cache: Path) -> list[str]:
    """Everything under cache/beir: a failed download must leave nothing, a good one only its folder."""
    folder = cache / "beir"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.fixture
def tiny_zip(tiny_beir: Path, make_zip: Callable[..., bytes]) -> bytes:
    return make_zip(tiny_beir, "tiny")


def test_good_zip_is_verified_extracted_and_loaded(
    file_server, tiny_zip: bytes, tmp_path: Path, capsys
) -> None:
    file_server.add("tiny.zip", tiny_zip)
    cache = tmp_path / "cache"

    dataset = sources.beir("tiny", cache_dir=cache, base_url=file_server.base_url, md5=md5(tiny_zip))

    assert dataset.name == "tiny"
    assert dataset.source == f"{file_server.base_url}/tiny.zip"
    assert dataset.qrels == {"q1": {"d1": 1}, "q2": {"d2": 2, "d1": 0}}
    assert dataset.report.checksum == f"md5 {md5(tiny_zip)} verified"
    assert leftovers(cache) == ["tiny"]
    assert (cache / "beir" / "tiny" / MARKER).is_file()
    shown = capsys.readouterr().err
    assert "download tiny.zip: 100%" in shown and "765/765" in shown


def test_sha256_is_checked_too(file_server, tiny_zip: bytes, tmp_path: Path) -> None:
    file_server.add("tiny.zip", tiny_zip)
    sha256 = hashlib.sha256(tiny_zip).hexdigest()

    fetched = fetch_beir(
        "tiny", cache_dir=tmp_path, base_url=file_server.base_url, expected={"sha256": sha256}
    )

    assert fetched.checksum == f"sha256 {sha256} verified"


def test_completed_extraction_is_reused_without_downloading(
    file_server, tiny_zip: bytes, tmp_path: Path
) -> None:
    file_server.add("tiny.zip", tiny_zip)
    first = sources.beir("tiny", cache_dir=tmp_path, base_url=file_server.base_url, md5=md5(tiny_zip))
    assert file_server.hits["/tiny.zip"] == 1

    again = sources.beir("tiny", cache_dir=tmp_path, base_url=file_server.base_url, md5=md5(tiny_zip))

    assert file_server.hits["/tiny.zip"] == 1
    assert again.qrels == first.qrels
    assert again.report.checksum == first.report.checksum


def test_reused_extraction_from_another_archive_is_refused(
    file_server, tiny_zip: bytes, tmp_path: Path
) -> None:
    file_server.add("tiny.zip", tiny_zip)
    fetch_beir("tiny", cache_dir=tmp_path, base_url=file_server.base_url, expected={"md5": md5(tiny_zip)})

    with pytest.raises(
        DatasetError, match=f"extracted from an archive with md5 {md5(tiny_zip)}, but 0{{32}}"
    ):
        fetch_beir("tiny", cache_dir=tmp_path, base_url=file_server.base_url, expected={"md5": "0" * 32})
    assert file_server.hits["/tiny.zip"] == 1


def test_checksum_mismatch_names_url_expected_and_actual_and_removes_the_download(
    file_server, tiny_zip: bytes, tmp_path: Path
) -> None:
    url = file_server.add("tiny.zip", tiny_zip)
    wrong = "f" * 32

    with pytest.raises(DatasetError) as error:
        sources.beir("tiny", cache_dir=tmp_path, base_url=file_server.base_url, md5=wrong)

    assert str(error.value) == (
        f"checksum mismatch for {url}: expected md5 {wrong}, got {md5(tiny_zip)}; the download was removed"
    )
    assert leftovers(tmp_path) == []


def test_download_cut_short_is_an_error_and_leaves_nothing(
    file_server, tiny_zip: bytes, tmp_path: Path
) -> None:
    url = file_server.add("tiny.zip", tiny_zip, cut_short=True)

    with pytest.raises(
        DatasetError, match=f"download of {url} stopped early: received {len(tiny_zip) // 2} of"
    ):
        sources.beir("tiny", cache_dir=tmp_path, base_url=file_server.base_url, md5=md5(tiny_zip))
    assert leftovers(tmp_path) == []


def test_truncated_zip_without_checksum_is_an_unreadable_zip(
    file_server, tiny_zip: bytes, tmp_path: Path
) -> None:
    url = file_server.add("tiny.zip", tiny_zip[: len(tiny_zip) // 2])

    with pytest.raises(DatasetError) as error:
        fetch_beir("tiny", cache_dir=tmp_path, base_url=file_server.base_url)

    message = str(error.value)
    assert message.startswith(f"{url} is not a readable zip")
    assert f"expected no published checksum, got md5 {md5(tiny_zip[: len(tiny_zip) // 2])}" in message
    assert leftovers(tmp_path) == []


def test_corrupted_entry_is_an_unreadable_zip(file_server, tiny_zip: bytes, tmp_path: Path) -> None:
    offset = tiny_zip.index(b"tiny/corpus.jsonl") + len("tiny/corpus.jsonl") + 4  # inside the compressed data
    damaged = tiny_zip[:offset] + bytes([tiny_zip[offset] ^ 0xFF]) + tiny_zip[offset + 1 :]
    url = file_server.add("tiny.zip", damaged)

    with pytest.raises(DatasetError, match=re.escape(f"{url} is not a readable zip")):
        fetch_beir("tiny", cache_dir=tmp_path, base_url=file_server.base_url)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ("../evil.txt", "climbs out of the target folder"),
        ("tiny/../../evil.txt", "climbs out of the target folder"),
        ("/tmp/evil.txt", "has an absolute path"),
    ],
)
def test_entries_outside_the_target_are_refused(
    file_server, tiny_beir: Path, make_zip, tmp_path: Path, entry: str, reason: str
) -> None:
    url = file_server.add("tiny.zip", make_zip(tiny_beir, "tiny", extra={entry: b"pwned"}))
    cache = tmp_path / "cache"

    with pytest.raises(DatasetError, match=re.escape(f"{url}: archive entry {entry!r} {reason}")):
        fetch_beir("tiny", cache_dir=cache, base_url=file_server.base_url)
    assert leftovers(cache) == []
    assert not (tmp_path / "evil.txt").exists()
    assert not (cache / "evil.txt").exists()


def test_symlink_entry_is_refused(file_server, tiny_beir: Path, tmp_path: Path) -> None:
    archive = tmp_path / "link.zip"
    shutil.make_archive(str(archive.with_suffix("")), "zip", tiny_beir.parent, "tiny")
    with zipfile.ZipFile(archive, "a") as zipped:
        link = zipfile.ZipInfo("tiny/passwd")
        link.external_attr = 0o120777 << 16
        zipped.writestr(link, "/etc/passwd")
    url = file_server.add("tiny.zip", archive.read_bytes())

    with pytest.raises(
        DatasetError, match=re.escape(f"{url}: archive entry 'tiny/passwd' is a symbolic link")
    ):
        fetch_beir("tiny", cache_dir=tmp_path / "cache", base_url=file_server.base_url)
    assert leftovers(tmp_path / "cache") == []


def test_zip_without_the_named_top_folder_is_an_error(
    file_server, tiny_beir: Path, make_zip, tmp_path: Path
) -> None:
    url = file_server.add("tiny.zip", make_zip(tiny_beir, "other"))

    with pytest.raises(DatasetError, match=re.escape(f"{url} has no top folder tiny/ (found: other)")):
        fetch_beir("tiny", cache_dir=tmp_path, base_url=file_server.base_url)
    assert leftovers(tmp_path) == []


def test_unknown_checksum_is_said_in_the_report(file_server, tiny_zip: bytes, tmp_path: Path, capsys) -> None:
    file_server.add("tiny.zip", tiny_zip)

    dataset = sources.beir("tiny", cache_dir=tmp_path, base_url=file_server.base_url)

    assert (
        dataset.report.checksum == f"no published checksum known: not verified (archive md5 {md5(tiny_zip)})"
    )
    assert "no published checksum known" in capsys.readouterr().err


def test_missing_archive_names_url_and_status(file_server, tmp_path: Path) -> None:
    with pytest.raises(
        DatasetError, match=re.escape(f"could not download {file_server.base_url}/nope.zip: HTTP 404")
    ):
        fetch_beir("nope", cache_dir=tmp_path, base_url=file_server.base_url)
    assert leftovers(tmp_path) == []


def test_unreachable_server_suggests_a_local_copy(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="could not download http://127.0.0.1:9/x.zip: .*dataset=local"):
        fetch_beir("x", cache_dir=tmp_path, base_url="http://127.0.0.1:9", timeout=5)


def test_folder_not_made_by_a_download_is_not_trusted(tmp_path: Path) -> None:
    (tmp_path / "beir" / "tiny").mkdir(parents=True)

    with pytest.raises(
        DatasetError, match=f"{tmp_path / 'beir' / 'tiny'} exists but is not a finished download"
    ):
        fetch_beir("tiny", cache_dir=tmp_path, base_url="http://127.0.0.1:9")


@pytest.mark.parametrize("name", ["../tiny", "a/b", ".hidden", ""])
def test_names_that_are_not_plain_folder_names_are_refused(name: str, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="is not a BEIR dataset name"):
        fetch_beir(name, cache_dir=tmp_path)


@pytest.mark.parametrize(
    ("algorithm", "value"), [("md5", "abc"), ("sha256", "5f7d1de60b170fc8027bb7898e2efca1")]
)
def test_malformed_expected_checksum_is_refused(algorithm: str, value: str, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=f"{algorithm} should be"):
        fetch_beir("tiny", cache_dir=tmp_path, expected={algorithm: value})


class TestSubForums:
    """cqadupstack's layout: one BEIR folder per sub-forum inside the top folder."""

    @pytest.fixture
    def forums_url(self, file_server, tiny_beir: Path, make_zip, tmp_path: Path) -> str:
        forums = tmp_path / "forums"
        shutil.copytree(tiny_beir, forums / "android")
        shutil.copytree(tiny_beir, forums / "gaming")
        (forums / "gaming" / "queries.jsonl").write_text('{"_id": "q1", "text": "which game"}\n')
        file_server.add("forums.zip", make_zip(forums, "forums"))
        return file_server.base_url

    def test_each_sub_forum_loads_by_subset_or_by_name(self, forums_url: str, tmp_path: Path) -> None:
        cache = tmp_path / "cache"
        android = sources.beir("forums", subset="android", cache_dir=cache, base_url=forums_url)
        gaming = sources.beir("forums/gaming", cache_dir=cache, base_url=forums_url)
        both = sources.beir("forums/gaming", subset="gaming", cache_dir=cache, base_url=forums_url)

        assert (android.name, gaming.name, both.name) == ("forums/android", "forums/gaming", "forums/gaming")
        assert android.queries == {"q1": "why do cats purr", "q2": "dogs barking"}
        assert gaming.queries == {"q1": "which game"}

    def test_no_subset_lists_the_sub_forums(self, forums_url: str, tmp_path: Path) -> None:
        with pytest.raises(
            DatasetError, match="choose one with `dataset.subset=NAME`, NAME one of: android, gaming"
        ):
            sources.beir("forums", cache_dir=tmp_path, base_url=forums_url)

    def test_unknown_subset_lists_the_sub_forums(self, forums_url: str, tmp_path: Path) -> None:
        with pytest.raises(
            DatasetError,
            match="no sub-dataset 'andriod'. Did you mean 'android'. Choose one of: android, gaming",
        ):
            sources.beir("forums", subset="andriod", cache_dir=tmp_path, base_url=forums_url)

    def test_name_and_subset_must_agree(self, tmp_path: Path) -> None:
        with pytest.raises(DatasetError, match="disagree"):
            sources.beir("forums/android", subset="gaming", cache_dir=tmp_path)
