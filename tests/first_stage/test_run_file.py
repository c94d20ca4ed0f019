"""A TREC run file as the first stage: every bad file is an InputError naming the file and line or ids."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench.data.sources import local
from bench.errors import InputError
from bench.first_stage.run_file import RunFile, read_trec_run

GOOD = "q1 Q0 d1 1 3.0 x\nq1 Q0 d2 2 2.0 x\nq2 Q0 d2 1 9.0 x\n"


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "first.trec"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (GOOD + "q2 Q0 d3 2 nan x\n", ":4: score 'nan' is not a finite number"),
        (GOOD + "q2 Q0 d3 2 -inf x\n", ":4: score '-inf' is not a finite number"),
        ("q1 Q0 d1 1 Infinity x\n", ":1: score 'Infinity' is not a finite number"),
        ("q1 Q0 d1 1 3.0 x\nq1 Q0 d2 2 abc x\n", ":2: score 'abc' is not a number"),
        ("q1 Q0 my doc 1 3.0 x\n", ":1: expected 6 columns 'qid Q0 docid rank score tag', got 7 (ids cannot contain"),
        ("q1 Q0 d1 1 3.0\n", ":1: expected 6 columns 'qid Q0 docid rank score tag', got 5"),
        (GOOD + "q1 Q0 d1 3 1.0 x\n", ":4: document d1 appears twice for query q1"),
        (b"q1 Q0 d1 1 3.0 x\nq1 Q0 caf\xe9 2 2.0 x\n", ":2: not UTF-8"),
        ("", ": no run lines (the file is empty or blank)"),
        ("\n  \n\n", ": no run lines (the file is empty or blank)"),
    ],
)
def test_a_bad_run_file_is_refused_naming_file_and_line(tmp_path, text, says):
    path = write(tmp_path, text)
    with pytest.raises(InputError) as caught:
        RunFile(path=str(path))
    assert str(caught.value).startswith(f"{path}{says}")
    assert "\n" not in str(caught.value)


def test_a_missing_run_file_names_the_config_key(tmp_path):
    with pytest.raises(InputError, match=r"nothing\.trec does not exist: set first_stage\.run_file\.path"):
        RunFile(path=str(tmp_path / "nothing.trec"))


def test_a_utf8_bom_is_read(tmp_path):
    assert read_trec_run(write(tmp_path, "\ufeff" + GOOD)) == {"q1": {"d1": 3.0, "d2": 2.0}, "q2": {"d2": 9.0}}


def test_a_run_for_another_corpus_is_refused_at_index(tmp_path, tiny_beir):
    path = write(tmp_path, "q1 Q0 X1 1 3.0 x\nq2 Q0 X2 1 2.0 x\n")
    first_stage = RunFile(path=str(path))
    with pytest.raises(InputError) as caught:
        first_stage.index(local(tiny_beir).corpus)
    assert str(caught.value) == (
        f"{path}: none of its 2 documents is in the corpus (4 documents; run has e.g. 'X1', 'X2', corpus has "
        "e.g. 'd1', 'd2', 'd3'); the run was made for another collection: choose the dataset it was made for"
    )


def test_a_run_for_other_queries_is_refused_at_search(tmp_path, tiny_beir):
    path = write(tmp_path, "Q1 Q0 d1 1 3.0 x\n")
    dataset = local(tiny_beir)
    first_stage = RunFile(path=str(path))
    first_stage.index(dataset.corpus)
    with pytest.raises(InputError, match=re.escape(f"{path}: none of its 1 queries is among the 2 evaluated ones")):
        first_stage.search(dataset.queries)


def test_a_partly_matching_run_is_kept_and_counted(tmp_path, tiny_beir):
    path = write(tmp_path, "q1 Q0 d1 1 3.0 x\nq1 Q0 ghost 2 2.0 x\n")
    dataset = local(tiny_beir)
    first_stage = RunFile(path=str(path))
    first_stage.index(dataset.corpus)
    assert first_stage.search(dataset.queries) == {"q1": {"d1": 3.0}, "q2": {}}
    assert (first_stage.unknown_documents, first_stage.queries_missing) == (1, 1)
