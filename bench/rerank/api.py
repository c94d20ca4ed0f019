"""A reranker behind an HTTP API that speaks the common `/v1/rerank` shape (Jina; Cohere-compatible).

Request:  POST {"model", "query", "documents": [...], "top_n": len(documents), "return_documents": false}
          with `Authorization: Bearer <key>`.
Response: {"results": [{"index": i, "relevance_score": s}, ...]} in any order; scores are mapped
          back by index, and a response that does not score every document exactly once with a
          finite number is an error (scores are never filled in).

The key is read from an environment variable at request time and kept nowhere else: not on the
object, not in `info()`, not in any message. 408, 429, 5xx, timeouts and dropped connections are
retried with exponential backoff, honouring the server's Retry-After (capped at `max_backoff`), at
most `max_retries` times. Redirects are not followed, so the key only ever goes to `url`.

`timeout` bounds each attempt as a whole (connect, send, and the complete answer), not only each
wait on the socket: a server that announces a long body and sends one byte a second would
otherwise hold a study forever. When the time is up the attempt's socket is shut down
(`bench.http.Deadline`).

Every way the service can fail (no key, a refused key, exhausted retries, a redirect, an answer
that is not a complete ranking) raises `ModelUnavailable` (`RerankApiError` is one) with the reason
and the fix, so the pipeline skips this reranker and writes every other system's results. The
scoring step stores a shard's scores only after the reranker returned all of them, so the shard
that failed is never cached; shards finished before it are whole, verified answers and are reused
when the run is repeated.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import math
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from bench.errors import InputError, ModelUnavailable
from bench.http import Deadline

#: Statuses that mean "try again later": request timeout, rate limit, and every server error.
RETRYABLE_STATUSES = frozenset({408, 429}) | frozenset(range(500, 600))
#: Statuses that mean "this key may not use this service".
REFUSED_STATUSES = frozenset({401, 403})
#: How much of an error body goes into a message.
BODY_SNIPPET = 200


class RerankApiError(ModelUnavailable):
    """The service could not give a usable ranking (after any retries): the reranker is skipped."""


class _Retryable(Exception):
    """One failed attempt worth repeating; `delay` is the server's Retry-After, if it sent one."""

    def __init__(self, what: str, delay: float | None = None) -> None:
        super().__init__(what)
        self.what = what
        self.delay = delay


class _Unusable(Exception):
    """An answer that is not a complete ranking; `ApiReranker` turns it into a `RerankApiError`."""


