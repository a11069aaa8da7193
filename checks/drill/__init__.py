"""Restore drill: guarded actions on a new server, its state in the journal, and the registered check."""
