"""A structure's keys cannot mint professionals (issue 18 §1.1), end to end over HTTP.

The chain the penetration test ran: the front desk's key registered an identity provider for the
structure, signed tokens for its doctor, and with them created an ordonnance, declared the patient
informed, searched and read her DMP; then declared a professional to RPPS+ and signed a token for
him. Each link is now refused where it was accepted, and the refusals are in the audit trail.
"""

from __future__ import annotations

import time

import httpx
from joserfc import jwt
from joserfc.jwk import RSAKey

from maison.core import audit
from maison.core.actor import KeyScope
from maison.core.auth import issue_key
from maison.core.identifiers.checksums import luhn_check_digit
from maison.core.identifiers.nir import OID_INS_NIR_TEST
from tests.partage.world import HOPITAL, PROS, SARAH_NIR, make_world

ISSUER = "https://sso.chu-de-test.fr/realms/personnel"


def _code(response: httpx.Response) -> str:
    return response.json()["issue"][0]["details"]["coding"][0]["code"]


def _token(key: RSAKey, idnatps: str) -> str:
    claims = {"iss": ISSUER, "aud": "maison", "exp": int(time.time()) + 300, "idnatps": idnatps}
    return jwt.encode({"alg": "RS256", "kid": "sso-1"}, claims, key)


def test_a_desk_key_mints_nobody_and_local_tokens_stay_local(house, live) -> None:
    make_world(house, live, keys=())
    signing = RSAKey.generate_key(2048, parameters={"kid": "sso-1", "alg": "RS256", "use": "sig"})
    registration = {"issuer": ISSUER, "audience": "maison", "jwks": {"keys": [signing.as_dict(private=False)]}}
    desk = issue_key(house.db, HOPITAL, "dpi-chu", "accueil-1", "accueil", scope=KeyScope.ACCUEIL)
    software = issue_key(house.db, HOPITAL, "dpi-chu", "dpi")
    admin = issue_key(house.db, HOPITAL, "sso-admin", "dsi", scope=KeyScope.ADMINISTRATEUR_STRUCTURE)

    # 1. neither the desk's nor the software's key registers an identity provider; the administrator's does
    for key in (desk, software):
        refused = httpx.post(f"{live.url}/psc/local-idp", headers={"ESANTE-API-KEY": key}, json=registration)
        assert refused.status_code == 403 and _code(refused) == "appelant-non-admis"
    assert (
        httpx.post(f"{live.url}/psc/local-idp", headers={"ESANTE-API-KEY": admin}, json=registration).status_code == 201
    )

    # 2. the structure's own SSO serves its own services, not the national ones (seed 002 L573, L626)
    doctor = {"Authorization": f"Bearer {_token(signing, PROS['hospitalier'].idnatps)}"}
    assert httpx.get(f"{live.url}/fhir/Patient", params={"family": "X"}, headers=doctor).status_code == 200
    ins = f"urn:oid:{OID_INS_NIR_TEST}|{SARAH_NIR}"
    national = [
        httpx.post(f"{live.url}/ordonnance/RequestGroup", headers=doctor, json={"resourceType": "Bundle"}),
        httpx.post(f"{live.url}/dmp/Consent", headers=doctor, json={"resourceType": "Consent"}),
        httpx.get(f"{live.url}/dmp/DocumentReference", headers=doctor, params={"patient.identifier": ins}),
        httpx.get(f"{live.url}/dmp/Binary/1.2.3", headers=doctor),
    ]
    assert [(r.status_code, _code(r)) for r in national] == [(403, "appelant-non-admis")] * 4

    # 3. RPPS+: the desk cannot declare; the administrator's declaration makes nobody before validation
    person = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": k, "valueString": v}
            for k, v in {
                "nom": "Martin",
                "prenom": "Léo",
                "dateNaissance": "1991-02-03",
                "civilite": "M",
                "role": "318",
            }.items()
        ],
    }
    assert (
        httpx.post(f"{live.url}/annuaire/$rpps-plus", headers={"ESANTE-API-KEY": desk}, json=person).status_code == 403
    )
    declared = httpx.post(f"{live.url}/annuaire/$rpps-plus", headers={"ESANTE-API-KEY": admin}, json=person)
    assert declared.status_code == 202
    next_number = "8" + "9980000001" + luhn_check_digit("9980000001")  # the number validation would give
    minted = httpx.get(
        f"{live.url}/fhir/Patient",
        params={"family": "X"},
        headers={"Authorization": f"Bearer {_token(signing, next_number)}"},
    )
    assert minted.status_code == 401 and _code(minted) == "jeton-invalide"  # no such professional

    # 4. the trail holds the refusals and the registration
    house.insi.journal.close()
    with house.db.read() as conn:
        actions = [(row["action"], row["actor_person"]) for row in audit.events(conn, action_prefix="securite.")]
    assert ("securite.acces-refuse", "accueil-1") in actions
    assert ("securite.idp-enregistre", "dsi") in actions
    assert sum(1 for action, _ in actions if action == "securite.acces-refuse") >= 7
