"""Cross-encoders scored by ONNX Runtime: a cross-encoder reranker's `runtime: onnxruntime`.

    scorer = open_onnx(model, tokenizer, name=..., checkpoint=folder, dtype="float32")
    scores, truncated = scorer.score(pairs, max_length=512, batch_size=32, token_budget=2048)

What happens, and why:

- The PyTorch model (float32, CPU, loaded the way `runtime: torch` loads it) is exported once
  through bench.models.onnx_export: the engine's scoring view of it (the last layer for the first
  token only, where the engine uses that), so both runtimes do the same work. `dtype: int8` is
  onnxruntime's dynamic quantisation of that float32 export.
- Exports live in the verified store, `$BENCH_CACHE/onnx/<key>/` (bench.store.entries), keyed by
  the checkpoint's identity (checksums of its config and weight files), the dtype, the graph's
  inputs, and the torch, onnxruntime and export versions. A damaged entry is quarantined and
  exported again.
- Before a session is used, its scores are compared with PyTorch's on PROBE_PAIRS, padded
  together and one pair alone (shapes the export never saw). float32 must agree within
  VERIFY_TOLERANCE, else `ModelUnavailable` names the model and the difference (a cached export
  that fails is quarantined and exported once more first). int8 records its difference: it is an
  approximation, judged by ranking agreement (bench profile).
- Batches are the engine's (bench.rerank.engine): tokenised once, length-sorted, cut under a
  token budget and padded per batch. ONNX Runtime has no packed (varlen) path, so JinaBERT runs
  padded batches here.
- onnxruntime is the optional extra `bench[onnx]`; without it `ModelUnavailable` says what to
  install, and the pipeline skips only this reranker.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from bench.console import advance
from bench.data.cache import cache_dir
from bench.data.fingerprint import stable_hash
from bench.errors import InputError, ModelUnavailable, did_you_mean
from bench.models.hub import ResolvedModel
from bench.models.onnx_export import (
    EXPORTER,
    OPSET,
    OUTPUT_NAME,
    export_onnx,
    graph_inputs,
    logits_graph,
    quantize_int8,
)
from bench.rerank.engine import (
    EncodedPairs,
    encode_pairs,
    pad_batch,
    plan_batches,
    relevance_from_logits,
    scoring_model,
    tokenizer_settings,
)
from bench.store.entries import CorruptEntry, quarantine, sha256_file, verify_folder, write_folder

RUNTIMES = ("torch", "onnxruntime")
#: dtypes of runtime onnxruntime: float32, or int8 (dynamic quantisation of the float32 export)
ONNX_DTYPES = ("float32", "int8")
#: graph optimisation levels of onnxruntime's SessionOptions, by the name a config gives
OPTIMIZATIONS = ("disabled", "basic", "extended", "all")
#: float32 exports must score PROBE_PAIRS within this of PyTorch (max absolute difference)
VERIFY_TOLERANCE = 1e-4
#: probe pairs are cut at this many tokens (or the model's limit)
PROBE_LENGTH = 64
#: the export's example batch is cut shorter than the probes, so verification runs unseen shapes
EXAMPLE_LENGTH = 16
MODEL_FILE = "model.onnx"
#: bump when the files of an export entry change meaning, or the graph exported from the same model
#: (2: JinaBERT traced through its own forward; entry.json without input names)
EXPORT_FORMAT = 2
INSTALL_FIX = "pip install 'bench[onnx]' (onnxruntime and onnx), or use runtime: torch"

PROBE_PAIRS = (
    ("what is the boundary layer in supersonic flow",
     "The boundary layer of a flat plate grows with the distance from the leading edge, and at supersonic "
     "speeds its thickness depends on the Mach number and the wall temperature. " * 3),
    ("a", "b"),
    ("heat transfer at hypersonic speeds", "Heat transfer to a blunt body depends on the nose radius."),
    ("cross-encoders", "A cross-encoder reads the query and the document together and returns one score."),
    ("numbers in abstracts", "1, 2, 3, 10, 100 and 2024"),
)


def check_runtime(runtime: str, dtype: str, *, name: str) -> None:
    """Refuse an unknown runtime, or a dtype the runtime does not have, naming the reranker's keys."""
    if runtime not in RUNTIMES:
        raise InputError(f"reranker.{name}.runtime={runtime!r}: choose one of {', '.join(RUNTIMES)}."
                         f"{did_you_mean(runtime, RUNTIMES)}")
    if runtime == "onnxruntime" and dtype not in ONNX_DTYPES:
        raise InputError(f"reranker.{name}.dtype={dtype!r}: runtime onnxruntime runs {' or '.join(ONNX_DTYPES)}")
    if runtime == "torch" and dtype == "int8":
        raise InputError(f"reranker.{name}.dtype=int8 is onnxruntime's dynamic quantisation: "
                         f"set reranker.{name}.runtime=onnxruntime")


