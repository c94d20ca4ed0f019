"""A profiled system: a model (its facts, a checkpoint folder) and a scorer, loaded per runtime and dtype.

A system's model comes from `reranker: <name>` (the facts of that option of the `reranker` config
group, configs/reranker/<name>.yaml, composed by Hydra) or from inline `facts:`. With
`pretrained: false` (the default) a random-weight checkpoint of that architecture is written to a
scratch folder (architecture-only mode, no download); with `pretrained: true` the real checkpoint
is resolved (hub cache, local folder, packaged copy). Either way the folder is loaded through
bench.rerank.loading, the loader the pipeline uses; runtime onnxruntime then exports it to ONNX
(bench.rerank.onnx, as a reranker's `runtime: onnxruntime` does) and scores through onnxruntime.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from bench.errors import InputError, did_you_mean
from bench.models.hub import ResolvedModel, resolve
from bench.models.runtime import DTYPES
from bench.paths import CONFIG_DIR
from bench.profile.architectures import TOKEN_TYPE_FAMILIES, check_facts, fit_tokenizer, random_checkpoint
from bench.profile.flops import Shape

if TYPE_CHECKING:
    from bench.rerank.onnx import OnnxScorer

#: dtypes a profile can ask for; int8 is dynamic quantisation of the linear layers (CPU only)
PROFILE_DTYPES = (*DTYPES, "int8")


def reranker_group_facts(name: str) -> dict[str, Any]:
    """`facts` of option `name` of the `reranker` config group (configs/reranker/<name>.yaml).

    Hydra composes the option, so a profile reads a model's facts exactly as `bench` does: one source
    per model. Inside a running Hydra app (`bench profile`) its search path is used; elsewhere
    bench's config folder. An unknown name raises InputError with the closest known one.
    """
    with _reranker_group() as known:
        if name not in known:
            raise InputError(
                f"unknown reranker {name!r}: the `reranker` config group (configs/reranker/) has no such option."
                f"{did_you_mean(name, known)} Known: {', '.join(known)}"
            )
        node = compose(config_name=None, overrides=[f"+reranker=[{name}]"]).reranker[name]
    facts = node.get("facts")
    if facts is None:
        raise InputError(f"configs/reranker/{name}.yaml has no facts: section; add the model's facts there")
    return OmegaConf.to_container(facts, resolve=False)  # type: ignore[return-value]


@contextmanager
def _reranker_group() -> Iterator[list[str]]:
    """Hydra's config search path for the duration (the running app's, else bench's config folder),
    and the options of its `reranker` group."""
    def options() -> list[str]:  # `none` selects no reranker: it has no facts
        return [o for o in GlobalHydra.instance().config_loader().get_group_options("reranker") if o != "none"]

    if GlobalHydra.instance().is_initialized():
        yield options()
        return
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        yield options()


def runtime_problem(runtime: str, dtype: str, device: torch.device) -> str | None:
    """Why a (runtime, dtype) cannot be profiled on a device, or None."""
    from bench.rerank.onnx import ONNX_DTYPES, RUNTIMES

    if runtime not in RUNTIMES:
        return f"unknown runtime {runtime!r}: choose from {', '.join(RUNTIMES)}"
    if runtime == "onnxruntime":
        return None if dtype in ONNX_DTYPES else f"onnxruntime runs {' or '.join(ONNX_DTYPES)}, not {dtype}"
    return dtype_problem(dtype, device)


def dtype_problem(dtype: str, device: torch.device) -> str | None:
    """Why a dtype cannot be profiled on a device, or None."""
    if dtype not in PROFILE_DTYPES:
        return f"unknown dtype {dtype!r}: choose from {', '.join(PROFILE_DTYPES)}"
    if dtype == "float16" and device.type != "cuda":
        return "float16 is profiled on CUDA only"
    if dtype == "int8" and device.type != "cpu":
        return "int8 dynamic quantisation runs on CPU only"
    return None


@dataclass
class Loaded:
    """One system's model at one runtime and dtype, ready to score.

    runtime onnxruntime: `onnx` is the scorer over the verified export and `model` is None (the
    PyTorch model it was exported from is released); `params` counts the PyTorch model's.
    """

    model: torch.nn.Module | None
    tokenizer: Any
    device: torch.device
    dtype: str
    path: Path
    architecture: str
    load_seconds: float
    params: int
    runtime: str = "torch"
    onnx: OnnxScorer | None = None


@dataclass
class ModelSource:
    """Where a system's model comes from, and what it is."""

    name: str
    facts: dict[str, Any]
    pretrained: bool = False
    seed: int = 0
    path: Path | None = None
    loaded: dict[tuple[str, str], Loaded] = field(default_factory=dict)  # (runtime, dtype) -> model

    @property
    def architecture(self) -> str:
        return str(self.facts["architecture"])

    @property
    def shape(self) -> Shape:
        return check_facts(self.name, self.facts)

    def prepare(self, scratch: Path) -> Path:
        """The checkpoint folder: a random one written under `scratch`, or the real one resolved."""
        if self.path is None:
            if self.pretrained:
                model_id = str(self.facts.get("model") or self.name)
                self.path = resolve(model_id, revision=self.facts.get("revision")).path
            else:
                self.path = random_checkpoint(self.facts, scratch / f"{self.name}-seed{self.seed}", seed=self.seed)
        return self.path

    def load(self, dtype: str, device: torch.device, runtime: str = "torch",
             onnx: dict[str, Any] | None = None) -> Loaded:
        """Load (and time loading) the model at `dtype` on `device` under `runtime`; kept for later calls.

        `onnx`: onnxruntime's settings (optimization, threads) for runtime onnxruntime.
        """
        if self.path is None:
            raise RuntimeError(f"{self.name}: call prepare(scratch) before load()")
        if (runtime, dtype) not in self.loaded:
            self.loaded[runtime, dtype] = load_checkpoint(
                self.path, architecture=self.architecture, dtype=dtype, device=device, vocab=self.shape.vocab,
                runtime=runtime, onnx=onnx,
            )
        return self.loaded[runtime, dtype]

    def unload(self) -> None:
        self.loaded.clear()


