"""An INSi client, as a DPI uses it: SOAP 1.2 over HTTP(S), the caller's structure in ContexteLPS.

- Called when a record is opened, automatically and in the background (seed 002 L342).
- Retry rule: a trait search is sent with the first birth first name; on `01` it is sent again
  with each other first name in order, then with the whole list, stopping at the first `00`.
- On `01`/`02` the answer carries advice for the professional (seed 002 L343); on `00` it carries
  what is needed to associate the INS in one action (seed 002 L344).

Only the wire format is shared with the teleservice (`maison.formats.insi`): this client works
against any INSi endpoint, the national one included. `InsiClient` is the blocking client (a
script, the demo, the tests); `AsyncInsiClient` is the one an HTTP adapter awaits (`transport`).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import httpx
from lxml import etree

from maison.core.errors import Forbidden, MaisonError, Unauthenticated
from maison.core.ins_traits import Traits
from maison.formats import insi as ns
from maison.formats import soap, xmlsafe
from maison.formats.insi import CodeCR, Individu, InsiResult, InsRef

ACTION = ns.ACTION_BASE


@dataclass(frozen=True)
class ClientIdentity:
    """What the DPI says of itself in ContexteLPS: structure, software authorisation number (IDAM)."""

    structure: str
    idam: str
    software_name: str = "Maison DPI"
    software_version: str = "1.0"
    instance: str = field(default_factory=lambda: str(uuid.uuid4()))
    professional: str = ""  # the professional on whose behalf the software asks (IdNatPS), if any


class InsiUnavailable(MaisonError):
    """INSi could not be reached or answered something that is not INSi's (a gateway error)."""

    http_status = 502
    fhir_issue = "transient"
    code = "insi-indisponible"


class InsiFault(Exception):
    """A SOAP fault INSi answered: its HTTP status (500, as the national service answers every fault),
    SOAP code (`Sender`, `Receiver`…), family (`siram_10`, `siram_100`, `siram_40`), SIRAM code
    (`insi_19`, `desir_550`…), the family's generic sentence (`reason`) and the precise one (`detail`,
    the text of `siram:Erreur`)."""

    def __init__(
        self, status: int, code: str, reason: str, *, value: str = "", subcode: str = "", detail: str = ""
    ) -> None:
        super().__init__(f"{code}: {detail or reason}")
        self.status, self.code, self.reason = status, code, reason
        self.value, self.subcode, self.detail = value, subcode, detail

    def error(self) -> MaisonError:
        """The domain error the fault names, for the caller's own adapter to answer in its terms: read
        from the fault's code and family, not from the HTTP status (always 500)."""
        code = ns.DOMAIN_ERROR.get(self.code, self.code)
        text = self.detail or self.reason
        if self.value == "Receiver" or self.subcode == ns.SIRAM_TECHNICAL:
            return InsiUnavailable(f"INSi : {text}", code=code)
        if self.subcode == ns.SIRAM_AUTHORISATION:
            if self.code in ns.UNAUTHENTICATED:
                return Unauthenticated(text, code=code)
            return Forbidden(text, code=code)
        return MaisonError(text, code=code)


def _local(qname: str | None) -> str:
    """The local part of a QName as written in a fault (`soap:siram_100` -> `siram_100`)."""
    return (qname or "").strip().rpartition(":")[2]


def _el(parent: etree._Element, ns_uri: str, name: str, text: str | None = None, **attrs: str) -> etree._Element:
    e = etree.SubElement(parent, f"{{{ns_uri}}}{name}", **attrs)
    if text is not None:
        e.text = text
    return e


