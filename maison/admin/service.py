"""What the house's administrator does, as plain functions both `maison admin` and `/admin` call.

Issue 21 §1: a vendor testing its software needs the acts a national operator does at its desk —
habilitating a structure to INSi and registering its software (the CNAM's convention and the CNDA's
authorisation number, IDAM), issuing a structure's API key, reading the one-time codes and notices
the house "sent" to patients (§1.3) — without writing Python against Maison's internals.

The administrator authenticates with the **administrator token**: a key of scope
`administrateur-maison` (`maison.core.auth`), issued at the house's first start when none is active
and printed once (only its SHA-256 is kept, as for every key), rotated by `maison admin jeton`.
Every act is recorded through core's Trail: keys as the security events `cle-emise` /
`cle-revoquee`, the others as `admin.<acte>` (purpose HOPERAT, the house's operations).
"""

from __future__ import annotations

import base64
import hashlib
import io
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from maison.core import auth, pki
from maison.core.actor import Actor, KeyScope
from maison.core.audit import SYSTEM, Trail
from maison.core.errors import InvalidInput, NotFound
from maison.core.identifiers.professionals import department_of_structure, is_finess, is_rpps, is_siret
from maison.core.ins_traits import Traits
from maison.core.storage import Database
from maison.formats.qr import encode as qr_code
from maison.identite.annuaire import resources as annuaire
from maison.identite.ins.service import InsiService, StructureNotAuthorised, UnknownSoftware
from maison.identite.mes.login import PatientLogin
from maison.identite.psc.provider import OAuthError, Provider
from maison.identite.psc.registration import Registrar
from maison.observatoire.conformite.model import CATEGORIES
from maison.partage.mss.listeners import listeners_of
from maison.partage.mss.publication import OWN, AnnuaireAccess
from maison.partage.mss.service import Mss
from maison.partage.mss.smtp import Endpoints
from maison.seeding.directory import load as load_directory

TOKEN_SOFTWARE = "maison-admin"  # the software the administrator token is issued for
TOKEN_STRUCTURE = "maison"
TOKEN_PERSON = "administrateur"
PURPOSE = "HOPERAT"

REGISTRATION_TOKEN_LIFETIME = 86_400  # an initial access token serves a day unless told otherwise
REGISTRATION_TOKEN_MAX_LIFETIME = 365 * 86_400

# what a structure's key may be issued for here; the house's own administrator token is made only by
# `maison admin jeton` / the first start (one way in for the most powerful credential)
STRUCTURE_SCOPES = tuple(s for s in KeyScope if s is not KeyScope.ADMINISTRATEUR_MAISON)


def first_token(db: Database) -> str | None:
    """The administrator token, when the house has no active one yet (its first start); else None."""
    if auth.active_keys(db, KeyScope.ADMINISTRATEUR_MAISON, TOKEN_SOFTWARE):
        return None
    return auth.issue_key(db, TOKEN_STRUCTURE, TOKEN_SOFTWARE, TOKEN_PERSON, scope=KeyScope.ADMINISTRATEUR_MAISON)


def rotate_token(db: Database, *, by: Actor = SYSTEM) -> str:
    """A new administrator token; the previous ones are revoked in the same breath (a rotation)."""
    key = auth.issue_key(
        db, TOKEN_STRUCTURE, TOKEN_SOFTWARE, TOKEN_PERSON, scope=KeyScope.ADMINISTRATEUR_MAISON, issued_by=by
    )
    auth.revoke_keys_of(db, KeyScope.ADMINISTRATEUR_MAISON, TOKEN_SOFTWARE, keep=key, revoked_by=by)
    return key


def _text(value: object, name: str, max_length: int, *, required: bool = True) -> str:
    """A bounded text field (the columns' sizes: a longer value is a 400, never a database error)."""
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise InvalidInput(f"'{name}' attendu (texte)", code="champ-absent", expression=name)
    if len(value) > max_length:
        raise InvalidInput(f"'{name}' : {max_length} caractères au plus", code="champ-trop-long", expression=name)
    return value.strip()


