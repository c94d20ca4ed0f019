"""`Deadline` against a local TCP server that accepts and then stays silent.

The socket timeout is 30 s and the deadline 0.5 s: the attempt must end near the deadline while the
TLS handshake (an https:// URL) or a proxy's CONNECT tunnel waits for bytes that never come.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from bench.http import Deadline

SOCKET_TIMEOUT = 30.0
DEADLINE = 0.5


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A 127.0.0.1 port that accepts connections, reads what comes, and never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except (TimeoutError, OSError):
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(timeout=5)
    for conn in accepted:
        conn.close()
    listener.close()


def attempt(url: str) -> tuple[Deadline, float]:
    """One request under a `DEADLINE` deadline; the seconds it took until it failed."""
    deadline = Deadline(DEADLINE)
    started = time.perf_counter()
    opener = deadline.opener()
    failed = (OSError, http.client.HTTPException)  # whatever the shut-down socket raised
    with pytest.raises(failed), deadline, opener.open(url, timeout=SOCKET_TIMEOUT) as answer:
        answer.read()
    return deadline, time.perf_counter() - started


def test_a_silent_tls_handshake_is_cut_off_at_the_deadline(silent_port, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # straight to the silent server
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    deadline, seconds = attempt(f"https://127.0.0.1:{silent_port}/v1/rerank")
    assert deadline.expired
    assert seconds < 2.0  # the socket timeout alone would wait 30 s for the server's hello


def test_a_silent_proxy_tunnel_is_cut_off_at_the_deadline(silent_port, monkeypatch):
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{silent_port}")  # it never answers CONNECT
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{silent_port}")
    deadline, seconds = attempt("https://rerank.invalid/v1/rerank")
    assert deadline.expired
    assert seconds < 2.0
