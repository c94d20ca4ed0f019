"""Fixtures for the data tests: a local HTTP server and zips built from BEIR folders."""

from __future__ import annotations

import io
import threading
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest


@dataclass
class FileServer:
    """Serves bytes at paths on 127.0.0.1 and counts the requests per path."""

    base_url: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    #: paths whose body is cut in half while Content-Length still announces the whole file
    cut_short: set[str] = field(default_factory=set)
    hits: Counter[str] = field(default_factory=Counter)

    def add(self, name: str, body: bytes, *, cut_short: bool = False) -> str:
        self.files[f"/{name}"] = body
        if cut_short:
            self.cut_short.add(f"/{name}")
        return f"{self.base_url}/{name}"


def _handler(server: FileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            server.hits[self.path] += 1
            body = server.files.get(self.path)
            if body is None:
                self.send_error(404, "not here")
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/zip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2] if self.path in server.cut_short else body)
            self.close_connection = True

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def file_server() -> Iterator[FileServer]:
    served = FileServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(served))
    served.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield served
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def zip_folder(folder: Path, top: str, extra: dict[str, bytes] | None = None) -> bytes:
    """The bytes of a zip holding `folder` under `top/`, as BEIR's archives do, plus `extra` entries."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zipped:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zipped.write(path, f"{top}/{path.relative_to(folder).as_posix()}")
        for name, body in (extra or {}).items():
            zipped.writestr(name, body)
    return buffer.getvalue()


@pytest.fixture
def make_zip() -> Callable[..., bytes]:
    return zip_folder
