"""JinaBERT in plain PyTorch: jina-reranker-v1-*-en cross-encoders and jina-embeddings-v2 encoders.

The published checkpoints ship their own modeling code, which does not import on transformers 5.x
and builds a [heads, 8192, 8192] ALiBi table at construction. This module reimplements the
architecture without remote code:

- embeddings LN(word + token_type), no position embeddings;
- post-LN layers: LN(dense(attention) + x), then a gated MLP LN(wo(act(h[:I]) * h[I:]) + x) with
  h = gated_layers(x), act = exact GELU (geglu) or ReLU (reglu);
- attention through scaled_dot_product_attention with a symmetric ALiBi bias (bench.models.alibi)
  built for the batch's length and added once per layer;
- pooler tanh(dense(h[:, 0])), classifier on the pooled output.

The cross-encoder offers bench's engine two faster ways to the same logits, as public methods:

- `forward_packed` runs the same weights on sequences packed end to end ([tokens, hidden], no
  padding): the projections and the feed-forward see only real tokens, each sequence attends to
  itself through a slice of one cached ALiBi table (no [batch, heads, L, L] padding mask is built),
  and the last layer can run for each sequence's first token alone. The engine uses it on CPU.
- `first_token_view()` is the model (same weights, not copied) with the last layer run for each
  sequence's first token alone (all the pooler reads), on padded batches like `forward`. The
  engine uses it on CUDA, and the ONNX export traces it.

Loading is our own (`from_pretrained` below): a checkpoint's config says model_type "bert", so going
through transformers' loaders would build a BertModel. We read config.json, build JinaBertConfig,
read safetensors and refuse any missing, unexpected or mis-shaped key, so a model never runs on
random weights. Files come through `bench.models.hub.resolve` (a folder, the hub cache, or the hub).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from huggingface_hub.dataclasses import strict
from safetensors import safe_open
from torch import nn
from transformers import PreTrainedConfig, PreTrainedModel
from transformers.modeling_outputs import BaseModelOutputWithPooling, SequenceClassifierOutput

from bench.models.alibi import AlibiCache, alibi_bias, mask_padding, with_padding
from bench.models.hub import resolve
from bench.models.views import module_view

FEED_FORWARD_TYPES = ("geglu", "reglu")
#: config.json keys written by the reference code that mean something else to transformers.
_REFERENCE_ONLY_KEYS = ("attn_implementation", "_name_or_path", "transformers_version", "auto_map")


def is_jinabert_config(config: Mapping[str, Any]) -> bool:
    """Whether a checkpoint's config.json describes a JinaBERT model (which transformers cannot load)."""
    if config.get("position_embedding_type") == "alibi" and config.get("feed_forward_type") in FEED_FORWARD_TYPES:
        return True
    names = [*(config.get("architectures") or []), *(config.get("auto_map") or {}).values()]
    return any("JinaBert" in str(name) for name in names)


@strict
class JinaBertConfig(PreTrainedConfig):
    """The keys of a jina-reranker-v1 / jina-embeddings-v2 config.json (defaults: jina-bert base)."""

    model_type = "bert"  # what the published checkpoints say; we never register it with AutoConfig

    vocab_size: int = 30528
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"  # informational: the activation follows feed_forward_type
    hidden_dropout_prob: float | int = 0.1
    attention_probs_dropout_prob: float | int = 0.0
    classifier_dropout: float | int | None = None
    max_position_embeddings: int = 8192  # ALiBi has no table: this only documents the trained range
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_token_id: int | None = 0
    position_embedding_type: str = "alibi"
    feed_forward_type: str = "geglu"
    emb_pooler: str | None = None

    def validate_architecture(self):
        """Part of `@strict`-powered validation."""
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) is not a multiple of num_attention_heads "
                f"({self.num_attention_heads})"
            )
        if self.position_embedding_type != "alibi":
            raise ValueError(f"position_embedding_type must be 'alibi', got {self.position_embedding_type!r}")
        if self.feed_forward_type not in FEED_FORWARD_TYPES:
            raise ValueError(f"feed_forward_type must be one of {FEED_FORWARD_TYPES}, got {self.feed_forward_type!r}")

    @classmethod
    def from_checkpoint_dict(cls, config: Mapping[str, Any], **overrides: Any) -> JinaBertConfig:
        """Build from a config.json as published, dropping the keys only the remote code understands."""
        kept = {key: value for key, value in config.items() if key not in _REFERENCE_ONLY_KEYS}
        return cls(**{**kept, **overrides})


