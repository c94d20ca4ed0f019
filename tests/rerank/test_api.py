"""ApiReranker against a local mock `/v1/rerank` server: batching, order, retries, errors, no key leaks."""

from __future__ import annotations

import json
import socket
import time
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

from bench.errors import InputError, ModelUnavailable
from bench.manifest import write_manifest
from bench.rerank.api import ApiReranker, RerankApiError, group_by_query, retry_after
from bench.rerank.base import Reranker
from tests.rerank.mock_rerank_server import MockRerankServer, expected_score

KEY = "sk-test-NEVER-SHOW-7f3a9c2e"
KEY_ENV = "BENCH_TEST_RERANK_KEY"
CONFIGS = Path(__file__).resolve().parents[2] / "configs"

# q1 has 7 documents (3 requests of at most 3), q2 has 2 (1 request); the queries interleave.
PAIRS = [
    ("why do cats purr", "Cats purr when they are happy."),
    ("dogs barking", "Dogs bark at strangers."),
    ("why do cats purr", "Dogs bark at strangers."),
    ("why do cats purr", "Birds sing in the morning."),
    ("why do cats purr", "Fish swim in water."),
    ("dogs barking", "Cats purr when they are happy."),
    ("why do cats purr", ""),
    ("why do cats purr", "Cats purr when they are happy."),  # a repeated pair is scored like the first
    ("why do cats purr", "A long document about cats. " * 50),
]