def load_checkpoint(
    path: Path, *, architecture: str, dtype: str, device: torch.device, vocab: int | None = None,
    runtime: str = "torch", onnx: dict[str, Any] | None = None,
) -> Loaded:
    """Load a checkpoint folder through bench.rerank.loading; int8: float32, then dynamic quantisation.

    runtime onnxruntime: float32 in PyTorch, then bench.rerank.onnx's verified export (`onnx`: its
    optimization and threads); the load time covers both.
    """
    from bench.rerank.loading import load_cross_encoder

    if runtime == "onnxruntime":
        return load_onnx(path, architecture=architecture, dtype=dtype, device=device, vocab=vocab, **(onnx or {}))

    started = time.perf_counter()
    torch_dtype = torch.float32 if dtype == "int8" else DTYPES[dtype]
    loaded = load_cross_encoder(
        ResolvedModel(str(path), Path(path), "local", None), device=device, dtype=torch_dtype
    )
    model = loaded.model
    if dtype == "int8":
        model = quantize_int8(model)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - started
    tokenizer = loaded.tokenizer
    if architecture not in TOKEN_TYPE_FAMILIES and "token_type_ids" in tokenizer.model_input_names:
        tokenizer.model_input_names = [n for n in tokenizer.model_input_names if n != "token_type_ids"]
    if vocab is not None:
        tokenizer = fit_tokenizer(tokenizer, vocab)
    params = sum(p.numel() for p in loaded.model.parameters())
    return Loaded(model, tokenizer, device, dtype, Path(path), architecture, seconds, params)


def load_onnx(
    path: Path, *, architecture: str, dtype: str, device: torch.device, vocab: int | None = None,
    optimization: str = "all", threads: int | None = None,
) -> Loaded:
    """The checkpoint in PyTorch float32, exported (or its cached export reused), verified, opened in onnxruntime."""
    from bench.rerank.onnx import open_onnx

    started = time.perf_counter()
    reference = load_checkpoint(path, architecture=architecture, dtype="float32", device=torch.device("cpu"),
                                vocab=vocab)
    scorer = open_onnx(reference.model, reference.tokenizer, name=f"{architecture} at {path}", checkpoint=path,
                       dtype=dtype, device=device, threads=threads, optimization=optimization)
    seconds = time.perf_counter() - started
    return Loaded(None, reference.tokenizer, device, dtype, Path(path), architecture, seconds, reference.params,
                  runtime="onnxruntime", onnx=scorer)


def quantize_int8(model: torch.nn.Module) -> torch.nn.Module:
    """Dynamic int8 quantisation of every nn.Linear (weights int8, activations quantised per batch).

    In place, so that loading does not hold a float32 and an int8 copy at once; the embeddings stay
    float32.
    """
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization's deprecation notice (-> torchao)
        quantized = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
    return quantized.eval()
