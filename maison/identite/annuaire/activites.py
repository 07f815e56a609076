"""Activités sanitaires régulées: the (activité, modalité, forme) triplets an ARS authorises.

A HealthcareService of the Annuaire (profile as-healthcareservice-healthcare-activity) is one
authorisation of one établissement (FINESS ET): its activité in `type` (JDV_J133 / TRE_R274), its
modalité in `category` (JDV_J132 / TRE_R275) and its forme in `characteristic` (JDV_J134 /
TRE_R276), identified by the ARHGOS authorisation number. These value sets are not among the
reference files (the IG only names them, `aliases.fsh` L15-17); the codes and displays below are
those the ANS publishes in the terminology IG (JDV_J133 v20201127, JDV_J132 v20220325, JDV_J134
v20240628), limited to the triplets a general hospital site holds, so that the synthetic directory
and its searches use the codes a real client sends.

Médico-social établissements (EHPAD) carry équipements sociaux instead (profile
as-healthcareservice-social-equipment): a discipline of TRE_R401 (JDV_J379 v20260223) and the
capacity in places (as-ext-supported-capacity), no ARHGOS number (DP `identifier ..0`).
"""

from __future__ import annotations

ACTIVITE = {  # TRE_R274-ActiviteSanitaireRegulee
    "01": "Médecine",
    "02": "Chirurgie",
    "03": "Gynécologie, obstétrique, néonatologie, réanimation néonatale",
    "04": "Psychiatrie",
    "07": "Soins de longue durée",
    "14": "Médecine d'urgence",
    "15": "Réanimation",
    "16": "Traitement de l'insuffisance rénale chronique par épuration extrarénale",
    "18": "Traitement du cancer",
    "50": "Soins de suite et de réadaptation non spécialisés",
    "R4": "Soins palliatifs",
    "R7": "Surveillance continue",
}
MODALITE = {  # TRE_R275-ModaliteActivite
    "00": "Pas de modalité",
    "01": "Gynécologie obstétrique",
    "02": "Néonatologie sans soins intensifs",
    "06": "Générale",
    "07": "Infanto-juvénile",
    "09": "Adulte (age >=18 ans)",
    "23": "SU Structure des urgences",
    "26": "SMUR Structure mobile d'urgence et de réanimation",
    "40": "Hémodialyse en centre pour adultes",
    "67": "Chimiothérapie ou autres traitements médicaux spécifiques du cancer",
}
FORME = {  # TRE_R276-FormeActivite
    "00": "Pas de forme",
    "01": "Hospitalisation complète (24 heures consécutives ou plus)",
    "03": "Hospitalisation à temps partiel de jour",
    "05": "Hospitalisation à domicile (au domicile du patient)",
    "07": "Chirurgie ambulatoire",
    "15": "Forme non précisée",
}

# (activité, modalité, forme, share of hospital sites holding it)
TRIPLETS = (
    ("01", "00", "01", 0.95),
    ("01", "00", "03", 0.6),
    ("02", "00", "01", 0.7),
    ("02", "00", "07", 0.65),
    ("03", "01", "01", 0.35),
    ("03", "02", "01", 0.2),
    ("04", "06", "01", 0.25),
    ("04", "07", "03", 0.15),
    ("07", "00", "01", 0.3),
    ("14", "23", "00", 0.5),
    ("14", "26", "00", 0.3),
    ("15", "09", "01", 0.2),
    ("16", "40", "00", 0.15),
    ("18", "67", "15", 0.25),
    ("50", "00", "01", 0.4),
    ("R4", "00", "01", 0.2),
    ("R7", "09", "01", 0.3),
)

ACTIVITE_SOCIALE = {  # tre-r401-activite-sociale-regulee (JDV_J379)
    "924": "Accueil pour Personnes Âgées",
    "657": "Accueil temporaire pour Personnes Âgées",
}
