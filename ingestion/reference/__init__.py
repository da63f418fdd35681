"""Reference data checked before dbt runs: the budgets file and the price book."""
