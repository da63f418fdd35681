"""Synthetic agent traffic for demos, tests and benchmarks."""
