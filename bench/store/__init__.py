"""The shard store: cache entries that are written atomically and verified before every use.

A long study is cut into shards (queries for reranking, documents for dense encoding); each
finished shard is one entry on disk, so a killed run resumes where it stopped. Entries that fail
verification (checksum, row count, non-finite values, missing files) are moved aside and
recomputed, never used and never a permanent crash.
"""

from bench.store.entries import CorruptEntry, Quarantined, quarantine, verify_folder, write_folder
from bench.store.shards import ArrayShards, ShardCounts

__all__ = ["ArrayShards", "CorruptEntry", "Quarantined", "ShardCounts", "quarantine", "verify_folder",
           "write_folder"]
