"""The Parquet lake and the quarantine the loaders write, crash-safe and all or nothing."""
