"""Sensors: on what arrives (landing files, lake commits) and on what calls for an alert
(budgets in the published warehouse, failed runs)."""

from orchestration.sensors.alerts import budget_threshold_sensor, run_failure_sensor
from orchestration.sensors.inputs import lake_commits_sensor, landing_files_sensor

__all__ = [
    "budget_threshold_sensor",
    "lake_commits_sensor",
    "landing_files_sensor",
    "run_failure_sensor",
]
