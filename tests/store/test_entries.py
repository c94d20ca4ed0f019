"""Store entries: atomic, checksummed, and every kind of damage found before use."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import numpy as np
import pytest

from bench.store.entries import CorruptEntry, quarantine, read_array, verify_folder, write_array, write_folder
from bench.store.shards import ArrayShards


def test_array_round_trip_and_record(tmp_path):
    array = np.arange(12, dtype=np.float32).reshape(4, 3)
    assert write_array(tmp_path / "e", array, meta={"note": "x"}) is True
    record = verify_folder(tmp_path / "e")
    assert record["shape"] == [4, 3] and record["note"] == "x"
    assert set(record["files"]) == {"data.npy"}
    np.testing.assert_array_equal(read_array(tmp_path / "e", rows=4, columns=3), array)
    mapped = read_array(tmp_path / "e", rows=4, mmap=True)
    assert isinstance(mapped, np.memmap)
    # no temporary folder is left beside the entry
    assert [p.name for p in tmp_path.iterdir()] == ["e"]


def test_second_writer_keeps_the_first_entry(tmp_path):
    assert write_array(tmp_path / "e", np.ones(3)) is True
    assert write_array(tmp_path / "e", np.zeros(3)) is False
    np.testing.assert_array_equal(read_array(tmp_path / "e", rows=3), np.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["e"]


def test_a_failing_fill_leaves_nothing(tmp_path):
    def fill(folder: Path):
        (folder / "half").write_text("x")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_folder(tmp_path / "e", fill, meta={})
    assert list(tmp_path.iterdir()) == []


def test_non_finite_values_are_never_written(tmp_path):
    with pytest.raises(ValueError, match="non-finite"):
        write_array(tmp_path / "e", np.array([1.0, np.nan]))
    assert not (tmp_path / "e").exists()


def _resign(entry: Path) -> None:
    """Rewrite entry.json to match the files as they are now (damage that checksums alone cannot see)."""
    from bench.store.entries import sha256_file

    record = json.loads((entry / "entry.json").read_text())
    for name in record["files"]:
        record["files"][name] = {"bytes": (entry / name).stat().st_size, "sha256": sha256_file(entry / name)}
    if (entry / "data.npy").is_file():
        record["shape"] = list(np.load(entry / "data.npy").shape)
    (entry / "entry.json").write_text(json.dumps(record))


DAMAGE = {
    "truncated": (lambda e: (e / "data.npy").write_bytes((e / "data.npy").read_bytes()[:100]), "bytes"),
    "garbage": (lambda e: (e / "data.npy").write_bytes(b"\x93NUMPY garbage" * 20), "bytes"),
    "empty": (lambda e: (e / "data.npy").write_bytes(b""), "bytes"),
    "empty record": (lambda e: (e / "entry.json").write_text(""), "unreadable"),
    "no record": (lambda e: (e / "entry.json").unlink(), "no entry.json"),
    "wrong rows": (lambda e: (np.save(e / "data.npy", np.ones((3, 2), np.float32)), _resign(e)), "3 rows where 4"),
    "nan": (lambda e: (np.save(e / "data.npy", np.full((4, 2), np.nan, np.float32)), _resign(e)), "NaN"),
    "same size other bytes": (lambda e: _flip_last_byte(e / "data.npy"), "sha256"),
}


def _flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_every_damage_is_refused_with_its_reason(tmp_path, damage):
    entry = tmp_path / "e"
    write_array(entry, np.ones((4, 2), np.float32))
    hurt, reason = DAMAGE[damage]
    hurt(entry)
    with pytest.raises(CorruptEntry, match=reason) as caught:
        read_array(entry, rows=4, columns=2)
    assert caught.value.path == entry


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_shards_move_damaged_entries_aside_and_count_them(tmp_path, damage, _isolated_cache):
    shards = ArrayShards(_isolated_cache / "scores" / "k", total=2, describe={"what": "test"})
    shards.save(0, np.ones((4, 2), np.float32))
    shards.save(1, np.ones((4, 2), np.float32))
    DAMAGE[damage][0](shards.path(1))
    again = ArrayShards(_isolated_cache / "scores" / "k", total=2)
    assert again.load(0, rows=4) is not None
    assert again.load(1, rows=4) is None
    assert again.counts.as_dict() == {"total": 2, "computed": 0, "reused": 1, "quarantined": 1}
    [problem] = again.problems
    assert problem.path == str(shards.path(1))
    moved = Path(problem.moved_to)
    assert moved.parent == _isolated_cache / "quarantine" and (moved / "REASON.txt").is_file()
    assert not shards.path(1).exists()  # out of the way: the next save recomputes it
    again.save(1, np.full((4, 2), 2.0, np.float32))
    assert again.load(1, rows=4)[0, 0] == 2.0


def test_quarantine_of_an_entry_someone_else_moved_is_quiet(tmp_path):
    write_array(tmp_path / "e", np.ones(2))
    first = quarantine(tmp_path / "e", "test")
    second = quarantine(tmp_path / "e", "test")  # already gone: no exception
    assert Path(first.moved_to).is_dir() and first.reason == second.reason


def _write_same(args: tuple[str, int]) -> bool:
    folder, seed = args
    return write_array(Path(folder), np.arange(50_000, dtype=np.float64) * 1.5)


def test_writers_racing_for_one_entry_leave_one_good_entry(tmp_path):
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        won = pool.map(_write_same, [(str(tmp_path / "e"), i) for i in range(6)])
    assert sum(won) == 1
    np.testing.assert_array_equal(read_array(tmp_path / "e", rows=50_000), np.arange(50_000) * 1.5)
    assert [p.name for p in tmp_path.iterdir()] == ["e"]


def test_temporaries_left_by_killed_writers_are_swept_once_stale(tmp_path):
    import os as _os

    from bench.store.shards import remove_stale_temporaries

    old, fresh = tmp_path / ".tmp-shard-00000-of-00002-abc", tmp_path / ".tmp-shard-00001-of-00002-def"
    old.mkdir()
    fresh.mkdir()
    _os.utime(old, (1, 1))
    assert remove_stale_temporaries(tmp_path) == 1
    assert not old.exists() and fresh.exists()  # a live writer's folder is left alone
