"""Check a composed study config before any work: every mistake in it, one line each.

    validate(cfg)                    # raises ConfigError (an InputError) listing every problem found
    problems(cfg)                    # the same lines, as a list (empty: the config is usable)

Each line names the key, the value given and what is allowed, e.g.

    top_k=0: must be an integer >= 1 (candidates kept from each first stage)
    reranker.jina-tiny.dtype=float8: must be one of float32, float16, bfloat16

Why up front: a value that is read late ends in a traceback after minutes (an `int()` deep in the
pipeline), or in a wrong result that says nothing (rerank_depth=0 reranked everything; a dtype
nobody reads because the scores are cached; a device this machine lacks, recorded in the manifest).

What is checked: the top-level keys of configs/config.yaml (by the rules in `RULES`), and every
selected node that the run instantiates: the dataset, each first stage (and a hybrid's components),
each reranker, the executor, and the suite with its embedding models. A node's key that only
repeats a top-level one (`device: ${device}`) is reported once, under the top-level key.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from bench.errors import InputError, did_you_mean

#: a rule: the value -> what is allowed (when the value breaks the rule) or None
Rule = Callable[[Any], str | None]


class ConfigError(InputError):
    """One or more config values bench cannot use; the message holds one self-contained line per problem."""


def show(value: Any) -> str:
    """A value as it would be typed in an override (null, true, [a,b], '' for the empty string)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple):
        return "[" + ",".join(show(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}:{show(v)}" for k, v in value.items()) + "}"
    if value == "":
        return "''"
    return str(value)


def line(key: str, value: Any, allowed: str) -> str:
    return f"{key}={show(value)}: {allowed}"


# ------------------------------------------------------------------------------------------------
# Rules for single values.


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def integer(low: int, *, optional: bool = False, why: str = "") -> Rule:
    """An integer >= `low` (or null when `optional`)."""
    allowed = f"must be {'null or ' if optional else ''}an integer >= {low}{f' ({why})' if why else ''}"

    def rule(value: Any) -> str | None:
        if value is None and optional:
            return None
        return None if is_int(value) and value >= low else allowed

    return rule


def number(low: float = 0.0, high: float | None = None, *, above: bool = False, why: str = "") -> Rule:
    """A number >= `low` (> `low` when `above`), <= `high` when given."""
    bound = f"> {low:g}" if above else (f"from {low:g} to {high:g}" if high is not None else f">= {low:g}")
    allowed = f"must be a number {bound}{f' ({why})' if why else ''}"

    def rule(value: Any) -> str | None:
        if not is_number(value) or value < low or (above and value == low) or (high is not None and value > high):
            return allowed
        return None

    return rule


def boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def self_hits(value: Any) -> str | None:
    if isinstance(value, bool) or (isinstance(value, str) and value.strip().lower() in ("auto", "true", "false")):
        return None
    return "must be auto (on for the public BEIR datasets only), true or false"


def text(value: Any) -> str | None:
    return None if isinstance(value, str) and value else "must be a non-empty string"


def optional_text(value: Any) -> str | None:
    return None if value is None or isinstance(value, str) else "must be null or a string"


def token_budget(value: Any) -> str | None:
    if value is None or value == "auto" or (is_int(value) and value >= 1):
        return None
    return 'must be null, "auto" or an integer >= 1 (tokens per batch)'


