"""The whole demo, played as `maison demo` plays it, on SQLite in a temporary directory.

Why one test for the whole scenario: the scenes hand each other what they made (the qualified
patient, the GP's token, the discharge letter), so a scene alone would need the ones before it.
The referential is seeded with 2 000 identities instead of 100 000: the scenario draws its patients
from the population's first records (the stream's prefix is the same), so the outcomes are those
of `./dev demo`, which this test reads back from what the demo printed.
"""

from __future__ import annotations

import re
from pathlib import Path

from rich.console import Console

from maison.core.config import Settings
from maison.demo.scenario import play


def test_the_demo_plays_every_scene_with_the_outcomes_of_the_scenario(tmp_path: Path, reference_path: Path) -> None:
    console = Console(record=True, width=200, force_terminal=False, color_system=None)
    settings = Settings(data_dir=tmp_path / "demo", reference_path=reference_path)

    assert play(settings, 2_000, console) == 0, console.export_text()[-3000:]

    text = console.export_text()
    admissions = re.findall(r"│ (D\d{5}) │ ([^│]+?) +│ [^│]+│ (\d\d) +│ (\d) +│ (\w+) +│", text)
    assert [(ipp, name, code, tries, status) for ipp, name, code, tries, status in admissions] == [
        ("D00001", "MARCHAL", "00", "1", "QUAL"),
        ("D00002", "BIANCHI", "00", "2", "RECUP"),
        ("D00003", "MARCHAL", "00", "1", "QUAL"),
        ("D00004", "POIRIER", "00", "1", "RECUP"),
        ("D00005", "BESNARD", "00", "1", "QUAL"),
        ("D00006", "D'ANGELO", "00", "1", "RECUP"),
    ]
    expected = [
        "Doublon detection over the index: 1 pair(s) queued for the identitovigilance cell",
        "merged record 7 into 1",
        "e-CPS (MOBILE), exerce à CH TOULON 1 - SITE 1",
        "DMP: the hospital fed 3 documents in one PDSm transaction",
        "The GP reads the N3 (ITI-68): 12,846 bytes, results 6.2 mmol/L, 12 mg/L",
        "BMI computed 22.9 kg/m2",
        "the GP now finds 1 document(s) instead of 3",
        "The GP's software integrates 1 document(s) by qualified INS (worklist: 0)",
        "the hospital's mailbox now holds 2 message(s)",
        "records the patient's INS (QUAL): $executer 201",
        "$executions answers 403 execution-non-consentie",
        "PDQm search for MARCHAL: 2 patient(s)",
        "chain intact",
    ]
    flat = " ".join(text.split())
    missing = [line for line in expected if " ".join(line.split()) not in flat]
    assert not missing, missing
    report = re.search(r"│ +1750100018 │ +(\d+) │ +(\d+) │ +(\d+) │ +(\d+) │ +(\d+) │ +(\d+)% │ +(\w+) │", text)
    assert report is not None and report.groups()[:4] == ("1", "1", "1", "0") and report.group(7) == "oui"
    assert len(list((tmp_path / "demo").glob("ordonnance-*.pdf"))) == 2
