"""Suites: protocols that bring their own data and evaluation, selected with `bench suite=NAME`.

A suite is a function `run_suite(*, cfg, out_dir, **params)` named by `configs/suite/NAME.yaml`'s
`_target_`; `bench.pipeline.run` hands it the whole config and the run folder. It writes the same
tidy files as a normal run (metrics.csv, per_query.csv, manifest.json, summary.md).

    rag    LlamaIndex's retrieval hit rate / MRR protocol (Jina's "RAG" reranker table)
"""
