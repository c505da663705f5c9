"""Chaos scenarios: processes killed with -9 under a running cluster."""