class CheckpointError(ValueError):
    """A checkpoint does not hold exactly the weights the model needs."""


@dataclass(frozen=True)
class Packing:
    """Where each sequence of a packed [tokens, hidden] batch starts, and how long it is."""

    starts: tuple[int, ...]
    lengths: tuple[int, ...]
    first: torch.Tensor  # the starts as an index tensor: each sequence's first token

    @classmethod
    def from_cu_seqlens(cls, cu_seqlens: Sequence[int] | torch.Tensor, device: torch.device) -> Packing:
        """From cumulative lengths [0, l1, l1 + l2, ...] (flash-attention's varlen convention)."""
        bounds = [int(b) for b in (cu_seqlens.tolist() if isinstance(cu_seqlens, torch.Tensor) else cu_seqlens)]
        if len(bounds) < 2 or bounds[0] != 0 or any(b <= a for a, b in zip(bounds[:-1], bounds[1:], strict=True)):
            raise ValueError(f"cu_seqlens must start at 0 and increase strictly, got {bounds[:8]}...")
        starts = tuple(bounds[:-1])
        lengths = tuple(b - a for a, b in zip(bounds[:-1], bounds[1:], strict=True))
        return cls(starts, lengths, torch.tensor(starts, dtype=torch.long, device=device))

    @property
    def tokens(self) -> int:
        return self.starts[-1] + self.lengths[-1]


# ----------------------------------------------------------------------------------------------
# Modules. Attribute names follow the checkpoints' keys (bert.encoder.layer.N.attention.self.query).


class JinaBertEmbeddings(nn.Module):
    def __init__(self, config: JinaBertConfig) -> None:
        super().__init__()
        # No padding_idx: in the jina tokenizer id 0 (config.pad_token_id) is <s>, whose gradient it would zero.
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None) -> torch.Tensor:
        embeddings = self.word_embeddings(input_ids)
        if token_type_ids is None:
            embeddings = embeddings + self.token_type_embeddings.weight[0]
        else:
            embeddings = embeddings + self.token_type_embeddings(token_type_ids)
        return self.dropout(self.LayerNorm(embeddings))


class JinaBertSelfAttention(nn.Module):
    def __init__(self, config: JinaBertConfig) -> None:
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_size = config.hidden_size // config.num_attention_heads
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout_p = config.attention_probs_dropout_prob

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, _ = x.shape
        return x.view(batch, length, self.num_heads, self.head_size).transpose(1, 2)

    def forward(self, hidden: torch.Tensor, bias: torch.Tensor, *, first_only: bool = False) -> torch.Tensor:
        """`bias` is the additive [1 or B, heads, L, L] ALiBi + padding bias.

        Returns [B, L, width]; with first_only, the queries are each sequence's first token alone
        (keys and values still cover every token) and the result is [B, 1, width].
        """
        queries = hidden[:, :1] if first_only else hidden
        batch, length, width = queries.shape
        context = F.scaled_dot_product_attention(
            self._heads(self.query(queries)),
            self._heads(self.key(hidden)),
            self._heads(self.value(hidden)),
            attn_mask=bias[:, :, :1] if first_only else bias,
            dropout_p=self.dropout_p if self.training else 0.0,
        )
        return context.transpose(1, 2).reshape(batch, length, width)

    def forward_packed(
        self, hidden: torch.Tensor, queries: torch.Tensor, packing: Packing, alibi: torch.Tensor, *, first_only: bool
    ) -> torch.Tensor:
        """Keys and values from `hidden` [tokens, width]; `queries` is `hidden` itself, or with
        first_only each sequence's first token [sequences, width]. Returns one row per query.

        Each sequence attends to its own tokens; `alibi` is a [1, heads, >= L, >= L] table whose
        top-left corner is every sequence's bias (row 0 alone for a first-token query).
        """
        key, value = self.key(hidden), self.value(hidden)
        query = self.query(queries)
        context = torch.empty_like(query)
        heads, size = self.num_heads, self.head_size
        for n, (start, length) in enumerate(zip(packing.starts, packing.lengths, strict=True)):
            rows = slice(n, n + 1) if first_only else slice(start, start + length)
            span = slice(start, start + length)
            queries = 1 if first_only else length
            attended = F.scaled_dot_product_attention(
                query[rows].view(queries, heads, size).transpose(0, 1).unsqueeze(0),
                key[span].view(length, heads, size).transpose(0, 1).unsqueeze(0),
                value[span].view(length, heads, size).transpose(0, 1).unsqueeze(0),
                attn_mask=alibi[:, :, :queries, :length],
                dropout_p=self.dropout_p if self.training else 0.0,
            )
            context[rows] = attended[0].transpose(0, 1).reshape(queries, heads * size)
        return context


