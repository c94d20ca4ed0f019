"""ApiEmbedder against a misbehaving local server: a total deadline, refused redirects, unusable answers.

The server listens on 127.0.0.1 and misbehaves as the request's model name says:

    drip        200 announcing Content-Length 100000, then one byte every 50 ms (a socket timeout never fires)
    drip_error  the same with status 500: the error body is read within the deadline too
    redirect    302 to /elsewhere (urllib would follow it with the Authorization header)
    garbage     200 with bytes that are not JSON
    short       200 with one embedding fewer than the texts sent
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from bench.errors import InputError, ModelUnavailable
from bench.suites.rag.embedders import ApiEmbedder

KEY = "sk-drip-test-key"
DRIP_SECONDS = 0.05


class FaultyEmbeddings(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    stopping = threading.Event()
    paths: list[tuple[str, str | None]] = []

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        self._record()
        self._send(404, b'{"error": "not here"}')

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        self._record()
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        model = body["model"]
        if model in {"drip", "drip_error"}:
            return self._drip(200 if model == "drip" else 500)
        if model == "redirect":
            return self._send(302, b"{}", {"Location": "/elsewhere"})
        if model == "garbage":
            return self._send(200, b"\xff\xfe<html>")
        rows = [{"index": i, "embedding": [1.0, float(len(t))]} for i, t in enumerate(body["input"])]
        return self._send(200, json.dumps({"data": rows[:-1] if model == "short" else rows}).encode())

    def _record(self) -> None:
        FaultyEmbeddings.paths.append((self.path, self.headers.get("Authorization")))

    def _drip(self, status: int) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            while not FaultyEmbeddings.stopping.wait(DRIP_SECONDS):
                self.wfile.write(b" ")
                self.wfile.flush()
        except OSError:
            pass  # the client hung up: what its deadline does
        self.close_connection = True

    def _send(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def api_base(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("TEST_DRIP_KEY", KEY)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # never route the local server through a proxy
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    FaultyEmbeddings.stopping.clear()
    FaultyEmbeddings.paths = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FaultyEmbeddings)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    FaultyEmbeddings.stopping.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def embedder(api_base: str, model: str, **kwargs: object) -> ApiEmbedder:
    return ApiEmbedder(name="api", model=model, api_base=api_base, api_key_env="TEST_DRIP_KEY", **kwargs)


@pytest.mark.parametrize("model", ["drip", "drip_error"])
def test_a_dripping_server_is_cut_off_at_the_deadline(api_base, model):
    started = time.perf_counter()
    with pytest.raises(ModelUnavailable, match=r"no complete answer within 0\.5s") as caught:
        embedder(api_base, model, timeout=0.5).encode_documents(["heat transfer"])
    assert time.perf_counter() - started < 3.0  # one byte every 50 ms would go on for 5000 s
    assert "suite.embeddings.api.timeout" in caught.value.fix and KEY not in str(caught.value)


def test_a_redirect_is_not_followed_so_the_key_stays_with_the_endpoint(api_base):
    with pytest.raises(ModelUnavailable, match="HTTP 302"):
        embedder(api_base, "redirect", timeout=5).encode_queries(["q"])
    assert [path for path, _ in FaultyEmbeddings.paths] == ["/v1/embeddings"]


@pytest.mark.parametrize(("model", "words"), [("garbage", "returned no embeddings"),
                                              ("short", "returned 1 embeddings for 2 texts")])
def test_an_unusable_answer_makes_the_model_unavailable(api_base, model, words):
    with pytest.raises(ModelUnavailable, match=words):
        embedder(api_base, model, timeout=5).encode_documents(["a", "bb"])


def test_a_good_answer_within_the_deadline_is_used(api_base):
    api = embedder(api_base, "ok", timeout=5, normalize=False)
    vectors = api.encode_documents(["a", "bbb"])
    np.testing.assert_array_equal(vectors, [[1.0, 1.0], [1.0, 3.0]])
    assert api.requests == 1 and FaultyEmbeddings.paths == [("/v1/embeddings", f"Bearer {KEY}")]


def test_the_timeout_must_be_positive():
    with pytest.raises(InputError, match="suite.embeddings.api.timeout"):
        ApiEmbedder(name="api", model="m", api_base="http://127.0.0.1:9", timeout=0)
