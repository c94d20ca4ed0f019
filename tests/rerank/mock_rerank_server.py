"""A local stand-in for a `/v1/rerank` service (Jina / Cohere shape), for tests of ApiReranker.

It listens on 127.0.0.1 (port 0: the OS picks a free one), checks `Authorization: Bearer <key>`,
records every request, scores each document with `expected_score` and returns the results
shuffled, so a client that ignores `index` gets the wrong order. Faults are queued with
`inject(...)`; each request takes the next queued fault, and answers normally when none is left:

    "ok"             a normal answer (to queue a fault behind good answers)

    "429"            429 Too Many Requests with Retry-After: <retry_after>
    "500", "503"     that status, no Retry-After
    "401", "403"     that status (whatever key was sent)
    "400"            400 whose body echoes the request's Authorization header (a careless server)
    "redirect"       302 to /elsewhere on the same server (urllib would follow it as a GET)
    "slow"           a normal answer, sent only after `slow_seconds`
    "malformed"      200 with a body that is not JSON
    "no_results"     200 with JSON that has no "results"
    "missing_index"  one result left out
    "duplicate_index" the last result's index replaced by the first's
    "out_of_range"   one index set to len(documents)
    "extra_result"   one result too many
    "bad_score"      one relevance_score is a string
    "nan_score"      one relevance_score is NaN (json writes the bare word NaN, which json.loads reads)
    "garbage"        200 with bytes that are neither UTF-8 nor JSON
    "drip"           200 announcing Content-Length 100000, then one byte every `drip_seconds`, until the
                     client hangs up or the server stops (a socket timeout alone never fires)
"""

from __future__ import annotations

import json
import random
import threading
import zlib
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAULTS = frozenset({
    "ok", "429", "500", "503", "401", "403", "400", "slow", "malformed", "no_results", "missing_index",
    "duplicate_index", "out_of_range", "extra_result", "bad_score", "redirect", "nan_score", "garbage", "drip",
})


def expected_score(query: str, document: str) -> float:
    """The mock's relevance score: a stable pseudo-random number in [0, 1) per (query, document)."""
    return zlib.crc32(f"{query}\x00{document}".encode()) / 2**32


@dataclass
class Recorded:
    """One request as the server saw it, and the result order it answered with (if it did)."""

    path: str
    headers: dict[str, str]
    body: Any
    fault: str | None
    answered_order: list[int] = field(default_factory=list)


class MockRerankServer:
    """Use as a context manager; `url` is the endpoint to give ApiReranker."""

    def __init__(self, *, key: str, retry_after: str = "3", slow_seconds: float = 1.0, seed: int = 0,
                 drip_seconds: float = 0.2) -> None:
        self.key = key
        self.retry_after = retry_after
        self.slow_seconds = slow_seconds
        self.drip_seconds = drip_seconds
        self.requests: list[Recorded] = []
        self._faults: deque[str] = deque()
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.mock = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1/rerank"

    def inject(self, *faults: str) -> None:
        unknown = set(faults) - FAULTS
        if unknown:
            raise ValueError(f"unknown fault(s) {sorted(unknown)}; known: {sorted(FAULTS)}")
        with self._lock:
            self._faults.extend(faults)

    @property
    def pending_faults(self) -> int:
        with self._lock:
            return len(self._faults)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self.requests.clear()

    def __enter__(self) -> MockRerankServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()  # wakes any handler sleeping in a "slow" fault
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- called from the handler thread ---------------------------------------------------------

    def _next_fault(self) -> str | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def _record(self, entry: Recorded) -> None:
        with self._lock:
            self.requests.append(entry)

    def _shuffled(self, n: int) -> list[int]:
        with self._lock:
            order = list(range(n))
            self._random.shuffle(order)
            if n > 1 and order == sorted(order):
                order.reverse()  # always out of order, so mapping by index is really tested
            return order