def _headers(me: ClientIdentity, operation: str, message_id: str) -> list[etree._Element]:
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    lps = etree.Element(
        f"{{{ns.NS_CTXLPS}}}ContexteLPS", nsmap={"ctxlps": ns.NS_CTXLPS}, Nature="CTXLPS", Version="01_00"
    )
    _el(lps, ns.NS_CTXLPS, "Id", str(uuid.uuid4()))
    _el(lps, ns.NS_CTXLPS, "Temps", now)
    _el(lps, ns.NS_CTXLPS, "Emetteur", me.structure)
    software = _el(lps, ns.NS_CTXLPS, "LPS")
    _el(software, ns.NS_CTXLPS, "IDAM", me.idam, R="4")
    _el(software, ns.NS_CTXLPS, "Version", me.software_version)
    _el(software, ns.NS_CTXLPS, "Instance", me.instance)
    _el(software, ns.NS_CTXLPS, "Nom", me.software_name)
    bam = etree.Element(f"{{{ns.NS_CTXBAM}}}ContexteBAM", nsmap={"ctxbam": ns.NS_CTXBAM}, Version="01_02")
    _el(bam, ns.NS_CTXBAM, "Id", str(uuid.uuid4()))
    _el(bam, ns.NS_CTXBAM, "Temps", now)
    _el(bam, ns.NS_CTXBAM, "COUVERTURE")
    mid = etree.Element(f"{{{soap.WSA}}}MessageID", nsmap={"wsa": soap.WSA})
    mid.text = message_id
    action = etree.Element(f"{{{soap.WSA}}}Action", nsmap={"wsa": soap.WSA})
    action.text = ACTION + operation
    return [lps, bam, mid, action, *_vihf(me, now)]


def _vihf(me: ClientIdentity, now: str) -> list[etree._Element]:
    """`wsse:Security` naming the professional (SAML `Subject/NameID`), when the software acts for one:
    INSi records who asked with every call. The structure's certificate authenticates the call; the
    assertion is the structure's declaration, as ContexteLPS is."""
    if not me.professional:
        return []
    security = etree.Element(f"{{{ns.NS_WSSE}}}Security", nsmap={"wsse": ns.NS_WSSE})
    assertion = etree.SubElement(
        security,
        f"{{{ns.NS_SAML}}}Assertion",
        nsmap={"saml": ns.NS_SAML},
        ID=f"_{uuid.uuid4().hex}",
        Version="2.0",
        IssueInstant=now,
    )
    _el(assertion, ns.NS_SAML, "Issuer", me.structure)
    _el(_el(assertion, ns.NS_SAML, "Subject"), ns.NS_SAML, "NameID", me.professional)
    return [security]


def traits_request(
    me: ClientIdentity,
    nom: str,
    prenoms: list[str],
    sexe: str,
    date_naissance: str,
    lieu: str | None = None,
    message_id: str | None = None,
) -> bytes:
    body = etree.Element(f"{{{ns.NS_RECSANS}}}RECSANSVITALE", nsmap={"insi": ns.NS_RECSANS})
    _el(body, ns.NS_RECSANS, "NomNaissance", nom)
    for p in prenoms:
        _el(body, ns.NS_RECSANS, "Prenom", p)
    _el(body, ns.NS_RECSANS, "Sexe", sexe)
    _el(body, ns.NS_RECSANS, "DateNaissance", date_naissance)
    if lieu:
        _el(body, ns.NS_RECSANS, "LieuNaissance", lieu)
    return soap.envelope_bytes(
        body, _headers(me, "rechercherInsAvecTraitsIdentite", message_id or f"uuid:{uuid.uuid4()}")
    )


def carte_vitale_request(
    me: ClientIdentity,
    date_naissance: str,
    *,
    matricule_individu: str | None = None,
    matricule_od: str | None = None,
    rang: int | None = None,
    nom: str | None = None,
) -> bytes:
    body = etree.Element(f"{{{ns.NS_RECVIT}}}RECVITALE", nsmap={"insi": ns.NS_RECVIT})
    for tag, value in (("MatriculeIndividu", matricule_individu), ("MatriculeOD", matricule_od)):
        if value:
            m = _el(body, ns.NS_RECVIT, tag)
            _el(m, ns.NS_RECVIT, "NumIdentifiant", value[:13])
            _el(m, ns.NS_RECVIT, "Cle", value[13:15])
    if nom:
        _el(body, ns.NS_RECVIT, "NomNaissance", nom)
    _el(body, ns.NS_RECVIT, "DateNaissance", date_naissance)
    if rang is not None:
        _el(body, ns.NS_RECVIT, "RangNaissance", str(rang))
    return soap.envelope_bytes(body, _headers(me, "rechercherInsAvecCarteVitale", f"uuid:{uuid.uuid4()}"))


