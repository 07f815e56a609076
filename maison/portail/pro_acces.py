"""How a professional reaches a patient's DMP on /pro, carried from page to page within his session.

The DMP decides on each call from `Access` (bris de glace and its justification, connexion secrète); the
API's caller sends them as headers on every call (`X-Mode-Acces`, `X-Motif-Acces`, `X-Connexion-Secrete`).
A page cannot send headers, so the portal carries them as query parameters that it signed itself: an
HMAC-SHA256 under a key the server derives for the session (`PscConnexion.session_key`: from a secret
of the key store and the session's id — never the CSRF token, which every page shows), expiring, so that
a parameter is good for this session only and cannot be written by hand:

- `urgence`: the bris de glace justification (the DMP requires it, `bris-de-glace-sans-motif`);
- `secrete`: the connexion secrète for one patient (CSP L.1111-5: a minor may keep her care secret from
  her legal representatives). The DMP itself does not know the patient's age; the portal grants it only
  when INSi's answer (the birth date of the identity it returned, signed in `identite` by the page that
  showed it) says the patient is a minor, and binds it to her INS;
- `identite`: what INSi answered of a patient's identity (INS, birth date), so that the next form can
  rely on it without a second INSi call.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import date
from urllib.parse import urlencode

import orjson

from maison.core.errors import Forbidden
from maison.partage.dmp.model import Access, AccessMode
from maison.portail.psc_connexion import same

TTL = 3600  # seconds a signed parameter is good for (within the session)
MAJORITY = 18  # years (code civil art. 414)
AGAIN = "recommencez depuis la recherche du patient"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _mac(key: bytes, body: str) -> str:
    return _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())


def sign(key: bytes, kind: str, **data: object) -> str:
    body = _b64(orjson.dumps({"kind": kind, "exp": int(time.time()) + TTL, **data}))
    return f"{body}.{_mac(key, body)}"


def unsign(key: bytes, token: str, kind: str, what: str, again: str = AGAIN) -> dict:
    """The data of a parameter this session signed for `kind`; else a French 403 naming `what` it was."""
    body, _, mac = token.partition(".")
    if not body or not same(mac, _mac(key, body)):
        raise Forbidden(f"{what} d'une autre session : {again}", code=kind)
    data = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    if data.get("kind") != kind:
        raise Forbidden(f"{what} invalide : {again}", code=kind)
    if data["exp"] < time.time():
        raise Forbidden(f"{what} expiré : {again}", code=kind)
    return data


def urgence_token(key: bytes, motif: str) -> str:
    return sign(key, "urgence", motif=motif)


def identity_token(key: bytes, ins: str, naissance: str) -> str:
    return sign(key, "identite", ins=ins, naissance=naissance)


def is_minor(naissance: str, today: date | None = None) -> bool:
    """Under 18 today (born on 29 February: of age on 1 March of her 18th year)."""
    born, today = date.fromisoformat(naissance), today or date.today()
    return (today.year - born.year - ((today.month, today.day) < (born.month, born.day))) < MAJORITY


def secret_token(key: bytes, ins: str, naissance: str) -> str:
    """The connexion secrète for this patient, granted for a minor only (CSP L.1111-5), with the precise
    French refusal for an adult."""
    if not is_minor(naissance):
        shown = date.fromisoformat(naissance).strftime("%d/%m/%Y")
        raise Forbidden(
            f"connexion secrète refusée : la patiente ou le patient, né(e) le {shown}, est majeur(e) ; "
            "la connexion secrète est réservée aux mineurs (article L.1111-5 du code de la santé publique)",
            code="connexion-secrete-majeur",
        )
    return sign(key, "secrete", ins=ins)


def secret_for(key: bytes, token: str, ins: str) -> bool:
    """Whether the page acts in connexion secrète for `ins`; a token of another patient is refused."""
    if not token:
        return False
    if unsign(key, token, "secrete", "connexion secrète")["ins"] != ins:
        raise Forbidden("connexion secrète ouverte pour un autre patient", code="secrete")
    return True


def access(key: bytes, urgence: str, secrete: str, ins: str) -> Access:
    """The DMP's `Access` of a page: bris de glace with its justification, and/or connexion secrète."""
    secret = secret_for(key, secrete, ins)
    if not urgence:
        return Access(secret=secret)
    data = unsign(key, urgence, "urgence", "accès en urgence", "renouvelez le bris de glace")
    return Access(mode=AccessMode.BRIS_DE_GLACE, reason=str(data["motif"]), secret=secret)


def query(urgence: str = "", secrete: str = "", **more: str) -> str:
    """The signed parameters a link of the dossier carries on (with `more`), as a query string or ''."""
    params = {k: v for k, v in {**more, "urgence": urgence, "secrete": secrete}.items() if v}
    return f"?{urlencode(params)}" if params else ""
