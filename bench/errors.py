"""Errors that every layer may raise, kept below all of them so that no layer imports another for them.

- `InputError`: the user gave bench something it cannot use (a config value, a file, an id). Entry points
  print its message as one line and exit with status 2; the traceback goes to the run's log only.
- `ModelUnavailable`: a model could not be obtained; the pipeline skips that system and says how to fix it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class InputError(ValueError):
    """A mistake in what the user gave bench, as one line: where (file:line, config key or id), what is
    wrong, and what to do. Entry points print it without a traceback and exit with `exit_status`."""

    exit_status = 2


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


def did_you_mean(word: str, choices: Iterable[str], n: int = 1) -> str:
    """' Did you mean 'x'?' for the closest of `choices` (up to `n`), or '' when none is close."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=n)
    if not close:
        return ""
    return f" Did you mean {' or '.join(repr(c) for c in close)}?"