#: key -> rule, for the top level and for every checked node that has the key (names mean one thing here)
RULES: dict[str, Rule] = {
    # configs/config.yaml
    "top_k": integer(1, why="candidates kept from each first stage"),
    "remove_self_hits": self_hits,
    "seed": integer(0),
    "cache": boolean,
    "quiet": boolean,
    "output_dir": optional_text,
    # shard (configs/config.yaml) and dataset=synthetic
    "queries": integer(1),
    "documents": integer(1),
    # dataset=synthetic
    "judged_per_query": integer(1),
    "doc_length": integer(2),
    "vocabulary": integer(100),
    "split": text,
    # first stages, rerankers, embedding models
    "model": text,
    "batch_size": integer(1),
    "max_length": integer(1, optional=True),
    "token_budget": token_budget,
    "chunk_size": integer(1),
    "shard_documents": integer(1),
    "normalize": boolean,
    "trust_remote_code": boolean,
    "allow_pickle": boolean,
    "k1": number(0.0),
    "b": number(0.0, 1.0),
    "k": number(0.0, above=True, why="reciprocal rank fusion's constant"),
    "depth": integer(1),
    # API rerankers and the question generator
    "documents_per_request": integer(1),
    "timeout": number(0.0, above=True, why="seconds"),
    "max_retries": integer(0),
    "backoff_base": number(0.0),
    "max_backoff": number(0.0),
    "temperature": number(0.0),
    "max_tokens": integer(1),
    # executor=ray
    "replicas": integer(1),
    "max_restarts": integer(0),
    "num_cpus": number(0.0),
    "num_gpus": number(0.0),
    "local_num_cpus": integer(1, optional=True),
    # suite=rag
    "retrieve_k": integer(1),
    "max_questions": integer(1, optional=True),
    "max_pages": integer(1, optional=True),
    "questions_per_chunk": integer(1),
}


# ------------------------------------------------------------------------------------------------
# Device and dtype.


@cache
def _torch():  # imported once, and only when a device or dtype is checked
    import torch

    return torch


def _dtype_names() -> tuple[str, ...]:
    from bench.models.runtime import DTYPES

    return tuple(DTYPES)


def device_type(value: str) -> str:
    """`auto` as this machine resolves it (cuda or cpu); else the device's type."""
    if value == "auto":
        return "cuda" if _torch().cuda.is_available() else "cpu"
    return value.split(":", 1)[0]


def device_problem(value: Any) -> str | None:
    """Why this machine cannot run on `value`, or None."""
    allowed = "must be auto, cpu, cuda, cuda:N or mps"
    if not isinstance(value, str):
        return allowed
    if value in ("auto", "cpu"):
        return None
    torch = _torch()
    try:
        device = torch.device(value)
    except (RuntimeError, ValueError):
        return allowed
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            return "CUDA is not available on this machine; use device=auto or device=cpu"
        if device.index is not None and device.index >= count:
            return f"this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}"
        return None
    if device.type == "mps":
        return None if torch.backends.mps.is_available() else "MPS is not available on this machine; use device=cpu"
    return None if device.type == "cpu" else allowed


def dtype_problem(value: Any, device: Any) -> str | None:
    """Why `value` is no dtype for `device` (pick_dtype's rules, checked before any model loads), or None."""
    if value == "float32":  # valid on every device: checked without importing torch (the default, kept fast)
        return None
    names = _dtype_names()
    if value not in names:
        return f"must be one of {', '.join(names)}.{did_you_mean(value, names)}".rstrip(".")
    kind = device_type(device) if isinstance(device, str) and device_problem(device) is None else None
    if value == "float16" and kind == "cpu":
        return "float16 needs CUDA; on a CPU use float32 or bfloat16"
    if value == "bfloat16" and kind == "cuda" and not _torch().cuda.is_bf16_supported():
        return "this GPU has no bfloat16; use float32 or float16"
    return None


# ------------------------------------------------------------------------------------------------
# Walking the config.


def missing_keys(node: Any, prefix: str = "") -> Iterator[str]:
    """Full keys whose value is `???` (the config requires the user to give one); interpolations are not
    followed, so a key that points at a missing one is not reported twice."""
    if isinstance(node, DictConfig):
        keys: Any = node.keys()
    elif isinstance(node, ListConfig):
        keys = range(len(node))
    else:
        return
    for key in keys:
        full = f"{prefix}.{key}" if prefix else str(key)
        if OmegaConf.is_missing(node, key):
            yield full
        elif not OmegaConf.is_interpolation(node, key):
            yield from missing_keys(node._get_node(key), full)


