"""The reranker zoo: every config composes and builds without loading a model, its facts are
complete, and every architecture in it scores through the real path exactly like a plain
forward pass of each pair alone (on tiny random checkpoints, offline)."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf
from safetensors.torch import load_file

from bench.errors import ModelUnavailable
from bench.paths import CONFIG_DIR
from bench.rerank.base import Reranker
from bench.rerank.cross_encoder import CrossEncoderReranker
from tests.checkpoints import (
    make_bert_checkpoint,
    make_deberta_v2_checkpoint,
    make_jinabert_checkpoint,
    make_xlmr_checkpoint,
)

CONFIGS = CONFIG_DIR
ZOO = sorted(p.stem for p in (CONFIGS / "reranker").glob("*.yaml") if p.stem != "none")
BEIR = {
    "arguana", "climate-fever", "cqadupstack", "dbpedia-entity", "fever", "fiqa", "hotpotqa", "msmarco",
    "nfcorpus", "nq", "quora", "scidocs", "scifact", "trec-covid", "webis-touche2020", "bioasq",
    "signal1m", "trec-news", "robust04",
}


def compose_config(*overrides: str):
    with initialize_config_dir(config_dir=str(CONFIGS), version_base=None):
        return compose("config", overrides=list(overrides))


def reranker_node(name: str):
    return compose_config(f"reranker=[{name}]").reranker[name]


# -- the configs --------------------------------------------------------------------------------


@pytest.fixture
def no_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any attempt to fetch or load a model, or to call an API, while the test runs."""

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded (or an API called) while only building the reranker")

    monkeypatch.setattr("bench.rerank.cross_encoder.resolve", refuse)
    monkeypatch.setattr("bench.rerank.cross_encoder.load_cross_encoder", refuse)
    monkeypatch.setattr("bench.models.sentence.load_sentence_transformer", refuse)
    monkeypatch.setattr("bench.rerank.api.ApiReranker._post", refuse)


def test_the_zoo_is_not_empty():
    assert {"jina-tiny", "jina-turbo", "jina-base", "bge-base", "mxbai-base", "minilm-l6", "cohere"} <= set(ZOO)


@pytest.mark.parametrize("name", ZOO)
def test_each_config_composes_and_builds_a_reranker_without_loading_it(name, no_loading):
    node = reranker_node(name)
    assert node.name == name, "the config's key, its file name and its name: must agree"
    reranker = instantiate(node)
    assert isinstance(reranker, Reranker)
    assert reranker.name == name
    info = reranker.info()
    assert isinstance(info, dict) and info.get("model")
    json.dumps(info)  # the manifest must be able to hold it


def test_the_whole_zoo_composes_together(no_loading):
    cfg = compose_config(f"reranker=[{','.join(ZOO)}]")
    built = {name: instantiate(node) for name, node in cfg.reranker.items()}
    assert sorted(built) == ZOO
    assert all(isinstance(r, Reranker) for r in built.values())


def test_the_default_study_composes_and_builds(no_loading):
    cfg = compose_config()
    assert cfg.reranker, "the default study reranks"
    for node in cfg.reranker.values():
        assert isinstance(instantiate(node), Reranker)


def test_none_selects_no_reranker():
    assert not compose_config("reranker=[none]").get("reranker")


@pytest.mark.parametrize("name", ZOO)
def test_facts_say_model_architecture_params_and_published(name):
    facts = OmegaConf.to_container(reranker_node(name).facts, resolve=True)
    for key in ("model", "architecture", "params"):
        assert key in facts, f"{name}: facts.{key} is missing"
    assert isinstance(facts["model"], str) and facts["model"]
    assert isinstance(facts["architecture"], str) and facts["architecture"]
    assert facts["params"] is None or (isinstance(facts["params"], int) and facts["params"] > 0)
    assert "published" in facts, f"{name}: facts.published is missing (`published: {{}}` when nothing is)"
    published = facts["published"]
    assert isinstance(published, dict)
    if published:
        assert facts.get("published_source"), f"{name}: published numbers need a published_source"
    for key, value in published.items():
        if key.endswith("_source"):
            assert isinstance(value, str) and value
        elif isinstance(value, dict):
            assert all(isinstance(v, int | float) for v in value.values()), f"{name}: published.{key}"
        else:
            assert isinstance(value, int | float), f"{name}: published.{key}"
    if "beir_ndcg10_avg" in published:
        assert 0 < published["beir_ndcg10_avg"] <= 100
    if "beir_ndcg10" in published:
        scores = published["beir_ndcg10"]
        assert set(scores) <= BEIR, f"{name}: not BEIR dataset names: {sorted(set(scores) - BEIR)}"
        assert all(0 < v < 1 for v in scores.values())
        assert published.get("beir_ndcg10_source"), f"{name}: per-dataset numbers need beir_ndcg10_source"