def import_onnxruntime(model: str):
    """The onnxruntime module, or ModelUnavailable saying how to install the `onnx` extra."""
    try:
        import onnx  # noqa: F401 - the int8 quantiser reads and writes models through it
        import onnxruntime
    except ImportError as exc:
        raise ModelUnavailable(model, f"runtime onnxruntime needs the onnx extra ({exc})", INSTALL_FIX) from exc
    return onnxruntime


def execution_providers(ort, device: torch.device, model: str) -> list[str]:
    """CUDA's provider on a CUDA device when this onnxruntime build has it, else the CPU's."""
    if device.type != "cuda":
        return ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        raise ModelUnavailable(model, f"onnxruntime {ort.__version__} has no CUDA execution provider",
                               "pip install onnxruntime-gpu, or run this reranker with device=cpu")
    return ["CUDAExecutionProvider", "CPUExecutionProvider"]


# ----------------------------------------------------------------------------------------------
# The export entry.


@functools.lru_cache(maxsize=64)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    return sha256_file(Path(path))


def checkpoint_fingerprint(folder: Path) -> str:
    """Checksums of a checkpoint's config and weight files: what an export is a function of."""
    patterns = ("config.json", "*.safetensors", "*.safetensors.index.json", "pytorch_model*.bin")
    files = sorted({p for pattern in patterns for p in Path(folder).glob(pattern) if p.is_file()})
    if not files:
        raise ValueError(f"{folder} holds no config.json or weight files to identify the model by")
    digests = {}
    for path in files:
        stat = path.stat()
        digests[path.name] = _file_digest(str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    return stable_hash(digests)


@dataclass
class Export:
    """A verified export entry: its folder, its record (entry.json), and how it was had."""

    folder: Path
    record: dict[str, Any]
    status: str  # "hit" (reused from the cache) or "exported"

    @property
    def path(self) -> Path:
        return self.folder / MODEL_FILE


class ExportRejected(Exception):
    """An export that must not be used (onnxruntime cannot load it, or its scores differ)."""


def probe_batches(tokenizer, *, max_length: int) -> list[dict[str, torch.Tensor]]:
    """PROBE_PAIRS padded together, and the shortest pair alone (batch 1, no padding)."""
    pad_id, use_types = tokenizer_settings(tokenizer)
    encoded = encode_pairs(tokenizer, PROBE_PAIRS, max_length=max_length)
    shortest = int(np.argmin(encoded.lengths))
    return [pad_batch(encoded, index, pad_id=pad_id, use_token_types=use_types)
            for index in (np.arange(len(PROBE_PAIRS)), np.array([shortest]))]


def example_batch(tokenizer) -> dict[str, torch.Tensor]:
    """The batch the export is traced on: the longest probe pair and the shortest, padded."""
    pad_id, use_types = tokenizer_settings(tokenizer)
    encoded = encode_pairs(tokenizer, PROBE_PAIRS[:2], max_length=EXAMPLE_LENGTH)
    return pad_batch(encoded, np.arange(2), pad_id=pad_id, use_token_types=use_types)


def torch_scores(model: nn.Module, batches: Sequence[dict[str, torch.Tensor]]) -> np.ndarray:
    with torch.inference_mode():
        return np.concatenate([relevance_from_logits(model(**b).logits).double().numpy() for b in batches])


def session_scores(session, names: Sequence[str], batches: Sequence[dict[str, torch.Tensor]]) -> np.ndarray:
    parts = [session.run([OUTPUT_NAME], graph_inputs(b, names))[0] for b in batches]
    return np.concatenate([relevance_from_logits(torch.from_numpy(p)).double().numpy() for p in parts])


def _write_export(folder: Path, graph: nn.Module, tokenizer, *, dtype: str, meta: dict[str, Any]) -> None:
    def fill(tmp: Path) -> None:
        float32 = tmp / (MODEL_FILE if dtype == "float32" else "float32.onnx")
        export_onnx(graph, example_batch(tokenizer), float32)
        if dtype == "int8":
            quantize_int8(float32, tmp / MODEL_FILE)
            float32.unlink()

    write_folder(folder, fill, meta=meta)


@dataclass
class Verified:
    """A session that passed verification, and what verification found."""

    session: Any
    export: Export
    max_abs_diff: float


def _open_verified(export: Export, ort, options, providers, batches, reference: np.ndarray, *,
                   dtype: str, model: str) -> Verified:
    try:
        session = ort.InferenceSession(str(export.path), sess_options=options, providers=providers)
        scores = session_scores(session, input_names(session), batches)
    except Exception as exc:  # onnxruntime's own errors (invalid graph, missing file, bad input)
        raise ExportRejected(f"onnxruntime cannot run {export.path} ({type(exc).__name__}: {exc})") from exc
    diff = float(np.max(np.abs(scores - reference)))
    if not np.isfinite(diff):
        raise ExportRejected(f"the ONNX export of {model} gives non-finite scores on the probe pairs")
    if dtype == "float32" and diff > VERIFY_TOLERANCE:
        raise ExportRejected(f"the ONNX export of {model} scores the {len(reference)} probe pairs up to "
                             f"{diff:.3g} away from PyTorch's (more than {VERIFY_TOLERANCE:g})")
    return Verified(session, export, diff)


def input_names(session) -> list[str]:
    """The inputs the graph declares (the exporter drops one the model never reads: DeBERTa's token types)."""
    return [node.name for node in session.get_inputs()]


def session_options(ort, *, threads: int, optimization: str):
    if optimization not in OPTIMIZATIONS:
        raise InputError(f"graph optimisation {optimization!r}: choose one of {', '.join(OPTIMIZATIONS)}."
                         f"{did_you_mean(optimization, OPTIMIZATIONS)}")
    levels = ort.GraphOptimizationLevel
    options = ort.SessionOptions()
    options.graph_optimization_level = {"disabled": levels.ORT_DISABLE_ALL, "basic": levels.ORT_ENABLE_BASIC,
                                        "extended": levels.ORT_ENABLE_EXTENDED,
                                        "all": levels.ORT_ENABLE_ALL}[optimization]
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # errors only: its warnings about unused initialisers are noise here
    return options


# ----------------------------------------------------------------------------------------------
# The scorer.


@dataclass
class OnnxScorer:
    """An onnxruntime session over a verified export, scoring through the engine's batches."""

    session: Any
    input_names: list[str]
    tokenizer: Any
    dtype: str
    facts: dict[str, Any] = field(default_factory=dict)
    problems: list[dict[str, str]] = field(default_factory=list)

    def score(self, pairs: Sequence[tuple[str, str]], *, max_length: int, batch_size: int | None = 32,
              token_budget: int | None = None) -> tuple[np.ndarray, int]:
        """Scores in input order, and how many pairs were cut at max_length."""
        encoded = encode_pairs(self.tokenizer, list(pairs), max_length=max_length)
        return self.score_encoded(encoded, batch_size=batch_size, token_budget=token_budget), int(
            encoded.truncated.sum())

    def score_encoded(self, encoded: EncodedPairs, *, batch_size: int | None = 32,
                      token_budget: int | None = None) -> np.ndarray:
        """Scores of tokenised pairs: length-sorted batches under the token budget, each padded."""
        scores = np.full(len(encoded.input_ids), np.nan, dtype=np.float64)
        if not encoded.input_ids:
            return scores
        pad_id, use_types = tokenizer_settings(self.tokenizer)
        for index in plan_batches(encoded.lengths, batch_size=batch_size, token_budget=token_budget):
            batch = pad_batch(encoded, index, pad_id=pad_id, use_token_types=use_types)
            logits = self.session.run([OUTPUT_NAME], graph_inputs(batch, self.input_names))[0]
            scores[index] = relevance_from_logits(torch.from_numpy(logits)).double().numpy()
            advance(len(index))
        return scores

    def describe(self) -> dict[str, Any]:
        return {**self.facts, "quarantined": list(self.problems)}


def open_onnx(
    model: nn.Module,
    tokenizer,
    *,
    name: str,
    checkpoint: Path,
    dtype: str = "float32",
    max_length: int | None = None,
    device: torch.device | None = None,
    threads: int | None = None,
    optimization: str = "all",
) -> OnnxScorer:
    """An OnnxScorer for a float32 PyTorch cross-encoder loaded from the `checkpoint` folder.

    `name` names the model in errors; `max_length` caps the probe pairs (the model's limit);
    `threads`: onnxruntime's intra-op threads (None: as many as torch uses).
    """
    if dtype not in ONNX_DTYPES:
        raise InputError(f"dtype {dtype!r}: runtime onnxruntime runs {' or '.join(ONNX_DTYPES)}")
    ort = import_onnxruntime(name)
    providers = execution_providers(ort, device or torch.device("cpu"), name)
    threads = threads or torch.get_num_threads()
    options = session_options(ort, threads=threads, optimization=optimization)
    started = time.perf_counter()
    view = scoring_model(model)
    # "export_format", not "format": the key is the entry's metadata, and the store owns entry.json's "format"
    key = {"export_format": EXPORT_FORMAT, "checkpoint": checkpoint_fingerprint(checkpoint),
           "graph": type(model).__name__, "first_token_last_layer": view is not model,
           "inputs": tokenizer_settings(tokenizer)[1], "dtype": dtype, "opset": OPSET, "exporter": EXPORTER,
           "torch": torch.__version__, "onnxruntime": ort.__version__}
    folder = cache_dir() / "onnx" / stable_hash(key)
    batches = probe_batches(tokenizer, max_length=min(PROBE_LENGTH, max_length or PROBE_LENGTH))
    reference = torch_scores(model, batches)
    problems: list[dict[str, str]] = []
    check = functools.partial(_open_verified, ort=ort, options=options, providers=providers, batches=batches,
                              reference=reference, dtype=dtype, model=name)
    verified = _from_cache(folder, check, problems)
    if verified is None:
        _write_export(folder, logits_graph(view), tokenizer, dtype=dtype, meta={"kind": "onnx", "model": name, **key})
        verified = _fresh(folder, check, problems, name)
    facts = {
        "runtime": "onnxruntime", "onnxruntime": ort.__version__, "onnx_dtype": dtype,
        "verification_max_abs_diff": verified.max_abs_diff, "verification_pairs": len(reference),
        "verification_tolerance": VERIFY_TOLERANCE if dtype == "float32" else None,
        "export_cache": verified.export.status, "export_entry": str(folder), "exporter": EXPORTER, "opset": OPSET,
        "first_token_last_layer": key["first_token_last_layer"], "providers": providers, "threads": threads,
        "graph_optimization": optimization, "export_seconds": round(time.perf_counter() - started, 3),
    }
    return OnnxScorer(verified.session, input_names(verified.session), tokenizer, dtype, facts, problems)


def _from_cache(folder: Path, check, problems: list[dict[str, str]]) -> Verified | None:
    """The cached export once its checksums match and it passes verification; else moved aside (None)."""
    if not folder.exists():
        return None
    try:
        return check(Export(folder, verify_folder(folder), "hit"))
    except CorruptEntry as exc:
        problems.append(quarantine(exc.path, exc.reason).as_dict())
    except ExportRejected as exc:
        problems.append(quarantine(folder, str(exc)).as_dict())
    return None


def _fresh(folder: Path, check, problems: list[dict[str, str]], name: str) -> Verified:
    """The export just written, verified; one that fails is moved aside and refused."""
    try:
        return check(Export(folder, verify_folder(folder), "exported"))
    except (CorruptEntry, ExportRejected) as exc:
        problems.append(quarantine(folder, str(exc)).as_dict())
        raise ModelUnavailable(name, str(exc), "use runtime: torch for this model (its PyTorch scores are the "
                                               "reference)") from exc


# ----------------------------------------------------------------------------------------------
# A checkpoint folder, as a cross-encoder reranker loads it.


@dataclass
class LoadedOnnxCrossEncoder:
    """What `runtime: onnxruntime` scores with; the PyTorch model is released once verified."""

    scorer: OnnxScorer
    tokenizer: Any
    device: torch.device
    max_length: int | None
    reference: dict[str, Any]  # the PyTorch model's description (architecture, source, parameters)
    load_seconds: float = 0.0

    def describe(self) -> dict[str, Any]:
        return {**self.reference, "load_seconds": round(self.load_seconds, 3), **self.scorer.describe()}


def load_onnx_cross_encoder(
    where: ResolvedModel,
    *,
    dtype: str,
    device: torch.device,
    trust_remote_code: bool = False,
    allow_pickle: bool = False,
) -> LoadedOnnxCrossEncoder:
    """Load the checkpoint in PyTorch (float32, CPU), export or reuse its verified ONNX graph, open it."""
    from bench.rerank.loading import load_cross_encoder

    import_onnxruntime(where.model)  # before loading anything: a missing extra is said at once
    started = time.perf_counter()
    reference = load_cross_encoder(where, device=torch.device("cpu"), dtype=torch.float32,
                                   trust_remote_code=trust_remote_code, allow_pickle=allow_pickle)
    scorer = open_onnx(reference.model, reference.tokenizer, name=where.model, checkpoint=where.path, dtype=dtype,
                       max_length=reference.max_length, device=device)
    described = {**reference.describe(), "device": str(device)}
    return LoadedOnnxCrossEncoder(scorer, reference.tokenizer, device, reference.max_length, described,
                                  time.perf_counter() - started)
