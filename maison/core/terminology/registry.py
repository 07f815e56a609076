"""The terminology registry: every CI-SIS value set, found by OID or by name, and the code systems they draw on.

Loading parses every file once, eagerly: the whole pack (520 files, 14,300 concepts) reads in about
0.15 s, so a lazy OID → file index would add a second code path for nothing.

Without the reference pack (a bare install, a container without `shared/reference`), the registry
falls back to the compact table of `defaults.py`, derived from the same files.

The files are IHE SVS XML, read by `maison.formats.svs` with the hardened parser of `formats`;
the ground floor imports neither, so whoever loads a directory hands the reader over
(`Terminology.from_directory(path, read_value_set)`) and the registry receives parsed value sets.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from pathlib import Path

from maison.core.config import Settings
from maison.core.errors import MaisonError
from maison.core.terminology.valuesets import ValueSet

log = logging.getLogger("maison.terminology")


def value_set_directory(settings: Settings) -> Path:
    return settings.reference_path / "cisis" / "jeuxDeValeurs"


def _key(name: str) -> str:
    """Names match in every spelling the NOS uses: `JDV_J143-AdministrativeGender-CISIS` (its URL),
    `JDV_J143_AdministrativeGender_CISIS.tabs` (the displayName), `….xml` (the file)."""
    return name.removesuffix(".xml").removesuffix(".tabs").replace("-", "_").casefold()


class Terminology:
    """Value sets by OID and by name. `skipped` maps each file left out to the reason, in French."""

    def __init__(
        self, value_sets: Iterable[ValueSet], *, origin: Path | None = None, skipped: dict[str, str] | None = None
    ) -> None:
        self.origin = origin  # the directory read; None for the built-in default table
        self.skipped = dict(skipped or {})
        self._by_oid: dict[str, ValueSet] = {}
        self._oid_by_name: dict[str, str] = {}
        for vs in value_sets:
            self._oid_by_name[_key(vs.name)] = self._oid_by_name[_key(vs.source_file)] = vs.oid
            kept = self._by_oid.setdefault(vs.oid, vs)
            if kept is not vs:
                # Two files may carry one OID (JDV_EvaluationAGGIRPA_CISIS and its empty stub
                # JDV_Evaluation_AGGIR_PA_CISIS): the richer one wins, both names find it.
                winner, loser = (vs, kept) if len(vs.concepts) > len(kept.concepts) else (kept, vs)
                self._by_oid[vs.oid] = winner
                self.skipped[loser.source_file] = f"OID {vs.oid} déjà fourni par {winner.source_file}"
        self._displays: dict[str, dict[str, str]] = {}
        for vs in self._by_oid.values():
            for c in vs.concepts:
                self._displays.setdefault(c.code_system, {}).setdefault(c.code, c.display)
        for file, reason in sorted(self.skipped.items()):
            log.warning("jeu de valeurs %s ignoré : %s", file, reason)

    @classmethod
    def from_directory(cls, directory: Path, read: Callable[[Path], ValueSet]) -> Terminology:
        """Every `*.xml` of a CI-SIS `jeuxDeValeurs` directory, each parsed by `read`
        (`maison.formats.svs.read_value_set`); unreadable files are skipped, not fatal."""
        if not directory.is_dir():
            raise FileNotFoundError(f"no value-set directory at {directory}")
        value_sets, skipped = [], {}
        for path in sorted(directory.glob("*.xml")):
            try:
                value_sets.append(read(path))
            except MaisonError as exc:
                skipped[path.name] = exc.message
        return cls(value_sets, origin=directory, skipped=skipped)

    @classmethod
    def from_defaults(cls) -> Terminology:
        # Imported here so that `derive` can still regenerate a broken or stale defaults.py.
        from maison.core.terminology.defaults import VALUE_SETS

        return cls(VALUE_SETS)

    @classmethod
    def from_settings(cls, settings: Settings, read: Callable[[Path], ValueSet]) -> Terminology:
        directory = value_set_directory(settings)
        if directory.is_dir():
            return cls.from_directory(directory, read)
        log.warning("pas de jeux de valeurs dans %s : table par défaut", directory)
        return cls.from_defaults()

    def __len__(self) -> int:
        return len(self._by_oid)

    def __iter__(self) -> Iterator[ValueSet]:
        return iter(self._by_oid.values())

    def get(self, key: str) -> ValueSet | None:
        """The value set whose OID or name is `key`."""
        oid = key if key in self._by_oid else self._oid_by_name.get(_key(key), "")
        return self._by_oid.get(oid)

    def __getitem__(self, key: str) -> ValueSet:
        vs = self.get(key)
        if vs is None:
            raise KeyError(f"unknown value set {key!r}")
        return vs

    def contains(self, value_set: str, code: str, code_system: str | None = None, on: date | None = None) -> bool:
        """Whether `code` belongs to the value set named or identified by `value_set`, valid on `on` if given.

        An unknown value set raises KeyError: answering False would hide a typo as a refused code."""
        return self[value_set].contains(code, code_system, on)

    def display(self, code_system: str, code: str) -> str | None:
        """The display name of a code, from the first value set (by file name) that lists it."""
        return self._displays.get(code_system, {}).get(code)

    def knows(self, code_system: str, code: str) -> bool:
        """Whether any value set lists `code` in the code system `code_system` (an OID)."""
        return code in self._displays.get(code_system, {})

    def code_systems(self) -> dict[str, frozenset[str]]:
        """Every code system seen (OID) with the codes the value sets take from it."""
        return {system: frozenset(codes) for system, codes in self._displays.items()}