def inherited(cfg: DictConfig, key: str) -> bool:
    """True when `key` (a full key) is an interpolation such as `${device}`: the source key is checked."""
    parent, _, leaf = key.rpartition(".")
    node = OmegaConf.select(cfg, parent) if parent else cfg
    return isinstance(node, DictConfig) and leaf in node and OmegaConf.is_interpolation(node, leaf)


class Checker:
    """Collects the problems of one resolved config (`plain`), reading interpolation facts from `cfg`."""

    def __init__(self, cfg: DictConfig, plain: dict[str, Any]) -> None:
        self.cfg = cfg
        self.plain = plain
        self.problems: list[str] = []

    def add(self, key: str, value: Any, allowed: str) -> None:
        self.problems.append(line(key, value, allowed))

    def node(self, prefix: str, node: Mapping[str, Any]) -> None:
        """The rules of `RULES`, device and dtype for every key of `node` given here (not inherited)."""
        for key, value in node.items():
            full = f"{prefix}.{key}" if prefix else str(key)
            if prefix and inherited(self.cfg, full):
                continue
            rule = RULES.get(str(key))
            allowed = rule(value) if rule is not None else None
            if key == "device":
                allowed = device_problem(value)
            elif key == "dtype":
                allowed = dtype_problem(value, node.get("device", self.plain.get("device")))
            if allowed:
                self.add(full, value, allowed)

    def mapping(self, key: str, value: Any, what: str) -> bool:
        """True when `value` is a mapping; else a problem saying it must be `what`."""
        if isinstance(value, Mapping):
            return True
        self.add(key, value, f"must be {what}")
        return False


def target(node: Mapping[str, Any]) -> str:
    return str(node.get("_target_") or "")


def existing_path(value: Any, *, folder: bool) -> Path | None:
    """The path when `value` names an existing folder (`folder`) or file; else None."""
    if not isinstance(value, str) or not value:
        return None
    path = Path(value).expanduser()
    return path if (path.is_dir() if folder else path.is_file()) else None


# ------------------------------------------------------------------------------------------------
# The checks, by part of the config.


def check_top_level(check: Checker) -> None:
    plain = check.plain
    check.node("", {k: v for k, v in plain.items() if not isinstance(v, Mapping | list)})
    depth, top_k = plain.get("rerank_depth"), plain.get("top_k")
    if depth is not None and not (is_int(depth) and depth >= 1 and (not is_int(top_k) or depth <= top_k)):
        bound = f"from 1 to top_k ({top_k})" if is_int(top_k) and top_k >= 1 else "from 1 to top_k"
        check.add("rerank_depth", depth, f"must be null (rerank all top_k) or an integer {bound}")
    if check.mapping("shard", plain.get("shard"), "a mapping with queries and documents"):
        check.node("shard", plain["shard"])
    check_measures(check, plain.get("measures"))


def check_measures(check: Checker, measures: Any) -> None:
    from bench.evaluate.measures import DEFAULT_MEASURES, parse_measures

    example = f"e.g. measures=[{','.join(DEFAULT_MEASURES[:3])}]"
    if not isinstance(measures, list) or not measures or not all(isinstance(m, str) for m in measures):
        check.add("measures", measures, f"must be a non-empty list of ir-measures names, {example}")
        return
    seen: dict[str, str] = {}
    for name in measures:
        try:
            label = str(parse_measures([name])[0])
        except ValueError:
            hint = did_you_mean(name, DEFAULT_MEASURES)
            check.add("measures", measures, f"{name!r} is not an ir-measures name.{hint} Known examples: "
                      f"{', '.join(DEFAULT_MEASURES)}")
            continue
        if label in seen:
            spelt = "" if seen[label] == name else f" (as {seen[label]!r} too)"
            check.add("measures", measures, f"{name!r} is listed twice{spelt}; give each measure once")
        seen.setdefault(label, name)


