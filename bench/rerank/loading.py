"""Turn a model folder into (model, tokenizer): native JinaBERT for JinaBERT checkpoints,
transformers' AutoModelForSequenceClassification for everything else.

`trust_remote_code` stays off unless a config opts in; safetensors are required unless
`allow_pickle` is set, because a pickled checkpoint can run arbitrary code when loaded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from bench.errors import ModelUnavailable
from bench.models.hub import ResolvedModel


@dataclass
class LoadedCrossEncoder:
    model: torch.nn.Module
    tokenizer: object
    device: torch.device
    dtype: torch.dtype
    architecture: str
    source: ResolvedModel
    max_length: int | None
    load_seconds: float = 0.0
    extra: dict[str, object] = field(default_factory=dict)

    def describe(self) -> dict[str, object]:
        return {
            "architecture": self.architecture,
            "source": self.source.source,
            "revision": self.source.revision,
            "path": str(self.source.path),
            "device": str(self.device),
            "parameters": sum(p.numel() for p in self.model.parameters()),
            "load_seconds": round(self.load_seconds, 3),
        }


def read_config(path: Path) -> dict:
    config_file = path / "config.json"
    if not config_file.is_file():
        raise ModelUnavailable(str(path), f"{config_file} is missing", "point the model at a complete checkpoint")
    try:
        return json.loads(config_file.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{config_file}: not valid JSON ({exc})") from exc


def has_safetensors(path: Path) -> bool:
    return any(path.glob("*.safetensors"))


def load_cross_encoder(
    where: ResolvedModel,
    *,
    device: torch.device,
    dtype: torch.dtype,
    trust_remote_code: bool = False,
    allow_pickle: bool = False,
) -> LoadedCrossEncoder:
    from transformers import AutoTokenizer

    path = where.path
    config = read_config(path)
    if not has_safetensors(path) and not allow_pickle:
        raise ModelUnavailable(
            where.model,
            f"{path} has no *.safetensors weights (only pickled ones, which can run code when loaded)",
            "use a safetensors revision, or set allow_pickle: true in this reranker's config if you trust it",
        )
    if _is_jinabert(config):
        from bench.models.jinabert import JinaBertForSequenceClassification

        model = JinaBertForSequenceClassification.from_pretrained(
            str(path), torch_dtype=dtype, allow_pickle=allow_pickle
        )
        architecture = "jinabert"
    else:
        from transformers import AutoModelForSequenceClassification

        model = AutoModelForSequenceClassification.from_pretrained(
            str(path),
            dtype=dtype,
            trust_remote_code=trust_remote_code,
            use_safetensors=not allow_pickle or has_safetensors(path),
        )
        architecture = str(config.get("model_type", "unknown"))
    tokenizer = AutoTokenizer.from_pretrained(str(path), trust_remote_code=trust_remote_code)
    model.eval().to(device)
    return LoadedCrossEncoder(
        model=model,
        tokenizer=tokenizer,
        device=device,
        dtype=dtype,
        architecture=architecture,
        source=where,
        max_length=_max_length(config, tokenizer),
    )


def _is_jinabert(config: dict) -> bool:
    from bench.models.jinabert import is_jinabert_config

    return is_jinabert_config(config)


def _max_length(config: dict, tokenizer) -> int | None:
    """The longest input the model takes: tokenizer limit, else position embeddings (minus offsets)."""
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and 0 < limit < 1_000_000:
        return limit
    positions = config.get("max_position_embeddings")
    if config.get("position_embedding_type") == "alibi":
        return positions
    if isinstance(positions, int):
        return positions - 2 if config.get("model_type") in {"roberta", "xlm-roberta"} else positions
    return None
