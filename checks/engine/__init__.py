"""The engine: settings, check model and registry, the concurrent runner, redaction, logging, time helpers."""
