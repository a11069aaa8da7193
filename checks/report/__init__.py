"""Report: the monthly checklist and 12-month overview built from the journal, and their rendering."""
