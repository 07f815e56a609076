"""INSi authenticates its callers by certificate (issue 18, 1.4), over real HTTP and real TLS.

Before: a registered structure identifier and an IDAM — public numbers — were enough to get a
patient's NIR from her traits. Now the structure's software certificate, verified in a mutual-TLS
handshake, must name the ContexteLPS's structure and software; plain loopback calls are served
only under `insi_dev_sans_certificat`.
"""

import datetime as dt
import getpass
import ssl
from dataclasses import replace

import httpx
import pytest
from lxml import etree

from maison.core import audit
from maison.etablissement.insi.client import ClientIdentity, InsiClient, InsiFault, traits_request
from maison.formats.insi import CodeCR
from maison.house import House
from maison.serving_insi import authority
from tests.conftest import LiveServer
from tests.e2e.insi_mtls import InsiTlsServer, issue, self_signed
from tests.identite.helpers import IDAM, SARAH_NIR, STRUCTURE, seed_referential

OTHER = "1750000019"
SOAP = {"Content-Type": "application/soap+xml; charset=utf-8"}
SARAH_QUERY = ("GARCIA-HAMMADI", ["SARAH-LOU"], "F", "1977-01-21")


@pytest.fixture
def strict(settings, db):
    """The house as deployed: no development exception."""
    house = House.open(replace(settings, insi_dev_sans_certificat=False), migrate=False)
    seed_referential(house.insi)
    house.insi.register_structure(OTHER, "Clinique voisine")
    yield house
    house.insi.journal.close()


@pytest.fixture
def listener(strict):
    with InsiTlsServer(strict) as server:
        yield server


def _fault(response: httpx.Response) -> str:
    erreur = etree.fromstring(response.content).find(".//{urn:siram}Erreur")
    assert erreur is not None, response.text
    return erreur.get("code")


def _refusals(house) -> list[dict]:
    with house.db.read() as conn:
        return list(audit.events(conn, action_prefix="securite.certificat-refuse"))


def test_public_numbers_alone_no_longer_give_a_nir(strict):
    """The pentest's chain: registered structure id + public IDAM, plain HTTP, no certificate → refused."""
    with LiveServer(strict.app()) as live:
        r = httpx.post(
            f"{live.url}/insi/lps",
            content=traits_request(ClientIdentity(STRUCTURE, IDAM), *SARAH_QUERY),
            headers=SOAP,
            timeout=10,
        )
        json = httpx.post(
            f"{live.url}/insi/json/rechercherInsAvecTraitsIdentite",
            timeout=10,
            json={
                "structure": STRUCTURE,
                "idam": IDAM,
                "nomNaissance": "GARCIA-HAMMADI",
                "prenom": "SARAH-LOU",
                "sexe": "F",
                "dateNaissance": "1977-01-21",
            },
        )
    assert r.status_code == 500 and _fault(r) == "desir_552"  # as the national service: every fault on 500
    assert SARAH_NIR[:13].encode() not in r.content
    assert json.status_code == 401 and SARAH_NIR[:13] not in json.text
    events = _refusals(strict)
    assert len(events) == 2 and all(e["outcome"] == "failure" and e["purpose"] == "SECURITY" for e in events)
    assert events[0]["actor_person"] == "anonyme:127.0.0.1" and '"dicom":"110113"' in events[0]["detail"]
    with strict.db.read() as conn:
        assert not list(audit.events(conn, action_prefix="insi."))  # no call is counted for the claimed structure


def test_the_right_certificate_is_served(strict, listener, tmp_path):
    mine = issue(strict, STRUCTURE, IDAM)
    with listener.client(mine) as http:
        client = InsiClient(f"{listener.url}/insi/lps", ClientIdentity(STRUCTURE, IDAM), http=http)
        result = client.search_traits(*SARAH_QUERY)
        json = http.post(
            f"{listener.url}/insi/json/rechercherInsAvecTraitsIdentite",
            json={
                "structure": STRUCTURE,
                "idam": IDAM,
                "nomNaissance": "GARCIA-HAMMADI",
                "prenom": "SARAH-LOU",
                "sexe": "F",
                "dateNaissance": "1977-01-21",
            },
        )
    assert result.code is CodeCR.TROUVE and result.individu.active.value == SARAH_NIR
    assert json.status_code == 200 and json.json()["codeCR"] == "00"
    assert _refusals(strict) == []


def test_no_certificate_on_the_listener_is_a_soap_fault(strict, listener):
    with listener.client() as http:
        r = http.post(
            f"{listener.url}/insi/lps",
            content=traits_request(ClientIdentity(STRUCTURE, IDAM), *SARAH_QUERY),
            headers=SOAP,
        )
    assert r.status_code == 500 and _fault(r) == "desir_552"
    assert "certificat" in etree.fromstring(r.content).findtext(".//{urn:siram}Erreur")  # the precise reason
    assert len(_refusals(strict)) == 1


