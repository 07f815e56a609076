"""A vendor tests its software against a fresh `maison serve` with only what the administration gave
(issue 21, Done when): every onboarding act of §1 by `maison admin …` in a subprocess or over
`/admin`, then Pro Santé Connect's authorization code flow and CIBA with Authlib's client, INSi over
SOAP with the certificate `/admin/insi/certificats` issued (`maison admin certificat-insi` by the
CLI), the DMP fed over PDSm (ITI-65) with the PSC
token for the patient INSi identified, and an MSSanté message submitted with an applicative mailbox's
password and read back over IMAP — the professional's own mailbox opened with his PSC token.

The client part imports nothing of `maison`: the identifiers' Luhn keys, the SOAP envelope, the
ITI-65 Bundle read from the CDA's header, are written here as a vendor's script would write them.
The sibling `test_admin_sandbox` does the other half of the acts over HTTP; so each act is exercised
by both paths across the two tests.

The MSSanté operator is registered over `/admin` while `serve` runs, and reached where its answer
says it listens, its certificate checked against the authority the answer gives (issue 21 §1.4).
"""

from __future__ import annotations

import base64
import hashlib
import html.parser
import imaplib
import signal
import smtplib
import ssl
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

import httpx
import pyotp
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client
from lxml import etree

from tests.e2e.test_admin_sandbox import _admin_cli, _luhn, _nir_key, _port, _read_token, _serve, _wait_until_up

PASSWORD = "mot-de-passe-de-test-2026"
REDIRECT = "https://dpi.example/cb"
PSC_REALM = "/psc/auth/realms/esante-wallet"
DOMAIN = "chu-vendeur.mssante.fr"
# the official CI-SIS example (shared/reference/cisis/ExemplesCDA): a vaccination note (fed alone, seed
# 002 L413) of the example patient PAT-TROIS, whose identity the administrator adds to the referential
EXAMPLE = "VAC-NOTE_2023.01.xml"
PAT_TROIS = {
    "nomNaissance": "PAT-TROIS",
    "prenoms": "DOMINIQUE MARIE-LOUISE",
    "sexe": "F",
    "dateNaissance": "1979-03-28",
    "lieuNaissance": "51215",
    "matricule": "279035121518989",
}
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
CDA = {"h": "urn:hl7-org:v3"}
NOS = "https://mos.esante.gouv.fr/NOS"


# --- the vendor's tools: the CLI, the login form -------------------------------------------------------


class _Form(html.parser.HTMLParser):
    """The login page's form as a browser reads it: its action and its inputs' names and values."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "form":
            self.action = named.get("action") or ""
        elif tag == "input" and named.get("name"):
            self.fields[named["name"] or ""] = named.get("value") or ""


def _sign_in_as_a_browser(url: str, idnatps: str) -> str:
    """Open the authorization URL, fill the login form with the test password, submit it; the
    redirect back to the software (its Location, with the code)."""
    page = httpx.get(url, timeout=30)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"], page.text
    form = _Form()
    form.feed(page.text)
    fields = {**form.fields, "idnatps": idnatps, "password": PASSWORD, "otp": ""}
    submitted = httpx.post(httpx.URL(url).join(form.action), data=fields, timeout=30)
    assert submitted.status_code in (302, 303), submitted.text
    return submitted.headers["location"]


# --- INSi: the SOAP envelope of RECSANSVITALE (the CNAM's WSDL, ContexteLPS) --------------------------


def _insi_request(structure: str, idam: str, version: str, traits: dict[str, str]) -> bytes:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    given = "".join(f"<i:Prenom>{p}</i:Prenom>" for p in traits["prenoms"].split()[:1])
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<soap:Envelope xmlns:soap="{SOAP12}"><soap:Header>
<ctxlps:ContexteLPS xmlns:ctxlps="urn:siram:lps:ctxlps" Nature="CTXLPS" Version="01_00">
<ctxlps:Id>{uuid.uuid4()}</ctxlps:Id><ctxlps:Temps>{now}</ctxlps:Temps><ctxlps:Emetteur>{structure}</ctxlps:Emetteur>
<ctxlps:LPS><ctxlps:IDAM R="4">{idam}</ctxlps:IDAM><ctxlps:Version>{version}</ctxlps:Version>
<ctxlps:Instance>{uuid.uuid4()}</ctxlps:Instance><ctxlps:Nom>DPI du vendeur</ctxlps:Nom></ctxlps:LPS>
</ctxlps:ContexteLPS>
<ctxbam:ContexteBAM xmlns:ctxbam="urn:siram:bam:ctxbam" Version="01_02"><ctxbam:Id>{uuid.uuid4()}</ctxbam:Id>
<ctxbam:Temps>{now}</ctxbam:Temps><ctxbam:COUVERTURE/></ctxbam:ContexteBAM>
<wsa:MessageID xmlns:wsa="http://www.w3.org/2005/08/addressing">uuid:{uuid.uuid4()}</wsa:MessageID>
<wsa:Action xmlns:wsa="http://www.w3.org/2005/08/addressing">urn:ServiceIdentiteCertifiee:1.0.0:rechercherInsAvecTraitsIdentite</wsa:Action>
</soap:Header><soap:Body><i:RECSANSVITALE xmlns:i="http://www.cnamts.fr/INSiRecSans">
<i:NomNaissance>{traits["nomNaissance"]}</i:NomNaissance>{given}<i:Sexe>{traits["sexe"]}</i:Sexe>
<i:DateNaissance>{traits["dateNaissance"]}</i:DateNaissance></i:RECSANSVITALE></soap:Body></soap:Envelope>""".encode()


