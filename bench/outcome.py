"""How every run ends, the retrieval study and every suite alike.

    log = RunLog()                      # filled on the way: systems, skips, pairs not run, timings
    ...
    finish(out_dir, log, markdown=table, manifest={"config": ..., "dataset": ...}, notes=[...], show=True)

`finish` writes summary.md (the table) and manifest.json (the run's own fields, then what the log
collected), then prints on stdout the table and every note a person must see: the run's own notes,
judgements dropped on loading, system pairs not run, models that could not be had (one block with
the commands that fix them), cache entries that were recomputed, and where the files are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.console import stage
from bench.errors import ModelUnavailable
from bench.manifest import write_manifest

if TYPE_CHECKING:
    from bench.rerank.scoring import Scored


@dataclass
class RunLog:
    """Everything the manifest records besides the run's config and data."""

    systems: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: models that could not be had: system, kind, model, revision, reason, fix, config (+ hub_id)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    quarantined: list[dict[str, str]] = field(default_factory=list)
    #: first stage x reranker pairs left out by choice (one model both retrieving and rescoring)
    pairs_not_run: list[dict[str, str]] = field(default_factory=list)

    def skip(self, name: str, exc: ModelUnavailable, node: object = None, *, kind: str = "reranker",
             config: str | None = None, revision: str | None = None) -> None:
        """A model that cannot be had. `node`: its config, where the revision is read (else `revision`).
        `kind` tells a reranker from another model of the same name (the RAG suite's embeddings);
        `config` is the config node a local copy is given to (default `reranker.<name>`)."""
        if isinstance(node, Mapping):
            revision = node.get("revision")
        self.skipped.append({"system": name, "kind": kind, "model": exc.model, "revision": revision,
                             "reason": exc.reason, "fix": exc.fix, "config": config or f"reranker.{name}",
                             **({"hub_id": exc.hub_id} if exc.hub_id else {})})

    def pair_not_run(self, system: str, model: str) -> None:
        """A reranker that would rescore the candidates of the very model that retrieved them: the order
        cannot change, so there is nothing to measure."""
        self.pairs_not_run.append({"system": system, "model": model})
        stage("not running %s: %s rescoring the candidates of the model that retrieved them gives the same order",
              system, model)

    def scored(self, name: str, scored: Scored, seconds: float) -> None:
        """What the rerank step of system `name` did: its time, score cache, shards and quarantined entries."""
        self.timings[f"rerank:{name}"] = seconds
        self.systems[name]["score_cache"] = scored.cache_status
        self.systems[name]["shards"] = scored.counts.as_dict()
        self.quarantined.extend(p.as_dict() for p in scored.problems)

    def manifest_fields(self) -> dict[str, Any]:
        return {
            "systems": self.systems,
            "skipped": self.skipped,
            "pairs_not_run": self.pairs_not_run,
            "cache_entries_quarantined": self.quarantined,
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
        }


def finish(out_dir: Path, log: RunLog, *, markdown: str, manifest: Mapping[str, Any], notes: Sequence[str] = (),
           show: bool = True) -> None:
    """Write summary.md and manifest.json into `out_dir`; with `show`, print the table and every note."""
    (out_dir / "summary.md").write_text(markdown)
    write_manifest(out_dir / "manifest.json", {**manifest, **log.manifest_fields()})
    stage("wrote %s", out_dir)
    if show:
        print_outcome(markdown, log, out_dir, notes)


def print_outcome(markdown: str, log: RunLog, out_dir: Path, notes: Sequence[str] = ()) -> None:
    """The table, the run's own notes, then the notes every run shares, on stdout."""
    print(markdown, end="")
    for line in notes:
        print(line)
    for pair in log.pairs_not_run:
        print(f"not run: {pair['system']} (rescoring with {pair['model']}, the model that retrieved the "
              "candidates, gives the same order)")
    print(skipped_block(log.skipped), end="")
    if log.quarantined:
        print(f"{len(log.quarantined)} cache entries failed verification and were recomputed "
              "(listed in manifest.json under cache_entries_quarantined)")
    print(f"results in {out_dir}")


def qrels_note(load_report: Mapping[str, Any]) -> list[str]:
    """One line when loading dropped judgements (`LoadReport.as_dict()`); none when it dropped nothing."""
    documents = int(load_report.get("qrels_unknown_document") or 0)
    queries = int(load_report.get("qrels_unknown_query") or 0)
    if not documents and not queries:
        return []
    return [f"qrels: {documents} judgements name documents not in the corpus, {queries} name queries not in "
            "queries.jsonl: dropped"]


#: how a kind of model reads in the skipped block's first line
NOUNS = {"embedding": "embedding model"}


def _nouns(skipped: Sequence[Mapping[str, Any]]) -> str:
    """'2 rerankers', '1 embedding model and 1 reranker': how many models of each kind, in order of appearance."""
    counts: dict[str, int] = {}
    for skip in skipped:
        kind = str(skip.get("kind", "reranker"))
        counts[kind] = counts.get(kind, 0) + 1
    return " and ".join(f"{n} {NOUNS.get(kind, kind)}{'s' if n > 1 else ''}" for kind, n in counts.items())


def skipped_block(skipped: Sequence[Mapping[str, Any]]) -> str:
    """One block for every model that could not be had, each with the commands that fix it."""
    if not skipped:
        return ""
    mixed = len({s.get("kind", "reranker") for s in skipped}) > 1
    labels = [f"{s.get('kind', 'reranker')} {s['system']}" if mixed else str(s["system"]) for s in skipped]
    width = max(len(label) for label in labels)
    lines = [f"skipped {_nouns(skipped)} whose model or service is unavailable here:"]
    lines += [f"  {label:<{width}}  {skip['reason']}" for label, skip in zip(labels, skipped, strict=True)]
    hub = [s for s in skipped if s.get("hub_id")]
    if hub:
        lines.append("to fix, download each once with network access (huggingface_hub's CLI):")
        for skip in hub:
            revision = f" --revision {skip['revision']}" if skip.get("revision") else ""
            lines.append(f"  hf download {skip['hub_id']}{revision}")
        lines.append("or add the override that points at a local copy of the checkpoint:")
        for skip in hub:
            folder = skip["hub_id"].rsplit("/", 1)[-1]
            lines.append(f"  '{skip['config']}.model=/path/to/{folder}'")
    for label, skip in zip(labels, skipped, strict=True):
        if not skip.get("hub_id"):
            lines.append(f"  {label}: {skip['fix']}")
    return "\n".join(lines) + "\n"
