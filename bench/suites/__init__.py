"""Suites: protocols that bring their own data and evaluation, selected with `bench suite=NAME`.

A suite is a function `run_suite(*, cfg, out_dir, show, **params)` named by `configs/suite/NAME.yaml`'s
`_target_`; `bench.pipeline.run` hands it the whole config, the run folder and whether to print the
outcome. It writes the same tidy files as a normal run (metrics.csv, per_query.csv) and ends as every
run does (`bench.outcome.finish`: summary.md, manifest.json, the table and notes).

    rag    LlamaIndex's retrieval hit rate / MRR protocol (Jina's "RAG" reranker table)
"""
