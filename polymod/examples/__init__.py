"""The chapter\x27s listings written once with polymod."""
