"""The default habilitation matrix (seed 000 L2078; 003 L1164-1168) as data: each kind of cell."""

from pathlib import Path

import pytest

from maison.partage.dmp.habilitation import DEFAULT_MATRIX, Matrix, MatrixError


@pytest.fixture(scope="module")
def matrix() -> Matrix:
    return Matrix.load()


def test_each_kind_of_cell(matrix):
    # inferred from a global statement: médecins read every document… (S-23)
    d = matrix.decide("10", "34112-3", "10")
    assert (d.allowed, d.reason) == (True, "matrice-lecture") and "infere:S-23" in d.basis
    # …except the attestation de résidence, stated by the source: a type row beats the "*" row
    d = matrix.decide("10", "ATTEST-RESID", "95")
    assert (d.allowed, d.reason) == (False, "matrice-refus") and "source:S-23" in d.basis
    # a stated exclusion for infirmiers beats their inferred class row
    assert matrix.decide("60", "68599-0", "11").allowed is False
    assert matrix.decide("60", "60591-5", "11").allowed is True  # class row
    # a cell no source states falls under unknown_cells (refus)
    d = matrix.decide("60", "REMB", "60")
    assert (d.allowed, d.reason) == (False, "matrice-cellule-inconnue")
    # a profession with no column reads nothing
    d = matrix.decide("SECR", "34112-3", "10")
    assert (d.allowed, d.reason) == (False, "matrice-profession-absente")
    # a second profession code of the same column
    assert matrix.decide("69", "11502-2", "10").allowed is True
    # social and coordination professionals: only the coordination documents (S-21)
    assert matrix.decide("41", "18761-7", "11").allowed is True
    assert matrix.decide("41", "11502-2", "10").allowed is False


def test_unknown_cells_policy_and_broken_files_are_refused(tmp_path: Path):
    text = DEFAULT_MATRIX.read_text(encoding="utf-8")
    permissive = tmp_path / "permissive.toml"
    permissive.write_text(text.replace('unknown_cells = "refus"', 'unknown_cells = "lecture"'), encoding="utf-8")
    assert Matrix.load(permissive).decide("60", "REMB", "60").allowed is True
    for broken, why in (
        (text.replace('unknown_cells = "refus"', 'unknown_cells = "peut-etre"'), "unknown_cells"),
        (text + '\n[[cell]]\ncolumn = "MED"\nrows = ["*"]\naccess = "lecture"\nprovenance = "x"\n', "double"),
        (text + '\n[[cell]]\ncolumn = "XX"\nrows = ["*"]\naccess = "lecture"\nprovenance = "x"\n', "colonne inconnue"),
        (text + '\n[[cell]]\ncolumn = "MED"\nrows = ["A"]\naccess = "lecture"\nprovenance = ""\n', "provenance"),
    ):
        path = tmp_path / f"broken{hash(why)}.toml"
        path.write_text(broken, encoding="utf-8")
        with pytest.raises(MatrixError, match=why):
            Matrix.load(path)


def test_emergency_modes_are_data(matrix, tmp_path: Path):
    """Issue 18 §2.1: who may use bris de glace and the centre 15 mode, by profession and sector (TRE_R02)."""
    assert matrix.may_use_mode("bris_de_glace", "10", "SA01").allowed  # a hospital doctor
    assert matrix.may_use_mode("bris_de_glace", "50", "SA69").allowed  # a midwife in a maison de naissance
    for profession in ("21", "60", "70", "SECR", ""):  # pharmacist, nurse, physiotherapist, no profession
        assert matrix.may_use_mode("bris_de_glace", profession, "SA01").reason == "bris-de-glace-profession"
    assert matrix.may_use_mode("bris_de_glace", "10", "SA66").reason == "bris-de-glace-structure"  # santé au travail
    assert matrix.may_use_mode("centre_15", "10", "SA01").allowed
    assert matrix.may_use_mode("centre_15", "10", "SA07").reason == "centre-15-structure"  # a private practice
    assert matrix.may_use_mode("centre_15", "10", "").reason == "centre-15-structure"  # not in the Annuaire
    assert matrix.may_use_mode("centre_15", "50", "SA01").reason == "centre-15-profession"
    # a deployment's file without [[mode]] gives no emergency access at all
    text = DEFAULT_MATRIX.read_text(encoding="utf-8").split("# --- Emergency access modes")[0]
    bare = tmp_path / "bare.toml"
    bare.write_text(text, encoding="utf-8")
    assert Matrix.load(bare).may_use_mode("bris_de_glace", "10", "SA01").reason == "bris-de-glace-non-prevu"
