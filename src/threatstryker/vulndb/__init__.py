"""Vulnerability-database support: version ordering per ecosystem (more to come)."""