def _ref(el: etree._Element) -> InsRef:
    r = ns.NS_RESULTAT

    def text(path: str) -> str | None:
        found = el.find(path.replace("R:", f"{{{r}}}"))
        return found.text if found is not None else None

    deb, fin = text("R:DateDeb"), text("R:DateFin")
    number = text("R:IdIndividu/R:NumIdentifiant") or ""
    kind = text("R:IdIndividu/R:TypeMatricule") or ("NIA" if number[:1] in "78" else "NIR")
    return InsRef(
        number,
        text("R:IdIndividu/R:Cle") or "",
        kind,
        text("R:OID") or "",
        date.fromisoformat(deb) if deb else None,
        date.fromisoformat(fin) if fin else None,
    )


def parse_response(status: int, payload: bytes) -> InsiResult:
    """The answer of one call, or `InsiFault` for a SOAP fault; anything that is not SOAP is `InsiUnavailable`."""
    try:
        body = xmlsafe.parse(payload).find(f"{{{soap.SOAP12}}}Body")
    except MaisonError as exc:  # malformed, too large, a DOCTYPE: the peer did not answer SOAP
        raise InsiUnavailable(f"réponse INSi illisible (HTTP {status}) : {exc.message}") from exc
    if body is None:
        raise InsiUnavailable(f"réponse INSi sans corps SOAP (HTTP {status})")
    fault = body.find(f"{{{soap.SOAP12}}}Fault")
    if fault is not None:
        s12 = soap.SOAP12
        erreur = fault.find(f".//{{{ns.NS_SIRAM}}}Erreur")
        raise InsiFault(
            status,
            (erreur.get("code") if erreur is not None else None) or "soap",
            fault.findtext(f"{{{s12}}}Reason/{{{s12}}}Text") or "",
            value=_local(fault.findtext(f"{{{s12}}}Code/{{{s12}}}Value")),
            subcode=_local(fault.findtext(f"{{{s12}}}Code/{{{s12}}}Subcode/{{{s12}}}Value")),
            detail=(erreur.text or "").strip() if erreur is not None else "",
        )
    r = ns.NS_RESULTAT
    res = body.find(f"{{{r}}}RESULTAT")
    if res is None:
        raise InsiUnavailable(f"réponse INSi sans RESULTAT (HTTP {status})")
    code = CodeCR(res.findtext(f"{{{r}}}CR/{{{r}}}CodeCR"))
    ind = res.find(f"{{{r}}}INDIVIDU")
    if ind is None:
        return InsiResult(code)
    tiq = ind.find(f"{{{r}}}TIQ")
    traits = Traits(
        tiq.findtext(f"{{{r}}}NomNaissance"),
        tuple((tiq.findtext(f"{{{r}}}ListePrenom") or "").split()),
        tiq.findtext(f"{{{r}}}Sexe"),
        tiq.findtext(f"{{{r}}}DateNaissance"),
        tiq.findtext(f"{{{r}}}LieuNaissance"),
    )
    return InsiResult(
        code,
        Individu(_ref(ind.find(f"{{{r}}}INSACTIF")), tuple(_ref(h) for h in ind.findall(f"{{{r}}}INSHISTO")), traits),
        1,
    )


def insi_advice(result: InsiResult) -> str:
    """What to tell the professional when INSi is inconclusive (seed 002 L343)."""
    if result.code is CodeCR.AUCUN:
        return (
            "Aucune identité trouvée : vérifier l'orthographe du nom de naissance, l'ordre des prénoms, "
            "la date et le sexe sur une pièce d'identité, puis relancer ; l'identité reste provisoire."
        )
    if result.code is CodeCR.PLUSIEURS:
        return (
            "Plusieurs identités trouvées : relancer avec la liste complète des prénoms de naissance et le "
            "code du lieu de naissance ; l'identité reste provisoire."
        )
    return "INS trouvé : comparer les traits renvoyés à ceux du dossier avant d'associer."


@dataclass
class Lookup:
    """The outcome of the client's search with retries: the final answer and the attempts made."""

    result: InsiResult
    attempts: list[list[str]]
    advice: str


