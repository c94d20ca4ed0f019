"""The embedding models that retrieve the top 10 chunks: three backends of `bench.models.sentence.Embedder`.

    SentenceTransformerEmbedder   any sentence-transformers model (bench.models.sentence: offline copies too)
    JinaBertEmbedder              jina-embeddings-v2 through bench's native JinaBERT (no remote code)
    ApiEmbedder                   an OpenAI-compatible /v1/embeddings endpoint, key from the environment

The suite searches with each through the dense first stage (`bench.first_stage.dense.Dense(encoder=...)`),
whose embedding store is keyed by `identity()`. Models load on first use; one that cannot be had
raises `ModelUnavailable` (reason and fix), so the suite skips that embedding model and runs the others.
"""

from __future__ import annotations

import http.client
import json
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.errors import InputError, ModelUnavailable
from bench.http import Deadline
from bench.models.hub import resolve
from bench.models.runtime import pick_device, pick_dtype
from bench.models.sentence import SentenceEncoder

if TYPE_CHECKING:
    from bench.models.jinabert import JinaBertSentenceEncoder


class SentenceTransformerEmbedder:
    """A sentence-transformers bi-encoder; `query_prefix` / `document_prefix` are prepended (BGE, E5)."""

    def __init__(
        self,
        *,
        name: str,
        model: str,
        revision: str | None = None,
        query_prefix: str = "",
        document_prefix: str = "",
        batch_size: int = 64,
        normalize: bool = True,
        device: str = "auto",
        facts: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.encoder = SentenceEncoder(model, revision=revision, device=device, batch_size=batch_size,
                                       normalize=normalize)
        self.query_prefix = query_prefix
        self.document_prefix = document_prefix
        self.facts = dict(facts or {})

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.encoder.encode(texts, prefix=self.query_prefix)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self.encoder.encode(texts, prefix=self.document_prefix)

    def identity(self) -> dict[str, Any]:
        return {"kind": "sentence_transformers", **self.encoder.identity(), "query_prefix": self.query_prefix,
                "document_prefix": self.document_prefix}

    def info(self) -> dict[str, Any]:
        return {**self.identity(), "facts": self.facts}


class JinaBertEmbedder:
    """jina-embeddings-v2 (mean pooling) through `bench.models.jinabert.JinaBertSentenceEncoder`."""

    def __init__(
        self,
        *,
        name: str,
        model: str,
        revision: str | None = None,
        max_length: int | None = None,
        batch_size: int = 32,
        normalize: bool = True,
        device: str = "auto",
        dtype: str = "float32",
        facts: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.model = model
        self.revision = revision
        self.max_length = max_length
        self.batch_size = batch_size
        self.normalize = normalize
        self.device_name = device
        self.dtype_name = dtype
        self.facts = dict(facts or {})
        self.source: str | None = None
        self._encoder: JinaBertSentenceEncoder | None = None

    def load(self) -> JinaBertSentenceEncoder:
        """The encoder, loaded (once) on the first call; `source` then says where its files came from."""
        if self._encoder is None:
            from bench.models.jinabert import JinaBertSentenceEncoder  # torch and transformers: on first use

            where = resolve(self.model, revision=self.revision)
            device = pick_device(self.device_name)
            self._encoder = JinaBertSentenceEncoder.from_pretrained(
                where.path, torch_dtype=pick_dtype(self.dtype_name, device), device=device, max_length=self.max_length
            )
            self.source = where.source
        return self._encoder

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        encoder = self.load()
        if not texts:
            return np.zeros((0, encoder.model.config.hidden_size), dtype=np.float32)
        return encoder.encode(list(texts), batch_size=self.batch_size, normalize=self.normalize)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts)

    def identity(self) -> dict[str, Any]:
        encoder = self.load()
        return {"kind": "jinabert", "model": self.model, "revision": self.revision, "source": self.source,
                "max_length": encoder.max_length, "normalize": self.normalize, "dtype": self.dtype_name}

    def info(self) -> dict[str, Any]:
        return {**self.identity(), "facts": self.facts}


class ApiEmbedder:
    """POST {api_base}/embeddings with {"model", "input"}; the key comes from `$<api_key_env>`.

    `api_base` falls back to `$<api_base_env>`, then OpenAI's API. A missing key, an unreachable
    endpoint, an HTTP error or an unusable answer makes the model unavailable (skipped with the reason).
    `timeout` bounds each request as a whole (connect, send and the complete answer; `bench.http.Deadline`),
    so a server that sends one byte a second cannot hold the suite. Redirects are not followed (the
    key would go with them).
    """

    def __init__(
        self,
        *,
        name: str,
        model: str,
        api_base: str | None = None,
        api_base_env: str = "OPENAI_API_BASE",
        api_key_env: str = "OPENAI_API_KEY",
        dimensions: int | None = None,
        batch_size: int = 64,
        normalize: bool = True,
        timeout: float = 60.0,
        facts: dict[str, Any] | None = None,
    ) -> None:
        if not timeout > 0:
            raise InputError(f"suite.embeddings.{name}.timeout must be a positive number of seconds, got {timeout}")
        self.name = name
        self.model = model
        self.api_base = (api_base or os.environ.get(api_base_env) or "https://api.openai.com/v1").rstrip("/")
        self.api_key_env = api_key_env
        self.dimensions = dimensions
        self.batch_size = batch_size
        self.normalize = normalize
        self.timeout = timeout
        self.facts = dict(facts or {})
        self.requests = 0

    def _key(self) -> str:
        key = os.environ.get(self.api_key_env)
        if not key:
            raise ModelUnavailable(self.model, f"the environment variable {self.api_key_env} is not set",
                                   f"export {self.api_key_env}=... for {self.api_base}")
        return key

    def _post(self, texts: list[str]) -> np.ndarray:
        body: dict[str, Any] = {"model": self.model, "input": texts}
        if self.dimensions:
            body["dimensions"] = self.dimensions
        key = self._key()
        request = urllib.request.Request(
            f"{self.api_base}/embeddings", data=json.dumps(body).encode("utf-8"), method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
        )
        raw = self._exchange(request, key)
        self.requests += 1
        return self._vectors(raw, len(texts))

    def _exchange(self, request: urllib.request.Request, key: str) -> bytes:
        """The answer's body, read whole within `timeout`; every failure is `ModelUnavailable`."""
        deadline = Deadline(self.timeout)
        try:
            with deadline:
                return self._read(deadline, request, key)
        except (OSError, http.client.HTTPException) as exc:  # URLError and TimeoutError are OSErrors
            if deadline.expired:  # whatever the shut-down socket raised, the cause is the deadline
                raise ModelUnavailable(self.model, f"{self.api_base} sent no complete answer within "
                                       f"{self.timeout:g}s", f"check the endpoint, or allow more with "
                                       f"suite.embeddings.{self.name}.timeout") from None
            reason = str(getattr(exc, "reason", exc)).replace(key, "***")
            raise ModelUnavailable(self.model, f"{self.api_base} cannot be reached ({type(exc).__name__}: {reason})",
                                   f"check the endpoint (suite.embeddings.{self.name}.api_base) and the network"
                                   ) from None

    def _read(self, deadline: Deadline, request: urllib.request.Request, key: str) -> bytes:
        try:
            with deadline.opener().open(request, timeout=self.timeout) as response:
                return response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:200].replace(key, "***")  # still within the deadline
            raise ModelUnavailable(self.model, f"{self.api_base} answered HTTP {exc.code}: {detail}",
                                   "check the model name, key and endpoint") from None

    def _vectors(self, raw: bytes, count: int) -> np.ndarray:
        """One row per text from an OpenAI-shaped answer (rows by `index`), or `ModelUnavailable`."""
        try:
            rows = sorted(json.loads(raw)["data"], key=lambda item: item["index"])
            vectors = np.asarray([row["embedding"] for row in rows], dtype=np.float32)
        except (KeyError, TypeError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise ModelUnavailable(self.model, f"{self.api_base} returned no embeddings ({exc!r})",
                                   "check that the endpoint speaks the OpenAI embeddings API") from None
        if vectors.ndim != 2 or vectors.shape[0] != count:
            raise ModelUnavailable(self.model, f"{self.api_base} returned {vectors.shape[0] if vectors.ndim else 0} "
                                   f"embeddings for {count} texts", "check the endpoint")
        return vectors

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        parts = [self._post(list(texts[i : i + self.batch_size])) for i in range(0, len(texts), self.batch_size)]
        if not parts:
            return np.zeros((0, self.dimensions or 0), dtype=np.float32)
        vectors = np.concatenate(parts)
        if self.normalize:
            vectors /= np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)
        return vectors

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts)

    def identity(self) -> dict[str, Any]:
        return {"kind": "api", "model": self.model, "api_base": self.api_base, "dimensions": self.dimensions,
                "normalize": self.normalize}

    def info(self) -> dict[str, Any]:
        return {**self.identity(), "requests": self.requests, "facts": self.facts}
