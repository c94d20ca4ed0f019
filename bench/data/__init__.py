"""Datasets in BEIR layout: records (with the id rule and the rank order every run follows), loading and
validation, download, the shipped demo set and synthetic collections of any size."""

from bench.data.records import Dataset, Document, LoadReport, Qrels, Run

__all__ = ["Dataset", "Document", "LoadReport", "Qrels", "Run"]
