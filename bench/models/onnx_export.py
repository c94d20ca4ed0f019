"""A cross-encoder as an ONNX graph: token ids in, logits out, batch and sequence axes dynamic.

    graph = logits_graph(model)                         # an nn.Module taking named tensors
    names = export_onnx(graph, example, path)           # torch.onnx (TorchScript exporter)
    quantize_int8(path, int8_path)                      # onnxruntime dynamic quantisation

Why a graph module rather than the model itself:

- transformers models return a ModelOutput and take keyword arguments; the exporter wants
  positional tensors in and one tensor out. `LogitsGraph` is that adapter (BERT, XLM-R,
  DeBERTa-v2 and any other sequence-classification model the TorchScript tracer can follow).
- bench's JinaBERT builds its ALiBi bias in Python (a cache keyed by length, a shortcut when no
  pair is padded), which a trace would freeze at the example's length. `JinaBertGraph` runs the
  same submodules but builds the bias inside the graph from the input's shape
  (bench.models.alibi.alibi_bias), with the key-padding mask always applied, so one export
  serves every batch size and length.

The exporter is torch.onnx's TorchScript one (`dynamo=False`): it needs no onnxscript and exports
a small model in well under a second (the dynamo exporter takes seconds and needs onnxscript).
A trace follows the example's Python branches, so the example batch must hold padding (the
mask paths) and a caller must check the export on other shapes before using it.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

from bench.models.alibi import alibi_bias, alibi_slopes, mask_padding

#: the ONNX opset exported: 17 has LayerNormalization as one operator
OPSET = 17
#: graph inputs, in this order; token_type_ids only for models whose tokenizer gives them
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAME = "logits"
#: how the exports are made (recorded with every cached export)
EXPORTER = "torch.onnx TorchScript (dynamo=False)"


class LogitsGraph(nn.Module):
    """A transformers sequence-classification model as positional tensors in, logits out."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        return self.model(input_ids=input_ids, attention_mask=attention_mask, **extra).logits


class JinaBertGraph(nn.Module):
    """bench's JinaBertForSequenceClassification (or a view of it sharing its weights, such as the
    engine's last-layer-for-the-first-token view) with the ALiBi bias computed in the graph.

    The bias is -slope_h * |i - j| over the batch's length, padded keys set to the dtype's minimum,
    and a row without a single real token attending everywhere: bench.models.alibi.mask_padding.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.slopes = alibi_slopes(model.config.num_attention_heads)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        bert = self.model.bert
        hidden = bert.embeddings(input_ids, token_type_ids)
        bias = alibi_bias(self.slopes, input_ids.shape[1], device=input_ids.device, dtype=hidden.dtype)
        bias = mask_padding(bias, attention_mask)
        hidden = bert.encoder(hidden, bias)
        return self.model.classifier(self.model.dropout(bert.pooler(hidden)))


def is_jinabert(model: nn.Module) -> bool:
    """bench's native JinaBERT cross-encoder (or a view of it): ALiBi, no position embeddings."""
    config = getattr(model, "config", None)
    return getattr(config, "position_embedding_type", None) == "alibi" and hasattr(model, "bert")


def logits_graph(model: nn.Module) -> nn.Module:
    """The module to export for `model`, in eval mode (the exporter restores the wrapper's mode)."""
    graph = JinaBertGraph(model) if is_jinabert(model) else LogitsGraph(model)
    return graph.eval()


def export_onnx(graph: nn.Module, example: Mapping[str, torch.Tensor], path: Path, *, opset: int = OPSET) -> list[str]:
    """Trace `graph` on the `example` batch (input name -> [batch, length] tensor) and write `path`.

    Returns the input names the graph declares. Batch and sequence axes are dynamic; the example must be
    padded (at least one row shorter than the batch) so that the trace keeps the mask paths.
    """
    names = [name for name in INPUT_NAMES if name in example]
    if names[:2] != ["input_ids", "attention_mask"]:
        raise ValueError(f"the example batch needs input_ids and attention_mask, got {sorted(example)}")
    if bool(example["attention_mask"].to(torch.bool).all()):
        raise ValueError("the example batch has no padding: a trace of it would drop the padding mask")
    axes = {name: {0: "batch", 1: "sequence"} for name in names} | {OUTPUT_NAME: {0: "batch"}}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about Python values frozen in the graph
        torch.onnx.export(
            graph,
            tuple(example[name] for name in names),
            str(path),
            input_names=names,
            output_names=[OUTPUT_NAME],
            dynamic_axes=axes,
            opset_version=opset,
            dynamo=False,
            do_constant_folding=True,
        )
    return declared_inputs(path)


def declared_inputs(path: Path) -> list[str]:
    """The inputs an exported graph declares: the tracer drops one the model never reads
    (DeBERTa-v2 without token-type embeddings ignores token_type_ids)."""
    import onnx

    return [node.name for node in onnx.load(str(path), load_external_data=False).graph.input]


def quantize_int8(source: Path, target: Path) -> None:
    """onnxruntime's dynamic quantisation: MatMul weights int8, activations quantised per batch.

    Without onnxruntime's pre-processing pass (symbolic shape inference): it took seconds even on
    a tiny model, and the session's own graph optimisation runs anyway.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    root.addFilter(_quantiser_chatter)
    try:
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)
    finally:
        root.removeFilter(_quantiser_chatter)


def _quantiser_chatter(record: logging.LogRecord) -> bool:
    """Drop what the quantiser logs on the root logger: a line per tensor it leaves alone (INFO, which a
    Hydra app prints) and its advice to pre-process (WARNING, at every call)."""
    advice = str(record.msg).startswith("Please consider to run pre-processing")
    return record.name != "root" or not (advice or record.levelno < logging.WARNING)


def graph_inputs(batch: Mapping[str, torch.Tensor], names: Sequence[str]) -> dict[str, object]:
    """The numpy arrays an onnxruntime session takes, for the inputs the graph declares."""
    return {name: batch[name].numpy() for name in names if name in batch}
