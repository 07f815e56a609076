"""The Annuaire Santé over HTTP, what writes: the liste rouge, paging while the directory changes,
healthcare activities, bulk export, the operator's PATCH, RPPS+. What only reads or is refused (reads,
the IG's search parameters, paging with includes, totals, bad searches and PATCH bodies) is in
test_annuaire_lectures.py.

The tests of one backend share one house, one seeded directory of 400 entries and one operator
(`module_live`): each writes entries no other test here looks at (its own mailbox, its own new
practitioners, its own declaration), what it counts over the whole directory (services, exported
resources) is counted at the same moment from the tables, and the trail is read from a mark taken
before it acts (`Trail`)."""

import time
from urllib.parse import parse_qsl, urlsplit

import httpx
import orjson
import pytest
import sqlalchemy as sa

from maison.core import audit
from maison.core.actor import KeyScope
from maison.core.auth import issue_key
from maison.identite.annuaire import resources as build
from maison.identite.annuaire import store
from maison.identite.annuaire.index import put
from maison.identite.annuaire.vocabulary import (
    CS_ACTIVITE_SANITAIRE,
    CS_ACTIVITE_SOCIALE,
    CS_FORME_ACTIVITE,
    CS_MODALITE_ACTIVITE,
    SYS_ARHGOS,
    SYS_IDNATPS,
    SYS_RPPS,
)
from maison.partage.mss.mailboxes import Mailboxes
from maison.partage.mss.trust import TrustSpace
from maison.seeding.directory import seed_directory
from tests.e2e.mss_shared import Trail


@pytest.fixture(scope="module")
def ann(module_live):
    house = module_live.house
    seed_directory(house.db, 400, seed=7)
    key = issue_key(house.db, "1750000019", "maison-tests", "tests")
    return house, httpx.Client(base_url=f"{module_live.url}/annuaire", headers={"ESANTE-API-KEY": key})


def _ids(bundle: dict, mode: str = "match") -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == mode]


def _unversioned(meta: dict) -> dict:
    return {k: v for k, v in meta.items() if k != "versionId"}


def _one(house, sql: str):
    with house.db.read() as conn:
        return conn.execute(sa.text(sql)).first()


def _walk(http: httpx.Client, path: str, params: dict) -> tuple[list[str], list[str]]:
    """Follow the next links; returns (matches, includes) in the order received."""
    matches, includes = [], []
    page = http.get(path, params=params).json()
    while True:
        matches += _ids(page)
        includes += _ids(page, "include")
        nxt = next((link["url"] for link in page["link"] if link["relation"] == "next"), None)
        if nxt is None:
            return matches, includes
        page = http.get(path, params=parse_qsl(urlsplit(nxt).query)).json()


def test_mailboxes_and_liste_rouge(ann):
    house, http = ann
    visible = _one(
        house,
        "select rid, address_exact from ann_mailbox where rtype='PractitionerRole' "
        "and liste_rouge = false and type='PER' limit 1",
    )
    assert _ids(http.get("/PractitionerRole", params={"mailbox-mss": visible.address_exact}).json()) == [visible.rid]
    assert _ids(http.get("/PractitionerRole", params={"mailbox-mss:exact": visible.address_exact}).json()) == [
        visible.rid
    ]
    domain = visible.address_exact.split("@")[1]
    assert visible.rid in _ids(
        http.get("/PractitionerRole", params={"mailbox-mss:contains": domain, "_count": 1000}).json()
    )
    # a mailbox on the liste rouge is neither found nor shown
    with house.db.write() as conn:
        role = orjson.loads(
            conn.execute(sa.select(store.ann_role.c.resource).where(store.ann_role.c.id == visible.rid)).scalar()
        )
        role["telecom"] = [build.mailbox("secret.medecin@hopital.mssante.fr", "PER", liste_rouge=True)]
        put(conn, [role])
    assert http.get("/PractitionerRole", params={"mailbox-mss": "secret.medecin@"}).json()["total"] == 0
    assert "telecom" not in http.get(f"/PractitionerRole/{visible.rid}").json()
    org_box = _one(house, "select rid from ann_mailbox where rtype='Organization' and type='ORG' limit 1")
    typed = http.get("/Organization", params={"mailbox-mss-type": "ORG", "_count": 1000}).json()
    assert org_box.rid in _ids(typed)


