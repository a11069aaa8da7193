"""The journal: Azure Table Storage evidence, the run lease and the outage spool."""
