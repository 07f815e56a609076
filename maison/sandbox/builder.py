"""Build the sandbox's catalogue into a house, through the administrator's and the services' own acts.

`maison sandbox` is one more client of the services (issue 21 §2): the identities, structures,
keys, software, Pro Santé Connect client, professionals and Mon espace santé accounts go through
`maison.admin.service.Administration`, the acts `maison admin` and `/admin` call; the non-health
professionals through RPPS+ (`maison.identite.annuaire.rpps_plus`, what `/annuaire/$rpps-plus` calls):
declared by their employer's administrator key, validated by the registry's manager; the DMP's states
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
from datetime import date

from maison.admin.service import Administration
from maison.core import auth
from maison.core.actor import Actor, KeyScope
from maison.core.errors import Conflict, NotFound, Unauthenticated
from maison.core.terminology import Terminology
from maison.formats.cda.build import PatientIdentity
from maison.formats.cda.build import Professional as CdaAuthor
from maison.formats.ordonnance import SYS_CIP
from maison.identite.annuaire import resources as annuaire
from maison.identite.annuaire import rpps_plus
from maison.identite.ins.model import Environment
from maison.identite.ins.referential import oid_of
from maison.partage.dmp.model import Access, DossierState, InformationState, Who
from maison.partage.dmp.service import Dmp
from maison.partage.ordonnance.model import Draft, Line, LineExecution, LineKind, Outcome
from maison.partage.ordonnance.service import Base
from maison.sandbox.catalogue import BUILD_DAY, IDENTITIES, Catalogue, Ordonnance, Patient, Professional, Structure
from maison.sandbox.documents import CARDIOLOGY, cda, provide_request
from maison.seeding.directory import load as load_directory

# the house's administrator, hence also the RPPS+ registry's manager (scope administrateur-maison)
ACTOR = Actor(
    person="system:bac-a-sable",
    structure="maison",
    software="maison-sandbox",
    role="administrateur",
    scope=KeyScope.ADMINISTRATEUR_MAISON,
)
UPDATED = "2026-01-01T00:00:00+00:00"  # the sandbox's Annuaire entries, as of its extraction
CODE_DAYS = 365  # a delegation code's validity, counted from the build
HOSPITAL_DOCTOR = "cardiologue"  # informs the patients at the CHU and feeds their dossiers


@dataclass
class Builder:
    catalogue: Catalogue
    admin: Administration
    dmp: Dmp
    ordonnance: Base
    terminology: Terminology  # the role an employer declares to RPPS+ is checked against TRE_R85

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
        if first:
            self._same_ports()
        return first

    def _same_ports(self) -> None:
        """A built sandbox's catalogue is the one it was built with: its operators' ports included."""
        for op in self.catalogue.operateursMss:
            registered = self.admin.mss().trust.get(op.id)
            if (registered.relay_port, registered.submission_port, registered.imap_port) != (
                op.relais,
                op.soumission,
                op.imap,
            ):
                raise Conflict(
                    f"bac à sable construit avec d'autres ports MSSanté (relais de {op.id} : "
                    f"{registered.relay_port}) : relancer avec le même --mss-port",
                    code="bac-a-sable-ports",
                )

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
        self._documents()
        for patient in self.catalogue.patients:  # last: a closed or opposed dossier takes nothing more
            self._dossier_state(patient)
        for op in self.catalogue.operateursMss:
            self.admin.register_mss_operator(ACTOR, op.id, op.nom, [op.domaine], op.relais, op.soumission, op.imap)
        for prescription in self.catalogue.ordonnances:
            self._prescription(prescription)
        for box in self.catalogue.bal:
            self.admin.create_mailbox(
                ACTOR, box.adresse, box.operateur, box.type, self.catalogue.holder(box), box.nom, box.motDePasse or None
            )
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
        administrator = KeyScope.ADMINISTRATEUR_STRUCTURE.value
        self.admin.issue_key(ACTOR, s.idnatstruct, "administrateur", administrator, key=s.cleAdministrateur)
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
        if p.rppsPlus:
            self._declared(p, structure)
        else:
            self.admin.add_professional(
                ACTOR,
                p.rpps,
                p.nom,
                p.prenom,
                p.profession,
                structure.idnatstruct,
                savoir_faire=p.savoirFaire or None,
                function=p.fonction or None,
            )
        self.admin.set_test_password(ACTOR, p.idnatps, p.motDePasse)
        self.admin.enroll_ecps(ACTOR, p.idnatps, seed=p.eCpsSeed)

    def _declared(self, p: Professional, employer: Structure) -> None:
        """RPPS+ (seed 003 L1156-1160), as `POST /annuaire/$rpps-plus` and its `$valider` do it: the
        employer's administrator key declares him, the registry's manager validates; only then is he a
        Practitioner with an IdNatPS. The number is the registry's; the catalogue published the one it
        gives in an empty house, so another one means RPPS+ had numbered someone before the build."""
        declarant = auth.key_actor(self.admin.db, employer.cleAdministrateur)
        with self.admin.db.write() as conn:
            declaration, _ = rpps_plus.declare(
                conn,
                self.terminology,
                declarant,
                family=p.nom,
                given=p.prenom,
                birth_date=p.dateNaissance,
                civilite=p.civilite,
                role=p.profession,
            )
        with self.admin.db.write() as conn:
            decided, _, _ = rpps_plus.decide(conn, declaration.id, ACTOR, validate=True)
            if decided.practitioner != p.idnatps:  # raised in the transaction: the validation is undone
                raise Conflict(
                    f"RPPS+ a déjà enregistré des professionnels dans ce répertoire ({decided.practitioner} "
                    f"au lieu de {p.idnatps}) : construire le bac à sable dans un répertoire de données vide",
                    code="bac-a-sable-rpps-plus",
                )

    def _patient(self, p: Patient) -> None:
        self.admin.open_mes_account(ACTOR, p.identifiant, p.ins, p.dateNaissance, p.motDePasse, p.email)
        if p.information != ("non-informe", "non-informe"):
            alimentation, consultation = (InformationState(v) for v in p.information)
            self.dmp.record_information(self._hospital_doctor(), p.ins, alimentation, consultation, p.motifOpposition)
        me = _patient_who(p)
        if p.medecinTraitant:
            self.dmp.set_preferences(me, medecin_traitant=self.catalogue.professional(p.medecinTraitant).idnatps)
        if p.codeAcces:
            professional = self.catalogue.professional(p.codeAccesPour).idnatps
            self.dmp.create_code(me, professional, ["dmp"], CODE_DAYS, code=p.codeAcces)

    def _dossier_state(self, p: Patient) -> None:
        if p.etatDossier != DossierState.ACTIVE.value:
            self.dmp.set_dossier_state(_patient_who(p), DossierState(p.etatDossier))

    def _hospital_doctor(self) -> Who:
        """The CHU's cardiologist, in his structure: he informs the patients and feeds their dossiers."""
        return Who(self._professional_actor(HOSPITAL_DOCTOR))

    def _documents(self) -> None:
        doctor = self.catalogue.professional(HOSPITAL_DOCTOR)
        chu = self.catalogue.structure(doctor.structure)
        author = CdaAuthor(doctor.idnatps, doctor.nom, doctor.prenom, CARDIOLOGY, chu.idnatstruct, chu.nom)
        produced = []
        for position, document in enumerate(self.catalogue.documents):
            p = self.catalogue.patient(document.patient)
            oid = oid_of(p.ins, Environment(self.catalogue.environnement))
            identity = PatientIdentity(
                p.ins, oid, p.nomNaissance, p.prenoms, p.sexe, p.dateNaissance, p.lieuNaissance or "99999"
            )
            produced.append((document, cda(document, identity, author, position)))
        for patient in dict.fromkeys(d.patient for d, _ in produced):  # one ITI-65 transaction per patient
            mine = [(d, data) for d, data in produced if d.patient == patient]
            self.dmp.provide(self._hospital_doctor(), provide_request(mine))

    def _prescription(self, o: Ordonnance) -> None:
        """Prescribed by its doctor over Pro Santé Connect, as the base receives it; partly dispensed by
        its pharmacist. An open one is dated the build's day, so it stays open for its 3 months."""
        prescribed_on = date.today() if o.prescriteLe == BUILD_DAY else date.fromisoformat(o.prescriteLe)
        lines = tuple(
            Line(
                n,
                LineKind.MEDICAMENT,
                m.libelle,
                m.cip13,
                SYS_CIP,
                "1 comprimé matin et soir",
                quantity=m.quantite,
                substitutable=m.substituable,
            )
            for n, m in enumerate(o.lignes, start=1)
        )
        draft = Draft(prescribed_on, o.consentement == "OUI", lines)
        self.ordonnance.create(self._professional_actor(o.prescripteur), draft, number=o.numero)
        if o.dispensateur:
            given = [LineExecution(n, Outcome.PARTIEL, quantity=q) for n, q in enumerate(o.delivre, start=1)]
            self.ordonnance.execute(self._professional_actor(o.dispensateur), o.numero, given)

    def _professional_actor(self, id_: str) -> Actor:
        """A professional of the catalogue in his structure, as his Pro Santé Connect token makes him."""
        p = self.catalogue.professional(id_)
        structure = self.catalogue.structure(p.structure).idnatstruct
        return Actor(
            p.idnatps,
            structure,
            self.catalogue.logiciel.idam,
            kind="professional",
            profession=p.profession,
            structures=(structure,),
        )


def _patient_who(p: Patient) -> Who:
    """The patient in Mon espace santé, at her dossier's controls."""
    return Who(Actor(p.ins, "", "mon-espace-sante", kind="patient", patient=p.ins, role="patient"), Access())