def test_a_certificate_of_another_structure_is_refused(strict, listener):
    theirs = issue(strict, OTHER, IDAM)  # a real certificate of the house PKI, of a habilitated structure
    with listener.client(theirs) as http:
        client = InsiClient(f"{listener.url}/insi/lps", ClientIdentity(STRUCTURE, IDAM), http=http)
        with pytest.raises(InsiFault) as err:
            client.search_traits(*SARAH_QUERY)
        other_software = InsiClient(f"{listener.url}/insi/lps", ClientIdentity(OTHER, "MAISON-AUTRE"), http=http)
        with pytest.raises(InsiFault) as err2:
            other_software.search_traits(*SARAH_QUERY)
    assert err.value.code == "desir_553" and err.value.subcode == "siram_100"
    assert err.value.error().http_status == 403
    assert err2.value.code == "desir_553"
    [event, _] = _refusals(strict)
    assert event["actor_structure"] == OTHER and f'"structure_annoncee":"{STRUCTURE}"' in event["detail"]
    assert theirs.fingerprint() in event["detail"]


def test_the_cli_issues_only_for_a_habilitated_structure(strict, tmp_path):
    from typer.testing import CliRunner

    from maison.cli import app

    env = {"MAISON_DATA_DIR": str(strict.settings.data_dir), "MAISON_DATABASE_URL": strict.settings.database_url}
    runner = CliRunner()
    refused = runner.invoke(app, ["insi-certificat", "1999999999", "--idam", IDAM], env=env)
    assert refused.exit_code != 0 and "non habilitée" in refused.output
    done = runner.invoke(
        app, ["insi-certificat", STRUCTURE, "--idam", IDAM, "--sortie", str(tmp_path / "out")], env=env
    )
    assert done.exit_code == 0, done.output
    from cryptography import x509

    [pem] = (tmp_path / "out").glob("*.pem")
    subject = x509.load_pem_x509_certificate(pem.read_bytes()).subject.rfc4514_string()
    assert f"OU={STRUCTURE}" in subject and f"CN={IDAM}" in subject
    assert oct(pem.with_suffix(".key").stat().st_mode & 0o777) == "0o600"
    with strict.db.read() as conn:
        [event] = audit.events(conn, action_prefix="securite.cle-emise")
    assert event["actor_person"] == f"cli:{getpass.getuser()}" and '"type":"certificat"' in event["detail"]


@pytest.mark.parametrize("kind", ["self-signed", "other-authority", "expired"])
def test_certificates_that_do_not_verify_are_refused_by_the_handshake(strict, listener, tmp_path, kind):
    if kind == "self-signed":
        bad = self_signed(tmp_path / "self", STRUCTURE, IDAM)
    elif kind == "other-authority":
        from maison.core.pki import Authority

        bad = Authority(tmp_path / "other", "AC PIRATE").issue_structure(STRUCTURE, IDAM)
    else:
        bad = authority(strict.settings).issue_structure(
            STRUCTURE,
            IDAM,
            directory=tmp_path / "old",
            validity=dt.timedelta(days=1),
            not_before=dt.datetime.now(dt.UTC) - dt.timedelta(days=10),
        )
    with listener.client(bad) as http, pytest.raises(httpx.TransportError):
        # TLS 1.3: the client's handshake ends before the server checks its certificate; the
        # server's alert then ends the connection at the first read
        http.post(
            f"{listener.url}/insi/lps",
            content=traits_request(ClientIdentity(STRUCTURE, IDAM), *SARAH_QUERY),
            headers=SOAP,
        )


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
def test_tls_below_1_2_is_refused(strict, listener, version):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(str(listener.tls.client_ca))
    context.set_ciphers("ALL:@SECLEVEL=0")
    context.minimum_version = context.maximum_version = version
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{listener.url}/insi/lps?wsdl", verify=context, timeout=5)


def test_only_aead_suites_are_offered(strict, listener):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(str(listener.tls.client_ca))
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers("ECDHE+AES128+SHA256:ECDHE+AES256+SHA384:ECDHE+SHA:AES128-SHA")  # CBC suites only
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{listener.url}/insi/lps?wsdl", verify=context, timeout=5)
    context.set_ciphers("ECDHE+AESGCM")
    assert httpx.get(f"{listener.url}/insi/lps?wsdl", verify=context, timeout=5).status_code == 200
    names = {c["name"] for c in listener.tls.context().get_ciphers()}
    assert names and all("GCM" in n or "CHACHA20" in n for n in names)


def test_development_setting_serves_plain_loopback_calls(house):
    """`insi_dev_sans_certificat` (on in the shared test settings): plain calls from loopback are served."""
    assert house.settings.insi_dev_sans_certificat
    seed_referential(house.insi)
    with LiveServer(house.app()) as live:
        result = InsiClient(f"{live.url}/insi/lps", ClientIdentity(STRUCTURE, IDAM)).search_traits(*SARAH_QUERY)
    assert result.code is CodeCR.TROUVE


def test_development_setting_still_checks_a_presented_certificate(house):
    seed_referential(house.insi)
    house.insi.register_structure(OTHER, "Clinique voisine")
    with InsiTlsServer(house) as listener:
        with listener.client(issue(house, OTHER, IDAM)) as http:
            client = InsiClient(f"{listener.url}/insi/lps", ClientIdentity(STRUCTURE, IDAM), http=http)
            with pytest.raises(InsiFault) as err:
                client.search_traits(*SARAH_QUERY)
        with listener.client() as http:  # TLS without a certificate is not the plain development access
            r = http.post(
                f"{listener.url}/insi/lps",
                headers=SOAP,
                content=traits_request(ClientIdentity(STRUCTURE, IDAM), *SARAH_QUERY),
            )
    assert err.value.code == "desir_553" and _fault(r) == "desir_552"
