"""Download a public BEIR zip into the cache, check it, and extract it so that it is whole or absent.

Layout under the cache directory:

    beir/<name>/                   the extracted top folder of <name>.zip, with MARKER inside
    beir/.<random>.zip.part        a download in progress (removed on success and on failure)
    beir/.<name>.extract-<random>/ an extraction in progress (removed on success and on failure)

The finished folder appears in one `os.replace`, after the checksum and every archive entry have
been checked and MARKER has been written into it, so a folder with MARKER is complete and is reused
without touching the network.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from http.client import HTTPResponse
from pathlib import Path
from typing import BinaryIO

from bench.console import progress, stage
from bench.data.beir import DatasetError

BEIR_BASE_URL = "https://public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets"
MARKER = ".bench-download.json"
CHUNK_BYTES = 1 << 20
HEX_LENGTH = {"md5": 32, "sha256": 64}
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class Fetched:
    """An extracted archive: its folder, where it came from, and how it was checked."""

    folder: Path
    url: str
    checksum: str


def fetch_beir(
    name: str,
    *,
    cache_dir: Path,
    base_url: str = BEIR_BASE_URL,
    expected: dict[str, str] | None = None,
    timeout: float = 60.0,
) -> Fetched:
    """`<cache_dir>/beir/<name>`, downloaded from `<base_url>/<name>.zip` unless already complete.

    `expected` maps "md5" / "sha256" to the published hex digest; empty means none is known, and
    the returned `checksum` says so.
    """
    check_name(name)
    expected = normalise_checksums(expected or {})
    url = f"{base_url.rstrip('/')}/{name}.zip"
    target = cache_dir / "beir" / name
    if target.exists():
        return reuse(target, url, expected)
    target.parent.mkdir(parents=True, exist_ok=True)
    archive, digests = download(url, target.parent, timeout=timeout)
    try:
        note = verify(url, digests, expected)
        extract(archive, url=url, target=target, digests=digests, expected=expected)
    finally:
        archive.unlink(missing_ok=True)
    return Fetched(target, url, note)


def check_name(name: str) -> None:
    if not _SAFE_NAME.fullmatch(name):
        raise DatasetError(f"{name!r} is not a BEIR dataset name (letters, digits, '.', '_', '-')")


def normalise_checksums(expected: dict[str, str]) -> dict[str, str]:
    clean: dict[str, str] = {}
    for algorithm, value in expected.items():
        if algorithm not in HEX_LENGTH:
            raise DatasetError(f"unknown checksum {algorithm!r}: use one of {', '.join(HEX_LENGTH)}")
        digest = str(value).strip().lower()
        if not re.fullmatch(f"[0-9a-f]{{{HEX_LENGTH[algorithm]}}}", digest):
            raise DatasetError(f"{algorithm} should be {HEX_LENGTH[algorithm]} hex digits, got {value!r}")
        clean[algorithm] = digest
    return clean


def reuse(target: Path, url: str, expected: dict[str, str]) -> Fetched:
    """A finished extraction, if its recorded archive digests agree with `expected`."""
    marker_path = target / MARKER
    if not marker_path.is_file():
        raise DatasetError(
            f"{target} exists but is not a finished download (no {MARKER}): remove it to download "
            f"again, or load it as it is with `dataset=local dataset.path={target}`"
        )
    recorded = json.loads(marker_path.read_text(encoding="utf-8"))
    for algorithm, digest in expected.items():
        if recorded.get(algorithm) != digest:
            raise DatasetError(
                f"{target} was extracted from an archive with {algorithm} {recorded.get(algorithm)}, "
                f"but {digest} is expected: remove {target} to download {url} again"
            )
    return Fetched(target, recorded.get("url", url), describe(expected, recorded))


def describe(expected: dict[str, str], digests: dict[str, str]) -> str:
    """The line for `LoadReport.checksum`."""
    if not expected:
        return f"no published checksum known: not verified (archive md5 {digests.get('md5')})"
    return f"{listed(expected)} verified"


def download(url: str, folder: Path, *, timeout: float) -> tuple[Path, dict[str, str]]:
    """Stream `url` into a hidden temporary file in `folder`; return it with its md5 and sha256."""
    request = urllib.request.Request(url, headers={"User-Agent": "bench (retrieval evaluation)"})
    handle, temp_name = tempfile.mkstemp(dir=folder, prefix=".", suffix=".zip.part")
    temp = Path(temp_name)
    try:
        with os.fdopen(handle, "wb") as out, open_url(request, timeout=timeout) as response:
            digests = stream(response, out, url)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp, digests


def open_url(request: urllib.request.Request, *, timeout: float) -> HTTPResponse:
    url = request.full_url
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        raise DatasetError(f"could not download {url}: HTTP {error.code} {error.reason}") from None
    except OSError as error:  # URLError, timeouts, refused connections
        reason = getattr(error, "reason", error)
        raise DatasetError(
            f"could not download {url}: {reason}. Offline? Load a copy already on disk with "
            f"`dataset=local dataset.path=/path/to/folder`"
        ) from None


def stream(response: HTTPResponse, out: BinaryIO, url: str) -> dict[str, str]:
    """Copy `response` to `out` in chunks, hashing as it goes and showing progress on stderr."""
    length = response.headers.get("Content-Length")
    total = int(length) if length and length.isdigit() else None
    md5, sha256 = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    received = 0
    stage("downloading %s (%s)", url, f"{total / 1e6:.1f} MB" if total else "size unknown")
    with progress(total=total, desc=f"download {url.rsplit('/', 1)[-1]}", unit="B", scale=True) as bar:
        try:
            while chunk := response.read(CHUNK_BYTES):
                out.write(chunk)
                md5.update(chunk)
                sha256.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        except OSError as error:  # timeouts and resets mid-transfer
            raise DatasetError(f"download of {url} failed after {received} bytes: {error}") from None
    if total is not None and received != total:
        raise DatasetError(f"download of {url} stopped early: received {received} of {total} bytes")
    return {"md5": md5.hexdigest(), "sha256": sha256.hexdigest()}


def verify(url: str, digests: dict[str, str], expected: dict[str, str]) -> str:
    for algorithm, digest in expected.items():
        if digests[algorithm] != digest:
            raise DatasetError(
                f"checksum mismatch for {url}: expected {algorithm} {digest}, got {digests[algorithm]}; "
                f"the download was removed"
            )
    if not expected:
        sys.stderr.write(f"warning: no published checksum known for {url}: not verified\n")
    return describe(expected, digests)


def extract(
    archive: Path, *, url: str, target: Path, digests: dict[str, str], expected: dict[str, str]
) -> None:
    """Extract `<name>/` from `archive` beside `target`, then move it into place in one step."""
    marker = {"url": url, **digests, "verified": sorted(expected), "downloaded_at": time.time()}
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.extract-"))
    try:
        with zipfile.ZipFile(archive) as zipped:
            check_entries(zipped, url)
            zipped.extractall(staging)
        inner = staging / target.name
        if not inner.is_dir():
            found = ", ".join(sorted(p.name for p in staging.iterdir())) or "nothing"
            raise DatasetError(f"{url} has no top folder {target.name}/ (found: {found})")
        (inner / MARKER).write_text(json.dumps(marker, indent=2), encoding="utf-8")
        publish(inner, target)
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise DatasetError(
            f"{url} is not a readable zip ({error}): expected {listed(expected)}, got md5 "
            f"{digests['md5']}; the download was removed"
        ) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def listed(expected: dict[str, str]) -> str:
    return ", ".join(f"{a} {d}" for a, d in sorted(expected.items())) or "no published checksum"


def check_entries(zipped: zipfile.ZipFile, url: str) -> None:
    """Refuse the whole archive if any entry could land outside the extraction folder."""
    for info in zipped.infolist():
        reason = unsafe_reason(info)
        if reason:
            raise DatasetError(f"{url}: archive entry {info.filename!r} {reason}; nothing was extracted")


def unsafe_reason(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "has an absolute path"
    if ".." in re.split(r"[\\/]", name):
        return "climbs out of the target folder with '..'"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "is a symbolic link"
    return None


def publish(inner: Path, target: Path) -> None:
    """Move the finished folder into place; if another process got there first, keep theirs."""
    try:
        os.replace(inner, target)
    except OSError:
        if not (target / MARKER).is_file():
            raise
