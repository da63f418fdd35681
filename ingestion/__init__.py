"""Ingestion: JSONL files and HTTP in, a validated Parquet lake and a quarantine out.

Also the producers' client and the synthetic data generator. Nothing here imports
`orchestration` or `app`: they read from here, never the other way round.
"""
