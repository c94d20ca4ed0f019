"""Model code bench owns, and where model files come from.

`jinabert` (with `alibi`) is JinaBERT without remote code: jina-reranker-v1 cross-encoders and
jina-embeddings-v2 encoders. `sentence` is the one sentence-transformers wrapper and the Embedder
protocol dense search takes; `onnx_export` writes verified ONNX graphs of bench's cross-encoders;
`hub` says where every model's files come from; `runtime` spells devices and dtypes. JinaBERT's
public names are re-exported here lazily, so that importing a light sibling module (such as `bench.models.hub`)
does not pull in torch and transformers.
"""

from __future__ import annotations

from typing import Any

_JINABERT = (
    "CheckpointError",
    "JinaBertConfig",
    "JinaBertForSequenceClassification",
    "JinaBertModel",
    "JinaBertSentenceEncoder",
    "is_jinabert_config",
)

__all__ = list(_JINABERT)


def __getattr__(name: str) -> Any:
    if name in _JINABERT:
        from bench.models import jinabert

        return getattr(jinabert, name)
    raise AttributeError(f"module 'bench.models' has no attribute {name!r}")
