"""INSi over SOAP 1.2, wire-compatible with the CNAM WSDL `DESIR_ICIR_EXP_1.5.0.wsdl`.

Request: header blocks `ContexteLPS` (required: it names the software by its CNDA authorisation
number `LPS/IDAM` and the emitting structure), `ContexteBAM`, `wsa:MessageID`, `wsa:Action` and
optionally `wsse:Security` (a CPS-signed SAML assertion naming the professional); body
`RECSANSVITALE` or `RECVITALE`. Each block is validated against the reference XSDs.

Faults are what the national service sends (its qualification endpoint, seen by vendors' clients,
see `maison.formats.insi.REASONS`): always HTTP 500 — the clients read a structured fault on 500
only — with `soap:Sender` and subcode `soap:siram_10` for a request error, `soap:siram_100` for an
authorisation error, `soap:Receiver`/`soap:siram_40` for a technical error (the subcode a QName in
the envelope's namespace); `soap:Reason/soap:Text` is the family's generic sentence and the precise
reason is the detail's `siram:Erreur`. Answers, faults or not, carry no `soap:Header`, as the
service's do.
The codes `insi_19` (birth name missing), `insi_102` (technical error) and `desir_550` (software
authorisation number unknown) are the national service's own; the GIE guide listing the other
codes is not public, so the other `insi_2x` codes (`maison.formats.insi.ERRORS`) are Maison's,
numbered in the same family, as are `desir_552` (no client certificate) and `desir_553` (a
certificate that is not the ContexteLPS's structure and software), authorisation errors beside
`desir_550` (`certificats`).
"""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from maison.core.errors import MaisonError
from maison.formats import insi as ns
from maison.formats import soap
from maison.formats.insi import InsiResult, InsRef
from maison.identite.ins.certificats import Credential
from maison.identite.ins.model import CallContext, CarteVitaleQuery, TraitsQuery
from maison.identite.ins.schemas import insi_schema
from maison.identite.ins.service import InsiService

OPERATIONS = {
    f"{{{ns.NS_RECSANS}}}RECSANSVITALE": ns.OP_TRAITS,
    f"{{{ns.NS_RECVIT}}}RECVITALE": ns.OP_CARTE_VITALE,
}
UNDERSTOOD = {
    f"{{{ns.NS_WSSE}}}Security",
    f"{{{ns.NS_CTXLPS}}}ContexteLPS",
    f"{{{ns.NS_CTXBAM}}}ContexteBAM",
    f"{{{soap.WSA}}}MessageID",
    f"{{{soap.WSA}}}Action",
    f"{{{soap.WSA}}}To",
}


def _erreur(code: str, text: str, severity: str, message_id: str) -> etree._Element:
    e = etree.Element(f"{{{ns.NS_SIRAM}}}Erreur", nsmap={"siram": ns.NS_SIRAM}, severite=severity, code=code)
    if message_id:
        e.set("messageID", message_id)
    e.text = text
    return e


def _fault(value: str, subcode: str, code: str, precise: str, severity: str, message_id: str) -> soap.SoapFault:
    return soap.SoapFault(
        ns.REASONS[subcode],
        value=value,
        subcode=subcode,
        http_status=500,
        code=code,
        detail=_erreur(code, precise, severity, message_id),
    )


def fault_for(exc: MaisonError, message_id: str = "") -> soap.SoapFault:
    """A refusal of the caller's request (`soap:Sender`), its family and SIRAM code from `ERRORS`."""
    subcode, code = ns.ERRORS.get(exc.code, (ns.SIRAM_REQUEST, "insi_29"))
    return _fault("Sender", subcode, code, exc.message, "erreur", message_id)


TECHNICAL = "L'appel au service de recherche avec les traits d'identité renvoie une erreur technique."


def technical_fault(message_id: str = "") -> soap.SoapFault:
    """Our own failure (`soap:Receiver`, `siram_40`, `insi_102`), in the service's words."""
    return _fault("Receiver", ns.SIRAM_TECHNICAL, "insi_102", TECHNICAL, "fatale", message_id)


