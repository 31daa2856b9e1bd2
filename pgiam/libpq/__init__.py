"""libpq."""
