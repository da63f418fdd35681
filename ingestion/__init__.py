"""Ingestion: JSONL and HTTP in, a validated Parquet lake and a quarantine out.

Also home of the helpers that more than one folder needs (the data directory, the price book
export, building and publishing the warehouse), since every other folder may read from here.
"""
