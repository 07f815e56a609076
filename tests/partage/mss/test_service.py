"""Local operators of the trust space (maison.partage.mss.service)."""

from __future__ import annotations

import pytest

from maison.core.errors import InvalidInput
from maison.partage.mss.smtp import Endpoints


@pytest.mark.parametrize(
    "domain", ["hôpital.mssante.fr", "chu..mssante.fr", "-chu.mssante.fr", "chu", "a b.fr", "x" * 300]
)
def test_an_operator_domain_is_an_ascii_dns_name(house, domain):
    """A certificate and SMTP carry only ASCII DNS names (an IDN in its A-label, RFC 5890): anything
    else is a precise refusal — through /admin it was a 500 (cryptography's DNSName refused it)."""
    with pytest.raises(InvalidInput) as refused:
        house.mss.local_operator("op", "OPERATEUR", [domain], Endpoints("127.0.0.1", 1, 2))
    assert refused.value.code == "domaine-invalide"
    assert "op" not in {operator.id for operator in house.mss.trust.operators()}  # nothing registered


def test_an_internationalised_domain_in_its_a_label_is_taken(house):
    runtime = house.mss.local_operator("op", "OPERATEUR", ["xn--hpital-gva.mssante.fr"], Endpoints("127.0.0.1", 1, 2))
    assert list(runtime.operator.domains) == ["xn--hpital-gva.mssante.fr"]
