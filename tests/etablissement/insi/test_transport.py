"""The patient index reaches INSi over SOAP only: in memory with the structure's certificate in the
scope, or over real HTTPS to INSi's mutual-TLS listener with the configured certificate and key."""

from dataclasses import replace

import httpx
import pytest

from maison.core import audit
from maison.core.auth import issue_key
from maison.core.identifiers.checksums import luhn_check_digit
from maison.etablissement.vigilance.fhir import EXT_RELIABILITY
from maison.house import House
from tests.conftest import LiveServer
from tests.e2e.insi_mtls import InsiTlsServer, issue
from tests.identite.helpers import IDAM, STRUCTURE, seed_referential

OTHER = "1750000019"
UNKNOWN = "1" + "75000002" + luhn_check_digit("75000002")  # a FINESS INSi never habilitated
DESK = "801234567897"
SARAH = {
    "resourceType": "Patient",
    "name": [{"use": "official", "family": "Garcia-Hammadi", "given": ["Sarah-Lou"]}],
    "gender": "female",
    "birthDate": "1977-01-21",
}


@pytest.fixture
def national(settings, db):
    """INSi as deployed: no development exception, so only a verified certificate is served."""
    house = House.open(replace(settings, insi_dev_sans_certificat=False), migrate=False)
    seed_referential(house.insi)
    house.insi.register_structure(OTHER, "Clinique voisine")
    house.insi.register_software("DPI-VOISIN", "DPI voisin", "Voisin")
    yield house
    house.insi.journal.close()


def _dpi(house: House, url: str, structure: str = STRUCTURE, software: str = IDAM) -> httpx.Client:
    key = issue_key(house.db, structure, software, DESK, "accueil")
    return httpx.Client(base_url=f"{url}/fhir", headers={"Authorization": f"Bearer {key}"}, timeout=20)


def _recover(http: httpx.Client, ipp: str = "IPP-1") -> httpx.Response:
    admitted = http.post(
        "/Patient", json={**SARAH, "identifier": [{"type": {"coding": [{"code": "PI"}]}, "value": ipp}]}
    )
    assert admitted.status_code == 201, admitted.text
    return http.post(f"/Patient/{admitted.json()['id']}/$recuperer-ins")


def _events(house: House, prefix: str) -> list[dict]:
    with house.db.read() as conn:
        return list(audit.events(conn, action_prefix=prefix))


def _certificates(house: House) -> list[dict]:
    """The records of certificates issued (the desk's API key has its own `cle-emise`)."""
    issued = _events(house, "securite.cle-emise")
    return [e for e in issued if audit.detail_of(e).get("type") == "certificat"]


def _status(patient: dict) -> str:
    reliability = next(e for e in patient["extension"] if e["url"] == EXT_RELIABILITY)
    return next(e["valueCoding"]["code"] for e in reliability["extension"] if e["url"] == "identityStatus")


def test_in_memory_the_structure_certificate_is_presented(national):
    """No insi_url: the house's own INSi, over SOAP in memory, served without the development exception."""
    assert not national.settings.insi_url and not national.settings.insi_dev_sans_certificat
    with LiveServer(national.app()) as live, _dpi(national, live.url) as http:
        recovered = _recover(http)
    assert recovered.status_code == 200, recovered.text
    assert _status(recovered.json()) == "RECUP"
    [call] = _events(national, "insi.rechercherInsAvecTraitsIdentite")
    assert (call["actor_structure"], call["actor_software"], call["outcome"]) == (STRUCTURE, IDAM, "success")
    assert call["actor_person"] == DESK  # the professional named in the call's wsse:Security
    assert _events(national, "securite.certificat-refuse") == []


def test_in_memory_each_structure_presents_its_own(national):
    with LiveServer(national.app()) as live, _dpi(national, live.url, OTHER, "DPI-VOISIN") as http:
        assert _recover(http).status_code == 200
    [call] = _events(national, "insi.rechercherInsAvecTraitsIdentite")
    assert (call["actor_structure"], call["actor_software"]) == (OTHER, "DPI-VOISIN")


def test_in_memory_the_certificate_is_issued_by_insi_and_recorded(national):
    """The wing holds no authority: the certificate it presents is INSi's issuing, handed in by the
    house, so its issuance leaves `securite.cle-emise` — once per structure and software."""
    with LiveServer(national.app()) as live, _dpi(national, live.url) as http:
        assert _recover(http).status_code == 200
        _recover(http, "IPP-2")  # a second call (a doublon, 409, but INSi answered): the same certificate
    assert len(_events(national, "insi.rechercherInsAvecTraitsIdentite")) == 2
    [issued] = _certificates(national)
    detail = audit.detail_of(issued)
    assert (detail["type"], detail["service"], detail["structure"], detail["idam"]) == (
        "certificat",
        "insi",
        STRUCTURE,
        IDAM,
    )
    assert issued["outcome"] == "success" and len(detail["certificat"]) == 64  # its SHA-256 fingerprint


def test_in_memory_no_certificate_for_a_structure_insi_does_not_know(national):
    """A structure that is not habilitated gets no certificate (INSi's issuing refuses it), so nothing
    is presented and nothing is issued unrecorded."""
    with LiveServer(national.app()) as live, _dpi(national, live.url, UNKNOWN, IDAM) as http:
        refused = _recover(http)
    assert refused.status_code == 403, refused.text
    assert refused.json()["issue"][0]["details"]["coding"][0]["code"] == "structure-non-habilitee"
    assert _certificates(national) == []
    assert _events(national, "insi.") == []


def test_over_https_with_the_configured_certificate(national, settings, tmp_path):
    mine = issue(national, STRUCTURE, IDAM, directory=tmp_path / "dpi")
    with InsiTlsServer(national) as listener:
        hospital = House.open(
            replace(
                settings,
                data_dir=tmp_path / "hopital",  # its own PKI: nothing of the national house's but the URL
                insi_dev_sans_certificat=False,
                insi_url=f"{listener.url}/insi/lps",
                insi_client_cert=str(mine.cert),
                insi_client_key=str(mine.key),
                insi_client_ca=str(listener.tls.client_ca),
            ),
            migrate=False,
        )
        try:
            with LiveServer(hospital.app()) as live:
                with _dpi(hospital, live.url) as http:
                    recovered = _recover(http)
                with _dpi(hospital, live.url, OTHER, "DPI-VOISIN") as http:
                    # the deployment's certificate is STRUCTURE's: INSi refuses a call naming another
                    refused = _recover(http)
                listener.server.should_exit = True
                listener.thread.join(timeout=10)
                with _dpi(hospital, live.url) as http:
                    unreachable = _recover(http, "IPP-2")
        finally:
            hospital.insi.journal.close()
    assert recovered.status_code == 200 and _status(recovered.json()) == "RECUP", recovered.text
    assert refused.status_code == 403, refused.text
    assert refused.json()["issue"][0]["details"]["coding"][0]["code"] == "certificat-refuse"
    assert unreachable.status_code == 502
    assert unreachable.json()["issue"][0]["details"]["coding"][0]["code"] == "insi-indisponible"
    [refusal] = _events(national, "securite.certificat-refuse")
    assert mine.fingerprint() in refusal["detail"] and f'"structure_annoncee":"{OTHER}"' in refusal["detail"]
