"""A cross-encoder as an ONNX graph: token ids in, logits out, batch and sequence axes dynamic.

    graph = logits_graph(model)                         # an nn.Module taking named tensors
    export_onnx(graph, example, path)                   # torch.onnx (TorchScript exporter)
    quantize_int8(path, int8_path)                      # onnxruntime dynamic quantisation

Why a graph module rather than the model itself: transformers models return a ModelOutput and
take keyword arguments; the exporter wants positional tensors in and one tensor out. `LogitsGraph`
is that adapter, for BERT, XLM-R, DeBERTa-v2, bench's JinaBERT and any other sequence-classification
model the TorchScript tracer can follow. (bench's JinaBERT builds its ALiBi bias from the traced
length when it sees a trace, bench.models.jinabert.JinaBertModel.attention_bias, so one export
serves every batch size and length.)

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


def logits_graph(model: nn.Module) -> nn.Module:
    """The module to export for `model`, in eval mode (the exporter restores the wrapper's mode)."""
    return LogitsGraph(model).eval()


def export_onnx(graph: nn.Module, example: Mapping[str, torch.Tensor], path: Path, *, opset: int = OPSET) -> None:
    """Trace `graph` on the `example` batch (input name -> [batch, length] tensor) and write `path`.

    Batch and sequence axes are dynamic; the example must be padded (at least one row shorter than the
    batch) so that the trace keeps the mask paths. The graph may declare fewer inputs than the example
    holds (the tracer drops one the model never reads): an onnxruntime session lists those it declares.
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
