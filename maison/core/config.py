"""One place for configuration: environment variables, then an optional TOML file, then defaults.

Every setting has an environment variable `MAISON_<NAME>` (upper case). A TOML file named by
`MAISON_CONFIG` (or `maison.toml` in the working directory) may set the same names in lower
case at its top level. The environment wins over the file, so that CI and containers can
override a checked-in file without editing it.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from maison.core.keystore import FileKeyStore


def _default_reference_path() -> Path:
    """`../shared/reference` beside the checkout, which is where tests and CI find the artefacts."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent.parent / "shared" / "reference"
        if candidate.is_dir():
            return candidate
    return Path("reference")


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")
    database_url: str = ""
    reference_path: Path = _default_reference_path()
    host: str = "127.0.0.1"
    port: int = 8080
    tls_cert: str = ""
    tls_key: str = ""
    # INSi authenticates its callers by certificate: mutual TLS on a listener of its own (issue 18,
    # 1.4). insi_port 0: no such listener, and INSi on the house port answers nobody unless
    # insi_dev_sans_certificat (plain calls from loopback, for development only). Server certificate
    # and key empty: issued by the house PKI (<data_dir>/pki); authority empty: the house PKI's (a
    # deployment names IGC-Santé's chain).
    insi_port: int = 0
    insi_tls_cert: str = ""
    insi_tls_key: str = ""
    insi_tls_ca: str = ""
    insi_dev_sans_certificat: bool = False
    # The hospital wing's INSi (issue 19 §1.1): the SOAP endpoint its patient index calls, with the
    # structure's software certificate and key (PEM files) and the authority that signed the server's
    # (empty: the system's). insi_url empty: the house's own INSi, in memory, with a certificate the
    # house PKI issues to each calling structure's software (maison.etablissement.insi.transport).
    insi_url: str = ""
    insi_client_cert: str = ""
    insi_client_key: str = ""
    insi_client_ca: str = ""
    # The hospital wing's HL7 v2 listener (issue 22: PAM FR from the GAM, ORU/MDM from the DPI), over
    # MLLP; mllp_port 0: none. Off loopback it takes the house's TLS certificate (tls_cert, tls_key),
    # and with mllp_tls_ca it asks the GAM or DPI for a client certificate that authority signed.
    # A frame past mllp_max_bytes is refused unread; a frame not complete within mllp_idle_timeout
    # seconds (an idle or dripping peer) ends the connection.
    mllp_port: int = 0
    mllp_tls_ca: str = ""
    mllp_max_bytes: int = 16 * 1024 * 1024
    mllp_idle_timeout: int = 60
    # The structures (FINESS, comma-separated) whose GAM this listener serves; empty: any. A PAM
    # message naming another structure (PID-3's and PV1-19's authority) is refused, AE 204.
    mllp_structures: str = ""
    # The PFI's documents from the DPI over HL7 v2 (issue 22 §2): with pfi_structure set, the MLLP
    # listener takes ORU and MDM for that structure; the DMP is fed at pfi_dmp_url (ITI-65) with
    # pfi_dmp_authorization (the structure's software key, "Bearer mk_…"), MSSanté goes through the
    # operator's submission port (STARTTLS, pfi_mss_ca) as the applicative mailbox, and the ZAM
    # business acknowledgements go back to the DPI's MLLP listener at pfi_zam_host:pfi_zam_port.
    pfi_structure: str = ""
    pfi_dmp_url: str = ""
    pfi_dmp_authorization: str = ""
    pfi_mss_host: str = ""
    pfi_mss_port: int = 0
    pfi_mss_ca: str = ""
    pfi_mss_mailbox: str = ""
    pfi_mss_password: str = ""
    pfi_zam_host: str = ""
    pfi_zam_port: int = 0
    # Largest request body any HTTP adapter accepts before parsing (bytes).
    max_body_bytes: int = 1_000_000
    # Which OID INSi answers NIR-based INS with (a NIA's is always 1.2.250.1.213.1.4.9): "test", the
    # default, 1.2.250.1.213.1.4.10 (INS-NIR de test, the OID of the CI-SIS example documents and of the
    # sandbox's catalogue, `maison.identite.ins.bac_a_sable`); "production" 1.2.250.1.213.1.4.8 (also
    # what the national vendors' test environment was seen answering); "demo" 1.2.250.1.213.1.4.11.
    ins_environment: str = "test"
    # DMP: the largest document accepted (bytes; an ITI-65 request may carry a few of them), and the
    # habilitation matrix file (empty: the matrix shipped with Maison, maison/partage/dmp/matrice.toml).
    dmp_max_document_bytes: int = 20_000_000
    dmp_matrix_path: str = ""
    # DMP: whether self-presenting CDA documents (an xsl:stylesheet embedding the ClinicalDocument, XDS
    # mimeType application/xslt+xml, which the DMP's metadata mapping lists) are taken; off, they are
    # refused with the XDS code InvalidDocumentContent (issue 20 §2.4).
    dmp_cda_auto_presentable: bool = True
    # SUN-ES usage targets, in % of the denominator (issue 23 §1.1; maison/observatoire/sunes): the seed
    # lists the indicators (004 L185-207) and names no target — each funding window's instruction sets
    # them (DGOS/PF5/DNS/CTO/2021/167, 2022/40), so they are settings, set from it, not constants.
    sunes_cible_ds1_1: int = 50
    sunes_cible_ds1_2: int = 50
    sunes_cible_ds1_3: int = 50
    sunes_cible_ds1_4: int = 50
    sunes_cible_ds2_1: int = 50
    sunes_cible_ds3_1: int = 50
    sunes_cible_ds4_1: int = 50
    sunes_cible_ds4_2: int = 50
    espace_max_document_bytes: int = 5_000_000  # a document the patient deposits in Mon espace santé
    # The portals' sessions (issue 24 §4): ended after this many seconds without a request, and this many
    # after the login whatever the activity (ANSSI R23-R24; Mon espace santé logs out after 15 minutes idle).
    portail_inactivite_s: int = 900
    portail_duree_max_s: int = 43_200
    mss_max_message_bytes: int = 20_000_000  # the largest MSSanté message an operator accepts (SMTP SIZE)
    # A structure's identity provider registered with a jwksUri: Maison fetches only public addresses
    # (no loopback, private, link-local, reserved; SSRF, issue 18 §3), unless this is on (tests, a lab).
    psc_jwks_adresses_privees: bool = False
    # How clients reach the house (Pro Santé Connect's issuer is derived from it); empty: scheme://host:port
    public_url: str = ""
    # The base of the canonical URLs Maison invents (its FHIR extensions, operations, code and identifier
    # systems; maison.formats.namespace): a namespace this deployment owns, never a gouv.fr host that is
    # not its own (issue 21 §3.3). Empty: `<public URL>/ns`, which the house does own; a deployment that
    # wants names stable across host moves sets its own (e.g. https://fhir.example.org/maison).
    namespace_url: str = ""
    # Secret used to sign local tokens; must come from the environment outside tests.
    secret_key: str = ""
    # Keys kept outside the database (PSC signing keys, the blob key, HMAC secrets, the audit
    # checkpoint key): a 0700 directory, files 0600. Empty: `<data_dir>.secrets`, beside the data
    # directory (not in it); production points it at its own volume, or a KMS-backed store.
    secrets_dir: str = ""
    # The signed audit checkpoints, an append-only file kept outside the database; empty:
    # `<secrets_dir>/audit-checkpoints.jsonl`. Written every `audit_checkpoint_interval_s` seconds.
    audit_checkpoint_path: str = ""
    audit_checkpoint_interval_s: int = 60

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'maison.db').resolve()}"

    @property
    def effective_secrets_dir(self) -> Path:
        if self.secrets_dir:
            return Path(self.secrets_dir)
        data = self.data_dir.resolve()
        return data.with_name(f"{data.name}.secrets")

    @property
    def effective_checkpoint_path(self) -> Path:
        if self.audit_checkpoint_path:
            return Path(self.audit_checkpoint_path)
        return self.effective_secrets_dir / "audit-checkpoints.jsonl"

    def keystore(self) -> FileKeyStore:
        """Where this deployment's keys live (see `maison.core.keystore`)."""
        from maison.core.keystore import FileKeyStore

        return FileKeyStore(self.effective_secrets_dir)

    @property
    def public_base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        return f"{'https' if self.tls_cert else 'http'}://{self.host}:{self.port}"

    @property
    def namespace_base_url(self) -> str:
        """Where Maison's own canonical URLs live (see `namespace_url`)."""
        return (self.namespace_url or f"{self.public_base_url}/ns").rstrip("/")

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def _coerce(kind: object, value: Any) -> Any:
    """`value` (from TOML or the environment) as the field's type, `kind` (a type or, with postponed
    annotations, its name)."""
    if kind is Path or kind == "Path":
        return Path(str(value))
    if kind is int or kind == "int":
        return int(value)
    if kind is bool or kind == "bool":
        return str(value).strip().lower() in ("1", "true", "yes", "oui", "on")
    return str(value)


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if environ is None else environ)
    values: dict[str, Any] = {}
    config_file = env.get("MAISON_CONFIG") or ("maison.toml" if Path("maison.toml").is_file() else "")
    if config_file:
        with open(config_file, "rb") as fh:
            values.update(tomllib.load(fh))
    for field in fields(Settings):
        key = f"MAISON_{field.name.upper()}"
        if key in env:
            values[field.name] = env[key]
    known = {f.name: f.type for f in fields(Settings)}
    unknown = set(values) - set(known)
    if unknown:
        raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
    return Settings(**{k: _coerce(known[k], v) for k, v in values.items()})