class JinaBertSelfOutput(nn.Module):
    def __init__(self, config: JinaBertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, context: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(context)) + residual)


class JinaBertAttention(nn.Module):
    def __init__(self, config: JinaBertConfig) -> None:
        super().__init__()
        self.self = JinaBertSelfAttention(config)
        self.output = JinaBertSelfOutput(config)

    def forward(self, hidden: torch.Tensor, bias: torch.Tensor, *, first_only: bool = False) -> torch.Tensor:
        residual = hidden[:, :1] if first_only else hidden
        return self.output(self.self(hidden, bias, first_only=first_only), residual)

    def forward_packed(
        self, hidden: torch.Tensor, packing: Packing, alibi: torch.Tensor, *, first_only: bool
    ) -> torch.Tensor:
        queries = hidden[packing.first] if first_only else hidden
        context = self.self.forward_packed(hidden, queries, packing, alibi, first_only=first_only)
        return self.output(context, queries)


class JinaBertGLUMLP(nn.Module):
    """LN(wo(act(h[..., :I]) * h[..., I:]) + x) with h = gated_layers(x); GELU (exact) or ReLU."""

    def __init__(self, config: JinaBertConfig) -> None:
        super().__init__()
        self.intermediate_size = config.intermediate_size
        self.gated_layers = nn.Linear(config.hidden_size, 2 * config.intermediate_size, bias=False)
        self.act = nn.GELU() if config.feed_forward_type == "geglu" else nn.ReLU()
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.wo = nn.Linear(config.intermediate_size, config.hidden_size)
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        gated, non_gated = self.gated_layers(hidden).split(self.intermediate_size, dim=-1)
        out = self.wo(self.dropout(self.act(gated) * non_gated))
        return self.layernorm(out + hidden)


class JinaBertLayer(nn.Module):
    def __init__(self, config: JinaBertConfig) -> None:
        super().__init__()
        self.attention = JinaBertAttention(config)
        self.mlp = JinaBertGLUMLP(config)

    def forward(self, hidden: torch.Tensor, bias: torch.Tensor, *, first_only: bool = False) -> torch.Tensor:
        return self.mlp(self.attention(hidden, bias, first_only=first_only))

    def forward_packed(
        self, hidden: torch.Tensor, packing: Packing, alibi: torch.Tensor, *, first_only: bool = False
    ) -> torch.Tensor:
        return self.mlp(self.attention.forward_packed(hidden, packing, alibi, first_only=first_only))