def test_paging_stays_correct_while_the_directory_changes(ann):
    house, http = ann
    first = http.get("/Practitioner", params={"_count": 10}).json()
    seen = _ids(first)
    nxt = next(link["url"] for link in first["link"] if link["relation"] == "next")
    # a practitioner is added before the cursor and another after it: no page repeats or skips
    with house.db.write() as conn:
        put(
            conn,
            [
                build.practitioner("10000000016", "AVANT", "Paul", "M", "60", "C", None, "2026-11-20T10:00:00+00:00"),
                build.practitioner("99999999990", "APRES", "Lea", "MME", "60", "C", None, "2026-11-20T10:00:00+00:00"),
            ],
        )
    rest = []
    page = http.get("/Practitioner", params=parse_qsl(urlsplit(nxt).query)).json()
    while True:
        rest += _ids(page)
        link = next((x["url"] for x in page["link"] if x["relation"] == "next"), None)
        if not link:
            break
        page = http.get("/Practitioner", params=parse_qsl(urlsplit(link).query)).json()
    assert not set(seen) & set(rest) and len(rest) == len(set(rest))
    assert "899999999990" in rest and "810000000016" not in rest + seen


def test_healthcare_activities(ann):
    """as-dp-healthcareservice-healthcare-activity and its CapabilityStatement parameters (L319-382)."""
    house, http = ann
    row = _one(
        house,
        "select id, organization, resource from ann_service where active = true "
        "and resource like '%healthcare-activity%' order by id limit 1",
    )
    service = orjson.loads(row.resource)
    # DP profile: ARHGOS number 1..1 (L30), providedBy the FINESS ET, the three RASS codings
    [arhgos] = service["identifier"]
    assert arhgos["system"] == SYS_ARHGOS and service["providedBy"] == {"reference": f"Organization/{row.organization}"}
    assert "specialty" not in service and "telecom" not in service  # 0..0 in DP (L32, L38)
    # as stored, but for the version counter the directory keeps for its trail (no vread: no versionId)
    assert http.get(f"/HealthcareService/{row.id}").json() == {**service, "meta": _unversioned(service["meta"])}
    et = http.get(f"/Organization/{row.organization}").json()
    assert any(i["type"]["coding"][0]["code"] == "FINEG" for i in et["identifier"] if "type" in i)
    activite = service["type"][0]["coding"][0]["code"]
    modalite = service["category"][0]["coding"][0]["code"]
    forme = service["characteristic"][0]["coding"][0]["code"]
    searches = {
        "identifier": f"{SYS_ARHGOS}|{arhgos['value']}",
        "organization": f"Organization/{row.organization}",
        "service-type": f"{CS_ACTIVITE_SANITAIRE}|{activite}",
        "service-category": f"{CS_MODALITE_ACTIVITE}|{modalite}",
        "characteristic": f"{CS_FORME_ACTIVITE}|{forme}",
        "_id": row.id,
        "active": "true",
        "_profile": "https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/"
        "as-dp-healthcareservice-healthcare-activity",
    }
    for name, value in searches.items():
        found = http.get("/HealthcareService", params={name: value, "_count": 1000}).json()
        assert row.id in _ids(found), name
        assert all(e["resource"]["resourceType"] == "HealthcareService" for e in found["entry"])
    together = http.get(
        "/HealthcareService", params={k: searches[k] for k in ("organization", "service-type", "characteristic")}
    ).json()
    assert row.id in _ids(together) and all(
        e["resource"]["type"][0]["coding"][0]["code"] == activite for e in together["entry"]
    )
    # the wrong code system finds nothing
    assert (
        http.get(
            "/HealthcareService",
            params={"service-type": f"{CS_FORME_ACTIVITE}|{activite}", "organization": row.organization},
        ).json()["total"]
        == 0
    )
    # _include the établissement; from the établissement, _revinclude its activities
    included = http.get(
        "/HealthcareService", params={"_id": row.id, "_include": "HealthcareService:organization"}
    ).json()
    assert _ids(included, "include") == [row.organization]
    rev = http.get(
        "/Organization", params={"_id": row.organization, "_revinclude": "HealthcareService:organization"}
    ).json()
    with house.db.read() as conn:
        held = set(
            conn.execute(
                sa.text("select id from ann_service where organization = :o"), {"o": row.organization}
            ).scalars()
        )
    assert set(_ids(rev, "include")) == held and row.id in held
    # EHPAD carry équipements sociaux (as-dp-healthcareservice-social-equipment): no identifier, a
    # TRE_R401 discipline, places in as-ext-supported-capacity; _profile tells the two profiles apart
    social_profile = (
        "https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-dp-healthcareservice-social-equipment"
    )
    social = http.get("/HealthcareService", params={"_profile": social_profile, "_count": 1000}).json()
    activities = http.get(
        "/HealthcareService", params={"_profile": searches["_profile"] + "|1.2.0-snapshot-2", "_total": "accurate"}
    ).json()
    with house.db.read() as conn:
        services = conn.execute(sa.select(sa.func.count()).select_from(store.ann_service)).scalar_one()
    assert social["total"] > 0 and social["total"] + activities["total"] == services
    for entry in social["entry"]:
        equipment = entry["resource"]
        assert "identifier" not in equipment and "category" not in equipment
        assert equipment["type"][0]["coding"][0]["system"] == CS_ACTIVITE_SOCIALE
        capacity = {e["url"]: e for e in equipment["extension"]}[
            "https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-ext-supported-capacity"
        ]
        places = {x["url"]: x["valueInteger"] for x in capacity["extension"]}
        assert 0 <= places["installedCapacity"] <= places["capacityAvailable"] > 0
    ehpad = social["entry"][0]["resource"]["providedBy"]["reference"]
    assert any(t["coding"][0]["code"] == "SA17" for t in http.get(f"/{ehpad}").json()["type"])
    assert _ids(
        http.get(
            "/HealthcareService", params={"service-type": f"{CS_ACTIVITE_SOCIALE}|924", "organization": ehpad}
        ).json()
    )
    # paging with filters and _include: every match exactly once
    params = {"service-type": f"{CS_ACTIVITE_SANITAIRE}|01", "_include": "HealthcareService:organization"}
    everything = http.get("/HealthcareService", params={**params, "_count": 1000}).json()
    matches, includes = _walk(http, "/HealthcareService", {**params, "_count": 3})
    assert len(matches) > 3 and matches == _ids(everything) and len(matches) == everything["total"]
    assert set(includes) == set(_ids(everything, "include"))


