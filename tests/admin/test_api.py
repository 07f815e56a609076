"""`/admin` over HTTP (issue 21 §1): the administrator token only, JSON bodies described in the
OpenAPI, errors as OperationOutcome, the outbox readable by recipient (§1.3).

The tests of one backend share one served house (module_live) and its administrator token (the
house's first, given once): each opens accounts, keys, identities, operators and INSi habilitations no
other test of the module names, and reads the trail from a mark of its own."""

import httpx
import pytest

from maison.admin.service import first_token
from maison.core.actor import KeyScope
from maison.core.audit import SYSTEM
from maison.core.auth import issue_key
from tests.e2e.mss_shared import Trail
from tests.identite.helpers import SARAH_NIR, nir

PASSWORD = "mot-de-passe-de-test-2026"
STRUCTURE = "1750000027"  # a second CHU, for INSi's certificate: the errors' test habilitates 1750000019
ACCOUNT, ACCOUNT_NIR = "sarah.lou", nir("2770101154201")  # the contacts' test's: the first test opens Sarah's


@pytest.fixture
def house(module_live):
    """The module's shared house (what the per-test `house` gave these tests)."""
    return module_live.house


@pytest.fixture(scope="module")
def token(module_live) -> str:
    """The administrator token: `first_token` gives it once, at the house's first start."""
    given = first_token(module_live.house.db)
    assert given is not None
    return given


def _code(response: httpx.Response) -> str:
    return response.json()["issue"][0]["details"]["coding"][0]["code"]


def test_the_administrator_opens_an_account_reads_the_code_and_manages_keys(module_live, token) -> None:
    admin = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=module_live.url, timeout=30) as client:
        opened = client.post(
            "/admin/mes/comptes",
            headers=admin,
            json={
                "identifiant": "sarah.garcia",
                "ins": SARAH_NIR,
                "dateNaissance": "1977-01-21",
                "motDePasse": PASSWORD,
                "email": "sarah@example.fr",
            },
        )
        assert opened.status_code == 201, opened.text
        assert "motDePasse" not in opened.json()
        started = client.post("/mes/connexion", json={"identifiant": "sarah.garcia", "motDePasse": PASSWORD})
        assert started.status_code == 202, started.text
        box = client.get("/admin/boite-envoi", params={"destinataire": "sarah@example.fr"}, headers=admin)
        assert box.status_code == 200 and box.headers["cache-control"] == "no-store"
        code = box.json()["messages"][-1]["corps"].split("est ")[1][:6]
        finished = client.post("/mes/connexion/code", json={"transaction": started.json()["transaction"], "code": code})
        assert finished.status_code == 200, finished.text

        issued = client.post(
            "/admin/cles", headers=admin, json={"structure": "1750000019", "nom": "dpi", "scope": "accueil"}
        )
        assert issued.status_code == 201, issued.text
        assert issued.json()["scope"] == "accueil"
        revoked = client.delete(f"/admin/cles/{issued.json()['id']}", headers=admin)
        assert revoked.status_code == 200 and revoked.json() == {"revoquees": 1}
        refused = client.get("/fhir/Patient", headers={"ESANTE-API-KEY": issued.json()["cle"]})
        assert refused.status_code == 401  # the revoked key is refused from the next call on
        unknown = client.delete("/admin/cles/" + "0" * 12, headers=admin)
        assert unknown.status_code == 404 and _code(unknown) == "cle-inconnue"


def test_errors_are_operation_outcomes_and_only_the_administrator_is_admitted(house, module_live, token) -> None:
    admin = {"ESANTE-API-KEY": token}
    software = {"ESANTE-API-KEY": issue_key(house.db, "1750000019", "dpi", "dpi", scope=KeyScope.LOGICIEL)}
    with httpx.Client(base_url=module_live.url, timeout=30) as client:
        assert client.get("/admin/boite-envoi").status_code == 401
        refused = client.get("/admin/boite-envoi", headers=software)
        assert refused.status_code == 403 and _code(refused) == "appelant-non-admis"
        missing = client.post("/admin/cles", headers=admin, json={"structure": "1750000019"})
        assert missing.status_code == 400 and missing.json()["resourceType"] == "OperationOutcome"
        assert _code(missing) == "champ-absent"
        malformed = client.post("/admin/insi/habilitations", headers=admin, content=b"{")
        assert malformed.status_code == 400 and _code(malformed) == "json"
        assert client.delete("/admin/cles/pas-un-id", headers=admin).status_code == 400
        habilitated = client.post(
            "/admin/insi/habilitations", headers=admin, json={"structure": "1750000019", "nom": "CHU"}
        )
        assert habilitated.status_code == 201 and habilitated.json()["departement"] == "75"
        software_added = client.post(
            "/admin/insi/logiciels",
            headers=admin,
            json={"idam": "IDAM-1", "nom": "DPI", "editeur": "Éditeur", "version": "1.0"},
        )
        assert software_added.status_code == 201 and software_added.json()["version"] == "1.0"
        no_version = client.post(
            "/admin/insi/logiciels", headers=admin, json={"idam": "IDAM-2", "nom": "DPI", "editeur": "Éditeur"}
        )
        assert no_version.status_code == 400 and _code(no_version) == "champ-absent"


