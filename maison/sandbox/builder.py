"""Build the sandbox's catalogue into a house, through the administrator's and the services' own acts.

`maison sandbox` is one more client of the services (issue 21 §2): the identities, structures,
keys, software, Pro Santé Connect client, professionals and Mon espace santé accounts go through
`maison.admin.service.Administration`, the acts `maison admin` and `/admin` call; the DMP's states
(the patient's information and oppositions, a closed or opposed dossier, the médecin traitant, a
delegation code) through the DMP's service, as a professional in his structure and the patient in
Mon espace santé record them. Nothing is written to a table by hand, and every act is audited as
those services audit it.

Re-running on a built house changes nothing and gives the same catalogue: the first act (the CHU's
key) and the last (the PSC client) tell a built house; a house holding one without the other was
interrupted mid-build, and is refused with what to do.
"""

from __future__ import annotations

from dataclasses import dataclass

from maison.admin.service import Administration
from maison.core import auth
from maison.core.actor import Actor
from maison.core.errors import Conflict, NotFound, Unauthenticated
from maison.identite.annuaire import resources as annuaire
from maison.partage.dmp.model import Access, DossierState, InformationState, Who
from maison.partage.dmp.service import Dmp
from maison.sandbox.catalogue import IDENTITIES, Catalogue, Patient, Professional, Structure
from maison.seeding.directory import load as load_directory

ACTOR = Actor(person="system:bac-a-sable", structure="maison", software="maison-sandbox", role="administrateur")
UPDATED = "2026-01-01T00:00:00+00:00"  # the sandbox's Annuaire entries, as of its extraction
CODE_DAYS = 365  # a delegation code's validity, counted from the build


@dataclass
class Builder:
    catalogue: Catalogue
    admin: Administration
    dmp: Dmp

    def built(self) -> bool:
        """Whether the catalogue is already in this house (then nothing is written again)."""
        first = self._has_key(self.catalogue.structures[0])
        last = self.admin.psc.client(self.catalogue.clientPsc.client_id) is not None
        if first != last:
            raise Conflict(
                "bac à sable incomplet dans ce répertoire (construction interrompue) : "
                "repartir d'un répertoire de données vide",
                code="bac-a-sable-incomplet",
            )
        return first

    def _has_key(self, structure: Structure) -> bool:
        try:
            auth.key_actor(self.admin.db, structure.cleApi)
        except Unauthenticated:
            return False
        return True

    def build(self) -> bool:
        """Build the catalogue unless it is there; returns whether anything was written."""
        if self.built():
            return False
        for structure in self.catalogue.structures:  # the CHU's key first: the mark of a started build
            self._structure(structure)
        self._identities()
        s = self.catalogue.logiciel
        self.admin.register_software(ACTOR, s.idam, s.nom, s.editeur, s.version)
        for professional in self.catalogue.professionnels:
            self._professional(professional)
        for patient in self.catalogue.patients:
            self._patient(patient)
        c = self.catalogue.clientPsc  # last: the mark of a finished build
        self.admin.register_psc_client(
            ACTOR,
            c.nom,
            list(c.redirectUris),
            list(c.postLogoutRedirectUris),
            c.ciba,
            credentials=(c.client_id, c.client_secret),
        )
        return True

    # --- the acts ------------------------------------------------------------------------------

    def _structure(self, s: Structure) -> None:
        self.admin.issue_key(ACTOR, s.idnatstruct, self.catalogue.logiciel.idam, key=s.cleApi)
        self.admin.add_structure(ACTOR, s.nom, s.finess or None, s.siret or None, s.secteur, s.codePostal, s.ville)
        if s.finessEJ:  # the legal entity, as the FINESS extraction loads it
            legal = annuaire.organization(
                f"1{s.finessEJ}",
                s.nom,
                UPDATED,
                finess=(s.finessEJ, "FINEJ"),
                entity="LEGAL-ENTITY",
                secteur=s.secteur,
                city=s.ville,
                postal_code=s.codePostal,
            )
            load_directory(self.admin.db, [legal])
        if s.habiliteeInsi:
            self.admin.habilitate_insi(ACTOR, s.idnatstruct, s.nom)

    def _identities(self) -> None:
        referential = self.admin.insi.referential
        for identity in IDENTITIES:
            try:
                referential.by_matricule(identity.matricule)
                continue  # already there (INSi's named identities, loaded by `maison seed`)
            except NotFound:
                pass
            t = identity.traits
            self.admin.add_identity(
                ACTOR, t.nom_naissance, t.liste_prenoms, t.sexe, t.date_naissance, t.lieu_naissance, identity.matricule
            )
            if identity.replaced_by:
                self.admin.replace_matricule(ACTOR, identity.matricule, identity.replaced_by)
            if identity.merged_into:
                self.admin.merge_identities(ACTOR, identity.merged_into, identity.matricule)

    def _professional(self, p: Professional) -> None:
        structure = self.catalogue.structure(p.structure)
        self.admin.add_professional(
            ACTOR, p.rpps, p.nom, p.prenom, p.profession, structure.idnatstruct, savoir_faire=p.savoirFaire or None
        )
        self.admin.set_test_password(ACTOR, p.idnatps, p.motDePasse)
        self.admin.enroll_ecps(ACTOR, p.idnatps, seed=p.eCpsSeed)

    def _patient(self, p: Patient) -> None:
        self.admin.open_mes_account(ACTOR, p.identifiant, p.ins, p.dateNaissance, p.motDePasse, p.email)
        if p.information != ("non-informe", "non-informe"):
            informing = self.catalogue.professional("cardiologue")  # at the CHU, where the patient was informed
            who = Who(
                Actor(
                    informing.idnatps,
                    self.catalogue.structure(informing.structure).idnatstruct,
                    self.catalogue.logiciel.idam,
                    kind="professional",
                    profession=informing.profession,
                )
            )
            alimentation, consultation = (InformationState(v) for v in p.information)
            self.dmp.record_information(who, p.ins, alimentation, consultation, p.motifOpposition)
        me = Who(Actor(p.ins, "", "mon-espace-sante", kind="patient", patient=p.ins, role="patient"), Access())
        if p.medecinTraitant:
            self.dmp.set_preferences(me, medecin_traitant=self.catalogue.professional(p.medecinTraitant).idnatps)
        if p.codeAcces:
            professional = self.catalogue.professional(p.codeAccesPour).idnatps
            self.dmp.create_code(me, professional, ["dmp"], CODE_DAYS, code=p.codeAcces)
        if p.etatDossier != DossierState.ACTIVE.value:
            self.dmp.set_dossier_state(me, DossierState(p.etatDossier))
