"""Indicators computed from what really happened: the audit trail."""
