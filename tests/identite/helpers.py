"""Shared test data: identities in the referential, a habilitated structure and software."""

from maison.core.identifiers.checksums import luhn_check_digit
from maison.core.identifiers.nir import nir_key
from maison.core.ins_traits import Traits

FINESS = "75000001" + luhn_check_digit("75000001")
STRUCTURE = "1" + FINESS
IDAM = "MAISON-TEST-0001"


def nir(number13: str) -> str:
    return number13 + nir_key(number13)


SARAH = Traits.of("GARCIA-HAMMADI", "SARAH-LOU ANNA", "F", "1977-01-21", "01154")
SARAH_NIR = "277010115400329"  # seed 003 L229


def seed_referential(service) -> dict:
    """Sarah of the seed; two homonyms (Jean Martin, same birth) for 02; a person with a NIA later merged."""
    ref = service.referential
    ids = {"sarah": ref.register(SARAH, SARAH_NIR)}
    martin1 = Traits.of("MARTIN", "JEAN PIERRE", "M", "1980-05-10", "75115")
    martin2 = Traits.of("MARTIN", "JEAN", "M", "1980-05-10", "69123")
    ids["martin1"] = ref.register(martin1, nir("1800575115001"))
    ids["martin2"] = ref.register(martin2, nir("1800569123002"))
    service.register_software(IDAM, "Maison DPI", "Maison")
    service.register_structure(STRUCTURE, "Hôpital de test")
    return ids