def envelope_fault(fault: soap.SoapFault, message_id: str = "") -> soap.SoapFault:
    """A fault of the SOAP layer (`soap.read_envelope`: size, XML, version, header, body) in INSi's
    terms: its SOAP code kept (Sender, VersionMismatch, MustUnderstand), the request-error family,
    `insi_30` (too large) or `insi_26` (not a valid message), its own text as the precise reason."""
    code = "insi_30" if fault.code == "too-large" else "insi_26"
    return _fault(fault.value, ns.SIRAM_REQUEST, code, fault.reason, "erreur", message_id)


def fault_response(fault: soap.SoapFault) -> bytes:
    return soap.fault_bytes(fault)


def _text(parent: etree._Element, name: str, namespace: str) -> str:
    child = parent.find(f"{{{namespace}}}{name}")
    return (child.text or "").strip() if child is not None and child.text else ""


def _matricule(parent: etree._Element, name: str) -> str | None:
    m = parent.find(f"{{{ns.NS_RECVIT}}}{name}")
    if m is None:
        return None
    num, cle = _text(m, "NumIdentifiant", ns.NS_RECVIT), _text(m, "Cle", ns.NS_RECVIT)
    return (num + cle) or None


def call_context(env: soap.Envelope) -> CallContext:
    lps = env.headers.get(f"{{{ns.NS_CTXLPS}}}ContexteLPS")
    message_id_el = env.headers.get(f"{{{soap.WSA}}}MessageID")
    message_id = (message_id_el.text or "").strip() if message_id_el is not None else ""
    if lps is None:
        raise MaisonError("en-tête ContexteLPS absent", code="contexte-absent")
    software = lps.find(f"{{{ns.NS_CTXLPS}}}LPS")
    idam = version = name = instance = ""
    if software is not None:
        idam = _text(software, "IDAM", ns.NS_CTXLPS)
        version = _text(software, "Version", ns.NS_CTXLPS)
        name = _text(software, "Nom", ns.NS_CTXLPS)
        instance = _text(software, "Instance", ns.NS_CTXLPS)
    structure = _text(lps, "Emetteur", ns.NS_CTXLPS)
    professional = ""
    security = env.headers.get(f"{{{ns.NS_WSSE}}}Security")
    if security is not None:
        name_id = security.find(f".//{{{ns.NS_SAML}}}Subject/{{{ns.NS_SAML}}}NameID")
        if name_id is not None and name_id.text:
            professional = name_id.text.strip()
    fields = {"lps_nom": name, "lps_instance": instance, "contexte_id": _text(lps, "Id", ns.NS_CTXLPS)}
    extra = {k: v for k, v in fields.items() if v}
    return CallContext(
        structure=structure,
        software=idam,
        software_version=version,
        professional=professional,
        message_id=message_id,
        extra=extra,
    )


def traits_query(body: etree._Element) -> TraitsQuery:
    q = ns.NS_RECSANS
    return TraitsQuery(
        nom_naissance=_text(body, "NomNaissance", q),
        prenoms=tuple((p.text or "").strip() for p in body.findall(f"{{{q}}}Prenom")),
        sexe=_text(body, "Sexe", q),
        date_naissance=_text(body, "DateNaissance", q),
        lieu_naissance=_text(body, "LieuNaissance", q) or None,
    )


def carte_vitale_query(body: etree._Element) -> CarteVitaleQuery:
    q = ns.NS_RECVIT
    rang = _text(body, "RangNaissance", q)
    if rang and not (rang.isascii() and rang.isdigit()):
        raise MaisonError(f"RangNaissance '{rang}' : entier attendu", code="schema")
    return CarteVitaleQuery(
        matricule_individu=_matricule(body, "MatriculeIndividu"),
        matricule_od=_matricule(body, "MatriculeOD"),
        date_naissance=_text(body, "DateNaissance", q),
        rang_naissance=int(rang) if rang else None,
        nom_naissance=_text(body, "NomNaissance", q) or None,
    )


def _ins(parent: etree._Element, tag: str, ref: InsRef, historic: bool) -> None:
    r = ns.NS_RESULTAT
    el = etree.SubElement(parent, f"{{{r}}}{tag}")
    ident = etree.SubElement(el, f"{{{r}}}IdIndividu")
    etree.SubElement(ident, f"{{{r}}}NumIdentifiant").text = ref.number
    etree.SubElement(ident, f"{{{r}}}Cle").text = ref.cle
    if historic:
        etree.SubElement(ident, f"{{{r}}}TypeMatricule").text = ref.type
    etree.SubElement(el, f"{{{r}}}OID").text = ref.oid
    if historic and ref.date_deb:
        etree.SubElement(el, f"{{{r}}}DateDeb").text = ref.date_deb.isoformat()
    if historic and ref.date_fin:
        etree.SubElement(el, f"{{{r}}}DateFin").text = ref.date_fin.isoformat()


