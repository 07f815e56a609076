"""Code systems and value sets: the CI-SIS jeux de valeurs, or the compact default table without them."""

from maison.core.terminology.registry import Terminology
from maison.core.terminology.valuesets import Concept, ValueSet

__all__ = ["Concept", "Terminology", "ValueSet"]