def first_name_tries(traits: Traits) -> list[list[str]]:
    """The first names of each search, in order: each birth first name alone, then the whole list."""
    tries = [[p] for p in traits.prenoms]
    if len(traits.prenoms) > 1:
        tries.append(list(traits.prenoms))
    return tries


def lookup_with_retry(traits: Traits, search: Callable[[list[str]], InsiResult]) -> Lookup:
    """The client rule: search with each first name in order, then the whole list, until an answer
    other than 01 (seed 002 L342-343); `search(first_names)` is one INSi call by traits."""
    attempts: list[list[str]] = []
    result = InsiResult(CodeCR.AUCUN)
    for given in first_name_tries(traits):
        attempts.append(given)
        result = search(given)
        if result.code is not CodeCR.AUCUN:
            break
    return Lookup(result, attempts, insi_advice(result))


async def lookup_with_retry_async(traits: Traits, search: Callable[[list[str]], Awaitable[InsiResult]]) -> Lookup:
    """`lookup_with_retry` for a search that is awaited (`AsyncInsiClient`)."""
    attempts: list[list[str]] = []
    result = InsiResult(CodeCR.AUCUN)
    for given in first_name_tries(traits):
        attempts.append(given)
        result = await search(given)
        if result.code is not CodeCR.AUCUN:
            break
    return Lookup(result, attempts, insi_advice(result))


def _content_type(operation: str) -> dict[str, str]:
    return {"Content-Type": f'{soap.CONTENT_TYPE}; action="{ACTION}{operation}"'}


class InsiClient:
    """INSi over blocking HTTP: `http` holds the TLS that presents the structure's certificate."""

    def __init__(
        self, endpoint: str, me: ClientIdentity, *, timeout: float = 10.0, http: httpx.Client | None = None
    ) -> None:
        self.endpoint, self.me = endpoint, me
        self.http = http or httpx.Client(timeout=timeout)

    def _post(self, operation: str, payload: bytes) -> InsiResult:
        response = self.http.post(self.endpoint, content=payload, headers=_content_type(operation))
        return parse_response(response.status_code, response.content)

    def search_traits(
        self, nom: str, prenoms: list[str], sexe: str, date_naissance: str, lieu: str | None = None
    ) -> InsiResult:
        return self._post(ns.OP_TRAITS, traits_request(self.me, nom, prenoms, sexe, date_naissance, lieu))

    def search_carte_vitale(self, date_naissance: str, **kwargs: Any) -> InsiResult:
        return self._post(ns.OP_CARTE_VITALE, carte_vitale_request(self.me, date_naissance, **kwargs))

    def lookup(self, traits: Traits) -> Lookup:
        """Search with the retry rule over HTTP (see `lookup_with_retry`)."""
        return lookup_with_retry(
            traits,
            lambda given: self.search_traits(
                traits.nom_naissance, given, traits.sexe, traits.date_naissance, traits.lieu_naissance
            ),
        )


class AsyncInsiClient:
    """INSi over awaited HTTP, for an adapter that runs in an event loop; `http` is shared by the calls
    of one structure (its transport presents that structure's certificate, see `transport`)."""

    def __init__(self, endpoint: str, me: ClientIdentity, http: httpx.AsyncClient) -> None:
        self.endpoint, self.me, self.http = endpoint, me, http

    async def search_traits(
        self, nom: str, prenoms: list[str], sexe: str, date_naissance: str, lieu: str | None = None
    ) -> InsiResult:
        payload = traits_request(self.me, nom, prenoms, sexe, date_naissance, lieu)
        try:
            response = await self.http.post(self.endpoint, content=payload, headers=_content_type(ns.OP_TRAITS))
        except httpx.HTTPError as exc:
            raise InsiUnavailable(f"INSi injoignable : {type(exc).__name__}") from exc
        return parse_response(response.status_code, response.content)

    async def lookup(self, traits: Traits) -> Lookup:
        """Search with the retry rule (see `lookup_with_retry`)."""

        def search(given: list[str]) -> Awaitable[InsiResult]:
            return self.search_traits(
                traits.nom_naissance, given, traits.sexe, traits.date_naissance, traits.lieu_naissance
            )

        return await lookup_with_retry_async(traits, search)