def check_dataset(check: Checker) -> None:
    dataset = check.plain.get("dataset")
    if not check.mapping("dataset", dataset, "a dataset config (dataset=demo, local, scifact, ...)"):
        return
    check.node("dataset", dataset)
    kind = target(dataset)
    if kind.endswith("sources.local") and existing_path(dataset.get("path"), folder=True) is None:
        check.add("dataset.path", dataset.get("path"), "no such folder; give a BEIR folder (corpus.jsonl, "
                  "queries.jsonl, qrels/<split>.tsv)")
    if kind.endswith("synthetic.synthetic"):
        docs, queries, judged = (dataset.get(k) for k in ("documents", "queries", "judged_per_query"))
        judged = 3 if judged is None else judged
        if all(is_int(v) and v >= 1 for v in (docs, queries, judged)) and queries * judged > docs:
            check.add("dataset.documents", docs, f"must be at least dataset.queries x judged_per_query "
                      f"({queries} x {judged} = {queries * judged}): no document is judged for two queries")


def check_first_stage(check: Checker, prefix: str, node: Any) -> None:
    if node is None:
        return
    if not check.mapping(prefix, node, "a first-stage config or null"):
        return
    check.node(prefix, {k: v for k, v in node.items() if k != "components"})
    if target(node).endswith("run_file.RunFile") and existing_path(node.get("path"), folder=False) is None:
        check.add(f"{prefix}.path", node.get("path"), "no such file; give a TREC run file "
                  "(query Q0 document rank score tag)")
    components = node.get("components")
    if "components" in node and check.mapping(f"{prefix}.components", components, "a mapping of first stages"):
        if not any(c is not None for c in components.values()):
            check.add(f"{prefix}.components", components, "must keep at least one component (bm25, dense)")
        for name, component in components.items():
            check_first_stage(check, f"{prefix}.components.{name}", component)


def check_systems(check: Checker) -> None:
    for group in ("first_stage", "reranker"):
        nodes = check.plain.get(group)
        if nodes is None or not check.mapping(group, nodes, f"a selection of configs/{group}/ (or {group}=none)"):
            continue
        for name, node in nodes.items():
            if group == "first_stage":
                check_first_stage(check, f"first_stage.{name}", node)
            elif node is not None and check.mapping(f"reranker.{name}", node, "a reranker config or null"):
                check.node(f"reranker.{name}", node)


def check_executor(check: Checker) -> None:
    node = check.plain.get("executor")
    if node is None or not check.mapping("executor", node, "an executor config (executor=local or ray)"):
        return
    check.node("executor", node)
    if target(node).endswith("ray.RayExecutor") and importlib.util.find_spec("ray") is None:
        check.add("executor", "ray", "needs Ray, which is not installed here: pip install 'bench[ray]'")


# ------------------------------------------------------------------------------------------------
# suite=rag


def check_suite(check: Checker) -> None:
    suite = check.plain.get("suite")
    if suite is None or not check.mapping("suite", suite, "a suite config (suite=rag) or null"):
        return
    if target(suite).endswith("suites.rag.run.run_suite"):
        check_rag(check, suite)


