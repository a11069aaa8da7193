"""MedicApp backup & restore verifier: checks, runner, journal, reports."""
__version__ = "0.1.0"
