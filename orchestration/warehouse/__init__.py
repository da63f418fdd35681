"""Building and publishing the warehouse: dbt into a build database, then an atomic publish."""