def _insi_answer(payload: bytes) -> dict[str, str]:
    """CR, INS (matricule with its key) and OID of INSi's answer, read by local name."""
    root = etree.fromstring(payload)

    def text(name: str) -> str:
        found = root.xpath(f"//*[local-name()='{name}']")
        return found[0].text if found else ""

    return {
        "cr": text("CodeCR"),
        "ins": text("NumIdentifiant") + text("Cle"),
        "oid": text("OID"),
        "prenoms": text("ListePrenom"),
    }


# --- the DMP: an ITI-65 Bundle whose metadata is read from the CDA's own header (CI-SIS XDS ↔ CDA) ---


def _ts(value: str) -> str:
    """A CDA timestamp (YYYYMMDDHHMMSS±ZZZZ) as FHIR's instant, in UTC."""
    parsed = datetime.strptime(value, "%Y%m%d%H%M%S%z") if len(value) > 14 else datetime.strptime(value, "%Y%m%d")
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _provide_bundle(cda: bytes, ins: str, oid: str, format_code: str) -> dict:
    doc = etree.fromstring(cda)

    def attr(path: str, name: str) -> str:
        return doc.xpath(path, namespaces=CDA)[0].get(name)

    def text(path: str) -> str:
        return doc.xpath(path, namespaces=CDA)[0].text.strip()

    patient = "h:recordTarget/h:patientRole"
    assert (attr(f"{patient}/h:id[1]", "extension"), attr(f"{patient}/h:id[1]", "root")) == (ins, oid)
    author = "h:author/h:assignedAuthor"
    facility = attr("h:componentOf/h:encompassingEncounter/h:location/h:healthCareFacility/h:code", "code")
    practice = attr(
        "h:documentationOf/h:serviceEvent/h:performer/h:assignedEntity/"
        "h:representedOrganization/h:standardIndustryClassCode",
        "code",
    )
    start = attr("h:documentationOf/h:serviceEvent/h:effectiveTime/h:low", "value")
    doc_url, binary_url = f"urn:uuid:{uuid.uuid4()}", f"urn:uuid:{uuid.uuid4()}"
    subject = {"identifier": {"system": f"urn:oid:{oid}", "value": ins}}
    type_code = attr("h:code", "code")
    loinc = "http://loinc.org"
    reference: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "contained": [
            {
                "resourceType": "Practitioner",
                "id": "auteur",
                "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.1", "value": attr(f"{author}/h:id", "extension")}],
                "name": [
                    {
                        "family": text(f"{author}/h:assignedPerson/h:name/h:family"),
                        "given": [text(f"{author}/h:assignedPerson/h:name/h:given")],
                    }
                ],
            },
            {
                "resourceType": "Patient",
                "id": "patient",
                "identifier": [subject["identifier"]],
                "name": [{"family": PAT_TROIS["nomNaissance"], "given": PAT_TROIS["prenoms"].split()}],
                "gender": "female",
                "birthDate": PAT_TROIS["dateNaissance"],
            },
        ],
        "extension": [
            {
                "url": "https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-ext-is-archived",
                "valueBoolean": False,
            }
        ],
        "masterIdentifier": {"use": "usual", "system": "urn:ietf:rfc:3986", "value": f"urn:oid:{attr('h:id', 'root')}"},
        "status": "current",
        "type": {"coding": [{"system": loinc, "code": type_code, "display": attr("h:code", "displayName")}]},
        "category": [
            {"coding": [{"system": f"{NOS}/TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument", "code": "52"}]}
        ],
        "subject": subject,
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "author": [{"reference": "#auteur"}],
        "custodian": {
            "identifier": {
                "system": "urn:oid:1.2.250.1.71.4.2.2",
                "value": attr("h:custodian/h:assignedCustodian/h:representedCustodianOrganization/h:id", "extension"),
            }
        },
        "securityLabel": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
                        "code": attr("h:confidentialityCode", "code"),
                    }
                ]
            }
        ],
        "content": [
            {
                "attachment": {
                    "contentType": "text/xml",
                    "language": "fr-FR",
                    "url": binary_url,
                    "size": len(cda),
                    "hash": base64.b64encode(hashlib.sha1(cda).digest()).decode(),
                    "title": text("h:title"),
                    "creation": _ts(attr("h:effectiveTime", "value")),
                },
                "format": {"system": f"{NOS}/TRE_A11-IheFormatCode/FHIR/TRE-A11-IheFormatCode", "code": format_code},
            }
        ],
        "context": {
            "period": {"start": _ts(start)},
            "facilityType": {
                "coding": [{"system": f"{NOS}/TRE_R02-SecteurActivite/FHIR/TRE-R02-SecteurActivite", "code": facility}]
            },
            "practiceSetting": {
                "coding": [{"system": f"{NOS}/TRE_A01-CadreExercice/FHIR/TRE-A01-CadreExercice", "code": practice}]
            },
            "sourcePatientInfo": {"reference": "#patient"},
            "event": [{"coding": [{"system": loinc, "code": type_code}]}],
        },
    }
    submission = {
        "resourceType": "List",
        "status": "current",
        "mode": "working",
        "title": text("h:title"),
        "extension": [
            {
                "url": "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-sourceId",
                "valueIdentifier": {"value": "urn:oid:1.2.250.1.213.4.1.9.1"},
            },
            {
                "url": "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-designationType",
                "valueCodeableConcept": reference["context"]["facilityType"],
            },
        ],
        "identifier": [{"use": "usual", "system": "urn:ietf:rfc:3986", "value": f"urn:oid:2.25.{uuid.uuid4().int}"}],
        "code": {
            "coding": [{"system": "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes", "code": "submissionset"}]
        },
        "subject": subject,
        "date": reference["date"],
        "entry": [{"item": {"reference": doc_url}}],
    }
    binary = {"resourceType": "Binary", "contentType": "text/xml", "data": base64.b64encode(cda).decode()}
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "meta": {
            "profile": ["https://profiles.ihe.net/ITI/MHD/StructureDefinition/IHE.MHD.Comprehensive.ProvideBundle"]
        },
        "entry": [
            {
                "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                "resource": submission,
                "request": {"method": "POST", "url": "List"},
            },
            {"fullUrl": doc_url, "resource": reference, "request": {"method": "POST", "url": "DocumentReference"}},
            {"fullUrl": binary_url, "resource": binary, "request": {"method": "POST", "url": "Binary"}},
        ],
    }


