"""Alerts: budget, forecast, reliability and failed-run rules (pure), their keys, the outbox,
the readers of the published warehouse and webhook delivery."""
