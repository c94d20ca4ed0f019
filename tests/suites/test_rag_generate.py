"""Generated questions: artefacts filtered and counted, the set saved in LlamaIndex's format and reused.

No real LLM: `chatty_llm` answers like a chat model that announces its questions, and
`llamaindex_lines` applies what llama-index's generate_question_context_pairs does to an answer
(strip "1." / "1)", drop empty lines, keep the first n), so the artefacts are the real ones. When
llama-index is installed, the real path runs against a mock OpenAI-compatible server on 127.0.0.1.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest

from bench.pipeline import run
from bench.suites.rag import generate
from bench.suites.rag.generate import GenerationError, LlamaIndexGenerator, artefact_reason, filter_artefacts
from bench.suites.rag.qa import QASet, load_qa_json

ONLY_MINILM = ("suite.embeddings.bge-base=null", "suite.embeddings.jina-v2-base=null")


def chatty_llm(context: str, n: int) -> str:
    topic = context.split()[0].strip(".,")
    lines = [f"Here are {n} questions based on the context:", ""]
    lines += [f"{i}. What does the text say about {topic} (part {i})?" for i in range(1, n + 1)]
    return "\n".join(lines)


def llamaindex_lines(answer: str, n: int) -> list[str]:
    """generate_question_context_pairs' own processing of one answer (llama-index-core 0.10-0.12)."""
    questions = [re.sub(r"^\d+[\).\s]", "", line).strip() for line in answer.strip().split("\n")]
    return [q for q in questions if q][:n]


def fake_call(self, chunks, *, questions_per_chunk):
    fake_call.calls += 1
    queries, relevant = {}, {}
    for cid, text in chunks.items():
        for i, question in enumerate(llamaindex_lines(chatty_llm(text, questions_per_chunk), questions_per_chunk)):
            queries[f"{cid}-q{i}"] = question
            relevant[f"{cid}-q{i}"] = [cid]
    return QASet("generated", queries, dict(chunks), relevant)


fake_call.calls = 0


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "cats.md").write_text("Cats purr when they are content. Cats also sleep for most of the day.")
    (folder / "dogs.txt").write_text("Dogs bark at strangers. Dogs were domesticated thousands of years ago.")
    (folder / "blank.txt").write_text("\n")
    return folder


def test_artefact_reasons():
    assert artefact_reason("Here are 2 questions based on the context:") == "preamble"
    assert artefact_reason("Here are two questions:") == "preamble"
    assert artefact_reason("Sure! Below are the questions.") == "preamble"
    assert artefact_reason("**Questions:**") == "label"
    assert artefact_reason("Quiz questions for section 2:") == "heading"
    assert artefact_reason("2.") == "empty"
    assert artefact_reason("These questions cover the main points.") == "closing_remark"
    assert artefact_reason("What port does the broker listen on?") is None
    assert artefact_reason("Explain how the quorum is formed.") is None


def test_filter_counts_and_cleans():
    raw = QASet("g", {
        "a": "Here are 2 questions based on the context:", "b": "1. What is a cat?", "c": "What is a cat?",
        "d": "**Question 2:** Why do cats purr?", "e": "", "f": "What is a dog?",
    }, {"c1": "Cats.", "c2": "Dogs."}, {"a": ["c1"], "b": ["c1"], "c": ["c1"], "d": ["c1"], "e": ["c2"], "f": ["c2"]})
    kept, report = filter_artefacts(raw)
    assert kept.queries == {"b": "What is a cat?", "d": "Why do cats purr?", "f": "What is a dog?"}
    assert kept.relevant_docs == {"b": ["c1"], "d": ["c1"], "f": ["c2"]}
    assert report["removed_by_reason"] == {"preamble": 1, "duplicate": 1, "empty": 1}
    assert report["generated"] == 6 and report["kept"] == 3 and report["cleaned"] == 2