def test_the_openapi_describes_the_request_bodies(module_live) -> None:
    paths = httpx.get(f"{module_live.url}/openapi.json", timeout=30).json()["paths"]
    for path, required in (
        ("/admin/cles", {"structure", "nom"}),
        ("/admin/insi/habilitations", {"structure", "nom"}),
        ("/admin/insi/logiciels", {"idam", "nom", "editeur", "version"}),
        ("/admin/mes/comptes", {"identifiant", "ins", "dateNaissance", "motDePasse"}),
        ("/admin/psc/clients", {"nom", "redirectUris"}),
        ("/admin/annuaire/structures", {"nom"}),
        ("/admin/annuaire/professionnels", {"rpps", "nom", "prenom", "profession"}),
        ("/admin/ins/identites", {"nomNaissance", "prenoms", "sexe", "dateNaissance", "matricule"}),
        ("/admin/ins/remplacements", {"ancien", "nouveau"}),
        ("/admin/ins/fusions", {"survivant", "absorbe"}),
    ):
        schema = paths[path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert set(schema["required"]) == required, path
    assert "destinataire" in {p["name"] for p in paths["/admin/boite-envoi"]["get"]["parameters"]}


def test_a_psc_client_and_a_professional_s_authenticators_over_http(house, module_live, token) -> None:
    from tests.admin.test_service import _a_professional

    admin = {"ESANTE-API-KEY": token}
    idnatps = _a_professional(house)
    with httpx.Client(base_url=module_live.url, timeout=30) as client:
        registered = client.post(
            "/admin/psc/clients",
            headers=admin,
            json={"nom": "DPI", "redirectUris": ["https://dpi.example/cb"], "ciba": True},
        )
        assert registered.status_code == 201 and registered.headers["cache-control"] == "no-store"
        assert registered.json()["client_secret"] and registered.json()["ciba"] is True
        wrong = client.post("/admin/psc/clients", headers=admin, json={"nom": "DPI", "redirectUris": "x"})
        assert wrong.status_code == 400 and wrong.json()["resourceType"] == "OperationOutcome"
        password = client.put(
            f"/admin/professionnels/{idnatps}/mot-de-passe", headers=admin, json={"motDePasse": PASSWORD}
        )
        assert password.status_code == 200, password.text
        ecps = client.post(f"/admin/professionnels/{idnatps}/e-cps", headers=admin)
        assert ecps.status_code == 201 and ecps.json()["otpauth"].startswith("otpauth://totp/")
        unknown = client.post("/admin/professionnels/899999999999/e-cps", headers=admin)
        assert unknown.status_code == 404 and _code(unknown) == "professionnel-inconnu"


def test_an_identity_added_over_http_is_found_and_a_bad_one_is_a_400(house, module_live, token) -> None:
    admin = {"ESANTE-API-KEY": token}
    identity = {
        "nomNaissance": "GARCIA-HAMMADI",
        "prenoms": "SARAH-LOU ANNA",
        "sexe": "F",
        "dateNaissance": "1977-01-21",
        "lieuNaissance": "01154",
        "matricule": SARAH_NIR,
    }
    with httpx.Client(base_url=module_live.url, timeout=30) as client:
        added = client.post("/admin/ins/identites", headers=admin, json=identity)
        assert added.status_code == 201, added.text
        assert house.insi.referential.by_matricule(SARAH_NIR).active.value == SARAH_NIR
        again = client.post("/admin/ins/identites", headers=admin, json=identity)
        assert again.status_code == 409 and _code(again) == "matricule-existant"
        wrong = client.post("/admin/ins/identites", headers=admin, json={**identity, "rangNaissance": "1"})
        assert wrong.status_code == 400 and wrong.json()["resourceType"] == "OperationOutcome"
        unknown = client.post("/admin/ins/fusions", headers=admin, json={"survivant": SARAH_NIR, "absorbe": "x"})
        assert 400 <= unknown.status_code < 500


def test_a_professional_registered_over_http_is_in_the_annuaire(house, module_live, token) -> None:
    from maison.core.identifiers.checksums import luhn_check_digit

    admin = {"ESANTE-API-KEY": token}
    finess, rpps = "69000001", "1000000456"
    finess, rpps = finess + luhn_check_digit(finess), rpps + luhn_check_digit(rpps)
    with httpx.Client(base_url=module_live.url, timeout=30) as client:
        structure = client.post("/admin/annuaire/structures", headers=admin, json={"nom": "CABINET", "finess": finess})
        assert structure.status_code == 201, structure.text
        pro = client.post(
            "/admin/annuaire/professionnels",
            headers=admin,
            json={"rpps": rpps, "nom": "MARTIN", "prenom": "ALICE", "profession": "10", "structure": f"1{finess}"},
        )
        assert pro.status_code == 201, pro.text
        assert house.psc.enroll_ecps(pro.json()["idnatps"]).startswith("otpauth://")  # PSC knows him now
        bad = client.post("/admin/annuaire/professionnels", headers=admin, json={"rpps": "1", "nom": "X"})
        assert bad.status_code == 400 and bad.json()["resourceType"] == "OperationOutcome"
        # an ARS agent: his situation d'exercice carries the role the observatory reads (PSC's codeRole)
        agent_rpps = "1000000789" + luhn_check_digit("1000000789")
        body = {"rpps": agent_rpps, "nom": "INSPECTION", "prenom": "AGNES", "profession": "10"}
        agent = client.post(
            "/admin/annuaire/professionnels",
            headers=admin,
            json=body | {"structure": f"1{finess}", "fonction": "agent-ars"},
        )
        assert agent.status_code == 201, agent.text
        info = house.psc.userinfo({"preferred_username": agent.json()["idnatps"], "authMode": ""})
        assert info["SubjectRefPro"]["exercices"][0]["activities"][0]["codeRole"] == "agent-ars"
        nowhere = client.post("/admin/annuaire/professionnels", headers=admin, json=body | {"fonction": "agent-ars"})
        assert nowhere.status_code == 400 and "fonction" in nowhere.text  # a role needs a situation d'exercice


def test_an_mssante_operator_and_a_mailbox_over_http(house, module_live, token) -> None:
    from tests.conftest import free_port

    admin = {"ESANTE-API-KEY": token}
    operator = {
        "identifiant": "chu-test",
        "nom": "CHU de test",
        "domaines": ["chu-test.mssante.fr"],
        "relais": free_port(),
        "soumission": free_port(),
    }
    with httpx.Client(base_url=module_live.url, timeout=30) as client:
        registered = client.post("/admin/mss/operateurs", headers=admin, json=operator)
        assert registered.status_code == 201, registered.text
        assert registered.json()["domaines"] == ["chu-test.mssante.fr"]
        assert house.mss.trust.get("chu-test").name == "CHU de test"
        box = {
            "adresse": "secretariat@chu-test.mssante.fr",
            "operateur": "chu-test",
            "type": "APP",
            "titulaire": "1750000019",
            "nom": "Secrétariat",
            "motDePasse": PASSWORD,
        }
        created = client.post("/admin/mss/bal", headers=admin, json=box)
        assert created.status_code == 201, created.text
        assert house.mss.mailboxes.find("secretariat@chu-test.mssante.fr") is not None
        unknown = client.post("/admin/mss/bal", headers=admin, json={**box, "operateur": "inconnu"})
        assert unknown.status_code == 404 and _code(unknown) == "operateur-inconnu"
        bad_port = client.post("/admin/mss/operateurs", headers=admin, json={**operator, "relais": 0})
        assert bad_port.status_code == 400


def test_an_insi_certificate_is_issued_over_http_for_a_habilitated_structure_only(house, module_live, token) -> None:
    """Issue 21 §1: the certificate INSi's mutual TLS asks for, without the CLI on the house's machine —
    its key given once (no-store), the authority that verifies the listener; the act in the trail."""
    from cryptography import x509

    admin = {"Authorization": f"Bearer {token}"}
    trail = Trail(house)
    with httpx.Client(base_url=module_live.url, timeout=30, headers=admin) as client:
        body = {"structure": STRUCTURE, "idam": "IDAM-CERT"}  # habilitated by no other test
        unknown = client.post("/admin/insi/certificats", json=body)
        assert unknown.status_code == 400 and _code(unknown) == "logiciel-inconnu"
        version = {"idam": "IDAM-CERT", "nom": "DPI", "editeur": "Éditeur", "version": "1.0"}
        assert client.post("/admin/insi/logiciels", json=version).status_code == 201
        assert _code(client.post("/admin/insi/certificats", json=body)) == "structure-non-habilitee"
        assert client.post("/admin/insi/habilitations", json={"structure": STRUCTURE, "nom": "CHU"}).status_code == 201
        issued = client.post("/admin/insi/certificats", json={**body, "jours": 30})
        assert issued.status_code == 201 and issued.headers["cache-control"] == "no-store", issued.text
        cert = x509.load_pem_x509_certificate(issued.json()["certificat"].encode())
        authority = x509.load_pem_x509_certificate(issued.json()["autorite"].encode())
        assert cert.issuer == authority.subject and f"OU={STRUCTURE}" in cert.subject.rfc4514_string()
        assert issued.json()["cle"].startswith("-----BEGIN PRIVATE KEY-----")
        assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days <= 31
        paths = client.get("/openapi.json").json()["paths"]
        schema = paths["/admin/insi/certificats"]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert schema["required"] == ["structure", "idam"]
    assert [e["action"] for e in trail.since("admin.certificat-insi")] == ["admin.certificat-insi"]


def test_an_account_s_contacts_set_over_http_receive_its_next_code(house, module_live, token) -> None:
    """Issue 21 §1.1: `PUT /admin/mes/comptes/{identifiant}/contacts`, its body in the OpenAPI; the code of
        the next login read in the outbox under the new recipient, none under the old one. An account and
    addresses of its own: the first test's account is Sarah's."""
    admin = {"Authorization": f"Bearer {token}"}
    house.admin.open_mes_account(SYSTEM, ACCOUNT, ACCOUNT_NIR, "1977-01-21", PASSWORD, "sarah.lou@example.fr")
    with httpx.Client(base_url=module_live.url, timeout=30) as client:
        path = f"/admin/mes/comptes/{ACCOUNT}/contacts"
        assert client.put(path, json={"email": "s.lou@courriel.fr"}).status_code == 401
        bad = client.put(path, headers=admin, json={"telephone": "01 23 45 67 89"})
        assert bad.status_code == 400 and _code(bad) == "telephone-invalide"
        assert _code(client.put(path, headers=admin, json={})) == "canal-absent"
        unknown = client.put("/admin/mes/comptes/personne/contacts", headers=admin, json={"email": "p@example.fr"})
        assert unknown.status_code == 404 and _code(unknown) == "compte-inconnu"
        changed = client.put(path, headers=admin, json={"email": "s.lou@courriel.fr", "telephone": "0712345678"})
        assert changed.status_code == 200, changed.text
        assert changed.json() == {
            "identifiant": ACCOUNT,
            "email": "s.lou@courriel.fr",
            "telephone": "+33712345678",
        }
        started = client.post("/mes/connexion", json={"identifiant": ACCOUNT, "motDePasse": PASSWORD})
        assert started.status_code == 202, started.text
        old = client.get("/admin/boite-envoi", params={"destinataire": "sarah.lou@example.fr"}, headers=admin)
        assert old.json() == {"messages": []}
        box = client.get("/admin/boite-envoi", params={"destinataire": "s.lou@courriel.fr"}, headers=admin)
        code = box.json()["messages"][-1]["corps"].split("est ")[1][:6]
        finished = client.post("/mes/connexion/code", json={"transaction": started.json()["transaction"], "code": code})
        assert finished.status_code == 200, finished.text
        paths = client.get("/openapi.json").json()["paths"]
        put = paths["/admin/mes/comptes/{identifiant}/contacts"]["put"]
        assert set(put["requestBody"]["content"]["application/json"]["schema"]["properties"]) == {"email", "telephone"}
