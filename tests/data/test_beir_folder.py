"""Reading a BEIR folder: what is kept, what is counted, and errors that say where."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.data.beir import DatasetError, load_beir_folder
from bench.data.records import Document


def write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def jsonl(*records: dict) -> list[str]:
    return [json.dumps(record) for record in records]


def test_tiny_folder_is_read_as_written(tiny_beir: Path) -> None:
    dataset = load_beir_folder(tiny_beir, split="test")

    assert dataset.name == "tiny"
    assert dataset.split == "test"
    assert dataset.source == str(tiny_beir)
    assert list(dataset.corpus) == ["d1", "d2", "d3", "d4"]
    assert dataset.corpus["d1"] == Document("d1", "Cats", "Cats purr when they are happy.")
    assert dataset.corpus["d4"].full_text == "Fish swim in water."
    assert dataset.queries == {"q1": "why do cats purr", "q2": "dogs barking"}
    assert dataset.qrels == {"q1": {"d1": 1}, "q2": {"d2": 2, "d1": 0}}
    report = dataset.report
    assert report.queries_without_qrels == 1
    assert report.examples["queries_without_qrels"] == ["q3"]
    assert (report.empty_documents, report.empty_queries, report.duplicate_qrels) == (0, 0, 0)
    assert (report.qrels_unknown_query, report.qrels_unknown_document) == (0, 0)


def test_another_split_evaluates_its_own_queries(tiny_beir: Path) -> None:
    dataset = load_beir_folder(tiny_beir, split="train", name="tiny-train")

    assert dataset.name == "tiny-train"
    assert dataset.queries == {"q3": "morning birdsong"}
    assert dataset.qrels == {"q3": {"d3": 1}}
    assert dataset.report.queries_without_qrels == 2


def test_integer_ids_become_strings(tiny_beir: Path) -> None:
    write_lines(tiny_beir / "corpus.jsonl", jsonl({"_id": 7, "title": "Seven", "text": "seven"}))
    write_lines(tiny_beir / "queries.jsonl", jsonl({"_id": 1, "text": "which number"}))
    write_lines(tiny_beir / "qrels" / "test.tsv", ["query-id\tcorpus-id\tscore", "1\t7\t1"])

    dataset = load_beir_folder(tiny_beir)

    assert dataset.corpus == {"7": Document("7", "Seven", "seven")}
    assert dataset.queries == {"1": "which number"}
    assert dataset.qrels == {"1": {"7": 1}}


def test_malformed_json_line_names_file_and_line(tiny_beir: Path) -> None:
    corpus = tiny_beir / "corpus.jsonl"
    write_lines(
        corpus, [*jsonl({"_id": "d1", "text": "a"}, {"_id": "d2", "text": "b"}), '{"_id": "d3", "text": ']
    )

    with pytest.raises(DatasetError, match=f"{corpus}:3: not valid JSON"):
        load_beir_folder(tiny_beir)


def test_json_line_that_is_not_an_object_names_its_line(tiny_beir: Path) -> None:
    queries = tiny_beir / "queries.jsonl"
    write_lines(queries, [*jsonl({"_id": "q1", "text": "a"}), '["q2", "b"]'])

    with pytest.raises(DatasetError, match=f"{queries}:2: expected a JSON object, got list"):
        load_beir_folder(tiny_beir)


def test_missing_id_names_file_and_line(tiny_beir: Path) -> None:
    queries = tiny_beir / "queries.jsonl"
    write_lines(queries, jsonl({"_id": "q1", "text": "a"}, {"id": "q2", "text": "b"}))

    with pytest.raises(DatasetError, match=f"{queries}:2: missing `_id`"):
        load_beir_folder(tiny_beir)


def test_duplicate_document_id_names_id_and_both_lines(tiny_beir: Path) -> None:
    corpus = tiny_beir / "corpus.jsonl"
    write_lines(
        corpus, jsonl({"_id": "d1", "text": "a"}, {"_id": "d2", "text": "b"}, {"_id": "d1", "text": "c"})
    )

    with pytest.raises(DatasetError, match=f"{corpus}: duplicate id 'd1' on lines 1 and 3"):
        load_beir_folder(tiny_beir)


def test_duplicate_query_id_names_id_and_both_lines(tiny_beir: Path) -> None:
    queries = tiny_beir / "queries.jsonl"
    write_lines(queries, jsonl({"_id": "q1", "text": "a"}, {"_id": "q1", "text": "b"}))

    with pytest.raises(DatasetError, match=f"{queries}: duplicate id 'q1' on lines 1 and 2"):
        load_beir_folder(tiny_beir)


def test_non_string_text_names_field_and_line(tiny_beir: Path) -> None:
    corpus = tiny_beir / "corpus.jsonl"
    write_lines(corpus, jsonl({"_id": "d1", "title": ["a"], "text": "b"}))

    with pytest.raises(DatasetError, match=f"{corpus}:1: `title` should be a string, got list"):
        load_beir_folder(tiny_beir)


def test_invalid_utf8_names_its_line(tiny_beir: Path) -> None:
    corpus = tiny_beir / "corpus.jsonl"
    corpus.write_bytes(b'{"_id": "d1", "text": "ok"}\n{"_id": "d2", "text": "\xff"}\n')

    with pytest.raises(DatasetError, match=f"{corpus}:2: not valid JSON"):
        load_beir_folder(tiny_beir)


def test_missing_split_lists_the_splits_present(tiny_beir: Path) -> None:
    with pytest.raises(DatasetError, match=r"no qrels for split 'dev'.*Splits present: test, train"):
        load_beir_folder(tiny_beir, split="dev")


def test_misspelt_split_gets_a_suggestion(tiny_beir: Path) -> None:
    with pytest.raises(DatasetError, match=r"Did you mean 'test'\? Splits present: test, train"):
        load_beir_folder(tiny_beir, split="tset")


def test_qrels_line_without_three_fields_names_file_and_line(tiny_beir: Path) -> None:
    qrels = tiny_beir / "qrels" / "test.tsv"
    write_lines(qrels, ["query-id\tcorpus-id\tscore", "q1\td1\t1", "q2 d2 1"])

    with pytest.raises(DatasetError, match=f"{qrels}:3: expected `query-id<TAB>corpus-id<TAB>score`, got 1"):
        load_beir_folder(tiny_beir)


def test_qrels_score_that_is_not_an_integer_names_file_and_line(tiny_beir: Path) -> None:
    qrels = tiny_beir / "qrels" / "test.tsv"
    write_lines(qrels, ["query-id\tcorpus-id\tscore", "q1\td1\t1", "q2\td2\thigh"])

    with pytest.raises(DatasetError, match=f"{qrels}:3: score 'high' is not an integer"):
        load_beir_folder(tiny_beir)


def test_qrels_for_absent_queries_and_documents_are_counted_not_kept(tiny_beir: Path) -> None:
    write_lines(
        tiny_beir / "qrels" / "test.tsv",
        ["query-id\tcorpus-id\tscore", "q1\td1\t1", "q1\td9\t1", "q9\td2\t1", "q9\td8\t2"],
    )

    dataset = load_beir_folder(tiny_beir)

    assert dataset.qrels == {"q1": {"d1": 1}}
    assert dataset.queries == {"q1": "why do cats purr"}
    report = dataset.report
    assert report.qrels_unknown_document == 2
    assert report.examples["qrels_unknown_document"] == ["d9 (test.tsv:3)", "d8 (test.tsv:5)"]
    assert report.qrels_unknown_query == 2
    assert report.examples["qrels_unknown_query"] == ["q9 (test.tsv:4)", "q9 (test.tsv:5)"]
    assert report.queries_without_qrels == 2  # q2 and q3


def test_empty_texts_are_kept_and_counted(tiny_beir: Path) -> None:
    write_lines(
        tiny_beir / "corpus.jsonl",
        jsonl({"_id": "d1", "title": "", "text": ""}, {"_id": "d2"}, {"_id": "d3", "title": "Only a title"}),
    )
    write_lines(tiny_beir / "queries.jsonl", jsonl({"_id": "q1", "text": " "}, {"_id": "q2", "text": "b"}))
    write_lines(tiny_beir / "qrels" / "test.tsv", ["query-id\tcorpus-id\tscore", "q1\td1\t1", "q2\td3\t1"])

    dataset = load_beir_folder(tiny_beir)

    assert dataset.corpus["d2"] == Document("d2", "", "")
    assert dataset.queries == {"q1": " ", "q2": "b"}
    assert dataset.report.empty_documents == 2
    assert dataset.report.examples["empty_documents"] == ["d1", "d2"]
    assert dataset.report.empty_queries == 1
    assert dataset.report.examples["empty_queries"] == ["q1"]


def test_repeated_qrels_pair_with_the_same_score_is_kept_once_and_counted(tiny_beir: Path) -> None:
    write_lines(tiny_beir / "qrels" / "test.tsv", ["query-id\tcorpus-id\tscore", "q1\td1\t1", "q1\td1\t1"])

    dataset = load_beir_folder(tiny_beir)

    assert dataset.qrels == {"q1": {"d1": 1}}
    assert dataset.report.duplicate_qrels == 1
    assert dataset.report.examples["duplicate_qrels"] == ["q1 -> d1 (test.tsv:2,3)"]


def test_repeated_qrels_pair_with_another_score_names_both_lines(tiny_beir: Path) -> None:
    qrels = tiny_beir / "qrels" / "test.tsv"
    write_lines(qrels, ["query-id\tcorpus-id\tscore", "q1\td1\t1", "q2\td2\t1", "q1\td1\t2"])

    with pytest.raises(
        DatasetError, match=f"{qrels}: query 'q1' and document 'd1' are judged 1 on line 2 and 2 on line 4"
    ):
        load_beir_folder(tiny_beir)


def test_qrels_without_header_keeps_its_first_line(tiny_beir: Path) -> None:
    write_lines(tiny_beir / "qrels" / "test.tsv", ["q1\td1\t1", "q2\td2\t1"])

    assert load_beir_folder(tiny_beir).qrels == {"q1": {"d1": 1}, "q2": {"d2": 1}}


def test_blank_lines_and_windows_line_endings_are_read(tiny_beir: Path) -> None:
    (tiny_beir / "queries.jsonl").write_bytes(
        b'{"_id": "q1", "text": "a"}\r\n\r\n{"_id": "q2", "text": "b"}\r\n'
    )
    (tiny_beir / "qrels" / "test.tsv").write_bytes(
        b"query-id\tcorpus-id\tscore\r\nq1\td1\t1\r\n\r\nq2\td2\t1\r\n"
    )

    dataset = load_beir_folder(tiny_beir)

    assert dataset.queries == {"q1": "a", "q2": "b"}
    assert dataset.qrels == {"q1": {"d1": 1}, "q2": {"d2": 1}}


def test_missing_folder_names_the_path_and_what_to_do(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"

    with pytest.raises(DatasetError, match=f"no dataset folder at {missing}: .*dataset=local dataset.path="):
        load_beir_folder(missing)


def test_missing_corpus_names_the_folder(tiny_beir: Path) -> None:
    (tiny_beir / "corpus.jsonl").unlink()

    with pytest.raises(DatasetError, match=f"{tiny_beir} has no corpus.jsonl .*dataset=local dataset.path="):
        load_beir_folder(tiny_beir)


def test_folder_of_sub_datasets_lists_them(tiny_beir: Path, tmp_path: Path) -> None:
    forums = tmp_path / "forums"
    forums.mkdir()
    tiny_beir.rename(forums / "android")

    with pytest.raises(
        DatasetError, match=f"{forums} has no corpus.jsonl; it holds sub-datasets, choose one of: android"
    ):
        load_beir_folder(forums)


# -- a folder that leaves nothing to evaluate is refused, never a table of zeros ----------------


@pytest.mark.parametrize(
    ("corpus_lines", "says"),
    [
        ([], "no documents (empty or blank lines only)"),
        (["", "  "], "no documents (empty or blank lines only)"),
        (jsonl({"_id": "d1", "title": "", "text": " "}, {"_id": "d2"}), "all 2 documents are empty"),
    ],
)
def test_a_corpus_without_text_is_refused_naming_corpus_jsonl(tiny_beir: Path, corpus_lines, says) -> None:
    write_lines(tiny_beir / "corpus.jsonl", corpus_lines)

    with pytest.raises(DatasetError) as caught:
        load_beir_folder(tiny_beir)
    assert str(caught.value).startswith(f"{tiny_beir / 'corpus.jsonl'}: {says}")


def test_no_queries_is_refused_naming_queries_jsonl(tiny_beir: Path) -> None:
    write_lines(tiny_beir / "queries.jsonl", [])

    with pytest.raises(DatasetError, match=f"{tiny_beir / 'queries.jsonl'}: no queries"):
        load_beir_folder(tiny_beir)


@pytest.mark.parametrize("lines", [["query-id\tcorpus-id\tscore"], [], ["query-id\tcorpus-id\tscore", "", ""]])
def test_qrels_with_only_a_header_are_refused(tiny_beir: Path, lines) -> None:
    qrels = tiny_beir / "qrels" / "test.tsv"
    write_lines(qrels, lines)

    with pytest.raises(DatasetError, match=f"{qrels}: no judgements .*dataset.split="):
        load_beir_folder(tiny_beir)


def test_qrels_that_name_no_known_pair_are_refused_with_the_first_line(tiny_beir: Path) -> None:
    qrels = tiny_beir / "qrels" / "test.tsv"
    write_lines(qrels, ["query-id\tcorpus-id\tscore", "Q1\tD1\t1", "q1\tD2\t1", "Q3\td3\t1"])

    with pytest.raises(DatasetError) as caught:
        load_beir_folder(tiny_beir)
    assert str(caught.value) == (
        f"{qrels}: none of its 3 judgements names a known query and document (line 2: query 'Q1' is not in "
        "queries.jsonl and document 'D1' is not in corpus.jsonl); the qrels belong to another collection or "
        "write the ids differently"
    )


# -- ids that a TREC run file cannot carry are refused where they are read ------------------------


@pytest.mark.parametrize(
    ("file_name", "records", "line", "bad"),
    [
        ("corpus.jsonl", [{"_id": "d1", "text": "a"}, {"_id": "d 2", "text": "b"}], 2, "'d 2'"),
        ("corpus.jsonl", [{"_id": "d1\t", "text": "a"}], 1, "'d1\\t'"),
        ("queries.jsonl", [{"_id": "q1", "text": "a"}, {"_id": "why\u00a0q2", "text": "b"}], 2, "'why\\xa0q2'"),
    ],
)
def test_an_id_with_whitespace_is_refused_in_jsonl(tiny_beir: Path, file_name, records, line, bad) -> None:
    path = tiny_beir / file_name
    write_lines(path, jsonl(*records))

    with pytest.raises(DatasetError) as caught:
        load_beir_folder(tiny_beir)
    assert str(caught.value).startswith(f"{path}:{line}: id {bad} contains whitespace, which a TREC run file")


@pytest.mark.parametrize("row", ["q 1\td1\t1", "q1\td 1\t1"])
def test_an_id_with_whitespace_is_refused_in_qrels(tiny_beir: Path, row) -> None:
    qrels = tiny_beir / "qrels" / "test.tsv"
    write_lines(qrels, ["query-id\tcorpus-id\tscore", "q1\td1\t1", row])

    with pytest.raises(DatasetError, match=f"{qrels}:3: id .* contains whitespace"):
        load_beir_folder(tiny_beir)


def test_qrels_ids_keep_tolerating_padding_around_the_tabs(tiny_beir: Path) -> None:
    write_lines(tiny_beir / "qrels" / "test.tsv", ["query-id\tcorpus-id\tscore", " q1 \t d1\t1"])

    assert load_beir_folder(tiny_beir).qrels == {"q1": {"d1": 1}}
