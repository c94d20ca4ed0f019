"""The embedding models that retrieve the top 10 chunks: one small Protocol, three backends.

    SentenceTransformerEmbedder   any sentence-transformers model (bench.models.sentence: offline copies too)
    JinaBertEmbedder              jina-embeddings-v2 through bench's native JinaBERT (no remote code)
    ApiEmbedder                   an OpenAI-compatible /v1/embeddings endpoint, key from the environment

Models load on first use; one that cannot be had raises `ModelUnavailable` (reason and fix), so the
suite skips that embedding model and runs the others.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from bench.errors import ModelUnavailable
from bench.models.hub import resolve
from bench.models.runtime import pick_device, pick_dtype
from bench.models.sentence import SentenceEncoder

if TYPE_CHECKING:
    from bench.models.jinabert import JinaBertSentenceEncoder


@runtime_checkable
class Embedder(Protocol):
    """Texts -> float32 rows; queries and documents may be encoded differently (prefixes)."""

    name: str

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray: ...

    def identity(self) -> dict[str, Any]:
        """Everything that changes the vectors (keys the embedding cache)."""
        ...

    def info(self) -> dict[str, Any]: ...


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
        self.encoder.load()  # the source is part of what the vectors depend on
        return {"kind": "sentence_transformers", **self.encoder.facts(), "query_prefix": self.query_prefix,
                "document_prefix": self.document_prefix, "normalize": self.encoder.normalize}

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
    endpoint or an HTTP error makes the model unavailable (skipped with the reason).
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
        request = urllib.request.Request(
            f"{self.api_base}/embeddings", data=json.dumps(body).encode("utf-8"), method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self._key()}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:200]
            raise ModelUnavailable(self.model, f"{self.api_base} answered HTTP {exc.code}: {detail}",
                                   "check the model name, key and endpoint") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise ModelUnavailable(self.model, f"{self.api_base} cannot be reached ({exc})",
                                   "check the endpoint (suite.embeddings.<name>.api_base) and the network") from None
        self.requests += 1
        try:
            rows = sorted(payload["data"], key=lambda item: item["index"])
            vectors = np.asarray([row["embedding"] for row in rows], dtype=np.float32)
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelUnavailable(self.model, f"{self.api_base} returned no embeddings ({exc!r})",
                                   "check that the endpoint speaks the OpenAI embeddings API") from None
        if vectors.shape[0] != len(texts):
            raise ModelUnavailable(self.model, f"{self.api_base} returned {vectors.shape[0]} embeddings for "
                                   f"{len(texts)} texts", "check the endpoint")
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
