"""What producers run: the batching, spooling client and usage adapters."""