def test_jina_base_per_dataset_numbers_average_to_the_published_table():
    """The table's own average row (0.5588 over its 15 datasets) checks the copied numbers."""
    published = reranker_node("jina-base").facts.published
    scores = list(published.beir_ndcg10.values())
    assert len(scores) == 15
    assert sum(scores) / len(scores) == pytest.approx(0.5588, abs=5e-5)
    assert (published.beir_ndcg10_avg, published.loco_ndcg10, published.rag_hit_rate_card) == (52.45, 87.31, 85.53)
    assert (published.rag_blog.hit_rate, published.rag_blog.mrr) == (0.8439, 0.7006)


@pytest.mark.parametrize("name", ZOO)
def test_configs_keep_the_safe_defaults(name):
    node = OmegaConf.to_container(reranker_node(name), resolve=False)
    assert node.get("trust_remote_code", False) is False
    if node["_target_"].endswith("CrossEncoderReranker"):  # batches sized for the device they run on
        assert node["token_budget"] == "auto"
    assert node.get("allow_pickle", False) is False
    if "url" in node:
        assert node["url"].startswith("https://")
        assert node["api_key_env"].isupper(), "the key is named by its environment variable, never given"
        assert not any("key" in k and k != "api_key_env" for k in node), "no key in a config"


# -- the architectures, through the real scoring path ---------------------------------------------

MAX_LENGTH = 48
PAIRS = [
    ("what is the boundary layer", "The boundary layer of a flat plate in supersonic flow."),
    ("what is the boundary layer", "Heat transfer to a blunt body at hypersonic speeds."),
    ("fox", "The quick brown fox jumps over the lazy dog near the river bank."),
    ("rerankers", ""),
    ("numbers in abstracts", "1, 2, 3"),
    ("cross-encoders and relevance", "Cross-encoders read the query and the document together. " * 4),  # 52-100
    ("why", "Retrieval systems rank documents; rerankers reorder the first stage's top hundred results."),
]
LONG = 5  # the one pair longer than MAX_LENGTH tokens (and shorter than 128 with every tokenizer)

Maker = Callable[..., Path]
MAKERS: dict[str, Maker] = {
    "bert": make_bert_checkpoint,
    "xlm-roberta": make_xlmr_checkpoint,
    "deberta-v2": make_deberta_v2_checkpoint,
    "jinabert": make_jinabert_checkpoint,
}
TWO_LABEL = ["bert", "xlm-roberta", "deberta-v2"]  # the JinaBERT maker writes the published 1-logit head


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> Callable[..., Path]:
    """Build each (architecture, num_labels) checkpoint once per module."""
    made: dict[tuple[str, int], Path] = {}

    def get(arch: str, num_labels: int = 1) -> Path:
        if (arch, num_labels) not in made:
            path = tmp_path_factory.mktemp(f"{arch}-{num_labels}")
            kwargs = {} if arch == "jinabert" else {"num_labels": num_labels}
            made[arch, num_labels] = MAKERS[arch](path, **kwargs)
        return made[arch, num_labels]

    return get


