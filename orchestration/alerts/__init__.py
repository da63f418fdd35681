"""Budget, forecast and reliability alerts: rules (pure), the outbox, delivery."""