def test_authentication_and_capability_statement(ann, module_live):
    url = module_live.url
    assert httpx.get(f"{url}/annuaire/Practitioner").status_code == 401
    assert httpx.get(f"{url}/annuaire/Practitioner", headers={"ESANTE-API-KEY": "nope"}).status_code == 401
    cs = httpx.get(f"{url}/annuaire/metadata").json()
    practitioner = next(r for r in cs["rest"][0]["resource"] if r["type"] == "Practitioner")
    assert {"family", "mailbox-mss", "qualification-code", "number-smartcard"} <= {
        p["name"] for p in practitioner["searchParam"]
    }
    services = next(r for r in cs["rest"][0]["resource"] if r["type"] == "HealthcareService")
    assert {p.rsplit("/", 1)[1] for p in services["supportedProfile"]} == {
        "as-dp-healthcareservice-healthcare-activity",
        "as-dp-healthcareservice-social-equipment",
    }
    assert {"service-type", "characteristic", "_profile"} <= {p["name"] for p in services["searchParam"]}
    assert not any(i["code"] == "patch" for i in services["interaction"])


def _export(http: httpx.Client, params: dict | None = None) -> tuple[str, dict]:
    kickoff = http.get("/$export", params=params or {}, headers={"Prefer": "respond-async"})
    assert kickoff.status_code == 202, kickoff.text
    status_url = kickoff.headers["Content-Location"]
    for _ in range(200):
        status = http.get(status_url)
        if status.status_code == 200:
            return status_url, status.json()
        assert status.status_code == 202 and status.headers["X-Progress"]
        time.sleep(0.05)
    raise AssertionError("export never finished")