class Sleeps(list):
    """Stands in for time.sleep: records the delays instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def server() -> Iterator[MockRerankServer]:
    with MockRerankServer(key=KEY, retry_after="3", slow_seconds=1.0) as mock:
        yield mock


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # never route the mock through a proxy
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def make(server: MockRerankServer, **overrides) -> ApiReranker:
    options = dict(name="mock", model="mock-rerank-v1", url=server.url, api_key_env=KEY_ENV,
                   documents_per_request=3, timeout=0.25, max_retries=3, backoff_base=0.5, max_backoff=8.0)
    reranker = ApiReranker(**(options | overrides))
    reranker.sleep = Sleeps()
    return reranker


def expected(pairs) -> list[float]:
    return [expected_score(q, d) for q, d in pairs]


# -- the happy path -----------------------------------------------------------------------------


def test_is_a_reranker(server):
    assert isinstance(make(server), Reranker)


def test_scores_come_back_in_input_order_mapped_by_index(server):
    reranker = make(server)
    assert reranker.score(PAIRS) == pytest.approx(expected(PAIRS), abs=0)
    # the mock shuffled every multi-document answer, so only mapping by index gets this right
    assert all(r.answered_order != sorted(r.answered_order) for r in server.requests if len(r.body["documents"]) > 1)


def test_documents_are_batched_per_query_in_order(server):
    make(server).score(PAIRS)
    sent = [(r.body["query"], r.body["documents"]) for r in server.requests]
    cats = [d for q, d in PAIRS if q == "why do cats purr"]
    dogs = [d for q, d in PAIRS if q == "dogs barking"]
    assert sent == [
        ("why do cats purr", cats[0:3]),
        ("why do cats purr", cats[3:6]),
        ("why do cats purr", cats[6:7]),
        ("dogs barking", dogs),
    ]


def test_request_shape_and_authorization(server):
    make(server).score(PAIRS[:2])
    for request in server.requests:
        assert request.path == "/v1/rerank"
        assert request.headers["Authorization"] == f"Bearer {KEY}"
        assert request.headers["Content-Type"] == "application/json"
        assert request.body == {"model": "mock-rerank-v1", "query": request.body["query"],
                                "documents": request.body["documents"], "top_n": len(request.body["documents"]),
                                "return_documents": False}


def test_top_n_can_be_left_out(server):
    make(server, top_n_field=False).score(PAIRS[:3])
    assert all("top_n" not in r.body for r in server.requests)


def test_empty_input_sends_nothing(server):
    assert make(server).score([]) == []
    assert server.requests == []


def test_info_counts_requests_pairs_and_tokens(server):
    reranker = make(server)
    reranker.score(PAIRS)
    info = reranker.info()
    assert info["kind"] == "api"
    assert info["model"] == "mock-rerank-v1"
    assert info["url"] == server.url
    assert info["api_key_env"] == KEY_ENV
    assert (info["requests"], info["retries"], info["scored_pairs"]) == (4, 0, len(PAIRS))
    assert info["total_tokens"] > 0


def test_group_by_query_keeps_first_seen_order():
    assert group_by_query([("b", "1"), ("a", "2"), ("b", "3")]) == {"b": [0, 2], "a": [1]}


# -- retries --------------------------------------------------------------------------------------


def test_429_waits_as_long_as_retry_after_says(server):
    reranker = make(server)
    server.inject("429", "429")
    assert reranker.score(PAIRS[:2]) == pytest.approx(expected(PAIRS[:2]), abs=0)
    assert reranker.sleep == [3.0, 3.0]
    assert reranker.info()["retries"] == 2
    assert len(server.requests) == 2 + 2  # two refusals, then one request per query


def test_retry_after_is_capped_at_max_backoff(server):
    reranker = make(server, max_backoff=2.0)
    server.retry_after = "120"
    server.inject("429")
    reranker.score(PAIRS[:1])
    assert reranker.sleep == [2.0]


def test_5xx_is_retried_with_exponential_backoff(server):
    reranker = make(server)
    server.inject("500", "503", "500")
    assert reranker.score(PAIRS[:1]) == pytest.approx(expected(PAIRS[:1]), abs=0)
    assert reranker.sleep == [0.5, 1.0, 2.0]
    assert len(server.requests) == 4


def test_gives_up_after_max_retries_naming_url_and_status(server):
    reranker = make(server, max_retries=2)
    server.inject(*["500"] * 10)
    with pytest.raises(RerankApiError) as caught:
        reranker.score(PAIRS[:1])
    message = str(caught.value)
    assert server.url in message and "HTTP 500" in message and "3 attempt" in message
    assert len(server.requests) == 3  # 1 + max_retries, then it stops by itself
    assert reranker.sleep == [0.5, 1.0]


def test_no_retries_means_one_request(server):
    reranker = make(server, max_retries=0)
    server.inject("429")
    with pytest.raises(RerankApiError, match="HTTP 429"):
        reranker.score(PAIRS[:1])
    assert len(server.requests) == 1
    assert reranker.sleep == []


def test_a_slow_answer_times_out_and_is_retried(server):
    reranker = make(server)
    server.inject("slow")
    assert reranker.score(PAIRS[:1]) == pytest.approx(expected(PAIRS[:1]), abs=0)
    assert reranker.sleep == [0.5]
    assert len(server.requests) == 2


def test_always_slow_gives_up_saying_it_timed_out(server):
    reranker = make(server, max_retries=1)
    server.inject("slow", "slow")
    with pytest.raises(RerankApiError, match="timed out") as caught:
        reranker.score(PAIRS[:1])
    assert server.url in str(caught.value)


def test_an_unreachable_server_is_retried_then_named():
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1/rerank"
    reranker = ApiReranker(name="gone", model="m", url=url, api_key_env=KEY_ENV, max_retries=2, timeout=1.0)
    reranker.sleep = Sleeps()
    with pytest.raises(RerankApiError, match="gave up after 3 attempt") as caught:
        reranker.score(PAIRS[:1])
    assert url in str(caught.value)
    assert len(reranker.sleep) == 2


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("3", 3.0), (" 2.5 ", 2.5), ("0", 0.0), ("-4", 0.0), ("soon", None), ("", None), (None, None), ("nan", None)],
)
def test_retry_after_parsing(value, seconds):
    assert retry_after(value) == seconds


def test_retry_after_as_an_http_date():
    now = datetime(2024, 4, 18, 12, 0, 0, tzinfo=UTC)
    assert retry_after(format_datetime(now + timedelta(seconds=7), usegmt=True), now=now) == 7.0
    assert retry_after(format_datetime(now - timedelta(seconds=7), usegmt=True), now=now) == 0.0


# -- answers that cannot be used are errors, never filled in --------------------------------------


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        ("malformed", "not JSON"),
        ("no_results", "no 'results' list"),
        ("missing_index", "missing indices"),
        ("duplicate_index", "duplicated indices"),
        ("out_of_range", "out of range 0..2"),
        ("extra_result", "got 4 results"),
        ("bad_score", "relevance_score"),
        ("nan_score", r"results\[\d\] has no finite 'relevance_score' \(nan\)"),
        ("garbage", "not JSON"),
    ],
)
def test_an_unusable_answer_is_a_clear_error_and_not_retried(server, fault, says):
    reranker = make(server)
    server.inject(fault)
    with pytest.raises(RerankApiError, match=says) as caught:
        reranker.score(PAIRS[:4])  # the first request carries 3 documents
    assert server.url in str(caught.value)
    assert len(server.requests) == 1
    assert reranker.sleep == []
    assert reranker.info()["scored_pairs"] == 0


def test_a_client_error_names_the_status_without_echoing_the_key(server):
    reranker = make(server)
    server.inject("400")  # the mock's 400 body quotes the Authorization header
    with pytest.raises(RerankApiError, match="HTTP 400") as caught:
        reranker.score(PAIRS[:1])
    assert KEY not in str(caught.value)
    assert "***" in str(caught.value)
    assert len(server.requests) == 1


def test_redirects_are_not_followed_so_the_key_goes_nowhere_else(server):
    reranker = make(server)
    server.inject("redirect")
    with pytest.raises(RerankApiError, match="HTTP 302 redirect to '/elsewhere'"):
        reranker.score(PAIRS[:1])
    assert [r.path for r in server.requests] == ["/v1/rerank"]


# -- keys -----------------------------------------------------------------------------------------


def test_a_missing_key_makes_the_model_unavailable_with_the_fix(server, monkeypatch):
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(ModelUnavailable) as caught:
        make(server).score(PAIRS[:1])
    assert KEY_ENV in caught.value.reason
    assert f"set {KEY_ENV}" in caught.value.fix
    assert server.requests == []


@pytest.mark.parametrize("status", ["401", "403"])
def test_a_refused_key_makes_the_model_unavailable(server, status):
    reranker = make(server)
    server.inject(status)
    with pytest.raises(ModelUnavailable) as caught:
        reranker.score(PAIRS[:1])
    assert f"HTTP {status}" in caught.value.reason
    assert KEY_ENV in caught.value.reason and KEY_ENV in caught.value.fix
    assert KEY not in str(caught.value)
    assert len(server.requests) == 1  # not retried


def test_a_wrong_key_is_refused_by_the_server_and_never_shown(server, monkeypatch):
    wrong = "sk-wrong-ALSO-SECRET-0000"
    monkeypatch.setenv(KEY_ENV, wrong)
    with pytest.raises(ModelUnavailable, match="HTTP 401") as caught:
        make(server).score(PAIRS[:1])
    assert wrong not in str(caught.value)
    assert server.requests[0].headers["Authorization"] == f"Bearer {wrong}"


def test_the_key_never_appears_in_info_repr_attributes_or_errors(server):
    reranker = make(server)
    reranker.score(PAIRS)
    for text in (json.dumps(reranker.info()), repr(reranker), repr(vars(reranker))):
        assert KEY not in text
    server.inject(*["500"] * 4)
    with pytest.raises(RerankApiError) as caught:
        reranker.score(PAIRS[:1])
    assert KEY not in "".join(traceback.format_exception(caught.value))  # chained exceptions included


def test_the_key_never_reaches_a_manifest(server, tmp_path):
    with initialize_config_dir(config_dir=str(CONFIGS), version_base=None):
        cfg = compose("config", overrides=["reranker=[jina-base]", f"reranker.jina-base.url={server.url}",
                                           f"reranker.jina-base.api_key_env={KEY_ENV}"])
    node = cfg.reranker["jina-base"]
    reranker = instantiate(node)
    reranker.sleep = Sleeps()
    assert reranker.score(PAIRS[:2]) == pytest.approx(expected(PAIRS[:2]), abs=0)
    manifest = tmp_path / "manifest.json"
    write_manifest(manifest, {
        "config": OmegaConf.to_container(cfg, resolve=True),
        "systems": {"bm25+jina-base": {"reranker": "jina-base", "info": reranker.info(),
                                       "facts": OmegaConf.to_container(node.facts, resolve=True)}},
    })
    text = manifest.read_text()
    assert KEY not in text
    assert KEY_ENV in text  # the variable's name is recorded, so a reader knows which key was used


def test_a_run_uses_the_api_skips_without_a_key_and_keeps_keys_out_of_its_files(server, tmp_path, monkeypatch):
    """The whole pipeline on the demo set: jina-base (pointed at the mock) runs, cohere (no key) is skipped."""
    from bench.pipeline import run

    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("COHERE_API_KEY", raising=False)
    with initialize_config_dir(config_dir=str(CONFIGS), version_base=None):
        cfg = compose("config", overrides=["first_stage=[bm25]", "reranker=[jina-base,cohere]", "cache=false",
                                           f"reranker.jina-base.url={server.url}",
                                           f"reranker.jina-base.api_key_env={KEY_ENV}"])
    out = tmp_path / "out"
    run(cfg, out)
    manifest = json.loads((out / "manifest.json").read_text())
    [skipped] = manifest["skipped"]
    assert {k: skipped[k] for k in ("system", "model", "reason", "fix")} == {
        "system": "cohere", "model": "rerank-english-v3.0", "reason": "the API key variable COHERE_API_KEY is not set",
        "fix": "set COHERE_API_KEY to an API key for https://api.cohere.com/v1/rerank"}
    info = next(s["info"] for s in manifest["systems"].values() if s.get("reranker") == "jina-base")
    assert info["requests"] == len(server.requests) > 0
    assert all(len(r.body["documents"]) <= 100 for r in server.requests)
    for path in out.rglob("*"):
        if path.is_file():
            assert KEY not in path.read_text(errors="replace"), path


# -- a service that fails is skipped like an unavailable model, within a bounded time -------------------------


def test_every_failure_is_a_model_unavailable_with_reason_and_fix(server):
    reranker = make(server, max_retries=0)
    server.inject("garbage")
    with pytest.raises(ModelUnavailable) as caught:
        reranker.score(PAIRS[:1])
    assert isinstance(caught.value, RerankApiError)
    assert caught.value.model == "mock-rerank-v1"
    assert server.url in caught.value.reason and "not JSON" in caught.value.reason
    assert "reranker.mock.url" in caught.value.fix
    server.inject("500")
    with pytest.raises(ModelUnavailable) as caught:
        reranker.score(PAIRS[:1])
    assert "gave up after 1 attempt" in caught.value.reason
    assert "reranker.mock.timeout" in caught.value.fix and "reranker.mock.max_retries" in caught.value.fix


def test_a_dripping_server_is_cut_off_at_the_deadline(server):
    """Content-Length 100000, then a byte every 0.05 s: each wait on the socket is short, the whole is not."""
    server.drip_seconds = 0.05
    reranker = make(server, timeout=0.5, max_retries=1)
    server.inject("drip", "drip")
    started = time.monotonic()
    with pytest.raises(RerankApiError, match=r"gave up after 2 attempt\(s\); last: timed out: no complete answer "
                                             r"within 0\.5s"):
        reranker.score(PAIRS[:1])
    elapsed = time.monotonic() - started
    assert 1.0 <= elapsed < 2.5, elapsed  # two attempts of 0.5 s (the backoff is recorded, not slept)
    assert len(server.requests) == 2 and reranker.sleep == [0.5]


def test_a_drip_then_a_good_answer_is_retried_and_used(server):
    server.drip_seconds = 0.05
    reranker = make(server, timeout=0.3)
    server.inject("drip")
    assert reranker.score(PAIRS[:1]) == pytest.approx(expected(PAIRS[:1]), abs=0)
    assert len(server.requests) == 2


def test_the_deadline_covers_a_slow_header(server):
    server.slow_seconds = 5.0
    reranker = make(server, timeout=0.3, max_retries=0)
    server.inject("slow")
    started = time.monotonic()
    with pytest.raises(RerankApiError, match="timed out"):
        reranker.score(PAIRS[:1])
    assert time.monotonic() - started < 1.5


@pytest.mark.parametrize(("option", "value", "says"), [
    ("timeout", 0, r"reranker\.mock\.timeout must be a positive number"),
    ("max_retries", -1, r"reranker\.mock\.max_retries must be 0 or more"),
    ("documents_per_request", 0, r"reranker\.mock\.documents_per_request must be at least 1"),
    ("url", "ftp://example.org", r"reranker\.mock\.url must start with https://"),
])
def test_bad_settings_are_input_errors_naming_the_key(server, option, value, says):
    with pytest.raises(InputError, match=says):
        make(server, **{option: value})


def _study(server, tiny_beir, tmp_path, name: str, *extra: str):
    from bench.pipeline import run

    with initialize_config_dir(config_dir=str(CONFIGS), version_base=None):
        cfg = compose("config", overrides=[
            "dataset=local", f"dataset.path={tiny_beir}", "first_stage=[bm25]", "reranker=[jina-base]",
            "shard.queries=1", f"reranker.jina-base.url={server.url}", f"reranker.jina-base.api_key_env={KEY_ENV}",
            "reranker.jina-base.max_retries=0", "reranker.jina-base.timeout=2", *extra])
    out = tmp_path / name
    run(cfg, out)
    return out, json.loads((out / "manifest.json").read_text())


def test_a_failing_service_skips_the_reranker_keeps_the_others_and_caches_only_whole_shards(
        server, tiny_beir, tmp_path, _isolated_cache, capsys):
    # tiny_beir evaluates q1 and q2: one shard each; the first answer is good, the second is garbage
    server.inject("ok", "garbage")
    out, manifest = _study(server, tiny_beir, tmp_path, "first")
    [skipped] = manifest["skipped"]
    assert skipped["system"] == "jina-base" and "sent an unusable answer" in skipped["reason"]
    assert "reranker.jina-base.url" in skipped["fix"]
    assert set(pd.read_csv(out / "metrics.csv")["system"]) == {"bm25"}
    assert "jina-base" in capsys.readouterr().out
    [folder] = (_isolated_cache / "scores").iterdir()
    assert sorted(p.name for p in folder.glob("shard-*")) == ["shard-00000-of-00002"]  # never the failed one

    server.clear()  # the service is back: the whole shard is reused, the failed one scored now
    out, manifest = _study(server, tiny_beir, tmp_path, "again")
    assert manifest["skipped"] == []
    assert manifest["systems"]["bm25>>jina-base"]["shards"] == {"total": 2, "computed": 1, "reused": 1,
                                                               "quarantined": 0}
    assert len(server.requests) == 1
