"""A profiled system: a model (its facts, a checkpoint folder) and a scorer, loaded per dtype.

A system's model comes from `reranker: <name>` (the facts of configs/reranker/<name>.yaml) or
from inline `facts:`. With `pretrained: false` (the default) a random-weight checkpoint of that
architecture is written to a scratch folder (architecture-only mode, no download); with
`pretrained: true` the real checkpoint is resolved (hub cache, local folder, packaged copy).
Either way the folder is loaded through bench.rerank.loading, the loader the pipeline uses.
"""

from __future__ import annotations

import difflib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf

from bench.models.hub import ResolvedModel, resolve
from bench.models.runtime import DTYPES
from bench.profile.architectures import TOKEN_TYPE_FAMILIES, check_facts, fit_tokenizer, random_checkpoint
from bench.profile.flops import Shape

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"
#: dtypes a profile can ask for; int8 is dynamic quantisation of the linear layers (CPU only)
PROFILE_DTYPES = (*DTYPES, "int8")


def reranker_facts(name: str, config_dir: Path = CONFIG_DIR) -> dict[str, Any]:
    """`facts` of configs/reranker/<name>.yaml, with a did-you-mean error for an unknown name."""
    folder = config_dir / "reranker"
    path = folder / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in folder.glob("*.yaml"))
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown reranker {name!r} (no {path}).{hint} Known: {', '.join(known)}")
    node = OmegaConf.load(path)
    entry = node.get(name, node)
    facts = entry.get("facts")
    if facts is None:
        raise ValueError(f"{path} has no facts: section")
    return OmegaConf.to_container(facts, resolve=False)  # type: ignore[return-value]


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
    """One system's model at one dtype, ready to score."""

    model: torch.nn.Module
    tokenizer: Any
    device: torch.device
    dtype: str
    path: Path
    architecture: str
    load_seconds: float
    params: int


@dataclass
class ModelSource:
    """Where a system's model comes from, and what it is."""

    name: str
    facts: dict[str, Any]
    pretrained: bool = False
    seed: int = 0
    path: Path | None = None
    loaded: dict[str, Loaded] = field(default_factory=dict)

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

    def load(self, dtype: str, device: torch.device) -> Loaded:
        """Load (and time loading) the model at `dtype` on `device`; kept for later calls."""
        if self.path is None:
            raise RuntimeError(f"{self.name}: call prepare(scratch) before load()")
        if dtype not in self.loaded:
            self.loaded[dtype] = load_checkpoint(
                self.path, architecture=self.architecture, dtype=dtype, device=device, vocab=self.shape.vocab
            )
        return self.loaded[dtype]

    def unload(self) -> None:
        self.loaded.clear()


def load_checkpoint(
    path: Path, *, architecture: str, dtype: str, device: torch.device, vocab: int | None = None
) -> Loaded:
    """Load a checkpoint folder through bench.rerank.loading; int8: float32, then dynamic quantisation."""
    from bench.rerank.loading import load_cross_encoder

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