def test_bulk_export(ann):
    house, http = ann
    status_url, manifest = _export(http)
    assert manifest["requiresAccessToken"] is True and manifest["error"] == []
    with house.db.read() as conn:
        expected = {
            t: conn.execute(sa.select(sa.func.count()).select_from(store.TABLES[t])).scalar_one()
            for t in ("Organization", "Practitioner", "PractitionerRole", "HealthcareService")
        }
    assert expected["HealthcareService"] > 0
    assert {o["type"]: o["count"] for o in manifest["output"]} == expected
    for output in manifest["output"]:
        lines = http.get(output["url"]).content.splitlines()
        resources = [orjson.loads(line) for line in lines]
        assert len(resources) == output["count"] and {r["resourceType"] for r in resources} == {output["type"]}
        assert len({r["id"] for r in resources}) == len(resources)
    # only since a date, only one type
    _, recent = _export(http, {"_type": "PractitionerRole", "_since": "2026-10-01T00:00:00Z"})
    [only] = recent["output"]
    assert only["type"] == "PractitionerRole" and 0 < only["count"] < expected["PractitionerRole"]
    # a job belongs to whoever started it; deleting it forgets it
    other = httpx.Client(
        base_url=str(http.base_url), headers={"ESANTE-API-KEY": issue_key(house.db, "1690000035", "autre", "autre")}
    )
    assert other.get(status_url).status_code == 403
    assert http.delete(status_url).status_code == 202
    assert http.get(status_url).status_code == 404


def test_bulk_export_refusals(ann):
    _, http = ann
    assert http.get("/$export").status_code == 400  # Prefer: respond-async is required
    bad = http.get("/$export", params={"_type": "Patient"}, headers={"Prefer": "respond-async"})
    assert bad.status_code == 400 and bad.json()["issue"][0]["details"]["coding"][0]["code"] == "type-inconnu"
    assert http.get("/$export-status/nope").status_code == 404


def _operation(kind: str, path: str, **value) -> dict:
    parts = [{"name": "type", "valueCode": kind}, {"name": "path", "valueString": path}]
    if value:
        parts.append({"name": "value", **value})
    return {"name": "operation", "part": parts}


def _patch(http: httpx.Client, url: str, *operations: dict, **params) -> httpx.Response:
    return http.patch(
        url,
        params=params,
        content=orjson.dumps({"resourceType": "Parameters", "parameter": list(operations)}),
        headers={"Content-Type": "application/fhir+json"},
    )


OPERATOR = "1750000019"


def _open(house, address: str, holder: str, kind: str = "PER") -> None:
    """The operator opens a mailbox (its registry), so that it may publish it on its holder."""
    Mailboxes(house.db).create(audit.SYSTEM, address, OPERATOR, kind, holder, "BAL de test")


@pytest.fixture(scope="module")
def operator(ann):
    return with_operator(*ann)


def with_operator(house, http: httpx.Client) -> tuple:
    """(house, reader, the operator's client): issue 18 §1.2, an operator writes the mailboxes of its
    own domains, for their holders."""
    TrustSpace(house.db).register(
        OPERATOR,
        "OPERATEUR HOPITAL",
        ["hopital-exemple.mssante.fr", "hopital.mssante.fr", "b.mssante.fr"],
        "e" * 64,
        "127.0.0.1",
        2525,
        local=True,
    )
    key = issue_key(house.db, OPERATOR, "operateur-hopital", "operateur", "operateur-mss")
    return house, http, httpx.Client(base_url=str(http.base_url), headers={"ESANTE-API-KEY": key})