class _Handler(BaseHTTPRequestHandler):
    server_version = "MockRerank/1.0"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output clean (and never print the Authorization header)

    def do_GET(self) -> None:
        """Only a followed redirect arrives here: record it (headers included) and answer 404."""
        mock: MockRerankServer = self.server.mock  # type: ignore[attr-defined]
        mock._record(Recorded(self.path, dict(self.headers.items()), None, None))
        self._send(404, {"detail": "not here"})

    def do_POST(self) -> None:
        mock: MockRerankServer = self.server.mock  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = _json_or_none(self.rfile.read(length))
        fault = mock._next_fault()
        entry = Recorded(self.path, dict(self.headers.items()), body, fault)
        mock._record(entry)
        refusal = self._refusal(fault, mock)
        if refusal:
            return self._send(*refusal)
        problem = _check_body(body)
        if problem:
            return self._send(400, {"detail": problem})
        if fault == "slow" and mock._stopping.wait(mock.slow_seconds):
            return None
        if fault in RAW_ANSWERS:
            return self._send_raw(200, RAW_ANSWERS[fault])
        if fault == "no_results":
            return self._send(200, {"detail": "ok"})
        if fault == "drip":
            return self._drip(mock)
        return self._answer(mock, entry, body, fault)

    def _refusal(self, fault: str | None, mock: MockRerankServer) -> tuple[int, Any, dict[str, str] | None] | None:
        """(status, payload, headers) of an answer that refuses the request before reading it, or None."""
        if fault in {"401", "403"}:
            return int(fault), {"detail": "Unauthorized"}, None
        if self.headers.get("Authorization") != f"Bearer {mock.key}":
            return 401, {"detail": "Invalid API key"}, None
        refusals: dict[str, tuple[int, Any, dict[str, str] | None]] = {
            "429": (429, {"detail": "rate limited"}, {"Retry-After": mock.retry_after}),
            "500": (500, {"detail": "server error"}, None),
            "503": (503, {"detail": "server error"}, None),
            "redirect": (302, {"detail": "moved"}, {"Location": "/elsewhere"}),
            "400": (400, {"detail": f"bad request from {self.headers.get('Authorization')}"}, None),
        }
        return refusals.get(fault or "")

    def _answer(self, mock: MockRerankServer, entry: Recorded, body: dict[str, Any], fault: str | None) -> None:
        """Every document scored, in a shuffled order, then spoilt as `fault` says."""
        query, documents = body["query"], body["documents"]
        results: list[dict[str, Any]] = [
            {"index": i, "relevance_score": expected_score(query, documents[i])}
            for i in mock._shuffled(len(documents))
        ]
        _spoil(results, fault, len(documents))
        entry.answered_order = [r["index"] for r in results]
        tokens = sum(len(d.split()) for d in documents) + len(query.split()) * len(documents)
        self._send(200, {"model": body["model"], "usage": {"total_tokens": tokens}, "results": results})

    def _drip(self, mock: MockRerankServer) -> None:
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            while not mock._stopping.wait(mock.drip_seconds):
                self.wfile.write(b" ")
        except OSError:
            pass  # the client hung up: what a deadline does
        self.close_connection = True

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send_raw(status, json.dumps(payload).encode(), headers)

    def _send_raw(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test); nothing to answer


#: faults answered with these bytes (status 200) instead of a JSON answer
RAW_ANSWERS = {
    "malformed": b'{"results": [{"index": 0, "relevance_score": 0.5}',
    "garbage": b"\xff\xfe\x00garbage\x80",
}


def _json_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return None


def _spoil(results: list[dict[str, Any]], fault: str | None, count: int) -> None:
    """Break a correct answer the way `fault` names (in place); no fault, or another one: leave it."""
    if fault == "missing_index":
        results.pop()
    elif fault == "duplicate_index":
        results[-1]["index"] = results[0]["index"]
    elif fault == "out_of_range":
        results[-1]["index"] = count
    elif fault == "extra_result":
        results.append(dict(results[0]))
    elif fault == "bad_score":
        results[0]["relevance_score"] = "high"
    elif fault == "nan_score":
        results[0]["relevance_score"] = float("nan")


def _check_body(body: Any) -> str | None:
    """What is wrong with a request body, as a real service would say it (None: nothing)."""
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    if not isinstance(body.get("model"), str) or not isinstance(body.get("query"), str):
        return "model and query must be strings"
    documents = body.get("documents")
    if not isinstance(documents, list) or not documents or not all(isinstance(d, str) for d in documents):
        return "documents must be a non-empty list of strings"
    if "top_n" in body and body["top_n"] != len(documents):
        return f"this mock expects top_n == len(documents), got {body['top_n']}"
    return None
