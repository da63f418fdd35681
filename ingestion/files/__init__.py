"""The file loader: JSONL and .jsonl.gz files in, the lake and quarantine out."""