def test_documents_generate_filter_save_and_reuse(compose, docs, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(LlamaIndexGenerator, "__call__", fake_call)
    fake_call.calls = 0
    cfg = compose("suite=rag", "reranker=none", *ONLY_MINILM, "suite.source=documents", f"suite.path={docs}",
                  "suite.chunk_size=12", "suite.chunk_overlap=0")
    out = tmp_path / "first"
    run(cfg, out_dir=out)
    assert fake_call.calls == 1
    manifest = json.loads((out / "manifest.json").read_text())
    report = manifest["dataset"]["report"]
    assert report["documents"]["empty"] == ["blank.txt"]
    assert "no text in document blank.txt" in capsys.readouterr().out
    chunks = report["chunking"]["chunks"]
    assert chunks == 4  # one chunk per sentence: two sentences do not fit in 12 tokens
    artefacts = report["questions"]["artefacts"]
    # each chunk: llama-index kept "Here are 2 questions ..." and the first real question
    assert artefacts == {**artefacts, "generated": 2 * chunks, "kept": chunks, "removed": chunks,
                         "removed_by_reason": {"preamble": chunks}}
    saved = Path(report["questions"]["saved_to"])
    assert saved.is_file() and saved.with_suffix(".raw.json").is_file()
    qa = load_qa_json(saved)
    assert len(qa.queries) == chunks and all(q.startswith("What does the text say") for q in qa.queries.values())
    assert json.loads((out / "qa_dataset.json").read_text())["queries"] == qa.queries
    assert set(pd.read_csv(out / "metrics.csv")["dataset"]) == {"docs"}

    second = tmp_path / "second"
    run(cfg, out_dir=second)
    assert fake_call.calls == 1  # the saved set was reused
    again = json.loads((second / "manifest.json").read_text())["dataset"]["report"]["questions"]
    assert again == {"loaded_from": str(saved), "generated_earlier": True}


def test_questions_file_is_written_then_read_and_checked(compose, docs, tmp_path, monkeypatch):
    monkeypatch.setattr(LlamaIndexGenerator, "__call__", fake_call)
    questions = tmp_path / "my-qa.json"
    base = ("suite=rag", "reranker=none", *ONLY_MINILM, "suite.source=documents", f"suite.path={docs}",
            f"suite.questions={questions}", "suite.chunk_overlap=0")
    run(compose(*base, "suite.chunk_size=12"), out_dir=tmp_path / "a")
    assert questions.is_file()
    calls = fake_call.calls
    out = tmp_path / "b"
    run(compose(*base, "suite.chunk_size=12"), out_dir=out)
    assert fake_call.calls == calls
    assert json.loads((out / "manifest.json").read_text())["dataset"]["report"]["questions"] == {
        "loaded_from": str(questions)}
    from bench.suites.rag.qa import QADatasetError

    with pytest.raises(QADatasetError, match="was made from other chunks.*cats.md#0"):
        run(compose(*base, "suite.chunk_size=512"), out_dir=tmp_path / "c")


def test_generation_needs_llamaindex_or_a_key(monkeypatch):
    generator = LlamaIndexGenerator(model="gpt-3.5-turbo", api_base="https://api.openai.com/v1")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    try:
        import llama_index.llms.openai_like  # noqa: F401
    except ImportError:
        with pytest.raises(GenerationError, match=r"pip install 'bench\[llm\]'"):
            generator({"c1": "Text."}, questions_per_chunk=2)
        return
    with pytest.raises(GenerationError, match=r"needs an API key in \$OPENAI_API_KEY"):
        generator({"c1": "Text."}, questions_per_chunk=2)


# ------------------------------------------------------------------------------------------------
# The real llama-index path, against a mock OpenAI-compatible server.


class ChatServer(BaseHTTPRequestHandler):
    requests: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        ChatServer.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        prompt = body["messages"][-1]["content"]
        context = prompt.split("---------------------")[1].strip()
        answer = chatty_llm(context, 2)
        payload = {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                   "choices": [{"index": 0, "finish_reason": "stop",
                                "message": {"role": "assistant", "content": answer}}],
                   "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def chat_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), ChatServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    ChatServer.requests = []
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_llamaindex_generation_against_a_mock_openai_server(chat_server, monkeypatch):
    pytest.importorskip("llama_index.llms.openai_like")
    try:
        generate._generator_function()
    except GenerationError as exc:
        pytest.skip(str(exc))
    monkeypatch.setenv("TEST_LLM_KEY", "sk-test")
    generator = LlamaIndexGenerator(model="local-model", api_base=chat_server, api_key_env="TEST_LLM_KEY",
                                    max_retries=0)
    raw = generator({"c1": "Ferries cross the harbour.", "c2": "Brokers store messages."}, questions_per_chunk=2)
    assert len(ChatServer.requests) == 2
    assert ChatServer.requests[0]["path"] == "/v1/chat/completions"
    assert ChatServer.requests[0]["auth"] == "Bearer sk-test"
    assert len(raw.queries) == 4 and set(raw.corpus) == {"c1", "c2"}
    kept, report = filter_artefacts(raw)
    assert report["removed_by_reason"] == {"preamble": 2}
    assert sorted(kept.queries.values()) == ["What does the text say about Brokers (part 1)?",
                                             "What does the text say about Ferries (part 1)?"]
