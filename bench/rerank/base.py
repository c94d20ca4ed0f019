"""The extension point for rerankers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable


@runtime_checkable
class Reranker(Protocol):
    """Score (query, document text) pairs; a higher score means more relevant.

    `score` returns one float per pair in input order. `info` returns facts for the manifest,
    such as the model id, revision, dtype, and the number of pairs truncated so far.
    """

    name: str

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[float]: ...

    def info(self) -> dict[str, object]: ...


class ModelUnavailable(RuntimeError):
    """A model could not be obtained (offline and not cached, gated, missing extra).

    The pipeline reports the reranker as skipped with `reason` and `fix`, and runs the others.
    `hub_id` is set when downloading that Hugging Face repository would fix it (the pipeline then
    prints the exact `hf download` command).
    """

    def __init__(self, model: str, reason: str, fix: str, hub_id: str | None = None) -> None:
        super().__init__(f"{model}: {reason}. To fix: {fix}")
        self.model = model
        self.reason = reason
        self.fix = fix
        self.hub_id = hub_id

    def __reduce__(self):
        # pickled by its fields, so it survives a trip through a worker process (executor=ray)
        return type(self), (self.model, self.reason, self.fix, self.hub_id)
