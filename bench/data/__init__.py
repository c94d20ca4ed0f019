"""Datasets in BEIR layout: loading, validation, download, and the shipped demo set."""

from bench.data.records import Dataset, Document, LoadReport, Qrels, Run

__all__ = ["Dataset", "Document", "LoadReport", "Qrels", "Run"]
