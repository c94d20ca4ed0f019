"""The pairs a profile scores: BM25 candidates of a BEIR folder, or a length distribution."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from bench.profile.architectures import offline_tokenizer_path
from bench.profile.workload import bm25_candidates, synthetic


def test_bm25_candidates_are_grouped_by_query_in_rank_order(tiny_beir):
    workload = bm25_candidates(str(tiny_beir), queries=None, depth=3, cache=False)
    assert list(workload.queries) == ["q1", "q2"]  # q3 has no test qrels
    for index in workload.queries.values():
        assert all(workload.pairs[i][0] for i in index)
        assert len(index) <= 3
    assert workload.doc_ids[workload.queries["q1"][0]] == "d1"  # the cat document first for the cat query
    assert workload.qrels["q1"] == {"d1": 1}
    assert bm25_candidates(str(tiny_beir), queries=1, depth=3, cache=False).describe()["queries"] == 1


def test_synthetic_pairs_have_the_asked_lengths():
    workload = synthetic(queries=2, depth=3, query_tokens=5, doc_lengths=[7, 20, 1])
    tokenizer = AutoTokenizer.from_pretrained(str(offline_tokenizer_path()))
    lengths = [len(tokenizer(q, d)["input_ids"]) for q, d in workload.pairs]
    assert lengths == [5 + n + 3 for n in [7, 20, 1, 7, 20, 1]]
    assert workload.qrels is None and list(workload.queries) == ["q1", "q2"]


def test_synthetic_lognormal_is_seeded():
    a = synthetic(queries=1, depth=5, doc_tokens={"median": 30, "sigma": 0.3, "min": 10, "max": 60}, seed=3)
    b = synthetic(queries=1, depth=5, doc_tokens={"median": 30, "sigma": 0.3, "min": 10, "max": 60}, seed=3)
    assert a.pairs == b.pairs
    assert all(10 <= len(d.split()) <= 60 for _, d in a.pairs)


# ------------------------------------------------------------------------------------------------
# Where the pairs come from in a fresh clone: the demo set shipped with bench, and `pairs.dataset`.


def test_no_dataset_is_the_demo_set_shipped_with_bench():
    from hydra.utils import instantiate

    from bench.data.sources import demo
    from tests.profile.conftest import compose_profile

    shipped = demo()
    first = sorted(shipped.queries, key=lambda q: (0, int(q)) if q.isdigit() else (1, q))[:2]
    workload = bm25_candidates(queries=2, depth=5, cache=False)
    assert workload.name == "demo" and "shipped with bench" in str(workload.about["dataset"])
    assert list(workload.queries) == first
    assert set(workload.doc_ids) <= set(shipped.corpus) and len(workload.pairs) == 10
    assert {q for q, _ in workload.pairs} == {shipped.queries[q] for q in first}
    assert workload.qrels == {q: shipped.qrels[q] for q in first}
    # the default profile names no folder, so `bench profile` needs nothing outside the clone
    cfg = compose_profile()
    assert cfg.pairs.dataset is None
    assert instantiate(cfg.pairs, queries=1, cache=False).name == "demo"


def test_a_missing_folder_names_the_key_that_works(tiny_beir):
    import re
    import shlex

    from hydra.utils import instantiate

    from bench.data.beir import DatasetError
    from tests.profile.conftest import compose_profile

    with pytest.raises(DatasetError) as caught:
        bm25_candidates("no/such/cranfield", queries=1, depth=3, cache=False)
    message = str(caught.value)
    assert "no/such/cranfield" in message
    assert "dataset=local" not in message and "dataset.path" not in message
    commands = re.findall(r"`(bench profile [^`]*)`", message)
    assert commands == ["bench profile pairs.dataset=/path/to/folder", "bench profile pairs.dataset=null"]
    # what the message says to type composes and loads (Hydra refuses `dataset=...` in bench profile)
    for command in commands:
        overrides = [word.replace("/path/to/folder", str(tiny_beir)) for word in shlex.split(command)[2:]]
        cfg = compose_profile(*overrides)
        assert instantiate(cfg.pairs, queries=1, depth=3, cache=False).pairs
    with pytest.raises(Exception, match="Could not override 'dataset'"):
        compose_profile("dataset=local", f"dataset.path={tiny_beir}")


def test_the_cli_turns_the_plain_bench_dataset_keys_into_pairs_dataset(capsys, tiny_beir):
    from bench.profile.cli import dataset_override_advice, main

    assert dataset_override_advice(["profile=smoke", "repetitions=1"]) is None
    advice = dataset_override_advice(["profile=zoo", "dataset=local", f"dataset.path={tiny_beir}"])
    assert advice.splitlines()[-1].strip() == f"bench profile profile=zoo pairs.dataset={tiny_beir}"
    assert dataset_override_advice(["dataset=demo"]).splitlines()[-1].strip() == "bench profile pairs.dataset=null"
    assert main(["dataset=local", "dataset.path=../shared/data/cranfield"]) == 2
    err = capsys.readouterr().err
    assert "bench profile pairs.dataset=../shared/data/cranfield" in err and "Traceback" not in err


def test_bench_profile_with_a_missing_folder_says_what_to_type(tmp_path, capsys):
    from bench.profile.cli import main

    with pytest.raises(SystemExit) as caught:
        main(["profile=zoo", "pairs.dataset=/no/such/cranfield", f"hydra.run.dir={tmp_path / 'run'}"])
    message = capsys.readouterr().err
    assert caught.value.code == 2 and "Traceback" not in message and message.count("\n") == 1
    assert "Traceback" in (tmp_path / "run" / "bench.log").read_text()
    assert message.startswith("bench profile: no dataset folder at /no/such/cranfield")
    assert "`bench profile profile=zoo pairs.dataset=/path/to/folder`" in message
    assert "`bench profile profile=zoo pairs.dataset=null`" in message
