"""The demo drives the house over its protocols as the end-to-end tests do: every FHIR body it
receives goes through the same base R4 check (tests/e2e/conftest.py, issue 20 §4.2)."""

from tests.e2e.conftest import fhir_bodies  # noqa: F401  # an autouse fixture, applied here too
