"""Conformity to the maison table and MATURIN-H (issue 23 §3)."""