def resultat(result: InsiResult) -> etree._Element:
    r = ns.NS_RESULTAT
    root = etree.Element(f"{{{r}}}RESULTAT", nsmap={None: r})
    cr = etree.SubElement(root, f"{{{r}}}CR")
    etree.SubElement(cr, f"{{{r}}}CodeCR").text = result.code.value
    etree.SubElement(cr, f"{{{r}}}LibelleCR").text = result.libelle
    if result.individu is not None:
        ind = etree.SubElement(root, f"{{{r}}}INDIVIDU")
        _ins(ind, "INSACTIF", result.individu.active, historic=False)
        for ref in result.individu.history:
            _ins(ind, "INSHISTO", ref, historic=True)
        tiq = etree.SubElement(ind, f"{{{r}}}TIQ")
        t = result.individu.traits
        etree.SubElement(tiq, f"{{{r}}}NomNaissance").text = t.nom_naissance
        etree.SubElement(tiq, f"{{{r}}}Prenom").text = t.premier_prenom
        etree.SubElement(tiq, f"{{{r}}}ListePrenom").text = t.liste_prenoms
        etree.SubElement(tiq, f"{{{r}}}Sexe").text = t.sexe
        etree.SubElement(tiq, f"{{{r}}}DateNaissance").text = t.date_naissance
        if t.lieu_naissance:
            etree.SubElement(tiq, f"{{{r}}}LieuNaissance").text = t.lieu_naissance
    return root


def handle(
    service: InsiService,
    reference_path: Path,
    data: bytes,
    content_type: str,
    max_bytes: int,
    receipts: list | None = None,
    *,
    credential: Credential,
    source: str,
) -> tuple[int, bytes]:
    """One SOAP exchange: returns (HTTP status, response bytes). Never raises.

    `credential` is what the connection proved (`certificats.credential`): without one the request
    is refused before it is read. With `receipts`, the call's audit record is left pending there
    (see `InsiService`).
    """
    message_id = ""
    try:
        service.require_credential(credential, source)
        env = soap.read_envelope(data, content_type, max_bytes=max_bytes, understood=UNDERSTOOD)
        mid = env.headers.get(f"{{{soap.WSA}}}MessageID")
        message_id = (mid.text or "").strip() if mid is not None else ""
        assert env.body is not None  # read_envelope refuses an envelope without a body
        operation = OPERATIONS.get(env.body.tag)
        if operation is None:
            raise MaisonError(f"opération inconnue : {env.body.tag}", code="operation")
        if env.action and env.action != ns.ACTION_BASE + operation:
            raise MaisonError(f"action '{env.action}' incohérente avec le corps {operation}", code="operation")
        schema = insi_schema(Path(reference_path))
        for element in [env.body, *env.headers.values()]:
            if element.tag in UNDERSTOOD or element is env.body:
                if not schema.validate(element):
                    err = schema.error_log.last_error
                    raise MaisonError(
                        f"message non conforme au schéma INSi : {err.message if err else ''}", code="schema"
                    )
        ctx = call_context(env)
        service.check_certificate(ctx, credential, source)
        if operation == ns.OP_TRAITS:
            result = service.search_by_traits(ctx, traits_query(env.body), receipts=receipts)
        else:
            result = service.search_by_carte_vitale(ctx, carte_vitale_query(env.body), receipts=receipts)
        return 200, soap.envelope_bytes(resultat(result))
    except soap.SoapFault as fault:
        refusal = envelope_fault(fault, message_id)
        return refusal.http_status, fault_response(refusal)
    except MaisonError as exc:
        refusal = fault_for(exc, message_id)
        return refusal.http_status, fault_response(refusal)
    except Exception:  # noqa: BLE001 - the caller gets a proper SOAP fault, the log gets the trace
        import logging

        logging.getLogger("maison.insi").exception("INSi technical error")
        technical = technical_fault(message_id)
        return technical.http_status, fault_response(technical)
