"""A structure's mailboxes, read by owner (what the observatory's SUN-ES PS3.2 and PS4.1 look at)."""

from maison.core.audit import SYSTEM
from maison.partage.mss.mailboxes import Mailboxes


def test_mailboxes_owned_by_a_structure(db):
    boxes = Mailboxes(db)
    boxes.create(SYSTEM, "pfi@chu-test.mssante.fr", "chu-test", "APP", "1750000019", "PFI", password="x" * 12)
    boxes.create(SYSTEM, "accueil@chu-test.mssante.fr", "chu-test", "ORG", "1750000019", "Accueil")
    boxes.create(SYSTEM, "autre@clinique.mssante.fr", "clinique", "ORG", "1690000035", "Clinique")
    owned = boxes.owned_by("1750000019")
    assert [(b.address, b.kind) for b in owned] == [
        ("accueil@chu-test.mssante.fr", "ORG"),
        ("pfi@chu-test.mssante.fr", "APP"),
    ]
    assert boxes.owned_by("1990000001") == []
