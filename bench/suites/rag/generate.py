"""Questions for chunks, written by an LLM through llama-index, with generation artefacts filtered out.

`LlamaIndexGenerator` calls llama-index's `generate_question_context_pairs` (llama-index-core
0.10-0.12; `llama_index.finetuning.generate_qa_embedding_pairs` in later releases) with an
OpenAI-compatible endpoint through `llama-index-llms-openai-like`. Both are the optional extra
`bench[llm]`; nothing else in bench imports them.

llama-index keeps the first `questions_per_chunk` non-empty lines of each answer after removing a
leading "1." or "1)", so a chatty answer turns into questions such as "Here are 2 questions based
on the context:". `filter_artefacts` removes those and counts each removal by reason; the LlamaIndex
blog filtered the same way ("Here are 2" / "Here are two").

Generated sets get random (uuid4) question ids, so they are saved and reused: a later run with the
same chunks and generator settings reads the saved file instead of asking the LLM again.
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Mapping
from typing import Any

from bench.suites.rag.qa import QASet

DEFAULT_API_BASE = "https://api.openai.com/v1"

#: Artefact reasons, in the order they are tested.
_NUMBERING = re.compile(
    r"^(?:[-*•]+(?=\s)|(?:q(?:uestion)?\s*)?\d*\s*[).:\-](?=[\s*_]|$)|q(?:uestion)?\s*\d+(?=[\s*_]|$)|\(\d+\))\s*",
    re.IGNORECASE,
)
_MARKUP = re.compile(r"^[*_`]+|[*_`]+$")
_PREAMBLE = re.compile(
    r"^(?:here(?:'s| is| are)|below (?:is|are)|sure\b|certainly\b|of course\b|okay\b|ok\b|"
    r"the following (?:are|is)|i (?:have|will|can)\b|as (?:a|an) (?:teacher|professor)\b)",
    re.IGNORECASE,
)
_CLOSING = re.compile(r"^(?:these questions|this question|i hope|note:|let me know|feel free)\b", re.IGNORECASE)
_LABEL_ONLY = re.compile(r"^(?:questions?|quiz(?:/examination)?|examination)\s*\d*\s*:?$", re.IGNORECASE)


class GenerationError(RuntimeError):
    """Questions cannot be generated (missing extra, missing key, endpoint error)."""


def clean_question(text: str) -> str:
    """A question without list markers ("1.", "Q2:", "-") and surrounding markdown emphasis."""
    previous = None
    while text != previous:
        previous = text
        text = _MARKUP.sub("", text.strip()).strip()
        text = _NUMBERING.sub("", text, count=1).strip()
    return text


def artefact_reason(question: str) -> str | None:
    """Why a generated line is not a question, or None when it is one."""
    cleaned = clean_question(question)
    if not cleaned:
        return "empty"
    if _LABEL_ONLY.match(cleaned):
        return "label"
    if _PREAMBLE.match(cleaned):
        return "preamble"
    if _CLOSING.match(cleaned) and not cleaned.endswith("?"):
        return "closing_remark"
    if cleaned.endswith(":") and "?" not in cleaned:
        return "heading"
    return None


def filter_artefacts(qa: QASet) -> tuple[QASet, dict[str, Any]]:
    """The QA set without artefact lines (cleaned of list markers), and what was removed.

    The report counts removals per reason, questions cleaned, exact duplicate questions for the
    same chunk, and chunks left with fewer questions than the others; a few examples of each.
    """
    counts: dict[str, int] = {}
    examples: dict[str, list[str]] = {}
    queries: dict[str, str] = {}
    relevant: dict[str, list[str]] = {}
    seen: set[tuple[str, tuple[str, ...]]] = set()
    cleaned_count = 0
    for qid, question in qa.queries.items():
        reason = artefact_reason(question)
        docs = tuple(qa.relevant_docs.get(qid, ()))
        cleaned = clean_question(question)
        if reason is None and (cleaned.lower(), docs) in seen:
            reason = "duplicate"
        if reason is not None:
            counts[reason] = counts.get(reason, 0) + 1
            bucket = examples.setdefault(reason, [])
            if len(bucket) < 5:
                bucket.append(question)
            continue
        seen.add((cleaned.lower(), docs))
        cleaned_count += cleaned != question
        queries[qid] = cleaned
        relevant[qid] = list(docs)
    report = {"generated": len(qa.queries), "kept": len(queries), "removed": sum(counts.values()),
              "removed_by_reason": counts, "cleaned": cleaned_count, "examples": examples}
    filtered = QASet(qa.name, queries, qa.corpus, relevant, qa.mode, qa.source,
                     {**qa.report, "artefacts": report})
    return filtered, report


class LlamaIndexGenerator:
    """`questions_per_chunk` questions per chunk from an OpenAI-compatible chat or completion endpoint.

    The key is read from the environment variable `api_key_env` (never from the config, so it does
    not land in manifests); `api_base` falls back to `$<api_base_env>`, then OpenAI's API. A local
    server (vLLM, Ollama, llama.cpp) needs no key: any non-OpenAI base without a key sends "none".
    """

    def __init__(
        self,
        *,
        model: str,
        api_base: str | None = None,
        api_base_env: str = "OPENAI_API_BASE",
        api_key_env: str = "OPENAI_API_KEY",
        is_chat_model: bool = True,
        temperature: float = 0.0,
        max_tokens: int = 512,
        context_window: int = 8192,
        timeout: float = 60.0,
        max_retries: int = 3,
        prompt: str | None = None,
    ) -> None:
        self.model = model
        self.api_base = api_base or os.environ.get(api_base_env) or DEFAULT_API_BASE
        self.api_key_env = api_key_env
        self.is_chat_model = is_chat_model
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.context_window = context_window
        self.timeout = timeout
        self.max_retries = max_retries
        self.prompt = prompt

    def identity(self) -> dict[str, Any]:
        """What changes the questions: part of the key of the saved set."""
        return {"model": self.model, "api_base": self.api_base, "chat": self.is_chat_model,
                "temperature": self.temperature, "max_tokens": self.max_tokens, "prompt": self.prompt}

    def info(self) -> dict[str, Any]:
        return {**self.identity(), "library": _llamaindex_version()}

    def __call__(self, chunks: Mapping[str, str], *, questions_per_chunk: int) -> QASet:
        generate = _generator_function()
        from llama_index.core.schema import TextNode

        nodes = [TextNode(id_=cid, text=text) for cid, text in chunks.items()]
        kwargs: dict[str, Any] = {"llm": self._llm(), "num_questions_per_chunk": questions_per_chunk}
        if self.prompt:
            kwargs["qa_generate_prompt_tmpl"] = self.prompt
        accepted = inspect.signature(generate).parameters
        if "verbose" in accepted:
            kwargs["verbose"] = False
        if "output_path" in accepted:  # the finetuning version saves as it goes; keep that out of the cwd
            import tempfile

            kwargs["output_path"] = os.path.join(tempfile.mkdtemp(prefix="bench-rag-"), "partial.json")
        try:
            dataset = generate(nodes, **kwargs)
        except Exception as exc:
            raise GenerationError(f"question generation with {self.model} at {self.api_base} failed: "
                                  f"{type(exc).__name__}: {exc}") from exc
        data = dataset.model_dump() if hasattr(dataset, "model_dump") else dataset.dict()
        corpus = dict(chunks)
        return QASet("generated", data["queries"], corpus,
                     {q: list(d) for q, d in data["relevant_docs"].items()}, data.get("mode", "text"))

    def _llm(self):
        try:
            from llama_index.llms.openai_like import OpenAILike
        except ImportError as exc:
            raise GenerationError(
                f"generating questions needs llama-index-llms-openai-like ({exc}): pip install 'bench[llm]'"
            ) from None
        key = os.environ.get(self.api_key_env)
        if not key:
            if self.api_base.rstrip("/") == DEFAULT_API_BASE:
                raise GenerationError(
                    f"generating questions with {self.api_base} needs an API key in ${self.api_key_env} "
                    "(or point suite.generate.api_base at a local OpenAI-compatible server)"
                )
            key = "none"
        return OpenAILike(model=self.model, api_base=self.api_base, api_key=key, is_chat_model=self.is_chat_model,
                          temperature=self.temperature, max_tokens=self.max_tokens,
                          context_window=self.context_window, timeout=self.timeout, max_retries=self.max_retries)


def _generator_function():
    """llama-index's question generator, wherever this release keeps it."""
    try:
        from llama_index.core.evaluation import generate_question_context_pairs

        return generate_question_context_pairs
    except ImportError:
        pass
    try:
        from llama_index.finetuning import generate_qa_embedding_pairs

        return generate_qa_embedding_pairs
    except ImportError:
        raise GenerationError(
            "generating questions needs llama-index: pip install 'bench[llm]' "
            "(llama-index-core<0.13 has generate_question_context_pairs; later releases need "
            "llama-index-finetuning), or give an existing QA file with suite.questions=PATH"
        ) from None


def _llamaindex_version() -> str | None:
    import importlib.metadata

    try:
        return importlib.metadata.version("llama-index-core")
    except importlib.metadata.PackageNotFoundError:
        return None
