"""bench: which reranker should sit behind your first stage, and what does it cost?

The package folders follow the pipeline: data -> first_stage -> rerank (models) -> evaluate
-> profile -> report, with suites/ for protocols that are not plain BEIR runs.
"""

__version__ = "0.1.0"
