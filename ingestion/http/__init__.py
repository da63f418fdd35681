"""The HTTP loader: tokens, limits, the write-ahead log, and the budget check answer."""