def _no_mss() -> Mss:
    raise InvalidInput("MSSanté n'est pas servi par cette maison", code="mss-absent")


def _port(value: object, name: str, *, required: bool) -> int:
    if value is None and not required:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
        raise InvalidInput(f"'{name}' : port de 1 à 65535 attendu", code="type-json", expression=name)
    return value


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _refusal(exc: OAuthError) -> InvalidInput | NotFound:
    """Pro Santé Connect's refusal in the house's terms: an unknown or inactive professional is a 404."""
    if exc.error == "access_denied":
        return NotFound(exc.description, code="professionnel-inconnu")
    return InvalidInput(exc.description, code=exc.error)


def _bounded(value: object, name: str, low: int, high: int) -> int | None:
    """An optional whole number between `low` and `high` (None when absent)."""
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidInput(f"'{name}' : entier de {low} à {high} attendu", code="type-json", expression=name)
    return value


def _uris(value: object, name: str, *, required: bool) -> list[str]:
    if value is None and not required:
        return []
    if not isinstance(value, list) or (required and not value) or len(value) > 20:
        raise InvalidInput(f"'{name}' : liste de 1 à 20 URI attendue", code="champ-absent", expression=name)
    return [_text(u, name, 500) for u in value]


@dataclass
class Administration:
    db: Database
    insi: InsiService
    login: PatientLogin
    psc: Provider
    mss: Callable[[], Mss] = field(repr=False, default=lambda: _no_mss())
    pki_dir: Path | None = None  # the house PKI (`<data_dir>/pki`): INSi's authority

    def _record(self, actor: Actor, act: str, detail: dict[str, Any]) -> None:
        with self.db.write() as conn:
            Trail.write(conn, actor, f"admin.{act}", purpose=PURPOSE, detail=detail)

    # --- the outbox (§1.3) -----------------------------------------------------------------------

    def outbox(self, actor: Actor, recipient: str | None = None) -> list[dict[str, Any]]:
        """What the house "sent" by e-mail or SMS (one-time codes, the DMP's notices), newest last."""
        if recipient is not None:
            recipient = _text(recipient, "destinataire", 200)
        messages = self.login.sent(recipient)
        self._record(actor, "boite-envoi", {"destinataire": recipient or "*", "messages": len(messages)})
        return [
            {
                "canal": m["channel"],
                "destinataire": m["recipient"],
                "objet": m["subject"],
                "corps": m["body"],
                "envoye": m["created_at"],
            }
            for m in messages
        ]

    # --- structure API keys ----------------------------------------------------------------------

    def issue_key(
        self,
        actor: Actor,
        structure: object,
        name: object,
        scope: object = None,
        person: object = None,
        *,
        key: str | None = None,
    ) -> dict[str, str]:
        """A structure's API key, returned once (`maison.core.auth`: only its digest is kept); `key` is
        given only by `maison sandbox` (its test keys derived from a published seed, issue 21 §2)."""
        structure = _text(structure, "structure", 64)
        name = _text(name, "nom", 128)
        scope_value = _text(scope, "scope", 32, required=False) or KeyScope.LOGICIEL.value
        chosen = next((s for s in STRUCTURE_SCOPES if s.value == scope_value), None)
        if chosen is None:
            raise InvalidInput(
                f"scope '{scope_value}' : {', '.join(s.value for s in STRUCTURE_SCOPES)} attendu",
                code="scope-inconnu",
                expression="scope",
            )
        holder = _text(person, "personne", 128, required=False) or name
        key = auth.issue_key(self.db, structure, name, holder, scope=chosen, issued_by=actor, key=key)
        return {"id": auth.key_id(key), "cle": key, "structure": structure, "nom": name, "scope": chosen.value}

    def revoke_key(self, actor: Actor, key_id: str) -> int:
        """Revoke a key by its identifier (the first 12+ characters of its digest); refused from the next call."""
        if not (12 <= len(key_id) <= 64 and all(c in "0123456789abcdef" for c in key_id)):
            raise InvalidInput(
                "identifiant de clé : 12 à 64 caractères hexadécimaux (l'« id » donné à l'émission)",
                code="cle-id",
                expression="id",
            )
        count = auth.revoke_key(self.db, key_id, revoked_by=actor)
        if not count:
            raise NotFound(f"clé '{key_id}' inconnue", code="cle-inconnue")
        return count

    # --- Mon espace santé ----------------------------------------------------------------------

    def open_mes_account(
        self,
        actor: Actor,
        login: object,
        ins: object,
        birth_date: object,
        password: object,
        email: object = None,
        phone: object = None,
    ) -> dict[str, str]:
        """Open a patient's Mon espace santé account (the Assurance Maladie's activation), with the
        e-mail address or mobile number its one-time codes go to. The password is not echoed back."""
        identifier = _text(login, "identifiant", 100)
        matricule = _text(ins, "ins", 15)
        born = _text(birth_date, "dateNaissance", 10)
        secret = _text(password, "motDePasse", 128)
        mail = _text(email, "email", 200, required=False) or None
        mobile = _text(phone, "telephone", 20, required=False) or None
        self.login.open_account(identifier, matricule, born, secret, email=mail, phone=mobile)
        self._record(actor, "compte-mes-ouvert", {"identifiant": identifier, "ins": matricule})
        return {"identifiant": identifier, "ins": matricule, "email": mail or "", "telephone": mobile or ""}

    def set_mes_contacts(
        self, actor: Actor, login: object, email: object = None, phone: object = None
    ) -> dict[str, str]:
        """Set where an open account's one-time codes go (issue 21 §1.1): its e-mail and/or French
        mobile (06/07 or E.164, kept in E.164), both replaced — the e-mail, when there is one, receives
        the codes. The trail records which channels were set, not the addresses."""
        identifier = _text(login, "identifiant", 100)
        mail = _text(email, "email", 200, required=False) or None
        mobile = _text(phone, "telephone", 20, required=False) or None
        mail, mobile = self.login.set_contacts(identifier, email=mail, phone=mobile)
        detail = {"identifiant": identifier, "email": mail is not None, "telephone": mobile is not None}
        self._record(actor, "compte-mes-contacts", detail)
        return {"identifiant": identifier, "email": mail or "", "telephone": mobile or ""}

    # --- the Annuaire Santé: structures and test professionals (the RPPS / FINESS operators' acts) ---

    def add_structure(
        self,
        actor: Actor,
        name: object,
        finess: object = None,
        siret: object = None,
        sector: object = None,
        postal_code: object = None,
        city: object = None,
    ) -> dict[str, str]:
        """A structure of the Annuaire, known by its FINESS (IdNatStruct 1+FINESS) or its SIRET
        (3+SIRET), with its activity sector (TRE_R02) and address; its département is the FINESS's."""
        label = _text(name, "nom", 200)
        finess_no = _text(finess, "finess", 9, required=False)
        siret_no = _text(siret, "siret", 14, required=False)
        if finess_no and not is_finess(finess_no):
            raise InvalidInput(f"FINESS '{finess_no}' invalide", code="finess-invalide", expression="finess")
        if siret_no and not is_siret(siret_no):
            raise InvalidInput(f"SIRET '{siret_no}' invalide", code="siret-invalide", expression="siret")
        if not (finess_no or siret_no):
            raise InvalidInput("'finess' ou 'siret' attendu", code="champ-absent", expression="finess")
        idnatstruct = f"1{finess_no}" if finess_no else f"3{siret_no}"
        resource = annuaire.organization(
            idnatstruct,
            label,
            _now(),
            finess=(finess_no, "FINEG") if finess_no else None,
            siret=siret_no or None,
            entity="GEOGRAPHICAL-ENTITY" if finess_no else "LEGAL-ENTITY",
            secteur=_text(sector, "secteur", 10, required=False) or None,
            postal_code=_text(postal_code, "codePostal", 5, required=False),
            city=_text(city, "ville", 100, required=False),
        )
        load_directory(self.db, [resource])
        department = department_of_structure(idnatstruct)
        self._record(actor, "structure-enregistree", {"idnatstruct": idnatstruct, "nom": label})
        return {"idnatstruct": idnatstruct, "nom": label, "departement": department}

    def add_professional(
        self,
        actor: Actor,
        rpps: object,
        family: object,
        given: object,
        profession: object,
        structure: object = None,
        civility: object = None,
        savoir_faire: object = None,
        function: object = None,
    ) -> dict[str, str]:
        """A test professional of the Annuaire (RPPS, name, profession TRE_G15, savoir-faire TRE_R38 such
        as a specialty), practising in a structure when one is given; then `set_test_password` /
        `enroll_ecps` give him a way in. `function`: the role his situation d'exercice carries (TRE_R21
        fonction, PSC's codeRole), e.g. `agent-ars`, which the observatory reads (READER_ROLES)."""
        number = _text(rpps, "rpps", 11)
        if not is_rpps(number):
            raise InvalidInput(f"RPPS '{number}' invalide (11 chiffres, clé de Luhn)", code="rpps-invalide")
        code = _text(profession, "profession", 4)
        idnatps = f"8{number}"
        resources = [
            [
                annuaire.practitioner(
                    number,
                    _text(family, "nom", 100),
                    _text(given, "prenom", 100),
                    _text(civility, "civilite", 4, required=False) or "DR",
                    code,
                    "C",
                    _text(savoir_faire, "savoirFaire", 10, required=False) or None,
                    _now(),
                )
            ]
        ]
        where = _text(structure, "structure", 64, required=False)
        fonction = _text(function, "fonction", 20, required=False) or None
        if fonction and not where:
            raise InvalidInput("'fonction' sans 'structure' d'exercice", code="champ-absent", expression="structure")
        if where:
            role = "pr-" + hashlib.sha256(f"{idnatps}|{where}".encode()).hexdigest()[:16]
            resources.append([annuaire.practitioner_role(role, idnatps, where, _now(), fonction=fonction)])
        load_directory(self.db, *resources)
        detail = {"idnatps": idnatps, "structure": where} | ({"fonction": fonction} if fonction else {})
        self._record(actor, "professionnel-enregistre", detail)
        return {"idnatps": idnatps, "rpps": number, "structure": where}

    # --- MSSanté: operators of the trust space and their mailboxes ---------------------------------

    def register_mss_operator(
        self,
        actor: Actor,
        identifier: object,
        name: object,
        domains: object,
        relay: object,
        submission: object,
        imap: object = None,
        publish: object = True,
    ) -> dict[str, Any]:
        """A local MSSanté operator of the trust space (its certificate from the house's test authority),
        publishing its mailboxes to this house's Annuaire with an `operateur-mss` key issued for it;
        `maison serve` runs it (as `maison mss-operateur` registers one)."""
        ident = _text(identifier, "identifiant", 64)
        label = _text(name, "nom", 200)
        if not isinstance(domains, list) or not 1 <= len(domains) <= 10:
            raise InvalidInput("'domaines' : liste de 1 à 10 domaines", code="champ-absent", expression="domaines")
        names = [_text(d, "domaines", 253) for d in domains]
        endpoints = Endpoints(
            "127.0.0.1",
            _port(submission, "soumission", required=True),
            _port(relay, "relais", required=True),
            _port(imap, "imap", required=False),
        )
        if not isinstance(publish, bool):
            raise InvalidInput("'publier' : booléen attendu", code="type-json", expression="publier")
        mss = self.mss()
        access = None
        if publish:
            # the role too: the Annuaire admits a mailbox's publication from the role operateur-mss
            # (maison/identite/annuaire/api.py OPERATOR_ROLE); the scope alone was refused 403
            key = auth.issue_key(
                self.db,
                ident,
                "maison-mss",
                f"operateur:{ident}",
                KeyScope.OPERATEUR_MSS.value,
                scope=KeyScope.OPERATEUR_MSS,
                issued_by=actor,
            )
            access = AnnuaireAccess(OWN, key)
        runtime = mss.local_operator(ident, label, names, endpoints, annuaire=access)
        self._record(actor, "operateur-mss-enregistre", {"operateur": ident, "domaines": names})
        return {
            "identifiant": ident,
            "domaines": list(runtime.operator.domains),
            "soumission": f"127.0.0.1:{endpoints.submission}",
            "relais": f"127.0.0.1:{endpoints.relay}",
            "imap": f"127.0.0.1:{endpoints.imap}" if endpoints.imap else "",
            # issue 21 §1.4: where each listener is, which protocol, how TLS is entered; `maison serve`
            # starts them within seconds, and the authority that signs their certificates to trust
            "ecoutes": [listener.as_json() for listener in listeners_of(endpoints)],
            "autoriteCertification": mss.authority.cert_path.read_text(),
            "certificatSha256": runtime.operator.certificate_sha256,
        }

    def create_mailbox(
        self,
        actor: Actor,
        address: object,
        operator: object,
        kind: object,
        owner: object,
        name: object,
        password: object = None,
        liste_rouge: object = False,
    ) -> dict[str, Any]:
        """A mailbox at a local operator (PER: a professional's IdNatPS; ORG, APP, CAB: a structure's);
        an applicative mailbox (APP) logs in with the password given here."""
        mss = self.mss()
        operator_id = _text(operator, "operateur", 64)
        mss.trust.get(operator_id)
        if not isinstance(liste_rouge, bool):
            raise InvalidInput("'listeRouge' : booléen attendu", code="type-json", expression="listeRouge")
        box = mss.mailboxes.create(
            actor,
            _text(address, "adresse", 256),
            operator_id,
            _text(kind, "type", 3).upper(),
            _text(owner, "titulaire", 64),
            _text(name, "nom", 200),
            password=_text(password, "motDePasse", 128, required=False) or None,
            liste_rouge=liste_rouge,
        )
        self._record(actor, "bal-creee", {"adresse": box.address, "operateur": box.operator})
        return {"adresse": box.address, "type": box.kind, "operateur": box.operator, "titulaire": box.owner}

    # --- Pro Santé Connect: client software, test professionals' authenticators --------------------

    def register_psc_client(
        self,
        actor: Actor,
        name: object,
        redirect_uris: object,
        post_logout_uris: object = None,
        ciba: object = False,
        *,
        credentials: tuple[str, str] | None = None,
    ) -> dict[str, Any]:
        """A confidential OpenID Connect client of Pro Santé Connect (the ANS's registration form): its
        id and secret, the secret given once (only its hash is kept); `credentials` are given only by
        `maison sandbox` (derived from its published seed, issue 21 §2)."""
        label = _text(name, "nom", 100)
        redirects = _uris(redirect_uris, "redirectUris", required=True)
        logouts = _uris(post_logout_uris, "postLogoutRedirectUris", required=False)
        if not isinstance(ciba, bool):
            raise InvalidInput("'ciba' : booléen attendu", code="type-json", expression="ciba")
        try:
            client_id, secret = self.psc.register_client(
                label, redirects, post_logout_uris=logouts, ciba=ciba, credentials=credentials
            )
        except OAuthError as exc:
            raise _refusal(exc) from None
        self._record(actor, "client-psc-enregistre", {"client_id": client_id, "nom": label, "ciba": ciba})
        return {
            "client_id": client_id,
            "client_secret": secret,
            "redirectUris": redirects,
            "postLogoutRedirectUris": logouts,
            "ciba": ciba,
        }

    def issue_psc_registration_token(
        self, actor: Actor, lifetime: object = None, max_uses: object = None
    ) -> dict[str, Any]:
        """An initial access token of Pro Santé Connect's dynamic registration (RFC 7591 §3): a software
        registers itself as a client with it, until it expires or has served `max_uses` times. Given
        once (only its SHA-256 is kept); its `id` names it in the trail."""
        seconds = _bounded(lifetime, "dureeSecondes", 60, REGISTRATION_TOKEN_MAX_LIFETIME)
        uses = _bounded(max_uses, "utilisationsMax", 1, 10_000)
        issued = Registrar(self.psc).issue_initial_token(seconds or REGISTRATION_TOKEN_LIFETIME, uses)
        expires = datetime.fromtimestamp(issued.expires_at, UTC).isoformat(timespec="seconds")
        self._record(
            actor, "jeton-enregistrement-psc", {"id": issued.id, "expiration": expires, "utilisationsMax": uses}
        )
        return {"jeton": issued.token, "id": issued.id, "expiration": expires, "utilisationsMax": uses}

    def set_test_password(self, actor: Actor, idnatps: str, password: object) -> dict[str, str]:
        """A test password for a professional of the Annuaire (test accounts only may use one)."""
        idnatps = _text(idnatps, "idnatps", 20)
        secret = _text(password, "motDePasse", 128)
        try:
            self.psc.set_test_password(idnatps, secret)
        except OAuthError as exc:
            raise _refusal(exc) from None
        self._record(actor, "mot-de-passe-test", {"idnatps": idnatps})
        return {"idnatps": idnatps}

    def enroll_ecps(self, actor: Actor, idnatps: str, *, seed: str | None = None) -> dict[str, str]:
        """Activate a professional's e-CPS: the otpauth URI, its TOTP seed and the QR code (PNG, base64)
        the e-CPS app scans; a new activation replaces the previous seed (`seed` is given only by
        `maison sandbox`, derived from its published seed, issue 21 §2)."""
        idnatps = _text(idnatps, "idnatps", 20)
        try:
            uri = self.psc.enroll_ecps(idnatps, seed=seed)
        except OAuthError as exc:
            raise _refusal(exc) from None
        png = io.BytesIO()
        qr_code(uri).save(png, kind="png", scale=6)
        self._record(actor, "ecps-active", {"idnatps": idnatps})
        return {
            "idnatps": idnatps,
            "otpauth": uri,
            "secret": parse_qs(urlsplit(uri).query)["secret"][0],
            "qrPng": base64.b64encode(png.getvalue()).decode(),
        }

    # --- the INS referential (the CNAM's identity base behind INSi) --------------------------------

    def add_identity(
        self,
        actor: Actor,
        family: object,
        given: object,
        sex: object,
        birth_date: object,
        birth_place: object,
        matricule: object,
        ouvrant_droit: object = None,
        rank: object = 1,
    ) -> dict[str, Any]:
        """An identity of the INS referential with its matricule (NIR or NIA), checked against its traits."""
        traits = Traits.of(
            _text(family, "nomNaissance", 60),
            _text(given, "prenoms", 100),
            _text(sex, "sexe", 1),
            _text(birth_date, "dateNaissance", 10),
            _text(birth_place, "lieuNaissance", 5, required=False) or None,
        )
        number = _text(matricule, "matricule", 15)
        if not isinstance(rank, int) or isinstance(rank, bool) or not 1 <= rank <= 9:
            raise InvalidInput("'rangNaissance' : entier de 1 à 9", code="type-json", expression="rangNaissance")
        holder = _text(ouvrant_droit, "ouvrantDroit", 15, required=False) or None
        self.insi.referential.register(traits, number, ouvrant_droit=holder, rang_naissance=rank)
        self._record(actor, "identite-ins-ajoutee", {"matricule": number})
        return {"matricule": number, "nomNaissance": traits.nom_naissance, "prenoms": traits.liste_prenoms}

    def replace_matricule(self, actor: Actor, current: object, new: object) -> dict[str, str]:
        """A NIA replaced by the NIR (or a NIR corrected): the old one stays as a historic INS."""
        old, fresh = _text(current, "ancien", 15), _text(new, "nouveau", 15)
        self.insi.referential.replace_matricule(old, fresh)
        self._record(actor, "matricule-remplace", {"ancien": old, "nouveau": fresh})
        return {"ancien": old, "nouveau": fresh}

    def merge_identities(self, actor: Actor, survivor: object, absorbed: object) -> dict[str, str]:
        """Two identities that are one person: the absorbed one's INS become historic INS of the survivor."""
        keep, drop = _text(survivor, "survivant", 15), _text(absorbed, "absorbe", 15)
        self.insi.referential.merge(keep, drop)
        self._record(actor, "identites-fusionnees", {"survivant": keep, "absorbe": drop})
        return {"survivant": keep, "absorbe": drop}

    # --- INSi: habilitation and software (the CNAM's and the CNDA's acts) ------------------------

    def habilitate_insi(self, actor: Actor, structure: object, name: object, department: object = None) -> dict:
        """Habilitate a structure to the INSi teleservice (its département read from a FINESS when not given)."""
        identifier = _text(structure, "structure", 64)
        label = _text(name, "nom", 200)
        dept = _text(department, "departement", 3, required=False) or department_of_structure(identifier)
        self.insi.register_structure(identifier, label, dept)
        self._record(actor, "habilitation-insi", {"structure": identifier, "nom": label, "departement": dept})
        return {"structure": identifier, "nom": label, "departement": dept}

    def issue_insi_certificate(self, actor: Actor, structure: object, idam: object, days: object = None) -> dict:
        """A software certificate for INSi's mutual TLS (issue 18 1.4), for a habilitated structure and a
        registered software, as `maison insi-certificat` issues it: the certificate, its private key
        (given once, kept nowhere by the house) and the authority's certificate, which signs the callers'
        certificates and, unless another one is configured, the INSi listener's own."""
        identifier = _text(structure, "structure", 64)
        number = _text(idam, "idam", 32)
        validity = _bounded(days, "jours", 1, 3 * 365) or 365
        if self.pki_dir is None:
            raise InvalidInput("cette maison n'a pas d'autorité INSi", code="pki-absente")
        authority = pki.Authority(self.pki_dir)
        with tempfile.TemporaryDirectory() as directory:
            try:
                issued = self.insi.issue_certificate(
                    actor, authority, identifier, number, directory=Path(directory), validity=timedelta(days=validity)
                )
            except (UnknownSoftware, StructureNotAuthorised) as exc:  # the administrator is not the one refused
                raise InvalidInput(exc.message, code=exc.code) from None
            certificate, key = issued.cert.read_text(), issued.key.read_text()
        fingerprint = pki.fingerprint(certificate.encode())
        self._record(actor, "certificat-insi", {"structure": identifier, "idam": number, "certificat": fingerprint})
        return {
            "structure": identifier,
            "idam": number,
            "certificat": certificate,
            "cle": key,
            "autorite": authority.cert_path.read_text(),
            "empreinteSha256": fingerprint,
        }

    def register_software(
        self, actor: Actor, idam: object, name: object, vendor: object, version: object, category: object = None
    ) -> dict:
        """Register a software by its CNDA authorisation number (the IDAM of INSi's ContexteLPS), with
        its vendor, name and the version authorised (issue 21 §1.1: the CNDA authorises a version), and
        its category in the maison table (seed 001 L196-216), against which the observatory checks
        what it exercised (issue 23 §3.1)."""
        number = _text(idam, "idam", 32)
        label = _text(name, "nom", 100)
        editor = _text(vendor, "editeur", 100)
        release = _text(version, "version", 32)
        kind = _text(category, "categorie", 32, required=False).upper()
        if kind and kind not in CATEGORIES:
            raise InvalidInput(
                f"catégorie '{kind}' : {', '.join(CATEGORIES)} attendue",
                code="categorie-inconnue",
                expression="categorie",
            )
        self.insi.register_software(number, label, editor, release, kind)
        detail = {"idam": number, "nom": label, "editeur": editor, "version": release, "categorie": kind}
        self._record(actor, "logiciel-enregistre", detail)
        return detail