def test_operator_publishes_a_mailbox_by_conditional_patch(operator):
    house, reader, op = operator
    prac = _one(
        house,
        "select id from ann_practitioner where id not in "
        "(select rid from ann_mailbox where rtype='Practitioner') limit 1",
    ).id
    address = "jeanne.test@hopital-exemple.mssante.fr"
    _open(house, address, prac)
    trail = Trail(house)
    box = build.mailbox(address, "PER", liste_rouge=False)
    added = _patch(
        op,
        "/Practitioner",
        _operation("insert", "Practitioner.telecom", valueContactPoint=box),
        identifier=f"{SYS_IDNATPS}|{prac}",
    )
    assert added.status_code == 200, added.text
    # the trail records the new version; the answer carries none (no vread of past versions, §4.4)
    assert "versionId" not in added.json()["meta"]
    assert _ids(reader.get("/Practitioner", params={"mailbox-mss": address}).json()) == [prac]
    # put on the liste rouge: no longer found nor shown
    hidden = _patch(
        op,
        f"/Practitioner/{prac}",
        _operation(
            "replace",
            f"Practitioner.telecom.where(value = '{address}').extension('https://interop.esante.gouv.fr/ig/fhir/"
            "annuaire/StructureDefinition/as-ext-mailbox-mss-metadata').extension('listeRouge').value",
            valueBoolean=True,
        ),
    )
    assert hidden.status_code == 200 and "telecom" not in hidden.json()
    assert reader.get("/Practitioner", params={"mailbox-mss": address}).json()["total"] == 0
    removed = _patch(
        op, f"/Practitioner/{prac}", _operation("delete", f"Practitioner.telecom.where(value = '{address}')")
    )
    assert removed.status_code == 200
    with house.db.read() as conn:
        assert conn.execute(sa.select(store.ann_mailbox).where(store.ann_mailbox.c.rid == prac)).first() is None
    patches = [e["action"] for e in trail.since("annuaire.mailbox-patch")]
    assert patches == ["annuaire.mailbox-patch"] * 3
    reads = trail.since("annuaire.lire")  # each read recorded, by whom
    assert reads and all(e["actor_software"] for e in reads)


def test_patch_refusals(operator):
    house, reader, op = operator
    prac = _one(house, "select id from ann_practitioner limit 1").id
    org = _one(house, "select id from ann_organization limit 1").id
    _open(house, "a.b@hopital.mssante.fr", prac)
    box = build.mailbox("a.b@hopital.mssante.fr", "PER")
    insert = _operation("insert", "Practitioner.telecom", valueContactPoint=box)
    # only operators write
    assert _patch(reader, f"/Practitioner/{prac}", insert).status_code == 403
    # conditional PATCH: none → 404, several → 412
    assert _patch(op, "/Practitioner", insert, identifier=f"{SYS_IDNATPS}|800000000000").status_code == 404
    assert (
        _patch(
            op,
            "/PractitionerRole",
            _operation("insert", "PractitionerRole.telecom", valueContactPoint=box),
            identifier="|",
        ).status_code
        == 400
    )
    with house.db.write() as conn:  # two roles carrying the same identifier
        roles = [orjson.loads(r) for r in conn.execute(sa.select(store.ann_role.c.resource).limit(2)).scalars()]
        roles[1]["identifier"] = roles[0]["identifier"]
        put(conn, [roles[1]])
    twice = _patch(
        op,
        "/PractitionerRole",
        _operation("insert", "PractitionerRole.telecom", valueContactPoint=box),
        identifier=f"{SYS_RPPS}|{roles[0]['identifier'][0]['value']}",
    )
    assert twice.status_code == 412
    # wrong carrier, outside the trust space, unknown type, unsupported path, immutable address
    org_insert = _operation("insert", "Organization.telecom", valueContactPoint=box)
    assert _code(_patch(op, f"/Organization/{org}", org_insert)) == "bal-porteur"
    outside = _operation("insert", "Practitioner.telecom", valueContactPoint=build.mailbox("x@gmail.com", "PER"))
    assert _code(_patch(op, f"/Practitioner/{prac}", outside)) == "bal-hors-perimetre"  # not its domain
    assert (
        _patch(
            op, f"/Practitioner/{prac}", _operation("replace", "Practitioner.name.family", valueString="X")
        ).status_code
        == 422
    )
    assert _patch(op, f"/Practitioner/{prac}", insert).status_code == 200
    moved = _operation(
        "replace",
        "Practitioner.telecom.where(value = 'a.b@hopital.mssante.fr')",
        valueContactPoint=build.mailbox("c.d@hopital.mssante.fr", "PER"),
    )
    assert _code(_patch(op, f"/Practitioner/{prac}", moved)) == "bal-immuable"
    # an address of another holder (issue 18 §1.2), or already published on another carrier
    other = _one(house, f"select id from ann_practitioner where id != '{prac}' limit 1").id
    assert _code(_patch(op, f"/Practitioner/{other}", insert)) == "bal-titulaire"
    role = _one(house, f"select id from ann_role where practitioner = '{prac}' limit 1")
    if role is not None:  # the person's PER mailbox on one of his roles too: one carrier only
        assert (
            _code(
                _patch(
                    op,
                    f"/PractitionerRole/{role.id}",
                    _operation("insert", "PractitionerRole.telecom", valueContactPoint=box),
                )
            )
            == "bal-existante"
        )


