"""The event contract in Python: validating lines, redacting secrets, tenant keys."""
