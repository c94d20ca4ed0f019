"""The RAG suite (`bench suite=rag`): LlamaIndex's retrieval hit rate / MRR protocol.

    documents.py   a folder of .txt / .md / .pdf files -> named documents
    chunking.py    SentenceSplitter-equivalent token chunks with stable ids
    qa.py          EmbeddingQAFinetuneDataset JSON: strict reading, exact writing; BEIR conversion
    generate.py    LLM questions through llama-index (optional extra `llm`), artefacts filtered
    embedders.py   the embedding models that retrieve the top 10
    report.py      the embedding x reranker table and the per-reranker average
    run.py         `run_suite`, the `_target_` of configs/suite/rag.yaml
    data/          the shipped demo QA set and its source documents
"""
