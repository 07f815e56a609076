"""Annuaire Santé: the national directory of health professionals and structures, as FHIR R4."""