def direct_logits(path: Path, arch: str, pairs, *, max_length: int = MAX_LENGTH) -> torch.Tensor:
    """Each pair alone (no padding, no batching) through the plain model: [pairs, labels] logits."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    if arch == "jinabert":  # transformers cannot load JinaBERT without remote code; bench's own class can
        from bench.models.jinabert import JinaBertForSequenceClassification

        model = JinaBertForSequenceClassification.from_pretrained(str(path), torch_dtype=torch.float32)
    else:
        model = AutoModelForSequenceClassification.from_pretrained(str(path), dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    model.eval()
    rows = []
    with torch.inference_mode():
        for query, document in pairs:
            # a batch of one: transformers encodes tokenizer(q, "") as a single text, not a pair
            encoded = tokenizer([query], [document], truncation=True, max_length=max_length, return_tensors="pt")
            rows.append(model(**encoded).logits[0].float())
    return torch.stack(rows)


def cross_encoder(path: Path, **overrides) -> CrossEncoderReranker:
    options = dict(name="tiny", model=str(path), device="cpu", dtype="float32", max_length=MAX_LENGTH, batch_size=3)
    return CrossEncoderReranker(**(options | overrides))


@pytest.mark.parametrize("arch", sorted(MAKERS))
def test_scores_equal_a_plain_forward_pass_of_each_pair(arch, checkpoints):
    path = checkpoints(arch)
    reranker = cross_encoder(path)
    scores = reranker.score(PAIRS)
    assert isinstance(scores, list) and len(scores) == len(PAIRS)
    assert all(isinstance(s, float) and math.isfinite(s) for s in scores)
    expected = direct_logits(path, arch, PAIRS)
    assert expected.shape == (len(PAIRS), 1)
    assert scores == pytest.approx(expected[:, 0].tolist(), abs=1e-5)
    assert max(scores) - min(scores) > 1e-4, "scores barely differ: the comparison would prove little"
    assert reranker.info()["architecture"] == arch


@pytest.mark.parametrize("arch", sorted(MAKERS))
def test_scores_are_deterministic_and_independent_of_batching(arch, checkpoints):
    path = checkpoints(arch)
    reranker = cross_encoder(path)
    first = reranker.score(PAIRS)
    assert reranker.score(PAIRS) == first
    assert cross_encoder(path).score(PAIRS) == first
    assert cross_encoder(path, batch_size=1).score(PAIRS) == pytest.approx(first, abs=1e-5)
    assert cross_encoder(path, batch_size=64, token_budget=100).score(PAIRS) == pytest.approx(first, abs=1e-5)
    auto = cross_encoder(path, batch_size=None, token_budget="auto")
    assert auto.score(PAIRS) == pytest.approx(first, abs=1e-5)
    assert auto.info()["token_budget_used"] == 2048  # the CPU's
    assert reranker.score(PAIRS[::-1]) == pytest.approx(first[::-1], abs=1e-5)
    assert reranker.score([]) == []


@pytest.mark.parametrize("arch", sorted(MAKERS))
def test_pairs_longer_than_max_length_are_cut_and_counted(arch, checkpoints):
    reranker = cross_encoder(checkpoints(arch))
    reranker.score(PAIRS)
    assert reranker.truncated_pairs == 1
    assert reranker.info()["truncated_pairs"] == 1
    reranker.score([p for i, p in enumerate(PAIRS) if i != LONG])
    assert reranker.truncated_pairs == 1
    assert reranker.info()["scored_pairs"] == 2 * len(PAIRS) - 1
    roomy = cross_encoder(checkpoints(arch), max_length=128)
    roomy.score(PAIRS)
    assert roomy.truncated_pairs == 0


@pytest.mark.parametrize("arch", TWO_LABEL)
def test_a_two_label_model_scores_with_the_positive_class(arch, checkpoints):
    path = checkpoints(arch, num_labels=2)
    scores = cross_encoder(path).score(PAIRS)
    logits = direct_logits(path, arch, PAIRS)
    assert logits.shape == (len(PAIRS), 2)
    assert scores == pytest.approx(logits[:, 1].tolist(), abs=1e-5)
    assert scores != pytest.approx(logits[:, 0].tolist(), abs=1e-5)


def pickle_only_copy(path: Path, target: Path) -> Path:
    """The same checkpoint with its weights as pytorch_model.bin (pickle) instead of safetensors."""
    shutil.copytree(path, target)
    for weights in target.glob("*.safetensors"):
        torch.save(load_file(weights), target / "pytorch_model.bin")
        weights.unlink()
    return target


@pytest.mark.parametrize("arch", sorted(MAKERS))
def test_pickled_weights_are_refused_unless_allowed(arch, checkpoints, tmp_path):
    path = pickle_only_copy(checkpoints(arch), tmp_path / "pickled")
    with pytest.raises(ModelUnavailable) as caught:
        cross_encoder(path).score(PAIRS[:2])
    assert "allow_pickle" in caught.value.fix
    allowed = cross_encoder(path, allow_pickle=True).score(PAIRS)
    assert allowed == pytest.approx(cross_encoder(checkpoints(arch)).score(PAIRS), abs=1e-6)


@pytest.fixture
def from_pretrained_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict]]:
    """Record the keyword arguments of every transformers Auto*.from_pretrained call."""
    import transformers

    calls: list[tuple[str, dict]] = []
    for cls in (transformers.AutoModelForSequenceClassification, transformers.AutoTokenizer):
        original = cls.from_pretrained

        def spy(*args, _original=original, _name=cls.__name__, **kwargs):
            calls.append((_name, kwargs))
            return _original(*args, **kwargs)

        monkeypatch.setattr(cls, "from_pretrained", spy)
    return calls


@pytest.mark.parametrize("arch", sorted(MAKERS))
def test_remote_code_is_off_unless_a_config_turns_it_on(arch, checkpoints, from_pretrained_calls):
    cross_encoder(checkpoints(arch)).score(PAIRS[:2])
    assert from_pretrained_calls, "the loader went around transformers' Auto classes"
    assert all(kwargs.get("trust_remote_code") is False for _, kwargs in from_pretrained_calls)
    from_pretrained_calls.clear()
    cross_encoder(checkpoints(arch), trust_remote_code=True).score(PAIRS[:2])
    assert all(kwargs.get("trust_remote_code") is True for _, kwargs in from_pretrained_calls)


def test_a_checkpoint_that_ships_code_does_not_run_it(checkpoints, tmp_path):
    """auto_map pointing at the repo's own module is ignored: the built-in class loads instead."""
    path = tmp_path / "with-code"
    shutil.copytree(checkpoints("bert"), path)
    marker = tmp_path / "REMOTE_CODE_RAN"
    (path / "modeling_evil.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).touch()\nraise RuntimeError('remote code ran')\n"
    )
    config = json.loads((path / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "modeling_evil.EvilConfig",
                          "AutoModelForSequenceClassification": "modeling_evil.EvilModel"}
    (path / "config.json").write_text(json.dumps(config))
    scores = cross_encoder(path).score(PAIRS)
    assert not marker.exists()
    assert scores == pytest.approx(cross_encoder(checkpoints("bert")).score(PAIRS), abs=1e-6)


# -- models that cannot be had --------------------------------------------------------------------


def test_a_model_the_hub_cannot_give_is_unavailable_with_a_fix(monkeypatch, tmp_path):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # read at import time
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))  # an empty cache
    reranker = CrossEncoderReranker(name="missing", model="bench-tests/no-such-reranker", device="cpu")
    with pytest.raises(ModelUnavailable) as caught:
        reranker.score(PAIRS[:1])
    assert caught.value.model == "bench-tests/no-such-reranker"
    assert caught.value.reason and caught.value.fix
    assert "local folder" in caught.value.fix


def test_a_missing_local_folder_is_unavailable_with_a_fix(tmp_path):
    reranker = CrossEncoderReranker(name="missing", model=str(tmp_path / "nowhere"), device="cpu")
    with pytest.raises(ModelUnavailable) as caught:
        reranker.score(PAIRS[:1])
    assert "does not exist" in caught.value.reason and caught.value.fix


def test_a_folder_without_config_is_unavailable_with_a_fix(tmp_path):
    (tmp_path / "half").mkdir()
    with pytest.raises(ModelUnavailable) as caught:
        cross_encoder(tmp_path / "half").score(PAIRS[:1])
    assert "config.json" in caught.value.reason and caught.value.fix
