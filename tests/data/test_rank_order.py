"""`bench.data.records.ranked`: the one rank order (trec_eval's), and which datasets follow BEIR's
self-hit convention."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from bench.data import sources
from bench.data.records import rank_scores, ranked, top


def test_higher_scores_first_and_ties_by_document_id_descending():
    docs = {"a": 1.0, "b": 1.0, "c": 2.0, "d10": 0.5, "d9": 0.5, "d1": 0.5}
    # ids compare as strings (trec_eval's strcmp): "d9" > "d10" > "d1"
    assert [d for d, _ in ranked(docs)] == ["c", "b", "a", "d9", "d10", "d1"]


def test_scores_compare_in_single_precision_as_trec_eval_reads_them():
    docs = {"p": 0.5 + 1e-12, "r": 0.5, "s": 0.5 + 1e-6}
    assert [d for d, _ in ranked(docs)] == ["s", "r", "p"]  # p and r are one float32
    assert dict(ranked(docs)) == docs  # the scores themselves are untouched


def test_input_order_does_not_matter_and_nan_ranks_last():
    forward = {"x": math.nan, "a": 1.0, "b": 1.0, "c": -math.inf, "d": math.inf}
    backward = dict(reversed(list(forward.items())))
    assert [d for d, _ in ranked(forward)] == [d for d, _ in ranked(backward)] == ["d", "b", "a", "c", "x"]
    assert ranked({}) == []


def test_a_cut_off_keeps_the_documents_ranked_first():
    docs = {"a": 1.0, "b": 1.0, "c": 1.0, "z": 2.0}
    assert top(docs, 2) == {"z": 2.0, "c": 1.0}
    assert list(top(docs, 10)) == ["z", "c", "b", "a"]


def test_rank_scores_are_distinct_and_follow_the_order():
    scores = rank_scores({"a": 1.0, "b": 1.0, "c": 0.0})
    assert scores == {"b": 3.0, "a": 2.0, "c": 1.0}


def test_only_public_beir_datasets_ignore_identical_ids(
    file_server, tiny_beir: Path, make_zip: Callable[..., bytes], tmp_path: Path
) -> None:
    file_server.add("tiny.zip", make_zip(tiny_beir, "tiny"))
    assert sources.beir("tiny", cache_dir=str(tmp_path), base_url=file_server.base_url).ignore_identical_ids
    assert not sources.local(tiny_beir).ignore_identical_ids
    assert not sources.demo().ignore_identical_ids
