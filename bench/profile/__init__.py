"""Throughput, latency, memory and FLOPs of rerankers: `bench profile` (configs/profile/).

    cli.py            the `bench profile` Hydra app (thin: composes, then calls run.run)
    config.py         the config schema (ConfigStore `bench_profile`) with every field commented
    run.py            measuring every system side by side: warm-up, interleaved repetitions
    workload.py       the pairs: BM25 candidates of a BEIR folder, or a length distribution
    architectures.py  random-weight checkpoints built from a model's facts (no download)
    systems.py        a system's model, loaded per dtype through bench.rerank.loading
    scorers.py        Engine (bench.rerank.engine), PlainLoop, SentenceTransformers
    measure.py        synchronised timers, CUDA memory counters, process peak RSS, matmul peak
    memory.py         CPU peak memory in a fresh subprocess per model
    flops.py          analytic FLOPs per pair from the shape facts
    stats.py          median, percentiles, spread, Kendall's tau
    output.py         throughput.csv, the printed table, the plots
    targets.py        PASS/MISS checks and published claims; the reports/benchmarks report
"""
