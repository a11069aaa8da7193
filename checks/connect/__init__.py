"""Connections: Azure SDK clients and ARM error mapping, database sessions."""