# --- the test ----------------------------------------------------------------------------------------


def test_a_vendor_runs_psc_insi_dmp_and_mssante_with_what_the_administration_gave(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port, insi_port = _port(), _port()
    relay, submission, imap = _port(), _port(), _port()
    base = f"http://127.0.0.1:{port}"
    finess, rpps = _luhn("75000002"), _luhn("1000000790")
    structure, idnatps, idam, version = f"1{finess}", f"8{rpps}", "IDAM-VENDEUR-1", "2026.12"

    proc = _serve(data_dir, port, MAISON_INSI_PORT=str(insi_port))
    try:
        admin = {"Authorization": f"Bearer {_read_token(proc, time.monotonic() + 60)}"}
        http = httpx.Client(base_url=base, timeout=30, headers=admin)
        _wait_until_up(http)

        # --- §1 onboarding: the acts test_admin_sandbox does over HTTP, here by the CLI, and the others
        assert (
            _admin_cli(data_dir, "structure", "CHU DU VENDEUR", "--finess", finess, "--secteur", "SA01")["idnatstruct"]
            == structure
        )
        assert _admin_cli(data_dir, "habilitation-insi", structure, "--nom", "CHU DU VENDEUR")["departement"] == "75"
        software = _admin_cli(data_dir, "logiciel", idam, "--nom", "DPI du vendeur", "--editeur", "Vendeur",
                              "--version", version)  # fmt: skip
        assert software["version"] == version
        _admin_cli(data_dir, "professionnel", rpps, "--nom", "DUPONT", "--prenom", "JEAN", "--structure", structure)
        _admin_cli(data_dir, "mot-de-passe", idnatps, "--mot-de-passe", PASSWORD)
        png = tmp_path / "e-cps.png"
        seed = _admin_cli(data_dir, "e-cps", idnatps, "--png", str(png))["secret"]
        assert png.read_bytes().startswith(b"\x89PNG")
        client = _admin_cli(data_dir, "client-psc", "DPI du vendeur", "--redirect", REDIRECT, "--ciba")
        issued_key = _admin_cli(data_dir, "cle", structure, "--nom", "dpi-du-vendeur")
        key = issued_key["cle"]
        added = http.post("/admin/ins/identites", json=PAT_TROIS)
        assert added.status_code == 201, added.text
        _nia_then_nir(data_dir, http)
        _merge(data_dir, http)
        account = _admin_cli(data_dir, "compte-mes", "dominique.pat-trois", "--ins", PAT_TROIS["matricule"],
                             "--naissance", PAT_TROIS["dateNaissance"], "--mot-de-passe", PASSWORD,
                             "--email", "dominique@example.fr")  # fmt: skip
        assert account["ins"] == PAT_TROIS["matricule"]
        operator = http.post(
            "/admin/mss/operateurs",
            json={"identifiant": "chu-vendeur", "nom": "CHU DU VENDEUR", "domaines": [DOMAIN],
                  "relais": relay, "soumission": submission, "imap": imap},
        )  # fmt: skip
        assert operator.status_code == 201, operator.text
        listening = {e["role"]: e["adresse"] for e in operator.json()["ecoutes"]}
        assert listening["soumission"] == f"127.0.0.1:{submission}" and listening["imap"] == f"127.0.0.1:{imap}"
        mail_tls = ssl.create_default_context(cadata=operator.json()["autoriteCertification"])
        app_box, per_box = f"dpi@{DOMAIN}", f"jean.dupont@{DOMAIN}"
        box = http.post(
            "/admin/mss/bal",
            json={"adresse": app_box, "operateur": "chu-vendeur", "type": "APP", "titulaire": structure,
                  "nom": "DPI du vendeur", "motDePasse": PASSWORD},
        )  # fmt: skip
        assert box.status_code == 201, box.text
        _admin_cli(data_dir, "bal", per_box, "--operateur", "chu-vendeur", "--type", "PER", "--titulaire", idnatps,
                   "--nom", "DUPONT Jean")  # fmt: skip
        found = http.get("/annuaire/Practitioner", params={"identifier": idnatps}, headers={"ESANTE-API-KEY": key})
        assert found.status_code == 200 and found.json()["total"] == 1, found.text
        revoked = http.delete(f"/admin/cles/{issued_key['id']}")
        assert revoked.status_code == 200 and revoked.json() == {"revoquees": 1}, revoked.text
        gone = http.get("/annuaire/Practitioner", params={"identifier": idnatps}, headers={"ESANTE-API-KEY": key})
        assert gone.status_code == 401, gone.text

        # --- Pro Santé Connect: the authorization code flow with Authlib, the form filled as a browser does
        config = httpx.get(f"{base}{PSC_REALM}/.well-known/openid-configuration").json()
        psc = OAuth2Client(
            client["client_id"],
            client["client_secret"],
            scope="openid scope_all",
            redirect_uri=REDIRECT,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_basic",
            timeout=30,
        )
        verifier = generate_token(48)
        url, state = psc.create_authorization_url(config["authorization_endpoint"], code_verifier=verifier)
        back = _sign_in_as_a_browser(url, idnatps)
        assert back.startswith(REDIRECT) and f"state={state}" in back
        token = psc.fetch_token(config["token_endpoint"], authorization_response=back, code_verifier=verifier)
        assert psc.get(config["userinfo_endpoint"]).json()["SubjectNameID"] == idnatps
        access_token = token["access_token"]

        # --- CIBA: the software asks, the professional's e-CPS approves, the software polls (Authlib)
        asked = psc.request(
            "POST",
            config["backchannel_authentication_endpoint"],
            withhold_token=True,
            auth=(client["client_id"], client["client_secret"]),
            data={"scope": "openid scope_all", "login_hint": idnatps, "binding_message": "A1"},
        )
        assert asked.status_code == 200, asked.text
        auth_req_id, interval = asked.json()["auth_req_id"], asked.json().get("interval", 5)
        ecps = f"{base}/psc/ecps/{idnatps}/requests"
        code = pyotp.TOTP(seed).now()
        [shown] = httpx.get(ecps, headers={"X-eCPS-Code": code}).json()["requests"]
        assert shown["binding_message"] == "A1"
        approved = httpx.post(f"{ecps}/{shown['id']}", data={"decision": "approve"}, headers={"X-eCPS-Code": code})
        assert approved.status_code == 204, approved.text
        time.sleep(interval + 0.1)
        ciba = OAuth2Client(client["client_id"], client["client_secret"], timeout=30)
        polled = ciba.fetch_token(
            config["token_endpoint"], grant_type="urn:openid:params:grant-type:ciba", auth_req_id=auth_req_id
        )
        assert ciba.get(config["userinfo_endpoint"]).json()["SubjectNameID"] == idnatps and polled["id_token"]

        # --- INSi over SOAP, mutual TLS with the certificate /admin issued (its key, the authority)
        issued = http.post("/admin/insi/certificats", json={"structure": structure, "idam": idam})
        assert issued.status_code == 201, issued.text
        certs = tmp_path / "insi"
        certs.mkdir()
        (certs / "cert.pem").write_text(issued.json()["certificat"])
        (certs / "key.pem").write_text(issued.json()["cle"])
        tls = ssl.create_default_context(cadata=issued.json()["autorite"])
        tls.load_cert_chain(certs / "cert.pem", certs / "key.pem")
        with httpx.Client(verify=tls, timeout=30) as insi:
            answered = insi.post(
                f"https://127.0.0.1:{insi_port}/insi/lps",
                content=_insi_request(structure, idam, version, PAT_TROIS),
                headers={"Content-Type": "application/soap+xml; charset=utf-8"},
            )
        assert answered.status_code == 200, answered.text
        identity = _insi_answer(answered.content)
        assert identity["cr"] == "00" and identity["ins"] == PAT_TROIS["matricule"], identity
        assert identity["oid"] == "1.2.250.1.213.1.4.10"

        # --- the DMP over PDSm: the patient informed, then the note fed with the PSC token
        dmp = httpx.Client(base_url=f"{base}/dmp", headers={"Authorization": f"Bearer {access_token}"}, timeout=30)
        patient = {"system": f"urn:oid:{identity['oid']}", "value": identity["ins"]}
        consent = {
            "resourceType": "Consent",
            "status": "active",
            "patient": {"identifier": patient},
            "provision": {
                "type": "permit",
                "provision": [
                    {"type": "permit", "action": [{"coding": [{"code": "alimentation"}]}]},
                    {"type": "permit", "action": [{"coding": [{"code": "consultation"}]}]},
                ],
            },
        }
        informed = dmp.post("/Consent", json=consent)
        assert informed.status_code == 201, informed.text
        cda = (_reference() / "cisis" / "ExemplesCDA" / EXAMPLE).read_bytes()
        bundle = _provide_bundle(cda, identity["ins"], identity["oid"], "urn:asip:ci-sis:vac-note:2021")
        fed = dmp.post("", json=bundle, headers={"Content-Type": "application/fhir+json"})
        assert fed.status_code == 200, fed.text
        assert [e["response"]["status"] for e in fed.json()["entry"]] == ["201 Created"] * 3
        listed = dmp.get(
            "/DocumentReference",
            params={"patient.identifier": f"{patient['system']}|{patient['value']}", "status": "current"},
        )
        assert listed.status_code == 200 and listed.json()["total"] == 1, listed.text

        # --- MSSanté: the applicative mailbox submits with its password; read back over IMAP
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = app_box, f"{per_box}, {app_box}", "Lettre de liaison"
        message["Message-ID"], message["Date"] = make_msgid(domain=DOMAIN), formatdate(localtime=True)
        message.set_content("Bonjour, voici la lettre de liaison de Mme PAT-TROIS.")
        with _started(lambda: smtplib.SMTP("127.0.0.1", submission, timeout=30)) as smtp:
            smtp.starttls(context=mail_tls)
            smtp.login(app_box, PASSWORD)
            refused = smtp.send_message(message)
        assert refused == {}
        _read_back(imap, mail_tls, app_box, lambda c: c.login(app_box, PASSWORD))
        xoauth2 = f"user={per_box}\x01auth=Bearer {access_token}\x01\x01".encode()
        _read_back(imap, mail_tls, per_box, lambda c: c.authenticate("XOAUTH2", lambda _: xoauth2))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def _started(connect: Callable[[], smtplib.SMTP]) -> smtplib.SMTP:
    """The submission listener of an operator registered a moment ago: it starts within seconds."""
    for _ in range(150):
        try:
            return connect()
        except OSError:
            time.sleep(0.2)
    return connect()


def _merge(data_dir: Path, http: httpx.Client) -> None:
    """Two identities that are one person, merged by the CLI: the absorbed one's INS is kept as historic."""
    survivor, absorbed = _nir_key("1850575056048"), _nir_key("1850575056031")
    for matricule in (survivor, absorbed):
        body = {"nomNaissance": "LEBLANC", "prenoms": "PAUL", "sexe": "M", "dateNaissance": "1985-05-12",
                "lieuNaissance": "75056", "matricule": matricule}  # fmt: skip
        added = http.post("/admin/ins/identites", json=body)
        assert added.status_code == 201, added.text
    merged = _admin_cli(data_dir, "fusionner", survivor, absorbed)
    assert merged == {"survivant": survivor, "absorbe": absorbed}


def _nia_then_nir(data_dir: Path, http: httpx.Client) -> tuple[str, str]:
    """An identity known by a NIA (born abroad), then given its NIR: added by the CLI, replaced over HTTP."""
    nia, nir = _nir_key("7921199243001"), _nir_key("1921199243017")
    _admin_cli(data_dir, "identite-ins", nia, "--nom", "NGUYEN", "--prenoms", "BAO", "--sexe", "M",
               "--naissance", "1992-11-30", "--lieu", "99243")  # fmt: skip
    replaced = http.post("/admin/ins/remplacements", json={"ancien": nia, "nouveau": nir})
    assert replaced.status_code == 201, replaced.text
    return nia, nir


def _read_back(port: int, tls: ssl.SSLContext, mailbox: str, login) -> None:
    """The message is in `mailbox`'s INBOX over IMAP (STARTTLS), by the given login."""
    for _ in range(50):
        with imaplib.IMAP4("127.0.0.1", port, timeout=30) as client:
            client.starttls(ssl_context=tls)
            login(client)
            client.select("INBOX")
            _, found = client.search(None, '(SUBJECT "Lettre de liaison")')
            if found[0].split():
                _, body = client.fetch(found[0].split()[-1], "(BODY.PEEK[TEXT])")
                assert b"PAT-TROIS" in body[0][1], body  # type: ignore[index, operator]
                return
        time.sleep(0.2)
    raise AssertionError(f"nothing delivered to {mailbox}")


def _reference() -> Path:
    import os

    return Path(os.environ.get("MAISON_REFERENCE_PATH", "/work/shared/reference"))


def test_the_vendors_part_imports_nothing_of_maison() -> None:
    """What these two tests do, a vendor's script can do: neither imports `maison` (only the harness,
    tests/e2e/conftest.py, checks the FHIR bodies received)."""
    import ast

    for name in ("test_admin_vendor.py", "test_admin_sandbox.py"):
        tree = ast.parse((Path(__file__).parent / name).read_text(encoding="utf-8"))
        imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert not [m for m in imported if m == "maison" or m.startswith("maison.")], name
