"""The default habilitation matrix, loaded from data, and its answer for one (profession, document).

Seed 000 L2078 and L3263: professionals' default access to DMP documents follows "une matrice
d'habilitation par profession/documents"; seed 003 L1164-1168: rows are documents, columns roles and
professions, and new rows and columns are added as data. So the matrix is a file
(`matrice.toml`, or the deployment's own through the `dmp_matrix_path` setting) and this module only
reads it: the most specific row wins (typeCode, then the document's class, then "*"), and a cell no
source states falls under the file's `unknown_cells` policy. Every answer says why.

The same file says who may use each emergency access mode (`[[mode]]`: bris de glace, centre de
régulation), by profession and by the secteur d'activité (TRE_R02) of the structure acted in: the
access is not self-declared, a caller outside a mode's professions or structures is refused it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

DEFAULT_MATRIX = Path(__file__).with_name("matrice.toml")
ACCESS = ("lecture", "refus")


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str  # stable code, shown in OperationOutcome details and in the audit trail
    message: str = ""
    basis: str = ""  # the rule's source (seed line, CSP article, matrix provenance)


@dataclass(frozen=True)
class Mode:
    """Who may use one emergency access mode: professions (TRE_G15) × sectors of the structure (TRE_R02)."""

    id: str
    label: str
    professions: frozenset[str]
    sectors: frozenset[str]
    provenance: str


@dataclass(frozen=True)
class Cell:
    column: str
    row: str
    access: str
    provenance: str


class MatrixError(ValueError):
    """The matrix file is not usable: refuse to start rather than guess access rights."""


class Matrix:
    def __init__(
        self,
        version: str,
        unknown_cells: str,
        columns: dict[str, tuple[str, tuple[str, ...]]],
        cells: dict[tuple[str, str], Cell],
        modes: dict[str, Mode] | None = None,
    ) -> None:
        self.version = version
        self.modes = modes or {}  # no [[mode]]: no emergency access at all
        self.unknown_cells = unknown_cells
        self.columns = columns  # id -> (label, professions)
        self.cells = cells
        self._by_profession = {p: cid for cid, (_label, professions) in columns.items() for p in professions}

    @classmethod
    def load(cls, path: Path = DEFAULT_MATRIX) -> Matrix:
        return _load(Path(path).resolve())

    def column_of(self, profession: str) -> str | None:
        return self._by_profession.get(profession)

    def may_use_mode(self, mode: str, profession: str, sector: str) -> Decision:
        """May a professional of this profession, acting in a structure of this sector, use this
        emergency mode? An unknown sector (a structure absent from the Annuaire) is refused."""
        rule = self.modes.get(mode)
        slug = mode.replace("_", "-")
        if rule is None:
            return Decision(
                False, f"{slug}-non-prevu", f"mode d'accès {mode} non prévu par la matrice", f"matrice {self.version}"
            )
        if profession not in rule.professions:
            return Decision(
                False,
                f"{slug}-profession",
                f"{rule.label} : réservé aux professions {', '.join(sorted(rule.professions))} "
                f"(profession {profession or 'inconnue'})",
                f"matrice {self.version} ({rule.provenance})",
            )
        if sector not in rule.sectors:
            return Decision(
                False,
                f"{slug}-structure",
                f"{rule.label} : impossible depuis une structure du secteur {sector or 'inconnu'}",
                f"matrice {self.version} ({rule.provenance})",
            )
        return Decision(True, slug, rule.label, f"matrice {self.version} ({rule.provenance})")

    def decide(self, profession: str, type_code: str, class_code: str) -> Decision:
        """May a professional of this profession read a document of this type and class?"""
        column = self.column_of(profession)
        if column is None:
            return Decision(
                False,
                "matrice-profession-absente",
                f"la profession {profession or '(inconnue)'} n'a pas de colonne dans la matrice d'habilitation",
                f"matrice {self.version}",
            )
        label = self.columns[column][0]
        for row in (type_code, f"classe:{class_code}", "*"):
            cell = self.cells.get((column, row))
            if cell is not None:
                allowed = cell.access == "lecture"
                what = "autorise" if allowed else "refuse"
                return Decision(
                    allowed,
                    f"matrice-{'lecture' if allowed else 'refus'}",
                    f"matrice d'habilitation : {label} × {row} → {what}",
                    f"matrice {self.version} ({cell.provenance})",
                )
        allowed = self.unknown_cells == "lecture"
        return Decision(
            allowed,
            "matrice-cellule-inconnue",
            f"matrice d'habilitation : {label} × {type_code} (classe {class_code}) non publiée ; "
            f"politique par défaut : {self.unknown_cells}",
            f"matrice {self.version} (inconnue)",
        )


@lru_cache(maxsize=4)
def _load(path: Path) -> Matrix:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise MatrixError(f"matrice d'habilitation illisible ({path}): {exc}") from None
    if data.get("unknown_cells") not in ACCESS:
        raise MatrixError("unknown_cells doit valoir 'lecture' ou 'refus'")
    columns: dict[str, tuple[str, tuple[str, ...]]] = {}
    seen: dict[str, str] = {}
    for column in data.get("column", []):
        cid, professions = column["id"], tuple(column["professions"])
        for p in professions:
            if p in seen:
                raise MatrixError(f"profession {p} dans deux colonnes ({seen[p]}, {cid})")
            seen[p] = cid
        columns[cid] = (column["label"], professions)
    cells: dict[tuple[str, str], Cell] = {}
    for cell in data.get("cell", []):
        if cell["column"] not in columns:
            raise MatrixError(f"colonne inconnue : {cell['column']}")
        if cell["access"] not in ACCESS:
            raise MatrixError(f"accès inconnu : {cell['access']}")
        if not str(cell.get("provenance", "")).strip():
            raise MatrixError(f"cellule sans provenance : {cell['column']} × {cell['rows']}")
        for row in cell["rows"]:
            key = (cell["column"], row)
            if key in cells:
                raise MatrixError(f"cellule en double : {key}")
            cells[key] = Cell(cell["column"], row, cell["access"], cell["provenance"])
    modes: dict[str, Mode] = {}
    for mode in data.get("mode", []):
        if mode.get("id") in modes or not str(mode.get("provenance", "")).strip():
            raise MatrixError(f"mode d'accès en double ou sans provenance : {mode.get('id')}")
        modes[mode["id"]] = Mode(
            mode["id"],
            mode.get("label", mode["id"]),
            frozenset(mode["professions"]),
            frozenset(mode["sectors"]),
            mode["provenance"],
        )
    return Matrix(str(data.get("version", "")), data["unknown_cells"], columns, cells, modes)