class JinaBertEncoder(nn.Module):
    def __init__(self, config: JinaBertConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(JinaBertLayer(config) for _ in range(config.num_hidden_layers))
        #: run the last layer for each sequence's first token alone (set on a first-token view only)
        self.first_token_last_layer = False

    def forward(self, hidden: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """[B, L, hidden] through every layer; [B, 1, hidden] when the last runs for first tokens only."""
        last = len(self.layer) - 1
        for n, layer in enumerate(self.layer):
            hidden = layer(hidden, bias, first_only=self.first_token_last_layer and n == last)
        return hidden

    def forward_packed(
        self, hidden: torch.Tensor, packing: Packing, alibi: torch.Tensor, *, first_token_last_layer: bool = False
    ) -> torch.Tensor:
        """[tokens, hidden] through every layer; the last one for first tokens only if asked."""
        last = len(self.layer) - 1
        for n, layer in enumerate(self.layer):
            hidden = layer.forward_packed(hidden, packing, alibi, first_only=first_token_last_layer and n == last)
        return hidden


class JinaBertPooler(nn.Module):
    def __init__(self, config: JinaBertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.pool(hidden[:, 0])

    def pool(self, first: torch.Tensor) -> torch.Tensor:
        """tanh(dense(.)) of the first tokens' states, [sequences, hidden]."""
        return torch.tanh(self.dense(first))


# ----------------------------------------------------------------------------------------------
# Checkpoint files.


class CheckpointWeights:
    """The tensors of a checkpoint directory, read one key at a time.

    model.safetensors is preferred, then a sharded model.safetensors.index.json; pytorch_model.bin
    (a pickle) only with allow_pickle=True, and even then through torch.load(weights_only=True).
    """

    def __init__(self, directory: Path, *, allow_pickle: bool = False) -> None:
        self.directory = directory
        self._files: dict[str, Path] = {}
        self._pickled: dict[str, torch.Tensor] | None = None
        single, index = directory / "model.safetensors", directory / "model.safetensors.index.json"
        pickle = directory / "pytorch_model.bin"
        if single.exists():
            self._add_safetensors(single)
        elif index.exists():
            for name in sorted(set(json.loads(index.read_text())["weight_map"].values())):
                self._add_safetensors(directory / name)
        elif pickle.exists():
            if not allow_pickle:
                raise CheckpointError(
                    f"{directory} holds only {pickle.name}, a pickle file that can run code when loaded. "
                    "Pass allow_pickle=True if you trust its source, or convert it to model.safetensors."
                )
            self._pickled = torch.load(pickle, map_location="cpu", weights_only=True)
        else:
            raise CheckpointError(f"{directory} has no model.safetensors (nor an index, nor pytorch_model.bin)")

    def _add_safetensors(self, path: Path) -> None:
        with safe_open(path, framework="pt") as handle:
            for key in handle.keys():  # noqa: SIM118 - safe_open is not a mapping
                self._files[key] = path

    def keys(self) -> list[str]:
        return list(self._pickled) if self._pickled is not None else list(self._files)

    def __contains__(self, key: str) -> bool:
        return key in (self._pickled if self._pickled is not None else self._files)

    def shape(self, key: str) -> tuple[int, ...]:
        if self._pickled is not None:
            return tuple(self._pickled[key].shape)
        with safe_open(self._files[key], framework="pt") as handle:
            return tuple(handle.get_slice(key).get_shape())

    def read(self, keys: Iterable[str], *, dtype: torch.dtype | None, device: torch.device) -> dict[str, torch.Tensor]:
        """The named tensors in memory of their own, floating ones cast to dtype (None: as stored)."""

        def place(tensor: torch.Tensor) -> torch.Tensor:
            cast = dtype if dtype is not None and tensor.is_floating_point() else tensor.dtype
            return tensor.to(device=device, dtype=cast)

        if self._pickled is not None:
            return {key: place(self._pickled[key]) for key in keys}
        by_file: dict[Path, list[str]] = {}
        for key in keys:
            by_file.setdefault(self._files[key], []).append(key)
        tensors = {}
        for path, names in by_file.items():
            with _open_for_reading(path) as (handle, mapped):
                for name in names:
                    stored = handle.get_tensor(name)
                    tensor = place(stored)
                    # A memory-mapped tensor would tie the model to the file (and fault it in later).
                    if mapped and tensor.data_ptr() == stored.data_ptr():
                        tensor = tensor.clone()
                    tensors[name] = tensor
        return tensors


@contextmanager
def _open_for_reading(path: Path) -> Iterator[tuple[Any, bool]]:
    """safe_open with pread(2) where safetensors offers it (>= 0.7), so tensors own their memory."""
    try:
        handle = safe_open(path, framework="pt", backend="pread")
        mapped = False
    except TypeError:
        handle, mapped = safe_open(path, framework="pt"), True
    with handle:
        yield handle, mapped


def split_checkpoint_keys(keys: Iterable[str], prefix: str = "bert.") -> tuple[dict[str, str], list[str]]:
    """Encoder keys without their prefix (name -> key in the file), and the head's keys as they are.

    Reranker checkpoints prefix the encoder with `bert.` and add `classifier.*`; jina-embeddings-v2
    checkpoints store the encoder unprefixed. Both map to the same encoder names.
    """
    keys = list(keys)
    if any(key.startswith(prefix) for key in keys):
        encoder = {key[len(prefix) :]: key for key in keys if key.startswith(prefix)}
        head = [key for key in keys if not key.startswith(prefix)]
    else:
        encoder = {key: key for key in keys if not key.startswith("classifier.")}
        head = [key for key in keys if key.startswith("classifier.")]
    return encoder, head


def _check_keys(model: nn.Module, wanted: Mapping[str, str], weights: CheckpointWeights) -> None:
    """Refuse a checkpoint whose keys or shapes differ from the model's, naming every difference."""
    expected = {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}
    missing = sorted(set(expected) - set(wanted))
    unexpected = sorted(wanted[name] for name in set(wanted) - set(expected))
    mismatched = [
        f"{wanted[name]}: checkpoint {weights.shape(wanted[name])}, model {expected[name]}"
        for name in sorted(set(wanted) & set(expected))
        if weights.shape(wanted[name]) != expected[name]
    ]
    problems = []
    if missing:
        problems.append(f"missing keys: {', '.join(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {', '.join(unexpected)}")
    if mismatched:
        problems.append(f"shape mismatches: {'; '.join(mismatched)}")
    if problems:
        raise CheckpointError(f"{weights.directory} does not match {type(model).__name__}: " + " | ".join(problems))


def _resolve_dtype(dtype: torch.dtype | str | None, config: Mapping[str, Any]) -> torch.dtype:
    if dtype is None:
        return torch.float32
    if dtype == "auto":
        stored = config.get("torch_dtype") or config.get("dtype") or "float32"
        return getattr(torch, stored)
    return getattr(torch, dtype) if isinstance(dtype, str) else dtype


# ----------------------------------------------------------------------------------------------
# Models.


class JinaBertPreTrainedModel(PreTrainedModel):
    config_class = JinaBertConfig
    config: JinaBertConfig
    base_model_prefix = "bert"
    _supports_sdpa = True

    @classmethod
    def _checkpoint_names(cls, keys: Iterable[str]) -> tuple[dict[str, str], list[str]]:
        """model state-dict name -> checkpoint key, and the checkpoint keys deliberately not loaded."""
        raise NotImplementedError

    @classmethod
    def _config_from_checkpoint(
        cls, raw: Mapping[str, Any], weights: CheckpointWeights, overrides: dict[str, Any]
    ) -> JinaBertConfig:
        return JinaBertConfig.from_checkpoint_dict(raw, **overrides)

    @classmethod
    def _build(cls, config: JinaBertConfig, names: Mapping[str, str]) -> JinaBertPreTrainedModel:
        return cls(config)

    @classmethod
    def from_pretrained(  # type: ignore[override]
        cls,
        pretrained_model_name_or_path: str | Path,
        *,
        revision: str | None = None,
        torch_dtype: torch.dtype | str | None = None,
        dtype: torch.dtype | str | None = None,
        device: str | torch.device = "cpu",
        allow_pickle: bool = False,
        **config_overrides: Any,
    ):
        """Load a JinaBERT checkpoint (directory or hub id) with exactly its weights, in eval mode.

        `torch_dtype`/`dtype`: float32 unless given; "auto" keeps the checkpoint's config dtype.
        Extra keyword arguments override config.json entries (e.g. num_labels=1).
        Raises CheckpointError when the weights do not match the architecture, or when only a
        pickle file is present and allow_pickle is False; ModelUnavailable when the files cannot be had.
        A hub id fetches configs, tokenizer files and safetensors (pickles only with allow_pickle),
        never the repository's modeling code.
        """
        directory = resolve(str(pretrained_model_name_or_path), revision=revision, allow_pickle=allow_pickle).path
        raw = json.loads((directory / "config.json").read_text())
        if not is_jinabert_config(raw):
            raise CheckpointError(
                f"{directory}/config.json does not describe JinaBERT (position_embedding_type="
                f"{raw.get('position_embedding_type')!r}, architectures={raw.get('architectures')}); "
                "load it with transformers' AutoModel classes instead"
            )
        target_dtype = _resolve_dtype(torch_dtype if torch_dtype is not None else dtype, raw)
        weights = CheckpointWeights(directory, allow_pickle=allow_pickle)
        names, ignored = cls._checkpoint_names(weights.keys())
        config = cls._config_from_checkpoint(raw, weights, dict(config_overrides))
        config.name_or_path = str(pretrained_model_name_or_path)

        with torch.device("meta"):  # no random initialisation, no memory until the weights arrive
            model = cls._build(config, names)
        _check_keys(model, names, weights)
        tensors = weights.read(names.values(), dtype=target_dtype, device=torch.device(device))
        model.load_state_dict({name: tensors[key] for name, key in names.items()}, strict=True, assign=True)
        model.config.dtype = target_dtype
        model.loading_info = {"directory": str(directory), "ignored_keys": sorted(ignored)}
        return model.eval()


class JinaBertModel(JinaBertPreTrainedModel):
    """The encoder, with the tanh pooler on the first token unless add_pooling_layer=False."""

    def __init__(self, config: JinaBertConfig, add_pooling_layer: bool = True) -> None:
        super().__init__(config)
        self.embeddings = JinaBertEmbeddings(config)
        self.encoder = JinaBertEncoder(config)
        self.pooler = JinaBertPooler(config) if add_pooling_layer else None
        self.alibi = AlibiCache(config.num_attention_heads)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings.word_embeddings

    def attention_bias(self, attention_mask: torch.Tensor | None, length: int, dtype: torch.dtype) -> torch.Tensor:
        """The additive [1 or B, heads, L, L] bias for every layer: ALiBi plus key padding.

        Under a TorchScript trace (the ONNX export) the bias is built from the traced length, without
        the cache (keyed by a Python length) and with the padding mask always applied (no shortcut
        for an unpadded batch), so one trace serves every batch size and length.
        """
        device = self.embeddings.word_embeddings.weight.device
        if torch.jit.is_tracing():
            bias = alibi_bias(self.alibi.slopes, length, device=device, dtype=dtype)
            return bias if attention_mask is None else mask_padding(bias, attention_mask)
        return with_padding(self.alibi(length, device=device, dtype=dtype), attention_mask)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        **_: Any,
    ) -> BaseModelOutputWithPooling:
        hidden = self.embeddings(input_ids, token_type_ids)
        bias = self.attention_bias(attention_mask, input_ids.shape[1], hidden.dtype)
        hidden = self.encoder(hidden, bias)
        pooled = self.pooler(hidden) if self.pooler is not None else None
        return BaseModelOutputWithPooling(last_hidden_state=hidden, pooler_output=pooled)

    def packed_alibi(self, longest: int, dtype: torch.dtype) -> torch.Tensor:
        """An ALiBi table covering `longest` tokens, its length rounded up to a multiple of 128 so
        that batches of different lengths share a few cached tables (they read its corner)."""
        device = self.embeddings.word_embeddings.weight.device
        return self.alibi(-(-longest // 128) * 128, device=device, dtype=dtype)

    def forward_packed(
        self,
        input_ids: torch.Tensor,
        cu_seqlens: Sequence[int] | torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        *,
        first_token_last_layer: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Sequences packed end to end, without padding.

        input_ids and token_type_ids: [tokens]; cu_seqlens: [sequences + 1] cumulative lengths.
        Returns the last hidden states ([tokens, hidden], or [sequences, hidden] holding each
        first token when first_token_last_layer) and the pooled output ([sequences, hidden]).
        """
        if input_ids.ndim != 1:
            raise ValueError(f"forward_packed takes input_ids of shape [tokens], got {tuple(input_ids.shape)}")
        packing = Packing.from_cu_seqlens(cu_seqlens, input_ids.device)
        if packing.tokens != input_ids.shape[0]:
            raise ValueError(f"cu_seqlens covers {packing.tokens} tokens, input_ids has {input_ids.shape[0]}")
        hidden = self.embeddings(input_ids, token_type_ids)
        alibi = self.packed_alibi(max(packing.lengths), hidden.dtype)
        hidden = self.encoder.forward_packed(hidden, packing, alibi, first_token_last_layer=first_token_last_layer)
        first = hidden if first_token_last_layer else hidden[packing.first]
        pooled = self.pooler.pool(first) if self.pooler is not None else None
        return hidden, pooled

    @classmethod
    def _checkpoint_names(cls, keys):
        encoder, head = split_checkpoint_keys(keys)
        return encoder, head  # a reranker's classifier is not part of the encoder

    @classmethod
    def _build(cls, config, names):
        # jina-embeddings-v2 checkpoints may come without the pooler (mean pooling never uses it).
        return cls(config, add_pooling_layer="pooler.dense.weight" in names)


class JinaBertForSequenceClassification(JinaBertPreTrainedModel):
    """pooler -> dropout -> classifier: the jina-reranker-v1 cross-encoder (one logit per pair)."""

    def __init__(self, config: JinaBertConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = JinaBertModel(config)
        dropout = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        **_: Any,
    ) -> SequenceClassifierOutput:
        pooled = self.bert(input_ids, attention_mask, token_type_ids).pooler_output
        return SequenceClassifierOutput(logits=self.classifier(self.dropout(pooled)))

    def first_token_view(self) -> JinaBertForSequenceClassification:
        """This model, its weights shared rather than copied, with the last layer run for each
        sequence's first token alone: the pooler reads nothing else, so `forward` gives the same
        logits for about a layer's work less (the last layer's keys and values still cover every
        token). This model is left as it is."""
        view = module_view(self)
        view.bert = module_view(self.bert)
        view.bert.encoder = module_view(self.bert.encoder)
        view.bert.encoder.first_token_last_layer = True
        return view

    def forward_packed(
        self,
        input_ids: torch.Tensor,
        cu_seqlens: Sequence[int] | torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        *,
        first_token_only: bool = True,
    ) -> torch.Tensor:
        """[sequences, labels] logits of sequences packed end to end (see JinaBertModel.forward_packed).

        `first_token_only`: the last layer runs for each sequence's first token alone, which is all
        the pooler reads (same logits, about a layer's work less); only in eval mode.
        """
        first_only = first_token_only and not self.training
        _, pooled = self.bert.forward_packed(input_ids, cu_seqlens, token_type_ids, first_token_last_layer=first_only)
        return self.classifier(self.dropout(pooled))

    @classmethod
    def _checkpoint_names(cls, keys):
        encoder, head = split_checkpoint_keys(keys)
        return {**{f"bert.{name}": key for name, key in encoder.items()}, **{key: key for key in head}}, []

    @classmethod
    def _config_from_checkpoint(cls, raw, weights, overrides):
        # The published reranker configs have no num_labels: the classifier's rows say how many.
        labelled = any(key in raw for key in ("num_labels", "id2label")) or "num_labels" in overrides
        if not labelled and "classifier.weight" in weights:
            overrides["num_labels"] = weights.shape("classifier.weight")[0]
        return JinaBertConfig.from_checkpoint_dict(raw, **overrides)


# ----------------------------------------------------------------------------------------------
# Bi-encoder.


class JinaBertSentenceEncoder:
    """Mean-pooled sentence embeddings from a JinaBERT encoder (jina-embeddings-v2 style).

    The model half of the RAG suite's `JinaBertEmbedder` (bench.suites.rag.embedders), which adds
    lazy loading, device and dtype choices and the embedding-model protocol.
    """

    def __init__(self, model: JinaBertModel, tokenizer: Any, *, max_length: int | None = None) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        limits = [model.config.max_position_embeddings, getattr(tokenizer, "model_max_length", None)]
        self.max_length = max_length or min(n for n in limits if isinstance(n, int) and n > 0)

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | Path,
        *,
        revision: str | None = None,
        torch_dtype: torch.dtype | str | None = None,
        device: str | torch.device = "cpu",
        max_length: int | None = None,
        allow_pickle: bool = False,
    ) -> JinaBertSentenceEncoder:
        from transformers import AutoTokenizer

        directory = resolve(str(pretrained_model_name_or_path), revision=revision, allow_pickle=allow_pickle).path
        model = JinaBertModel.from_pretrained(
            directory, torch_dtype=torch_dtype, device=device, allow_pickle=allow_pickle
        )
        return cls(model, AutoTokenizer.from_pretrained(directory), max_length=max_length)

    @torch.inference_mode()
    def encode(self, texts: Sequence[str], *, batch_size: int = 32, normalize: bool = True) -> np.ndarray:
        """[len(texts), hidden] float32 embeddings in input order; batches are length-sorted."""
        device = self.model.embeddings.word_embeddings.weight.device
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        out = np.zeros((len(texts), self.model.config.hidden_size), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            batch = self.tokenizer(
                [texts[i] for i in chunk],
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            ).to(device)
            hidden = self.model(batch["input_ids"], batch["attention_mask"]).last_hidden_state.float()
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)
            if normalize:
                pooled = F.normalize(pooled, dim=-1)
            out[chunk] = pooled.cpu().numpy()
        return out
