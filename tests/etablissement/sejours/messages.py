"""PAM France 2.11 messages for the tests, built as the ANS examples are (reference/hl7v2/exemples/SGL)."""

from __future__ import annotations

from pathlib import Path

FINESS = "000897406"
EXAMPLES = Path("hl7v2/exemples")
PAM_EXAMPLES = (
    "SGL/admission.er7",
    "SGL/sortie.er7",
    "Vague 2/Consentement_DMP_PAMFR/ConsentementConsultation_NonOppositionAlimentation.er7",
    "Vague 2/Consentement_DMP_PAMFR/NonConsentementConsultation_NonOppositionAlimentation.er7",
    "Vague 2/Consentement_DMP_PAMFR/NonConsentementConsultation_OppositionAlimentation.er7",
    "Vague 2/Consentement_DMP_PAMFR/NonRecueillieConsentementConsultation_NonOppositionAlimentation.er7",
    "Vague 2/Consentement_DMP_PAMFR/NonRecueillieConsentementConsultation_NonRecueillieOppositionAlimentation.er7",
)


def pid(ipp: str = "000003", status: str = "VALI", ins: str = "279035121518989", name: str = "PAT-TROIS") -> str:
    ins_rep = f"~{ins}^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.10&ISO^INS" if ins else ""
    return (
        f"PID|1||{ipp}^^^CHU-X&{FINESS}&M^PI{ins_rep}||{name}^DOMINIQUE^DOMINIQUE^^^^L||19790328|F|||"
        f"28 Av de Breteuil^^PARIS^^75007^FRA^H~^^^^^^BDL^^63220|||||||||||||||||||||{status}"
    )


def adt(
    event: str,
    control_id: str,
    *,
    stay: str = "S1",
    movement: str = "M1",
    action: str = "INSERT",
    unit: str = "6268",
    at: str = "20240306110000",
    patient_class: str = "I",
    original: str = "",
    patient: str | None = None,
    segments: tuple[str, ...] = (),
    mrg: str = "",
    structure: str = FINESS,
) -> str:
    lines = [
        f"MSH|^~\\&|GAM|CHU-X|DPI|CHU-X|20240306111154||ADT^{event}^ADT_{event}|{control_id}|P|2.5^FRA^2.11"
        "|||||FRA|UNICODE UTF-8|FR",
        f"EVN||20240306111154||||{at}",
        patient or pid(),
    ]
    if mrg:
        lines.append(f"MRG|{mrg}^^^CHU-X&{structure}&M^PI")
    if stay:
        lines.append(f"PV1|1|{patient_class}|||||||||||||||||{stay}^^^CHU-X&{structure}&M^VN")
    if movement:
        lines.append(
            f"ZBE|{movement}^CHU-X^{FINESS}|{at}||{action}|N|{original}"
            f"|Unite {unit}^^^^^CHU-X&{FINESS}&N^UF^^^{unit}||HMS"
        )
    return "\r".join(lines + list(segments)) + "\r"