def check_rag(check: Checker, suite: Mapping[str, Any]) -> None:
    from dataclasses import fields

    from bench.suites.rag.run import SOURCES, RagSettings

    known = {f.name for f in fields(RagSettings)}
    for key in suite:
        if not str(key).startswith("_") and key not in known:
            check.add(f"suite.{key}", suite[key], f"not a key of the rag suite.{did_you_mean(key, known)}"
                      f" Keys: {', '.join(sorted(known))}")
    check.node("suite", {k: v for k, v in suite.items() if k in known and k not in ("embeddings", "generate")})
    source = suite.get("source", "qa")
    if source not in SOURCES:
        check.add("suite.source", source, f"must be one of {', '.join(SOURCES)}.{did_you_mean(source, SOURCES)}")
    else:
        check_rag_path(check, source, suite.get("path"))
    retrieve_k, rerank_k = suite.get("retrieve_k", 10), suite.get("rerank_k", 5)
    if not (is_int(rerank_k) and rerank_k >= 1 and (not is_int(retrieve_k) or rerank_k <= retrieve_k)):
        check.add("suite.rerank_k", rerank_k, f"must be an integer from 1 to suite.retrieve_k ({show(retrieve_k)})")
    size, overlap = suite.get("chunk_size", 512), suite.get("chunk_overlap", 200)
    if not (is_int(overlap) and overlap >= 0 and (not is_int(size) or overlap <= size)):
        check.add("suite.chunk_overlap", overlap, f"must be an integer from 0 to suite.chunk_size ({show(size)})")
    check_embeddings(check, suite.get("embeddings"))
    generate = suite.get("generate")
    if generate is not None and check.mapping("suite.generate", generate, "a question generator config or null"):
        check.node("suite.generate", generate)
    if source == "documents" and generate is None and suite.get("questions") is None:
        check.add("suite.generate", None, "suite.source=documents needs questions: give suite.questions=<QA JSON> "
                  "or keep suite.generate")


def check_rag_path(check: Checker, source: str, path: Any) -> None:
    from bench.suites.rag.run import path_in_cwd_or_repo

    needs = {"qa": "a LlamaIndex QA JSON file (null: the shipped demo set)",
             "beir": "a BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv)",
             "documents": "a folder (or one file) of .txt, .md or .pdf documents"}[source]
    if path is None:
        if source != "qa":
            check.add("suite.path", path, f"suite.source={source} needs suite.path: {needs}")
        return
    if not isinstance(path, str) or not path:
        check.add("suite.path", path, f"must be {needs}")
        return
    found = path_in_cwd_or_repo(path)
    exists = {"qa": found.is_file(), "beir": found.is_dir(), "documents": found.exists()}[source]
    if not exists:
        check.add("suite.path", path, f"not found (relative paths are tried against the working directory, then "
                  f"the repository root); give {needs}")


def check_embeddings(check: Checker, embeddings: Any) -> None:
    what = ("a mapping of embedding models (the default minilm, bge-base, jina-v2-base; switch one off with "
            "suite.embeddings.NAME=null)")
    if not check.mapping("suite.embeddings", embeddings, what):
        return
    if not any(node is not None for node in embeddings.values()):
        check.add("suite.embeddings", embeddings, "must keep at least one embedding model (not null)")
    for name, node in embeddings.items():
        key = f"suite.embeddings.{name}"
        if node is not None and check.mapping(key, node, "an embedding model config with a _target_, or null"):
            check.node(key, node)


# ------------------------------------------------------------------------------------------------
# Entry points.


def resolved(cfg: DictConfig) -> tuple[dict[str, Any] | None, list[str]]:
    """The config as plain data, or the problems that keep it from resolving (missing `???` values,
    interpolations that point nowhere)."""
    missing = [line(key, "???", f"required: give it a value, e.g. {key}=...") for key in missing_keys(cfg)]
    if missing:
        return None, missing
    try:
        return OmegaConf.to_container(cfg, resolve=True), []  # type: ignore[return-value]
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None) or "config"
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return None, [f"{key}: cannot be resolved ({reason})"]


def problems(cfg: DictConfig, *, dataset: bool = True) -> list[str]:
    """Every problem of `cfg`, one self-contained line each. `dataset=False`: the configured dataset is not
    used (a loaded one was supplied), so it is not checked."""
    if not dataset:
        cfg = cfg.copy()
        with open_dict(cfg):
            cfg.dataset = None
    plain, found = resolved(cfg)
    if plain is None:
        return found
    check = Checker(cfg, plain)
    check_top_level(check)
    if dataset:
        check_dataset(check)
    check_systems(check)
    check_executor(check)
    check_suite(check)
    return check.problems


def validate(cfg: DictConfig, *, dataset: bool = True) -> None:
    """Raise ConfigError with every problem of `cfg` (one line each); return when there is none."""
    found = problems(cfg, dataset=dataset)
    if found:
        raise ConfigError("\n".join(found))