def _code(response: httpx.Response) -> str:
    return response.json()["issue"][0]["details"]["coding"][0]["code"]


def _registration(**values) -> dict:
    return {"resourceType": "Parameters", "parameter": [{"name": k, "valueString": v} for k, v in values.items()]}


def test_rpps_plus_declaration_by_the_employer_waits_for_the_registry(ann):
    # 003 L1156-1160: the employer registers its médico-social professionals, declaring role and profession;
    # issue 18 §1.1: only its administrator declares, and nobody exists before the registry validates.
    house, directory = ann
    ehpad = _one(house, "select id from ann_organization where resource like '%SA17%' limit 1").id
    base = str(directory.base_url)

    def client(key: str) -> httpx.Client:
        return httpx.Client(base_url=base, headers={"ESANTE-API-KEY": key})

    desk = client(issue_key(house.db, ehpad, "rh-ehpad", "accueil"))
    employer = client(issue_key(house.db, ehpad, "rh-ehpad", "drh", scope=KeyScope.ADMINISTRATEUR_STRUCTURE))
    registry = client(issue_key(house.db, "maison", "rpps-plus", "gestionnaire", scope=KeyScope.ADMINISTRATEUR_MAISON))
    person = {"nom": "Lefèvre", "prenom": "Chloé", "dateNaissance": "1990-04-12", "civilite": "MME", "role": "318"}
    refused = desk.post("/$rpps-plus", json=_registration(**person))
    assert refused.status_code == 403 and _code(refused) == "appelant-non-admis"
    declared = employer.post("/$rpps-plus", json=_registration(**person))
    assert declared.status_code == 202, declared.text
    values = {p["name"]: p.get("valueString") or p.get("valueCode") for p in declared.json()["parameter"]}
    assert values["statut"] == "en-attente"
    declaration = values["declaration"]
    # pending: no professional in the directory, hence no IdNatPS any provider could vouch for
    assert _ids(directory.get("/PractitionerRole", params={"organization": ehpad, "role": "318"}).json()) == []
    assert _one(house, "select count(*) as n from ann_practitioner where id like '8998%'").n == 0
    again = employer.post("/$rpps-plus", json=_registration(**person))
    assert again.status_code == 200 and again.json()["parameter"][0]["valueString"] == declaration
    assert employer.post(f"/$rpps-plus/{declaration}/$valider").status_code == 403  # not the registry's manager
    validated = registry.post(f"/$rpps-plus/{declaration}/$valider")
    assert validated.status_code == 200, validated.text
    made = {p["name"]: p.get("resource") for p in validated.json()["parameter"]}
    practitioner, role = made["Practitioner"], made["PractitionerRole"]
    assert practitioner["id"].startswith("8998") and role["organization"]["reference"] == f"Organization/{ehpad}"
    assert any(c["code"] == "318" for code in role["code"] for c in code["coding"])
    assert _ids(directory.get("/PractitionerRole", params={"organization": ehpad, "role": "318"}).json()) == [
        role["id"]
    ]
    assert registry.post(f"/$rpps-plus/{declaration}/$valider").status_code == 409
    state = employer.get(f"/$rpps-plus/{declaration}")
    assert state.status_code == 200 and state.json()["parameter"][1]["valueCode"] == "validee"
    other = client(issue_key(house.db, "1990000001", "x", "x", scope=KeyScope.ADMINISTRATEUR_STRUCTURE))
    assert other.get(f"/$rpps-plus/{declaration}").status_code == 404  # another employer's: as if absent
    assert _code(employer.post("/$rpps-plus", json=_registration(**{**person, "role": "999"}))) == "role-inconnu"
    assert other.post("/$rpps-plus", json=_registration(**person)).status_code == 403  # not in the directory
    refusal = employer.post("/$rpps-plus", json=_registration(**{**person, "prenom": "Zoé"}))
    refused_id = refusal.json()["parameter"][0]["valueString"]
    assert registry.post(f"/$rpps-plus/{refused_id}/$refuser").json()["parameter"][1]["valueCode"] == "refusee"
