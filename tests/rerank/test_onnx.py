"""runtime: onnxruntime: exports verified against PyTorch, scores equal to PyTorch's, int8, the export
cache (reused, damaged entries quarantined), the score cache's identity, and a missing extra."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.errors import InputError, ModelUnavailable
from bench.first_stage.run_file import read_trec_run
from bench.pipeline import reranker_identity, run
from bench.rerank import onnx as onnx_runtime
from bench.rerank.cross_encoder import CrossEncoderReranker
from tests.checkpoints import (
    make_bert_checkpoint,
    make_deberta_v2_checkpoint,
    make_jinabert_checkpoint,
    make_xlmr_checkpoint,
)

pytest.importorskip("onnxruntime", reason="the onnx extra (pip install 'bench[onnx]') is not installed")

MAKERS: dict[str, Callable[..., Path]] = {
    "bert": make_bert_checkpoint,
    "xlm-roberta": make_xlmr_checkpoint,
    "deberta-v2": make_deberta_v2_checkpoint,
    "jinabert": make_jinabert_checkpoint,
}
PAIRS = [
    ("what is the boundary layer", "The boundary layer of a flat plate in supersonic flow."),
    ("fox", "The quick brown fox jumps over the lazy dog near the river bank."),
    ("rerankers", ""),
    ("numbers in abstracts", "1, 2, 3"),
    ("cross-encoders and relevance", "Cross-encoders read the query and the document together. " * 4),
    ("why", "Retrieval systems rank documents; rerankers reorder the first stage's top hundred results."),
]
#: far longer than the probe pairs (PROBE_LENGTH tokens) and the export's example
LONG_PAIRS = [
    ("heat transfer", "Heat transfer to a blunt body at hypersonic speeds depends on the nose radius. " * 12),
    ("boundary layer", "The boundary layer of a flat plate in supersonic flow. " * 20),
    ("short", "a dog"),
]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> Callable[[str], Path]:
    made: dict[str, Path] = {}

    def get(arch: str) -> Path:
        if arch not in made:
            made[arch] = MAKERS[arch](tmp_path_factory.mktemp(arch))
        return made[arch]

    return get


def reranker(path: Path, **overrides) -> CrossEncoderReranker:
    options = dict(name="tiny", model=str(path), device="cpu", max_length=48, batch_size=4, token_budget=None)
    return CrossEncoderReranker(**(options | overrides))


def max_diff(a, b) -> float:
    return max(abs(x - y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("arch", sorted(MAKERS))
def test_onnxruntime_scores_equal_pytorch_within_1e4(arch, checkpoints):
    path = checkpoints(arch)
    expected = reranker(path).score(PAIRS)
    onnx = reranker(path, runtime="onnxruntime")
    scores = onnx.score(PAIRS)
    assert max_diff(scores, expected) <= 1e-4
    assert max(expected) - min(expected) > 1e-3, "scores barely differ: the comparison would prove little"
    info = onnx.info()
    assert (info["runtime"], info["dtype"], info["onnx_dtype"]) == ("onnxruntime", "float32", "float32")
    assert info["onnxruntime"] and info["architecture"] == arch
    assert 0 <= info["verification_max_abs_diff"] <= 1e-4 and info["verification_pairs"] == 6
    assert info["export_cache"] == "exported" and info["truncated_pairs"] == 1
    json.dumps(info)  # the manifest holds it


def test_jinabert_alibi_is_computed_in_the_graph_beyond_the_probe_length(checkpoints):
    """One export serves lengths far beyond those it was traced and verified on (ALiBi from the shape)."""
    path = checkpoints("jinabert")
    onnx = reranker(path, runtime="onnxruntime", max_length=512)
    scores = onnx.score(LONG_PAIRS)
    loaded = onnx.load()
    lengths = loaded.scorer.tokenizer(*zip(*LONG_PAIRS, strict=True))["input_ids"]
    assert max(len(ids) for ids in lengths) > 4 * onnx_runtime.PROBE_LENGTH
    assert max_diff(scores, reranker(path, max_length=512).score(LONG_PAIRS)) <= 1e-4
    for batch_size in (1, 2):  # other batch shapes and paddings, same export
        again = reranker(path, runtime="onnxruntime", max_length=512, batch_size=batch_size)
        assert max_diff(again.score(LONG_PAIRS), scores) <= 1e-5
        assert again.info()["export_cache"] == "hit"


def test_int8_runs_and_reports_its_difference_from_pytorch(checkpoints):
    path = checkpoints("bert")
    float32 = reranker(path).score(PAIRS)
    int8 = reranker(path, runtime="onnxruntime", dtype="int8")
    scores = int8.score(PAIRS)
    assert all(math.isfinite(s) for s in scores)
    info = int8.info()
    assert (info["dtype"], info["onnx_dtype"], info["verification_tolerance"]) == ("int8", "int8", None)
    assert 1e-6 < info["verification_max_abs_diff"] < 0.5  # an approximation: recorded, not refused
    assert 1e-6 < max_diff(scores, float32) < 0.5
    float32_export = reranker(path, runtime="onnxruntime")
    float32_export.score(PAIRS[:1])
    assert float32_export.info()["export_entry"] != info["export_entry"], "int8 has an export of its own"


def test_the_export_is_reused_from_the_cache(checkpoints, monkeypatch):
    path = checkpoints("bert")
    first = reranker(path, runtime="onnxruntime")
    scores = first.score(PAIRS)
    assert first.info()["export_cache"] == "exported"

    def no_export(*args, **kwargs):
        raise AssertionError("exported again although a verified export was cached")

    monkeypatch.setattr(onnx_runtime, "export_onnx", no_export)
    second = reranker(path, runtime="onnxruntime")
    assert second.score(PAIRS) == scores
    assert second.info()["export_cache"] == "hit"
    assert second.info()["export_entry"] == first.info()["export_entry"]


def test_a_damaged_export_is_quarantined_and_exported_again(checkpoints, _isolated_cache):
    path = checkpoints("bert")
    first = reranker(path, runtime="onnxruntime")
    scores = first.score(PAIRS)
    entry = Path(first.info()["export_entry"])
    model_file = entry / onnx_runtime.MODEL_FILE
    data = bytearray(model_file.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte somewhere in the weights
    model_file.write_bytes(bytes(data))
    second = reranker(path, runtime="onnxruntime")
    assert second.score(PAIRS) == pytest.approx(scores, abs=1e-6)
    info = second.info()
    assert info["export_cache"] == "exported"
    [moved] = info["quarantined"]
    assert moved["path"] == str(entry) and "sha256" in moved["reason"]
    assert Path(moved["moved_to"]).is_dir() and (entry / onnx_runtime.MODEL_FILE).is_file()
    assert (_isolated_cache / "quarantine").is_dir()


def test_an_export_that_onnxruntime_cannot_load_is_quarantined(checkpoints):
    """Checksums that match a file onnxruntime refuses (another tool's entry): moved aside, exported again."""
    from bench.store.entries import write_folder

    path = checkpoints("xlm-roberta")
    first = reranker(path, runtime="onnxruntime")
    first.score(PAIRS[:2])
    entry = Path(first.info()["export_entry"])
    record = json.loads((entry / "entry.json").read_text())
    entry.rename(entry.with_name("set-aside"))

    def not_a_graph(tmp: Path) -> None:
        (tmp / onnx_runtime.MODEL_FILE).write_bytes(b"not a graph")

    write_folder(entry, not_a_graph, meta={k: v for k, v in record.items() if k not in ("files", "format", "created")})
    second = reranker(path, runtime="onnxruntime")
    second.score(PAIRS[:2])
    [problem] = second.info()["quarantined"]
    assert "onnxruntime cannot run" in problem["reason"]
    assert second.info()["export_cache"] == "exported"


def test_an_export_whose_scores_differ_is_refused_naming_the_model_and_the_difference(checkpoints, monkeypatch):
    monkeypatch.setattr(onnx_runtime, "VERIFY_TOLERANCE", -1.0)  # no export can pass
    path = checkpoints("bert")
    with pytest.raises(ModelUnavailable) as caught:
        reranker(path, runtime="onnxruntime").score(PAIRS)
    assert caught.value.model == str(path)
    assert "probe pairs up to" in caught.value.reason and "away from PyTorch's" in caught.value.reason
    assert "runtime: torch" in caught.value.fix


def test_a_missing_onnx_extra_is_unavailable_with_the_pip_command(checkpoints, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now raises ImportError
    with pytest.raises(ModelUnavailable) as caught:
        reranker(checkpoints("bert"), runtime="onnxruntime").score(PAIRS)
    assert "pip install 'bench[onnx]'" in caught.value.fix


def test_runtime_and_dtype_are_checked_when_the_reranker_is_built(checkpoints):
    with pytest.raises(InputError, match="Did you mean 'onnxruntime'"):
        reranker(checkpoints("bert"), runtime="onnxrt")
    with pytest.raises(InputError, match="runtime=onnxruntime"):
        reranker(checkpoints("bert"), dtype="int8")
    with pytest.raises(InputError, match="float32 or int8"):
        reranker(checkpoints("bert"), runtime="onnxruntime", dtype="bfloat16")


# -- through `bench` ----------------------------------------------------------------------------


def test_runtime_and_dtype_are_part_of_the_score_cache_identity(compose):
    def identity(*overrides: str) -> dict:
        return reranker_identity(compose("reranker=[minilm-l6]", *overrides).reranker["minilm-l6"])

    torch_float32 = identity()
    onnx_float32 = identity("reranker.minilm-l6.runtime=onnxruntime")
    onnx_int8 = identity("reranker.minilm-l6.runtime=onnxruntime", "reranker.minilm-l6.dtype=int8")
    assert (torch_float32["runtime"], onnx_float32["runtime"]) == ("torch", "onnxruntime")
    assert onnx_int8["dtype"] == "int8"
    assert len({json.dumps(i, sort_keys=True) for i in (torch_float32, onnx_float32, onnx_int8)}) == 3


def test_bench_reranks_with_onnxruntime_like_pytorch(compose, tiny_beir, checkpoints, tmp_path):
    common = ("dataset=local", f"dataset.path={tiny_beir}", "first_stage=bm25", "reranker=[minilm-l6]",
              f"reranker.minilm-l6.model={checkpoints('bert')}", "device=cpu")
    run(compose(*common), out_dir=tmp_path / "torch")
    run(compose(*common, "reranker.minilm-l6.runtime=onnxruntime"), out_dir=tmp_path / "onnx")
    expected = read_trec_run(tmp_path / "torch" / "runs" / "bm25__minilm-l6.trec")
    got = read_trec_run(tmp_path / "onnx" / "runs" / "bm25__minilm-l6.trec")
    assert got.keys() == expected.keys()
    for qid, docs in expected.items():
        assert got[qid].keys() == docs.keys()
        assert max_diff([got[qid][d] for d in docs], list(docs.values())) <= 1e-4
    manifest = json.loads((tmp_path / "onnx" / "manifest.json").read_text())
    system = manifest["systems"]["bm25>>minilm-l6"]
    assert system["score_cache"] == "miss", "torch's cached scores must not stand in for onnxruntime's"
    info = system["info"]
    assert (info["runtime"], info["dtype"]) == ("onnxruntime", "float32")
    assert info["onnxruntime"] and info["verification_max_abs_diff"] <= 1e-4
