"""HTTP exchanges bounded as a whole: `Deadline`, shared by every client that talks to a web API.

A socket timeout only bounds each wait on the socket, so a server that announces a long body and
sends one byte a second never lets it run out and holds a study forever. A `Deadline` bounds one
attempt as a whole (connect, any proxy tunnel and TLS handshake, send, and the complete answer): when
the time is up a timer shuts the attempt's sockets down, which ends any read in progress, and `expired`
tells the caller why the read failed. Its opener also refuses redirects, so an Authorization header
only ever goes to the address it was meant for. The rerank API (bench.rerank.api) and the RAG
suite's API embedder use it.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import urllib.request
from collections.abc import Callable
from functools import partial
from typing import Any


class Deadline:
    """One attempt's time limit over connect, send and the whole answer; use as a context manager.

        deadline = Deadline(30.0)
        try:
            with deadline, deadline.opener().open(request, timeout=30.0) as response:
                body = response.read()
        except (OSError, http.client.HTTPException):
            if deadline.expired: ...  # whatever the shut-down socket raised, the cause is the deadline

    Read an error status's body inside the `with` block too: it can drip as slowly as an answer.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def opener(self) -> urllib.request.OpenerDirector:
        """Proxies from the environment as usual, redirects refused, every connection watched."""
        return urllib.request.build_opener(NoRedirects(), _WatchedHTTPHandler(self), _WatchedHTTPSHandler(self))

    def watch(self, sock: socket.socket) -> None:
        """Shut `sock` down when the time is up (at once if it already is)."""
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


class NoRedirects(urllib.request.HTTPRedirectHandler):
    """urllib would follow a redirect with the Authorization header, to any host: refuse instead.

    The 3xx answer then arrives as an `urllib.error.HTTPError`, for the caller to report."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def _shut(sock: socket.socket) -> None:
    """Shut the connection down under any TLS layer (so a read in another thread returns at once)."""
    with contextlib.suppress(OSError):  # already closed
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Watched:
    """A connection whose sockets its attempt's `Deadline` watches from the moment each exists.

    The TCP socket is watched as soon as it is created, so a proxy's CONNECT tunnel and (over HTTPS)
    the TLS handshake are bounded too, not only what follows `connect()`."""

    deadline: Deadline

    def __init__(self, *args: Any, deadline: Deadline, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deadline = deadline
        self._create_connection = partial(_create_watched, self._create_connection, deadline)


def _create_watched(
    create: Callable[..., socket.socket], deadline: Deadline, *args: Any, **kwargs: Any
) -> socket.socket:
    """`create` (socket.create_connection), the new socket watched by `deadline` before anything is sent."""
    sock = create(*args, **kwargs)
    deadline.watch(sock)
    return sock


class _WatchedHTTPConnection(_Watched, http.client.HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, http.client.HTTPSConnection):
    """Wrapping for TLS detaches the TCP socket object (shutting it down then reaches nothing) before the
    handshake, so the TLS socket is handed to the deadline before its handshake starts."""

    def __init__(self, *args: Any, deadline: Deadline, **kwargs: Any) -> None:
        super().__init__(*args, deadline=deadline, **kwargs)
        self._context = _HandshakeWatched(self._context, deadline)


class _HandshakeWatched:
    """Stands in for an `ssl.SSLContext`: its `wrap_socket` shows the TLS socket to the deadline, then shakes hands."""

    def __init__(self, context: ssl.SSLContext, deadline: Deadline) -> None:
        self.context = context
        self.deadline = deadline

    def wrap_socket(self, sock: socket.socket, **kwargs: Any) -> ssl.SSLSocket:
        tls = self.context.wrap_socket(sock, **kwargs, do_handshake_on_connect=False)
        self.deadline.watch(tls)
        tls.do_handshake()
        return tls

    def __getattr__(self, name: str) -> Any:
        return getattr(self.context, name)


class _WatchedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline: Deadline) -> None:
        super().__init__()
        self.deadline = deadline

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(partial(_WatchedHTTPConnection, deadline=self.deadline), req)


class _WatchedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline: Deadline) -> None:
        super().__init__()
        self.deadline = deadline

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(partial(_WatchedHTTPSConnection, deadline=self.deadline), req, context=self._context)
