"""The CapabilityStatement every FHIR base of the house publishes at `/metadata`, built one way.

R4 `CapabilityStatement` (http://hl7.org/fhir/R4/capabilitystatement.html): `status`, `date`, `kind`,
`fhirVersion` and `format` are required; each `rest.resource` names its `type`, its interactions
(codes of R4's TypeRestfulInteraction: read, vread, update, patch, delete, history-instance,
history-type, create, search-type), its search parameters with their type (required in R4), and its
operations with their definition (required). Nothing R5 (no `conditionalPatch`), no empty list.
`versioning` says whether meta.versionId is kept (R4 ResourceVersionPolicy); a base that keeps one
serves vread, at least of the current version (R4 http.html §3.1.0.3), and `readHistory` says
whether past versions are served too.
Each base states only what its routes do: the statement is built from the same tables the routes
read where there are such tables, and tested against the routes (tests/formats/test_fhir_capability.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from maison import __version__
from maison.formats.namespace import Namespace

FHIR_VERSION = "4.0.1"


@dataclass(frozen=True)
class Operation:
    """A FHIR operation (`$name`) and the canonical URL of its definition: one a guide defines, or
    else Maison's own, named under the deployment's namespace (issue 21 §3.3)."""

    name: str
    definition: str = ""

    def as_json(self, ns: Namespace) -> dict[str, str]:
        return {"name": self.name, "definition": self.definition or ns.operation(self.name)}


@dataclass(frozen=True)
class ResourceCapability:
    """What one base does with one resource type. `search` maps each parameter to its R4 type."""

    type: str
    interactions: Sequence[str]
    search: Mapping[str, str] = field(default_factory=dict)
    profile: str = ""
    supported_profiles: Sequence[str] = ()
    includes: Sequence[str] = ()
    revincludes: Sequence[str] = ()
    operations: Sequence[Operation] = ()
    versioning: str = "no-version"  # R4 ResourceVersionPolicy: what meta.versionId means here
    read_history: bool = False  # vread also serves past versions (R4 readHistory), not only the current one
    update_create: bool | None = None
    conditional_update: bool | None = None
    documentation: str = ""

    def as_json(self, ns: Namespace) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.profile:
            out["profile"] = self.profile
        if self.supported_profiles:
            out["supportedProfile"] = list(self.supported_profiles)
        if self.documentation:
            out["documentation"] = self.documentation
        out["interaction"] = [{"code": code} for code in self.interactions]
        out["versioning"] = self.versioning
        out["readHistory"] = self.read_history and "vread" in self.interactions
        if self.update_create is not None:
            out["updateCreate"] = self.update_create
        if self.conditional_update is not None:
            out["conditionalUpdate"] = self.conditional_update
        if self.includes:
            out["searchInclude"] = list(self.includes)
        if self.revincludes:
            out["searchRevInclude"] = list(self.revincludes)
        if self.search:
            out["searchParam"] = [{"name": name, "type": kind} for name, kind in self.search.items()]
        if self.operations:
            out["operation"] = [o.as_json(ns) for o in self.operations]
        return out


def capability_statement(
    *,
    name: str,
    description: str,
    base: str,
    resources: Sequence[ResourceCapability],
    date: str,
    instantiates: Sequence[str] = (),
    system_interactions: Sequence[str] = (),
    operations: Sequence[Operation] = (),
    ns: Namespace,
) -> dict[str, Any]:
    """An instance CapabilityStatement, valid R4, served as JSON only (XML is answered 406)."""
    rest: dict[str, Any] = {"mode": "server"}
    if resources:
        rest["resource"] = [r.as_json(ns) for r in resources]
    if system_interactions:
        rest["interaction"] = [{"code": code} for code in system_interactions]
    if operations:
        rest["operation"] = [o.as_json(ns) for o in operations]
    out: dict[str, Any] = {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "publisher": "Maison",
        "kind": "instance",
        "software": {"name": f"Maison — {name}", "version": __version__},
        "implementation": {"description": description, "url": base},
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json", "json"],
        "rest": [rest],
    }
    if instantiates:
        out["instantiates"] = list(instantiates)
    return out