class ApiReranker:
    """Score (query, document) pairs through a `/v1/rerank` HTTP endpoint."""

    def __init__(
        self,
        *,
        name: str,
        model: str,
        url: str,
        api_key_env: str,
        documents_per_request: int = 100,
        timeout: float = 60.0,
        max_retries: int = 5,
        backoff_base: float = 1.0,
        max_backoff: float = 60.0,
        top_n_field: bool = True,
        facts: dict[str, Any] | None = None,
    ) -> None:
        key = f"reranker.{name}"
        if documents_per_request < 1:
            raise InputError(f"{key}.documents_per_request must be at least 1, got {documents_per_request}")
        if urllib.parse.urlsplit(url).scheme not in {"http", "https"}:
            raise InputError(f"{key}.url must start with https:// (or http:// for a local server), got {url!r}")
        if max_retries < 0:
            raise InputError(f"{key}.max_retries must be 0 or more, got {max_retries}")
        if not timeout > 0:
            raise InputError(f"{key}.timeout must be a positive number of seconds, got {timeout}")
        self.name = name
        self.model = model
        self.url = url
        self.api_key_env = api_key_env
        self.documents_per_request = documents_per_request
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.max_backoff = max_backoff
        self.top_n_field = top_n_field
        self.facts = dict(facts or {})
        #: How to wait between attempts; tests replace it to run without waiting.
        self.sleep: Callable[[float], None] = time.sleep
        self.requests = 0
        self.retries = 0
        self.scored_pairs = 0
        self.total_tokens = 0

    # -- the Reranker protocol -------------------------------------------------------------

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """One score per pair, in input order; documents of one query go out in batches."""
        if not pairs:
            return []
        key = self._api_key()
        scores = [math.nan] * len(pairs)  # _parse only returns finite scores, so NaN means "not scored"
        for query, positions in group_by_query(pairs).items():
            for start in range(0, len(positions), self.documents_per_request):
                chunk = positions[start : start + self.documents_per_request]
                batch = self._rerank(key, query, [pairs[i][1] for i in chunk])
                for position, value in zip(chunk, batch, strict=True):
                    scores[position] = value
        missing = [i for i, s in enumerate(scores) if math.isnan(s)]
        if missing:  # cannot happen while every chunk is checked in _parse; never return a filled-in score
            raise self._unavailable(f"{self.url} gave no score for pair(s) {missing[:10]}",
                                    "report this as a bench bug: every answer is checked before it is used")
        self.scored_pairs += len(pairs)
        return scores

    def info(self) -> dict[str, object]:
        return {
            "kind": "api",
            "model": self.model,
            "url": self.url,
            "api_key_env": self.api_key_env,  # the variable's name only, never its value
            "documents_per_request": self.documents_per_request,
            "timeout": self.timeout,
            "max_retries": self.max_retries,
            "requests": self.requests,
            "retries": self.retries,
            "scored_pairs": self.scored_pairs,
            "total_tokens": self.total_tokens,
        }

    def __repr__(self) -> str:
        return f"ApiReranker(name={self.name!r}, model={self.model!r}, url={self.url!r})"

    # -- one request -----------------------------------------------------------------------

    def _api_key(self) -> str:
        key = os.environ.get(self.api_key_env, "").strip()
        if not key:
            raise ModelUnavailable(
                self.model,
                f"the API key variable {self.api_key_env} is not set",
                f"set {self.api_key_env} to an API key for {self.url}",
            )
        return key

    def _rerank(self, key: str, query: str, documents: list[str]) -> list[float]:
        body: dict[str, Any] = {"model": self.model, "query": query, "documents": documents}
        if self.top_n_field:
            body["top_n"] = len(documents)
        body["return_documents"] = False
        payload = json.dumps(body).encode("utf-8")
        for attempt in range(self.max_retries + 1):
            try:
                raw = self._post(key, payload)
            except _Retryable as failure:
                if attempt == self.max_retries:
                    raise self._unavailable(
                        f"{self.url}: gave up after {attempt + 1} attempt(s); last: {failure.what}",
                        f"check that {self.url} is up and reachable from here, or allow more with "
                        f"reranker.{self.name}.timeout (now {self.timeout:g}s per request) and "
                        f"reranker.{self.name}.max_retries (now {self.max_retries}); with cache=true the "
                        "shards scored before are reused when you rerun",
                    ) from None
                self.retries += 1
                self.sleep(self._delay(attempt, failure.delay))
                continue
            try:
                return self._parse(raw, len(documents))
            except _Unusable as problem:
                raise self._unavailable(
                    _redact(f"{self.url} sent an unusable answer: {problem}", key),
                    f"check that reranker.{self.name}.url points at a /v1/rerank service (Cohere or Jina "
                    f"shape) that serves model {self.model!r}",
                ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _unavailable(self, reason: str, fix: str) -> RerankApiError:
        return RerankApiError(self.model, reason, fix)

    def _post(self, key: str, payload: bytes) -> bytes:
        """One attempt, within `timeout` as a whole; a failure worth repeating is `_Retryable`."""
        request = urllib.request.Request(
            self.url,
            data=payload,
            method="POST",
            headers={
                "Authorization": f"Bearer {key}",
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": "bench-rerank/0.1",
            },
        )
        self.requests += 1
        deadline = Deadline(self.timeout)
        try:
            with deadline:
                return self._exchange(deadline, request, key)
        except Exception as error:
            if deadline.expired:  # whatever the shut-down socket raised, the cause is the deadline
                raise _Retryable(f"timed out: no complete answer within {self.timeout:g}s") from None
            if isinstance(error, OSError | http.client.HTTPException):  # URLError and TimeoutError are OSErrors
                reason = getattr(error, "reason", error)
                raise _Retryable(_redact(f"{type(error).__name__}: {reason}", key)) from None
            raise

    def _exchange(self, deadline: Deadline, request: urllib.request.Request, key: str) -> bytes:
        try:
            with deadline.opener().open(request, timeout=self.timeout) as response:
                return response.read()
        except urllib.error.HTTPError as error:
            raise self._refusal(error, key) from None

    def _refusal(self, error: urllib.error.HTTPError, key: str) -> Exception:
        """What an HTTP error status means for this reranker: skip it, or try again."""
        status = error.code
        if 300 <= status < 400:
            return self._unavailable(
                f"{self.url} answered HTTP {status} redirect to {error.headers.get('Location')!r}; redirects are "
                "not followed (the key would go with them)",
                f"set reranker.{self.name}.url to the final address",
            )
        if status in REFUSED_STATUSES:
            return ModelUnavailable(
                self.model,
                f"{self.url} refused the key in {self.api_key_env} (HTTP {status})",
                f"check that {self.api_key_env} holds a valid key with access to {self.model}",
            )
        if status in RETRYABLE_STATUSES:
            return _Retryable(f"HTTP {status}", retry_after(error.headers.get("Retry-After")))
        text = _redact(_read_quietly(error), key)[:BODY_SNIPPET]
        return self._unavailable(
            f"{self.url} answered HTTP {status}: {text}",
            f"check reranker.{self.name}.model ({self.model!r}) and what the service says above",
        )

    def _delay(self, attempt: int, server_delay: float | None) -> float:
        if server_delay is not None:
            return min(server_delay, self.max_backoff)
        return min(self.backoff_base * 2**attempt, self.max_backoff)

    def _parse(self, raw: bytes, count: int) -> list[float]:
        """Scores for documents 0..count-1 from a response body; anything unexpected is `_Unusable`."""
        data = _json_body(raw)
        results = data.get("results") if isinstance(data, dict) else None
        if not isinstance(results, list):
            raise _Unusable("the response has no 'results' list")
        scores = _scores_by_index(results, count)
        self.total_tokens += _total_tokens(data)
        return [scores[i] for i in range(count)]


def _json_body(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        snippet = raw[:80].decode("utf-8", "replace")
        raise _Unusable(f"the response is not JSON ({exc}); it starts {snippet!r}") from None


def _result(item: object, n: int) -> tuple[int, float]:
    """(index, score) of results[n]; a missing index or a score that is not a finite number is `_Unusable`."""
    index = item.get("index") if isinstance(item, dict) else None
    value = item.get("relevance_score") if isinstance(item, dict) else None
    if not isinstance(index, int) or isinstance(index, bool):
        raise _Unusable(f"results[{n}] has no integer 'index'")
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise _Unusable(f"results[{n}] has no finite 'relevance_score' ({value!r})")
    return index, float(value)


def _scores_by_index(results: list[object], count: int) -> dict[int, float]:
    """{index: score} covering 0..count-1 exactly once, or `_Unusable` naming what is wrong."""
    scores: dict[int, float] = {}
    duplicated: list[int] = []
    out_of_range: list[int] = []
    for n, item in enumerate(results):
        index, value = _result(item, n)
        if not 0 <= index < count:
            out_of_range.append(index)
        elif index in scores:
            duplicated.append(index)
        else:
            scores[index] = value
    problems = []
    if out_of_range:
        problems.append(f"indices out of range 0..{count - 1}: {out_of_range[:10]}")
    if duplicated:
        problems.append(f"duplicated indices: {sorted(set(duplicated))[:10]}")
    missing = [i for i in range(count) if i not in scores]
    if missing:
        problems.append(f"missing indices: {missing[:10]}" + (" …" if len(missing) > 10 else ""))
    if problems:
        raise _Unusable(f"sent {count} documents, got {len(results)} results; " + "; ".join(problems))
    return scores


def _total_tokens(data: dict[str, Any]) -> int:
    usage = data.get("usage")
    tokens = usage.get("total_tokens") if isinstance(usage, dict) else None
    return tokens if isinstance(tokens, int) and not isinstance(tokens, bool) else 0


def group_by_query(pairs: Sequence[tuple[str, str]]) -> dict[str, list[int]]:
    """{query text: positions of its pairs}, queries in first-seen order."""
    groups: dict[str, list[int]] = {}
    for position, (query, _) in enumerate(pairs):
        groups.setdefault(query, []).append(position)
    return groups


def retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None if absent or bad."""
    if value is None or not value.strip():
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value.strip())
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _read_quietly(error: urllib.error.HTTPError) -> str:
    try:
        return error.read().decode("utf-8", "replace")
    except Exception:  # a body that cannot be read adds nothing to the message
        return ""


def _redact(text: str, key: str) -> str:
    return text.replace(key, "***") if key else text
