"""Stays and movements of a care structure, as its GAM announces them in IHE PAM France 2.11 (issue 22 §1)."""
