"""The namespace of the canonical URLs Maison invents: FHIR extensions, operation definitions, code
systems and identifier systems that no guide defines (issue 21 §3.3).

A canonical URL names who defines it. The URLs the guides define stay where they put them (the
PDSm, Annuaire and e-prescription IGs under interop.esante.gouv.fr, the NOS under mos.esante.gouv.fr,
the ANSM and CNAM terminologies under data.esante.gouv.fr); what Maison adds lives under a base this
deployment owns — `Settings.namespace_url`, by default its own public URL followed by `/ns` — never
under a gouv.fr host that is not Maison's: a reader of a Maison answer must not take Maison's
extensions for the Agence du numérique en santé's.

Maison once minted its URLs under `https://maison.esante.gouv.fr`, for the DMP's consent axes under
the PDSm IG's own host, and elsewhere as URNs under an unregistered namespace identifier,
`urn:maison:…` (RFC 8141 knows no `maison` NID). Those a client could send back are still understood
on input (`understands`, with the former name as an alias), so a client that kept an identifier or
an extension from an older answer is not refused; nothing is stored under them (the URLs are
rendered from the setting when an answer is written).
"""

from __future__ import annotations

from dataclasses import dataclass

LEGACY_BASE = "https://maison.esante.gouv.fr"  # where Maison minted its URLs before issue 21 §3.3
STRUCTURE = "fhir/StructureDefinition"
OPERATION = "fhir/OperationDefinition"
CODE_SYSTEM = "fhir/CodeSystem"


@dataclass(frozen=True)
class Namespace:
    """The base of Maison's own canonical URLs, e.g. `https://maison.example.org/ns`."""

    base: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "base", self.base.rstrip("/"))

    def url(self, path: str) -> str:
        return f"{self.base}/{path.strip('/')}"

    def structure(self, name: str) -> str:
        """A StructureDefinition (an extension) Maison defines."""
        return self.url(f"{STRUCTURE}/{name}")

    def operation(self, name: str) -> str:
        """The OperationDefinition of a `$name` operation Maison adds."""
        return self.url(f"{OPERATION}/{name}")

    def code_system(self, name: str) -> str:
        """A CodeSystem Maison defines."""
        return self.url(f"{CODE_SYSTEM}/{name}")

    def understands(self, url: object, path: str, *aliases: str) -> bool:
        """Whether `url` names `path` of this namespace: under its base, under the legacy base, or as
        one of the `aliases` (a URL Maison used to write elsewhere)."""
        if not isinstance(url, str):
            return False
        path = path.strip("/")
        return url in (self.url(path), f"{LEGACY_BASE}/{path}", *aliases)


def names(url: object, path: str) -> bool:
    """Whether `url` is `path` under some namespace — how a client that does not know the server's
    base (the hospital wing reading the base's answers, DESIGN §Rules) recognises a Maison URL: by the
    path the namespace's owner gave it."""
    return isinstance(url, str) and url.endswith("/" + path.strip("/"))
