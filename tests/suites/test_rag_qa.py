"""EmbeddingQAFinetuneDataset JSON: read strictly with errors that name entries, written exactly; BEIR conversion."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bench.data.beir import load_beir_folder
from bench.errors import InputError
from bench.suites.rag.qa import QADatasetError, QASet, load_qa_json, qa_from_beir, save_qa_json

SHIPPED = Path(__file__).resolve().parents[2] / "bench" / "suites" / "rag" / "data" / "demo_qa.json"
GOOD = {
    "queries": {"q1": "What do cats do?", "q2": "Which animal barks?"},
    "corpus": {"c1": "Cats purr.", "c2": "Dogs bark.", "c3": "Fish swim."},
    "relevant_docs": {"q1": ["c1"], "q2": ["c2"]},
    "mode": "text",
}


def write(tmp_path: Path, data: object, name: str = "qa.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def with_changes(**changes: object) -> dict[str, object]:
    return {**json.loads(json.dumps(GOOD)), **changes}


def test_round_trip_writes_llamaindex_bytes(tmp_path: Path):
    qa = load_qa_json(write(tmp_path, GOOD), name="pets")
    assert qa.name == "pets" and qa.qrels() == {"q1": {"c1": 1}, "q2": {"c2": 1}}
    out = save_qa_json(qa, tmp_path / "out.json")
    # EmbeddingQAFinetuneDataset.save_json: json.dump(model_dump(), f, indent=4)
    assert out.read_text() == json.dumps(GOOD, indent=4)
    assert load_qa_json(out).to_json_dict() == GOOD


def test_llamaindex_reads_and_writes_the_same_file_when_installed(tmp_path: Path):
    evaluation = pytest.importorskip("llama_index.core.evaluation")
    if not hasattr(evaluation, "EmbeddingQAFinetuneDataset"):
        pytest.skip("this llama-index-core release moved EmbeddingQAFinetuneDataset to llama_index.finetuning")
    ours = save_qa_json(load_qa_json(write(tmp_path, GOOD)), tmp_path / "ours.json")
    theirs = evaluation.EmbeddingQAFinetuneDataset.from_json(str(ours))
    theirs.save_json(str(tmp_path / "theirs.json"))
    assert (tmp_path / "theirs.json").read_bytes() == ours.read_bytes()


def test_mode_defaults_to_text(tmp_path: Path):
    data = with_changes()
    del data["mode"]
    assert load_qa_json(write(tmp_path, data)).mode == "text"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (with_changes(relevant_docs={"q1": ["c1", "c9"], "q2": ["c7"]}),
         r"relevant_docs point to unknown chunk ids \(2\): 'q1' -> 'c9'; 'q2' -> 'c7'"),
        (with_changes(queries={"q1": "What do cats do?", "q2": "   "}), r"empty questions \(1\): 'q2'"),
        (with_changes(corpus={"c1": "Cats purr.", "c2": ""}), r"empty chunks \(1\): 'c2'"),
        (with_changes(relevant_docs={"q1": ["c1", "c1"], "q2": ["c2"]}), r"'q1'\] lists 'c1' twice"),
        (with_changes(relevant_docs={"q1": ["c1"]}), r"questions without relevant chunks \(1\): 'q2'"),
        (with_changes(relevant_docs={"q1": ["c1"], "q2": ["c2"], "q3": ["c3"]}),
         r"relevant_docs for unknown questions \(1\): 'q3'"),
        (with_changes(relevant_docs={"q1": [], "q2": ["c2"]}), r"questions without relevant chunks \(1\): 'q1'"),
        (with_changes(corpus={"c 1": "Cats purr.", "c2": "Dogs bark."}), r"ids with whitespace.*'c 1'"),
        (with_changes(queries={"q1": 3, "q2": "Which animal barks?"}), r"queries\['q1'\] should be a string"),
        (with_changes(relevant_docs={"q1": "c1", "q2": ["c2"]}), r"relevant_docs\['q1'\] should be a list"),
        (with_changes(mode="image"), r"`mode` should be 'text', got 'image'"),
        (with_changes(corpus=["c1"]), r"`corpus` should be an object"),
        ({"queries": {}, "corpus": {}}, r"missing key\(s\) relevant_docs"),
        (with_changes(relevant_doc={}), r"unexpected key\(s\) relevant_doc"),
        ([1, 2], r"expected a JSON object"),
        ("{not json", r"not valid JSON"),
    ],
)
def test_bad_qa_files_get_errors_naming_the_entries(tmp_path: Path, data: object, message: str):
    path = write(tmp_path, data)
    with pytest.raises(QADatasetError, match=message) as caught:
        load_qa_json(path)
    assert str(path) in str(caught.value)


def test_duplicate_json_keys_are_named(tmp_path: Path):
    text = ('{"queries": {"q1": "What do cats do?", "q1": "Again?"}, '
            '"corpus": {"c1": "Cats purr.", "c2": "Dogs.", "c2": "Dogs bark."}, '
            '"relevant_docs": {"q1": ["c1"]}, "mode": "text"}')
    with pytest.raises(QADatasetError) as caught:
        load_qa_json(write(tmp_path, text))
    assert "duplicate ids (2): queries 'q1'; corpus 'c2'" in str(caught.value)


def test_many_problems_are_listed_with_a_count(tmp_path: Path):
    data = with_changes(relevant_docs={"q1": [f"x{i}" for i in range(8)], "q2": ["c2"]})
    data["relevant_docs"].update({f"q{i}": ["c1"] for i in range(3, 11)})
    with pytest.raises(QADatasetError, match=r"relevant_docs for unknown questions \(8\): .*\(and 3 more\)"):
        load_qa_json(write(tmp_path, data))


def test_first_questions_keeps_the_whole_corpus():
    qa = QASet("x", dict(GOOD["queries"]), dict(GOOD["corpus"]), dict(GOOD["relevant_docs"]))
    cut = qa.first_questions(1)
    assert list(cut.queries) == ["q1"] and cut.corpus == qa.corpus and cut.relevant_docs == {"q1": ["c1"]}
    assert qa.first_questions(None) is qa


def test_shipped_demo_set_is_valid():
    if not SHIPPED.is_file():
        pytest.skip("the shipped demo QA set is not there yet")
    qa = load_qa_json(SHIPPED)
    assert qa.name == "demo_qa"
    assert len(qa.queries) >= 20 and len(qa.corpus) >= 10


def test_beir_conversion_makes_relevant_documents_the_contexts(tiny_beir: Path):
    qa = qa_from_beir(load_beir_folder(tiny_beir, split="test"))
    # q2 judges d2 with 2 and d1 with 0: only d2 is a context; every non-empty document is a chunk
    assert qa.relevant_docs == {"q1": ["d1"], "q2": ["d2"]}
    assert qa.queries == {"q1": "why do cats purr", "q2": "dogs barking"}
    assert qa.corpus == {"d1": "Cats Cats purr when they are happy.", "d2": "Dogs Dogs bark at strangers.",
                         "d3": "Birds Birds sing in the morning.", "d4": "Fish swim in water."}
    assert qa.name == "tiny"
    assert qa.report["left_out"] == {"empty_documents": 0, "empty_questions": 0, "questions_without_relevant": 0}


# -- every refusal is one InputError line that starts with the file ----------------------------------


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ('{\n  "queries": {"q1": "a"},\n  "corpus": {"c1": "b"}\n  "relevant_docs": {}\n}', r":4:3: not valid JSON \("),
        ("", r":1:1: not valid JSON \(Expecting value\)"),
        ({"queries": {}, "corpus": {}, "relevant_docs": {}},
         r"nothing to evaluate \(2\): `queries` holds no questions; `corpus` holds no chunks"),
        (with_changes(queries={}, relevant_docs={}), r"nothing to evaluate \(1\): `queries` holds no questions"),
        ({"queries": {"q1": "a"}, "relevant_docs": {"q1": ["c1"]}}, r"wrong schema: missing key\(s\) corpus"),
        (with_changes(relevant_docs={"q1": ["c9"], "q2": ["c2"]}),
         r"relevant_docs point to unknown chunk ids \(1\): 'q1' -> 'c9'; fix these entries"),
        (with_changes(corpus={"c1": "Cats purr.", "c2": "Dogs bark.", "": "x"}), r"empty ids \(1\): in corpus"),
        (with_changes(queries={"q\t1": "What?", "q2": "Which animal barks?"}), r"ids with whitespace .*'q\\t1'"),
    ],
)
def test_a_refusal_is_one_input_error_line_naming_the_file(tmp_path: Path, data: object, says: str):
    path = write(tmp_path, data)
    with pytest.raises(InputError) as caught:
        load_qa_json(path)
    message = str(caught.value)
    assert message.startswith(str(path)) and "\n" not in message
    assert re.search(says, message), message


def test_several_kinds_of_problem_share_the_one_line(tmp_path: Path):
    data = with_changes(corpus={"c1": "Cats purr.", "c2": ""}, relevant_docs={"q1": ["c1", "c9"], "q2": ["c2"]})
    with pytest.raises(QADatasetError) as caught:
        load_qa_json(write(tmp_path, data))
    assert str(caught.value) == (
        f"{tmp_path / 'qa.json'}: the QA set has problems: empty chunks (1): 'c2' | relevant_docs point to unknown "
        "chunk ids (2): 'q1' -> 'c9'; 'q2' -> 'c2'; fix these entries (the format is LlamaIndex's "
        "EmbeddingQAFinetuneDataset JSON)"
    )


def test_latin1_bytes_name_the_file_and_line(tmp_path: Path):
    path = tmp_path / "latin.json"
    path.write_bytes(b'{"queries": {"q1": "What do cats do?"},\n "corpus": {"c1": "caf\xe9"},\n'
                     b' "relevant_docs": {"q1": ["c1"]}}')
    with pytest.raises(QADatasetError, match=re.escape(f"{path}:2: not UTF-8 (") + ".*save the file as UTF-8"):
        load_qa_json(path)


def test_a_utf8_bom_is_read(tmp_path: Path):
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(GOOD).encode())
    assert load_qa_json(path).to_json_dict() == GOOD


def test_a_missing_file_says_which_setting_to_change(tmp_path: Path):
    with pytest.raises(InputError, match=r"no QA file at .*nothing\.json: point suite\.path at"):
        load_qa_json(tmp_path / "nothing.json")


def test_max_questions_below_one_is_refused():
    qa = QASet("x", dict(GOOD["queries"]), dict(GOOD["corpus"]), dict(GOOD["relevant_docs"]))
    with pytest.raises(InputError, match=r"suite\.max_questions must be at least 1 .*got 0"):
        qa.first_questions(0)


def test_a_beir_set_without_relevant_documents_is_refused(tiny_beir: Path):
    (tiny_beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t0\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"BEIR dataset tiny .*nothing to evaluate \(1\): no query of split 'test' "
                                         r"has a relevant \(score > 0\), non-empty document; fix the BEIR folder"):
        qa_from_beir(load_beir_folder(tiny_beir, split="test"))
