"""Check families: one module per family, each check a pure rule plus the I/O that gathers its facts."""
