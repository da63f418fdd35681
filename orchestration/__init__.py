"""Orchestration: builds and publishes the warehouse, runs the pipeline and alerts in Dagster,
and holds the product's command line (`agentops-wh`), the demo and the dashboard launcher."""
