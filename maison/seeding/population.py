"""A synthetic French population: reproducible identities for load tests, demos and matching tests.

Why: the INS referential, the identity-matching code and the INSi teleservice need realistic
volumes (up to ~10 million identities) with the awkward cases real life produces — homonyms,
twins, particles and apostrophes in names, Corsicans whose NIR says `20`, people born abroad,
NIA holders, partially unknown birth dates — without touching a single real person's data.

Everything is drawn from a `random.Random(seed)` owned by the stream (never the global `random`),
so a seed gives the same stream on every machine and Python ≥ 3.11, and the first N records of a
long stream equal a stream of N records. Records are produced lazily: `generate(10_000_000)` holds
only the NIR order counters and two small pools in memory.

The lists below are curated, written here (no data file, no network):

- birth names with particles (de, du, Le, La, d', de La), apostrophes (N'Diaye, D'Almeida),
  hyphenated double names, accents, and names of foreign origin common in France;
- first names per sex, each tagged with the generations in which it was popular, so a person
  born in 1930 is more likely a Germaine and one born in 2015 a Jade;
- about 215 real INSEE COG commune codes (the 45 arrondissements of Paris, Lyon and Marseille,
  Corsica, overseas, and the main towns elsewhere) and about 50 country codes (99xxx), each with
  the first birth year for which the code is right.

The display forms keep what a person would write ("Éloïse", "Le Bihan", "N'Diaye"); the traits
are the INS form, computed once per list entry with `normalise_name` at import, never per record.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass

from maison.core.identifiers.nir import nir_key
from maison.core.ins_traits import Traits, normalise_name

__all__ = ["Person", "generate", "birth_place_name", "COMMUNES", "PAYS", "NOMS", "PRENOMS_F", "PRENOMS_M"]


@dataclass(frozen=True, slots=True)
class Person:
    """One synthetic identity.

    `traits` is the INS form (normalised); `display_nom` / `display_prenoms` keep the accented,
    mixed-case spelling (first names separated by one space; a composed first name keeps its
    hyphen). `ouvrant_droit` is the matricule of the insured adult a minor is attached to, None for
    adults. `rang_naissance` tells twins apart (1, 2) and is 1 for everyone else.
    """

    traits: Traits
    matricule: str
    ouvrant_droit: str | None
    rang_naissance: int
    display_nom: str
    display_prenoms: str


# ---------------------------------------------------------------------------------------------
# Reference date and rates
# ---------------------------------------------------------------------------------------------

# Age is reckoned on 2026-01-01: a person is a minor when born after 2008-01-01.
ADULT_BORN_ON_OR_BEFORE = "2008-01-01"
FIRST_YEAR, LAST_YEAR = 1925, 2025

RATE_ABROAD = 0.08  # born outside France (metropolitan + overseas)
RATE_NIA_AMONG_ABROAD = 0.125  # → about 1 % of everyone holds a NIA (7/8), all born abroad
RATE_UNKNOWN_DAY = 0.005  # YYYY-MM-00
RATE_UNKNOWN_MONTH = 0.001  # YYYY-00-00: the NIR then carries a pseudo-month
RATE_TWINS = 0.015  # share of births that are twin births
RATE_HOMONYM = 0.005  # same nom, prénoms, sexe and date as someone earlier in the stream
RATE_WOMEN = 0.515
RATE_DOUBLE_NAME = 0.06  # double birth name (nom du père + nom de la mère), births from 2005
RATE_CHILD_TAKES_PARENT_NAME = 0.8
PRENOM_COUNT_CUM = (0.35, 0.75, 0.95, 1.0)  # 1, 2, 3, 4 first names

# ---------------------------------------------------------------------------------------------
# Birth names. Weight classes approximate how common a name is; the order inside a class does not
# matter. Display form as written by the person; the INS form is computed at import.
# ---------------------------------------------------------------------------------------------

_NOMS_TRES_COURANTS = (  # weight 12
    "Martin",
    "Bernard",
    "Thomas",
    "Petit",
    "Robert",
    "Richard",
    "Durand",
    "Dubois",
    "Moreau",
    "Laurent",
    "Simon",
    "Michel",
    "Lefebvre",
    "Leroy",
    "Roux",
    "David",
    "Bertrand",
    "Morel",
    "Fournier",
    "Girard",
    "Bonnet",
    "Dupont",
    "Lambert",
    "Fontaine",
    "Rousseau",
    "Vincent",
    "Muller",
    "Lefèvre",
    "Faure",
    "André",
    "Mercier",
    "Blanc",
    "Guérin",
    "Boyer",
    "Garnier",
    "Chevalier",
    "François",
    "Legrand",
    "Gauthier",
    "Garcia",
    "Perrin",
    "Robin",
    "Clément",
    "Morin",
    "Nicolas",
    "Henry",
    "Roussel",
    "Mathieu",
    "Gautier",
    "Masson",
)

_NOMS_COURANTS = (  # weight 4
    "Marchand",
    "Duval",
    "Denis",
    "Dumont",
    "Marie",
    "Lemaire",
    "Noël",
    "Meyer",
    "Dufour",
    "Meunier",
    "Brun",
    "Blanchard",
    "Giraud",
    "Joly",
    "Rivière",
    "Lucas",
    "Brunet",
    "Gaillard",
    "Barbier",
    "Arnaud",
    "Gérard",
    "Roche",
    "Renard",
    "Schmitt",
    "Roy",
    "Leroux",
    "Colin",
    "Vidal",
    "Caron",
    "Picard",
    "Roger",
    "Fabre",
    "Aubert",
    "Lemoine",
    "Renaud",
    "Dumas",
    "Lacroix",
    "Olivier",
    "Philippe",
    "Bourgeois",
    "Pierre",
    "Benoît",
    "Rey",
    "Leclerc",
    "Rolland",
    "Leclercq",
    "Guillaume",
    "Lecomte",
    "Jean",
    "Dupuy",
    "Guillot",
    "Hubert",
    "Berger",
    "Carpentier",
    "Dupuis",
    "Moulin",
    "Louis",
    "Deschamps",
    "Huet",
    "Vasseur",
    "Boucher",
    "Fleury",
    "Royer",
    "Klein",
    "Jacquet",
    "Adam",
    "Paris",
    "Poirier",
    "Marty",
    "Aubry",
    "Guyot",
    "Carré",
    "Charles",
    "Renault",
    "Charpentier",
    "Ménard",
    "Maillard",
    "Baron",
    "Bertin",
    "Bailly",
    "Hervé",
    "Schneider",
    "Collet",
    "Léger",
    "Bouvier",
    "Julien",
    "Prévost",
    "Millet",
    "Perrot",
    "Daniel",
    "Cousin",
    "Germain",
    "Breton",
    "Besson",
    "Langlois",
    "Rémy",
    "Pelletier",
    "Lévêque",
    "Perrier",
    "Leblanc",
    "Barré",
    "Lebrun",
    "Marchal",
    "Weber",
    "Mallet",
    "Hamon",
    "Boulanger",
    "Jacob",
    "Monnier",
    "Michaud",
    "Guichard",
    "Gillet",
    "Étienne",
    "Poulain",
    "Tessier",
    "Chevallier",
    "Collin",
    "Chauvin",
    "Bouchet",
    "Gay",
    "Lemaître",
    "Bénard",
    "Maréchal",
    "Humbert",
    "Reynaud",
    "Antoine",
    "Perret",
    "Barthélemy",
    "Cordier",
    "Pichon",
    "Lejeune",
    "Gilbert",
    "Lamy",
    "Delaunay",
    "Pasquier",
    "Carlier",
    "Laporte",
    "Deschênes",
    "Béranger",
    "Bérard",
    "Thibault",
    "Desjardins",
    "Lacoste",
    "Delmas",
    "Bouvet",
    "Courtois",
    "Joubert",
    "Besnard",
    "Régnier",
)

_NOMS_REGIONAUX = (  # weight 3 — Bretagne, Alsace-Lorraine, Corse, Réunion, Antilles, Nord
    "Le Gall",
    "Le Goff",
    "Le Roux",
    "Le Bihan",
    "Le Corre",
    "Le Guen",
    "Le Floch",
    "Le Meur",
    "Le Moal",
    "Le Brun",
    "Le Gac",
    "Le Berre",
    "Le Pape",
    "Kerboriou",
    "Quéré",
    "Guivarc'h",
    "Tanguy",
    "Jézéquel",
    "Le Hénaff",
    "Riou",
    "Schmitt",
    "Hoffmann",
    "Wagner",
    "Fischer",
    "Becker",
    "Koch",
    "Zimmermann",
    "Schäfer",
    "Müller",
    "Wéber",
    "Haag",
    "Bœuf",
    "Santoni",
    "Colonna",
    "Luciani",
    "Casanova",
    "Pieri",
    "Mattei",
    "Albertini",
    "Paoli",
    "Filippi",
    "Leca",
    "Payet",
    "Hoarau",
    "Grondin",
    "Técher",
    "Fontaine-Payet",
    "Maillot",
    "Rivière-Hoarau",
    "Jean-Baptiste",
    "Jean-Louis",
    "Saint-Louis",
    "Sainte-Rose",
    "Bellemare",
    "Nicolas-Alexandre",
    "Vandenberghe",
    "Van de Velde",
    "Vanhoutte",
    "Deneuville",
    "Delannoy",
    "Dewaele",
)

_NOMS_ORIGINE_ETRANGERE = (  # weight 3
    # Portugal, Espagne, Italie
    "Da Silva",
    "Dos Santos",
    "Da Costa",
    "Ferreira",
    "Pereira",
    "Gonçalves",
    "Rodrigues",
    "Fernandes",
    "Oliveira",
    "Martins",
    "Lopes",
    "Sousa",
    "Carvalho",
    "Ribeiro",
    "Teixeira",
    "D'Almeida",
    "D'Oliveira",
    "Martínez",
    "Rodríguez",
    "López",
    "Sánchez",
    "Pérez",
    "González",
    "Fernández",
    "Gómez",
    "Díaz",
    "Hernández",
    "Ruiz",
    "Jiménez",
    "Moreno",
    "Muñoz",
    "Álvarez",
    "Rossi",
    "Russo",
    "Ferrari",
    "Esposito",
    "Bianchi",
    "Romano",
    "Colombo",
    "Ricci",
    "Marino",
    "Greco",
    "Gallo",
    "Conti",
    "De Luca",
    "Giordano",
    "D'Angelo",
    "Dell'Acqua",
    "Di Marco",
    # Maghreb
    "Benali",
    "Benamar",
    "Haddad",
    "Mansouri",
    "Belkacem",
    "Boukhris",
    "Chérif",
    "Amrani",
    "El Idrissi",
    "Benyahia",
    "Bouzid",
    "Hamidi",
    "Aït Ahmed",
    "Ben Ahmed",
    "Ben Salah",
    "El Amrani",
    "Meziane",
    "Saïdi",
    "Kaddour",
    "Bensaïd",
    "Bouaziz",
    "Hadj-Ali",
    # Afrique subsaharienne
    "Diallo",
    "Traoré",
    "Diop",
    "Ndiaye",
    "N'Diaye",
    "Sow",
    "Camara",
    "Keïta",
    "Koné",
    "Touré",
    "Cissé",
    "Coulibaly",
    "Diarra",
    "Konaté",
    "Sylla",
    "Bamba",
    "Kouassi",
    "Mbaye",
    "M'Baye",
    "Fofana",
    "Sissoko",
    "N'Guessan",
    "N'Diaye-Sarr",
    "Ba",
    # Europe centrale et orientale, Turquie, Arménie
    "Kowalski",
    "Nowak",
    "Wiśniewski",
    "Lewandowski",
    "Kamiński",
    "Popescu",
    "Ionescu",
    "Yılmaz",
    "Öztürk",
    "Kaya",
    "Demir",
    "Çelik",
    "Şahin",
    "Manoukian",
    "Petrossian",
    "Kasparian",
    # Asie, autres
    "Nguyen",
    "Tran",
    "Pham",
    "Hoang",
    "Vo",
    "Wang",
    "Zhang",
    "Chen",
    "Lin",
    "Sivakumar",
    "Cohen",
    "Lévy",
    "Azoulay",
    "Benhamou",
    "Attal",
    "O'Neill",
    "O'Connor",
    "Mac Gregor",
)

_NOMS_RARES = (  # weight 1 — particles, old families, long and composed names
    "de Villiers",
    "de La Fontaine",
    "de La Tour",
    "du Pont",
    "de Saint-Exupéry",
    "Saint-Just",
    "Saint-Martin",
    "La Fontaine",
    "La Rocca",
    "Le Tonnelier de Breteuil",
    "d'Aubigné",
    "d'Harcourt",
    "de Montmorency",
    "de La Rochefoucauld",
    "de La Tour d'Auvergne-Lauraguais",
    "de Castelnau d'Auros",
    "de Rochechouart-Mortemart",
    "du Plessis-Praslin",
    "de Beaumont-Lefèvre",
    "de Lestrange",
    "des Roches",
    "du Bois de La Motte",
    "de Chabot",
    "de L'Estoile",
    "L'Hermitte",
    "L'Huillier",
    "Lhomme",
    "D'Arcy",
    "d'Orgeval",
    "Garcia-Hammadi",
    "Lefèvre-Pontalis",
    "Martin-Lavigne",
    "Moreau-Chevalier",
    "Durand-Ruel",
    "Bernard-Lefèvre",
    "Petitjean",
    "Grand-Clément",
    "Saint-Pierre",
    "Sainte-Marie",
    "Lambert-Mercier",
    "Perrin-Barbier",
    "Fournier-Sarlovèze",
    "Giscard d'Estaing",
    "Montaigne-Bérard",
    "Dupont-Aignan",
    "Chateaubriand-Lévêque",
    "Noël-Bouvier",
    "Brossard-Ménétrier",
    "Vallée-Poussin",
    "Œhmichen",
    "Cœurderoy",
    "Lœuillet",
    "Bourbon-Busset",
    "Ozenne-Mac Mahon",
    "Abdelkader-Benmansour",
    "Ould Sidi Mohamed",
    "Van der Meersch",
    "Vanden Eynde",
    "Ter Haar",
)

NOMS: tuple[tuple[str, float], ...] = tuple(
    [(n, 12.0) for n in _NOMS_TRES_COURANTS]
    + [(n, 4.0) for n in _NOMS_COURANTS]
    + [(n, 3.0) for n in _NOMS_REGIONAUX]
    + [(n, 3.0) for n in _NOMS_ORIGINE_ETRANGERE]
    + [(n, 1.0) for n in _NOMS_RARES]
)

# ---------------------------------------------------------------------------------------------
# First names. The digits say in which generation the name was popular:
# 0 = born 1925–1949, 1 = 1950–1974, 2 = 1975–1999, 3 = 2000–2025.
# ---------------------------------------------------------------------------------------------

PRENOMS_F: tuple[tuple[str, str], ...] = (
    ("Jeanne", "03"),
    ("Marie", "0123"),
    ("Marguerite", "03"),
    ("Germaine", "0"),
    ("Louise", "03"),
    ("Yvonne", "0"),
    ("Madeleine", "0"),
    ("Suzanne", "0"),
    ("Marcelle", "0"),
    ("Simone", "0"),
    ("Denise", "0"),
    ("Paulette", "0"),
    ("Odette", "0"),
    ("Raymonde", "0"),
    ("Lucienne", "0"),
    ("Renée", "0"),
    ("Andrée", "0"),
    ("Georgette", "0"),
    ("Henriette", "0"),
    ("Thérèse", "0"),
    ("Geneviève", "01"),
    ("Jacqueline", "01"),
    ("Colette", "01"),
    ("Ginette", "0"),
    ("Huguette", "0"),
    ("Monique", "01"),
    ("Yvette", "0"),
    ("Solange", "0"),
    ("Berthe", "0"),
    ("Irène", "0"),
    ("Gisèle", "0"),
    ("Josette", "01"),
    ("Micheline", "0"),
    ("Éliane", "01"),
    ("Arlette", "0"),
    ("Bernadette", "01"),
    ("Marie-Thérèse", "01"),
    ("Anne-Marie", "01"),
    ("Marie-Louise", "0"),
    ("Françoise", "01"),
    ("Catherine", "1"),
    ("Sylvie", "1"),
    ("Christine", "1"),
    ("Martine", "1"),
    ("Nathalie", "12"),
    ("Isabelle", "1"),
    ("Brigitte", "1"),
    ("Danielle", "1"),
    ("Nicole", "1"),
    ("Chantal", "1"),
    ("Annie", "1"),
    ("Dominique", "1"),
    ("Patricia", "1"),
    ("Véronique", "1"),
    ("Valérie", "12"),
    ("Sandrine", "12"),
    ("Pascale", "1"),
    ("Corinne", "1"),
    ("Évelyne", "1"),
    ("Béatrice", "1"),
    ("Joëlle", "1"),
    ("Marie-Claude", "1"),
    ("Marie-France", "1"),
    ("Marie-Christine", "1"),
    ("Marie-Hélène", "1"),
    ("Marie-Josée", "1"),
    ("Marie-Pierre", "1"),
    ("Josiane", "1"),
    ("Maryse", "1"),
    ("Agnès", "1"),
    ("Claudine", "1"),
    ("Ghislaine", "1"),
    ("Michèle", "1"),
    ("Hélène", "12"),
    ("Cécile", "12"),
    ("Laurence", "12"),
    ("Florence", "12"),
    ("Muriel", "12"),
    ("Carole", "12"),
    ("Fabienne", "1"),
    ("Stéphanie", "2"),
    ("Aurélie", "2"),
    ("Émilie", "2"),
    ("Julie", "2"),
    ("Céline", "2"),
    ("Élodie", "2"),
    ("Audrey", "2"),
    ("Mélanie", "2"),
    ("Laetitia", "2"),
    ("Sophie", "12"),
    ("Virginie", "2"),
    ("Caroline", "2"),
    ("Anne-Sophie", "2"),
    ("Marie-Laure", "12"),
    ("Sarah", "23"),
    ("Laura", "2"),
    ("Marine", "2"),
    ("Camille", "23"),
    ("Pauline", "2"),
    ("Claire", "12"),
    ("Charlotte", "23"),
    ("Manon", "23"),
    ("Mathilde", "23"),
    ("Marion", "2"),
    ("Justine", "2"),
    ("Océane", "23"),
    ("Amandine", "2"),
    ("Morgane", "2"),
    ("Mégane", "2"),
    ("Anaïs", "2"),
    ("Élise", "23"),
    ("Noémie", "2"),
    ("Clémence", "23"),
    ("Alexandra", "2"),
    ("Jessica", "2"),
    ("Vanessa", "2"),
    ("Fatima", "12"),
    ("Samira", "12"),
    ("Nadia", "12"),
    ("Yasmine", "23"),
    ("Sonia", "2"),
    ("Khadija", "12"),
    ("Aïcha", "23"),
    ("Leïla", "2"),
    ("Myriam", "2"),
    ("Aminata", "23"),
    ("Mariam", "3"),
    ("Gaëlle", "2"),
    ("Axelle", "2"),
    ("Coralie", "2"),
    ("Léa", "3"),
    ("Chloé", "3"),
    ("Emma", "3"),
    ("Jade", "3"),
    ("Alice", "3"),
    ("Lina", "3"),
    ("Rose", "03"),
    ("Anna", "3"),
    ("Mila", "3"),
    ("Ambre", "3"),
    ("Inès", "3"),
    ("Zoé", "3"),
    ("Léna", "3"),
    ("Éloïse", "3"),
    ("Maëlys", "3"),
    ("Lou", "3"),
    ("Romane", "3"),
    ("Juliette", "03"),
    ("Agathe", "3"),
    ("Iris", "3"),
    ("Nina", "3"),
    ("Clara", "3"),
    ("Lola", "3"),
    ("Zélie", "3"),
    ("Maëlle", "3"),
    ("Margaux", "3"),
    ("Héloïse", "3"),
    ("Lucie", "03"),
    ("Adèle", "03"),
    ("Victoire", "3"),
    ("Alix", "3"),
    ("Capucine", "3"),
    ("Mia", "3"),
    ("Sarah-Lou", "3"),
    ("Lou-Anne", "3"),
    ("Nour", "3"),
    ("Maya", "3"),
    ("Célia", "23"),
    ("Léonie", "03"),
    ("Joséphine", "03"),
    ("Apolline", "3"),
    ("Salomé", "3"),
    ("Anne", "012"),
)

PRENOMS_M: tuple[tuple[str, str], ...] = (
    ("Jean", "01"),
    ("Pierre", "0123"),
    ("André", "0"),
    ("René", "0"),
    ("Louis", "03"),
    ("Roger", "0"),
    ("Marcel", "0"),
    ("Georges", "0"),
    ("Henri", "0"),
    ("Robert", "0"),
    ("Paul", "03"),
    ("Maurice", "0"),
    ("Raymond", "0"),
    ("Lucien", "0"),
    ("Fernand", "0"),
    ("Albert", "0"),
    ("Émile", "03"),
    ("Joseph", "03"),
    ("Marius", "03"),
    ("Gaston", "0"),
    ("Léon", "03"),
    ("Eugène", "0"),
    ("Jules", "03"),
    ("Roland", "0"),
    ("Guy", "0"),
    ("Gérard", "01"),
    ("Jacques", "01"),
    ("Claude", "01"),
    ("Bernard", "01"),
    ("Michel", "01"),
    ("Raoul", "0"),
    ("Armand", "0"),
    ("Edmond", "0"),
    ("Noël", "0"),
    ("Jean-Baptiste", "03"),
    ("Jean-Marie", "01"),
    ("Jean-Pierre", "1"),
    ("Jean-Claude", "1"),
    ("Jean-Louis", "1"),
    ("Jean-Paul", "1"),
    ("Jean-Jacques", "1"),
    ("Jean-Michel", "1"),
    ("Jean-François", "1"),
    ("Jean-Luc", "1"),
    ("Jean-Marc", "1"),
    ("Jean-Charles", "1"),
    ("Jean-Noël", "1"),
    ("Philippe", "1"),
    ("Alain", "1"),
    ("Patrick", "1"),
    ("Daniel", "1"),
    ("Christian", "1"),
    ("Dominique", "1"),
    ("Éric", "1"),
    ("Pascal", "1"),
    ("Thierry", "1"),
    ("Didier", "1"),
    ("Gilles", "1"),
    ("Hervé", "1"),
    ("Serge", "1"),
    ("Francis", "1"),
    ("Denis", "1"),
    ("Bruno", "1"),
    ("Yves", "01"),
    ("Joël", "1"),
    ("Patrice", "1"),
    ("Olivier", "12"),
    ("Laurent", "12"),
    ("Christophe", "12"),
    ("Frédéric", "12"),
    ("Stéphane", "12"),
    ("Franck", "12"),
    ("Pierre-Yves", "12"),
    ("Mohamed", "123"),
    ("Ahmed", "1"),
    ("Rachid", "1"),
    ("Karim", "12"),
    ("Lionel", "12"),
    ("Régis", "1"),
    ("Benoît", "12"),
    ("François", "01"),
    ("Nicolas", "2"),
    ("Julien", "2"),
    ("Sébastien", "2"),
    ("Guillaume", "2"),
    ("Mathieu", "2"),
    ("Jérôme", "2"),
    ("David", "2"),
    ("Romain", "2"),
    ("Cédric", "2"),
    ("Anthony", "2"),
    ("Kévin", "2"),
    ("Jérémy", "2"),
    ("Alexandre", "23"),
    ("Maxime", "2"),
    ("Thomas", "23"),
    ("Vincent", "2"),
    ("Florian", "2"),
    ("Benjamin", "2"),
    ("Aurélien", "2"),
    ("Clément", "23"),
    ("Quentin", "2"),
    ("Loïc", "2"),
    ("Grégory", "2"),
    ("Fabien", "2"),
    ("Damien", "2"),
    ("Mickaël", "2"),
    ("Yannick", "2"),
    ("Arnaud", "2"),
    ("Antoine", "23"),
    ("Bastien", "2"),
    ("Mehdi", "23"),
    ("Youssef", "23"),
    ("Sofiane", "2"),
    ("Marc-Antoine", "23"),
    ("Pierre-Louis", "23"),
    ("Paul-Henri", "2"),
    ("Rémi", "2"),
    ("Gaël", "23"),
    ("Cyril", "2"),
    ("Gabriel", "3"),
    ("Léo", "3"),
    ("Raphaël", "3"),
    ("Arthur", "3"),
    ("Adam", "3"),
    ("Maël", "3"),
    ("Lucas", "3"),
    ("Hugo", "3"),
    ("Noah", "3"),
    ("Nathan", "3"),
    ("Ethan", "3"),
    ("Sacha", "3"),
    ("Gabin", "3"),
    ("Aaron", "3"),
    ("Tom", "3"),
    ("Théo", "3"),
    ("Timothée", "3"),
    ("Mathéo", "3"),
    ("Noé", "3"),
    ("Enzo", "3"),
    ("Liam", "3"),
    ("Axel", "3"),
    ("Rayan", "3"),
    ("Ismaël", "3"),
    ("Nolan", "3"),
    ("Victor", "3"),
    ("Martin", "3"),
    ("Baptiste", "23"),
    ("Valentin", "23"),
    ("Côme", "3"),
    ("Augustin", "3"),
    ("Ibrahim", "3"),
    ("Amir", "3"),
    ("Isaac", "3"),
    ("Malo", "3"),
    ("Yanis", "3"),
    ("Marceau", "3"),
    ("Léandre", "3"),
    ("Élie", "3"),
    ("Anaël", "3"),
    ("Samuel", "23"),
    ("Marc", "12"),
    ("Xavier", "12"),
    ("Hadrien", "3"),
)

# ---------------------------------------------------------------------------------------------
# Birth places: INSEE COG codes. (code, name, relative weight ≈ population in thousands,
# first birth year for which the code applies). Communes of the Seine-et-Oise / Seine suburbs
# only exist under these codes from the 1968 reform; overseas departments from 1946; Mayotte's
# 976 from 2011. Births before are simply drawn elsewhere, so the NIR never contradicts the COG.
# ---------------------------------------------------------------------------------------------

_ORDINAL = {1: "1er"}

COMMUNES: tuple[tuple[str, str, float, int], ...] = tuple(
    [(f"751{i:02d}", f"Paris {_ORDINAL.get(i, f'{i}e')} Arrondissement", 105.0, FIRST_YEAR) for i in range(1, 21)]
    + [(f"132{i:02d}", f"Marseille {_ORDINAL.get(i, f'{i}e')} Arrondissement", 55.0, FIRST_YEAR) for i in range(1, 17)]
    + [(f"6938{i}", f"Lyon {_ORDINAL.get(i, f'{i}e')} Arrondissement", 57.0, FIRST_YEAR) for i in range(1, 10)]
    + [
        # Corse: 2A/2B since 1976, département 20 in the NIR of those born before.
        ("2A004", "Ajaccio", 76.0, FIRST_YEAR),
        ("2B033", "Bastia", 47.0, FIRST_YEAR),
        ("2A247", "Porto-Vecchio", 11.0, FIRST_YEAR),
        ("2B096", "Corte", 8.0, FIRST_YEAR),
        ("2B050", "Calvi", 5.5, FIRST_YEAR),
        ("2A041", "Bonifacio", 3.0, FIRST_YEAR),
        ("2A272", "Sartène", 3.7, FIRST_YEAR),
        ("2B042", "Borgo", 10.0, FIRST_YEAR),
        # Outre-mer
        ("97105", "Basse-Terre", 10.0, 1946),
        ("97101", "Les Abymes", 53.0, 1946),
        ("97120", "Pointe-à-Pitre", 15.0, 1946),
        ("97209", "Fort-de-France", 75.0, 1946),
        ("97302", "Cayenne", 63.0, 1946),
        ("97311", "Saint-Laurent-du-Maroni", 45.0, 1946),
        ("97411", "Saint-Denis", 155.0, 1946),
        ("97415", "Saint-Paul", 108.0, 1946),
        ("97416", "Saint-Pierre", 85.0, 1946),
        ("97611", "Mamoudzou", 70.0, 2011),
        # Métropole
        ("31555", "Toulouse", 515.0, FIRST_YEAR),
        ("06088", "Nice", 358.0, FIRST_YEAR),
        ("44109", "Nantes", 328.0, FIRST_YEAR),
        ("34172", "Montpellier", 310.0, FIRST_YEAR),
        ("67482", "Strasbourg", 294.0, FIRST_YEAR),
        ("33063", "Bordeaux", 268.0, FIRST_YEAR),
        ("59350", "Lille", 238.0, FIRST_YEAR),
        ("35238", "Rennes", 231.0, FIRST_YEAR),
        ("83137", "Toulon", 179.0, FIRST_YEAR),
        ("51454", "Reims", 178.0, FIRST_YEAR),
        ("42218", "Saint-Étienne", 173.0, FIRST_YEAR),
        ("76351", "Le Havre", 167.0, FIRST_YEAR),
        ("69266", "Villeurbanne", 164.0, FIRST_YEAR),
        ("21231", "Dijon", 162.0, FIRST_YEAR),
        ("49007", "Angers", 159.0, FIRST_YEAR),
        ("38185", "Grenoble", 156.0, FIRST_YEAR),
        ("30189", "Nîmes", 152.0, FIRST_YEAR),
        ("13001", "Aix-en-Provence", 150.0, FIRST_YEAR),
        ("63113", "Clermont-Ferrand", 146.0, FIRST_YEAR),
        ("72181", "Le Mans", 146.0, FIRST_YEAR),
        ("29019", "Brest", 142.0, FIRST_YEAR),
        ("37261", "Tours", 139.0, FIRST_YEAR),
        ("80021", "Amiens", 136.0, FIRST_YEAR),
        ("74010", "Annecy", 132.0, FIRST_YEAR),
        ("87085", "Limoges", 130.0, FIRST_YEAR),
        ("57463", "Metz", 123.0, FIRST_YEAR),
        ("66136", "Perpignan", 122.0, FIRST_YEAR),
        ("25056", "Besançon", 118.0, FIRST_YEAR),
        ("76540", "Rouen", 118.0, FIRST_YEAR),
        ("45234", "Orléans", 116.0, FIRST_YEAR),
        ("14118", "Caen", 109.0, FIRST_YEAR),
        ("68224", "Mulhouse", 105.0, FIRST_YEAR),
        ("54395", "Nancy", 104.0, FIRST_YEAR),
        ("59512", "Roubaix", 98.0, FIRST_YEAR),
        ("59599", "Tourcoing", 99.0, FIRST_YEAR),
        ("84007", "Avignon", 92.0, FIRST_YEAR),
        ("86194", "Poitiers", 90.0, FIRST_YEAR),
        ("59183", "Dunkerque", 86.0, FIRST_YEAR),
        ("64445", "Pau", 80.0, FIRST_YEAR),
        ("17300", "La Rochelle", 80.0, FIRST_YEAR),
        ("50129", "Cherbourg-en-Cotentin", 78.0, FIRST_YEAR),
        ("06004", "Antibes", 78.0, FIRST_YEAR),
        ("06029", "Cannes", 74.0, FIRST_YEAR),
        ("62193", "Calais", 68.0, FIRST_YEAR),
        ("68066", "Colmar", 67.0, FIRST_YEAR),
        ("29232", "Quimper", 64.0, FIRST_YEAR),
        ("18033", "Bourges", 64.0, FIRST_YEAR),
        ("26362", "Valence", 64.0, FIRST_YEAR),
        ("82121", "Montauban", 63.0, FIRST_YEAR),
        ("10387", "Troyes", 62.0, FIRST_YEAR),
        ("59009", "Villeneuve-d'Ascq", 63.0, FIRST_YEAR),
        ("73065", "Chambéry", 60.0, FIRST_YEAR),
        ("79191", "Niort", 60.0, FIRST_YEAR),
        ("83061", "Fréjus", 60.0, FIRST_YEAR),
        ("56121", "Lorient", 58.0, FIRST_YEAR),
        ("11262", "Narbonne", 58.0, FIRST_YEAR),
        ("83069", "Hyères", 56.0, FIRST_YEAR),
        ("56260", "Vannes", 56.0, FIRST_YEAR),
        ("60057", "Beauvais", 56.0, FIRST_YEAR),
        ("85191", "La Roche-sur-Yon", 55.0, FIRST_YEAR),
        ("64102", "Bayonne", 54.0, FIRST_YEAR),
        ("49099", "Cholet", 54.0, FIRST_YEAR),
        ("02691", "Saint-Quentin", 53.0, FIRST_YEAR),
        ("13004", "Arles", 52.0, FIRST_YEAR),
        ("81004", "Albi", 51.0, FIRST_YEAR),
        ("06069", "Grasse", 51.0, FIRST_YEAR),
        ("53130", "Laval", 49.0, FIRST_YEAR),
        ("27229", "Évreux", 49.0, FIRST_YEAR),
        ("13056", "Martigues", 48.0, FIRST_YEAR),
        ("35288", "Saint-Malo", 47.0, FIRST_YEAR),
        ("41018", "Blois", 47.0, FIRST_YEAR),
        ("19031", "Brive-la-Gaillarde", 47.0, FIRST_YEAR),
        ("30007", "Alès", 46.0, FIRST_YEAR),
        ("11069", "Carcassonne", 46.0, FIRST_YEAR),
        ("90010", "Belfort", 46.0, FIRST_YEAR),
        ("08105", "Charleville-Mézières", 46.0, FIRST_YEAR),
        ("71076", "Chalon-sur-Saône", 45.0, FIRST_YEAR),
        ("22278", "Saint-Brieuc", 44.0, FIRST_YEAR),
        ("65440", "Tarbes", 44.0, FIRST_YEAR),
        ("13047", "Istres", 44.0, FIRST_YEAR),
        ("13103", "Salon-de-Provence", 44.0, FIRST_YEAR),
        ("36044", "Châteauroux", 43.0, FIRST_YEAR),
        ("51108", "Châlons-en-Champagne", 43.0, FIRST_YEAR),
        ("57672", "Thionville", 43.0, FIRST_YEAR),
        ("62041", "Arras", 43.0, FIRST_YEAR),
        ("01053", "Bourg-en-Bresse", 42.0, FIRST_YEAR),
        ("16015", "Angoulême", 42.0, FIRST_YEAR),
        ("05061", "Gap", 41.0, FIRST_YEAR),
        ("62160", "Boulogne-sur-Mer", 41.0, FIRST_YEAR),
        ("59178", "Douai", 40.0, FIRST_YEAR),
        ("28085", "Chartres", 38.0, FIRST_YEAR),
        ("13028", "La Ciotat", 38.0, FIRST_YEAR),
        ("74281", "Thonon-les-Bains", 38.0, FIRST_YEAR),
        ("67180", "Haguenau", 36.0, FIRST_YEAR),
        ("71270", "Mâcon", 35.0, FIRST_YEAR),
        ("89024", "Auxerre", 35.0, FIRST_YEAR),
        ("03185", "Montluçon", 33.0, FIRST_YEAR),
        ("58194", "Nevers", 33.0, FIRST_YEAR),
        ("62498", "Lens", 33.0, FIRST_YEAR),
        ("88160", "Épinal", 32.0, FIRST_YEAR),
        ("40192", "Mont-de-Marsan", 32.0, FIRST_YEAR),
        ("38053", "Bourgoin-Jallieu", 30.0, FIRST_YEAR),
        ("84087", "Orange", 30.0, FIRST_YEAR),
        ("24322", "Périgueux", 29.0, FIRST_YEAR),
        ("32013", "Auch", 22.0, FIRST_YEAR),
        ("52121", "Chaumont", 21.0, FIRST_YEAR),
        ("46042", "Cahors", 20.0, FIRST_YEAR),
        ("50502", "Saint-Lô", 19.0, FIRST_YEAR),
        ("03190", "Moulins", 19.0, FIRST_YEAR),
        ("43157", "Le Puy-en-Velay", 19.0, FIRST_YEAR),
        ("04070", "Digne-les-Bains", 18.0, FIRST_YEAR),
        ("39300", "Lons-le-Saunier", 17.0, FIRST_YEAR),
        ("70550", "Vesoul", 15.0, FIRST_YEAR),
        ("55029", "Bar-le-Duc", 15.0, FIRST_YEAR),
        ("19272", "Tulle", 13.0, FIRST_YEAR),
        ("23096", "Guéret", 13.0, FIRST_YEAR),
        ("48095", "Mende", 12.0, FIRST_YEAR),
        ("09122", "Foix", 10.0, FIRST_YEAR),
        ("07186", "Privas", 8.5, FIRST_YEAR),
        ("15014", "Aurillac", 26.0, FIRST_YEAR),
        ("12202", "Rodez", 24.0, FIRST_YEAR),
        ("61001", "Alençon", 25.0, FIRST_YEAR),
        ("02408", "Laon", 24.0, FIRST_YEAR),
        ("17415", "Saintes", 25.0, FIRST_YEAR),
        ("17299", "Rochefort", 23.0, FIRST_YEAR),
        ("34032", "Béziers", 82.0, FIRST_YEAR),
        ("59606", "Valenciennes", 43.0, FIRST_YEAR),
        ("62119", "Béthune", 25.0, FIRST_YEAR),
        ("44184", "Saint-Nazaire", 75.0, FIRST_YEAR),
        ("31069", "Blagnac", 28.0, FIRST_YEAR),
        ("33281", "Mérignac", 78.0, FIRST_YEAR),
        ("33522", "Talence", 46.0, FIRST_YEAR),
        ("13117", "Vitrolles", 37.0, FIRST_YEAR),
        # Île-de-France outside Paris: these COG codes date from the 1968 reform.
        ("92012", "Boulogne-Billancourt", 119.0, 1968),
        ("93066", "Saint-Denis", 149.0, 1968),
        ("93048", "Montreuil", 112.0, 1968),
        ("92050", "Nanterre", 98.0, 1968),
        ("95018", "Argenteuil", 106.0, 1968),
        ("94081", "Vitry-sur-Seine", 94.0, 1968),
        ("94028", "Créteil", 93.0, 1968),
        ("92004", "Asnières-sur-Seine", 94.0, 1968),
        ("92025", "Colombes", 91.0, 1968),
        ("92026", "Courbevoie", 83.0, 1968),
        ("93005", "Aulnay-sous-Bois", 88.0, 1968),
        ("92063", "Rueil-Malmaison", 83.0, 1968),
        ("78646", "Versailles", 84.0, 1968),
        ("94068", "Saint-Maur-des-Fossés", 77.0, 1968),
        ("92044", "Levallois-Perret", 68.0, 1968),
        ("95127", "Cergy", 71.0, 1968),
        ("91228", "Évry-Courcouronnes", 67.0, 1968),
        ("95500", "Pontoise", 32.0, 1968),
        ("77288", "Melun", 46.0, 1968),
        ("93008", "Bobigny", 57.0, 1968),
    ]
)

# Countries (COG 99xxx): (code, name, weight among births abroad, first birth year the code fits).
PAYS: tuple[tuple[str, str, float, int], ...] = (
    ("99352", "Algérie", 20.0, 1962),
    ("99350", "Maroc", 16.0, 1956),
    ("99139", "Portugal", 8.0, FIRST_YEAR),
    ("99351", "Tunisie", 7.0, 1956),
    ("99127", "Italie", 4.0, FIRST_YEAR),
    ("99134", "Espagne", 4.0, FIRST_YEAR),
    ("99208", "Turquie", 4.0, FIRST_YEAR),
    ("99109", "Allemagne", 3.0, 1990),
    ("99131", "Belgique", 3.0, FIRST_YEAR),
    ("99132", "Royaume-Uni", 2.0, FIRST_YEAR),
    ("99341", "Sénégal", 3.0, FIRST_YEAR),
    ("99335", "Mali", 2.5, FIRST_YEAR),
    ("99326", "Côte d'Ivoire", 3.0, FIRST_YEAR),
    ("99322", "Cameroun", 2.5, FIRST_YEAR),
    ("99312", "République démocratique du Congo", 2.0, FIRST_YEAR),
    ("99324", "Congo", 1.5, FIRST_YEAR),
    ("99397", "Comores", 2.0, 1976),
    ("99333", "Madagascar", 2.0, FIRST_YEAR),
    ("99410", "Haïti", 1.5, FIRST_YEAR),
    ("99216", "Chine", 2.0, FIRST_YEAR),
    ("99243", "Viêt Nam", 1.5, 1976),
    ("99234", "Cambodge", 0.5, FIRST_YEAR),
    ("99241", "Laos", 0.3, FIRST_YEAR),
    ("99114", "Roumanie", 2.0, FIRST_YEAR),
    ("99122", "Pologne", 1.5, FIRST_YEAR),
    ("99123", "Russie", 1.0, FIRST_YEAR),
    ("99155", "Ukraine", 1.0, 1991),
    ("99140", "Suisse", 1.5, FIRST_YEAR),
    ("99137", "Luxembourg", 0.3, FIRST_YEAR),
    ("99138", "Monaco", 0.3, FIRST_YEAR),
    ("99404", "États-Unis", 1.0, FIRST_YEAR),
    ("99401", "Canada", 0.7, FIRST_YEAR),
    ("99416", "Brésil", 1.0, FIRST_YEAR),
    ("99415", "Argentine", 0.2, FIRST_YEAR),
    ("99405", "Mexique", 0.2, FIRST_YEAR),
    ("99223", "Inde", 0.7, FIRST_YEAR),
    ("99235", "Sri Lanka", 0.8, FIRST_YEAR),
    ("99205", "Liban", 1.0, FIRST_YEAR),
    ("99206", "Syrie", 0.5, FIRST_YEAR),
    ("99330", "Guinée", 1.5, FIRST_YEAR),
    ("99336", "Mauritanie", 0.5, FIRST_YEAR),
    ("99390", "Maurice", 0.5, FIRST_YEAR),
    ("99135", "Pays-Bas", 0.5, FIRST_YEAR),
    ("99136", "Irlande", 0.2, FIRST_YEAR),
    ("99126", "Grèce", 0.3, FIRST_YEAR),
    ("99212", "Afghanistan", 0.5, FIRST_YEAR),
    ("99213", "Pakistan", 0.4, FIRST_YEAR),
    ("99327", "Bénin", 0.8, FIRST_YEAR),
    ("99345", "Togo", 0.7, FIRST_YEAR),
    ("99331", "Burkina", 0.5, FIRST_YEAR),
    ("99328", "Gabon", 0.4, FIRST_YEAR),
    ("99217", "Japon", 0.2, FIRST_YEAR),
)

# Population alive on 2026-01-01 per age (thousands, rounded INSEE pyramid shape): the 1946–1974
# baby boom, the war-time hollow of those born 1940–1945, the slow fall of births since 2010.
_PYRAMID = (
    (0, 650),
    (1, 665),
    (5, 700),
    (10, 780),
    (15, 830),
    (18, 830),
    (20, 800),
    (25, 740),
    (30, 780),
    (35, 820),
    (40, 840),
    (45, 810),
    (50, 860),
    (55, 870),
    (60, 840),
    (65, 800),
    (70, 760),
    (75, 740),
    (79, 690),
    (80, 520),
    (82, 430),
    (85, 360),
    (88, 260),
    (90, 190),
    (92, 130),
    (95, 60),
    (98, 25),
    (100, 10),
)


# ---------------------------------------------------------------------------------------------
# Tables built once at import
# ---------------------------------------------------------------------------------------------


def _cumulate(weights: list[float]) -> list[float]:
    total, out = 0.0, []
    for w in weights:
        total += w
        out.append(total)
    return out


def _interpolate(points: tuple[tuple[int, int], ...], x: int) -> float:
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if x0 <= x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return float(points[-1][1])


class _Names:
    """Display forms, INS forms and cumulative weights of one list, for `bisect` draws."""

    __slots__ = ("display", "norm", "cum", "total")

    def __init__(self, entries: list[tuple[str, float]]) -> None:
        seen: set[str] = set()
        self.display: list[str] = []
        self.norm: list[str] = []
        weights: list[float] = []
        for display, weight in entries:
            norm = normalise_name(display)
            if not norm or norm in seen:
                continue
            seen.add(norm)
            self.display.append(display)
            self.norm.append(norm)
            weights.append(weight)
        self.cum = _cumulate(weights)
        self.total = self.cum[-1]


_NOM_TABLE = _Names(list(NOMS))


def _era(year: int) -> int:
    return 0 if year < 1950 else 1 if year < 1975 else 2 if year < 2000 else 3


def _prenom_tables(entries: tuple[tuple[str, str], ...]) -> list[_Names]:
    # A name is 12 times likelier in the generations where it was popular than elsewhere.
    return [_Names([(d, 12.0 if str(era) in eras else 1.0) for d, eras in entries]) for era in range(4)]


_PRENOMS = {"F": _prenom_tables(PRENOMS_F), "M": _prenom_tables(PRENOMS_M)}

_YEARS = list(range(FIRST_YEAR, LAST_YEAR + 1))
_YEAR_CUM = _cumulate([_interpolate(_PYRAMID, LAST_YEAR - y) for y in _YEARS])
_YEAR_TOTAL = _YEAR_CUM[-1]
_YEAR_STR = {y: str(y) for y in _YEARS}
_YY = {y: f"{y % 100:02d}" for y in _YEARS}
_ERA = {y: _era(y) for y in _YEARS}


def _days_of(leap: bool) -> list[tuple[str, str]]:
    lengths = (31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
    return [(f"{m:02d}", f"{d:02d}") for m, n in enumerate(lengths, 1) for d in range(1, n + 1)]


_DAYS = {False: _days_of(False), True: _days_of(True)}
_YEAR_DAYS = {y: _DAYS[y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)] for y in _YEARS}


class _Places:
    """Places valid for a period of birth years: COG codes and cumulative weights."""

    __slots__ = ("codes", "cum", "total")

    def __init__(self, entries: list[tuple[str, float]]) -> None:
        self.codes = [c for c, _ in entries]
        self.cum = _cumulate([w for _, w in entries])
        self.total = self.cum[-1]


def _places_for(table: tuple[tuple[str, str, float, int], ...], year: int) -> _Places:
    return _Places([(code, weight) for code, _, weight, since in table if since <= year])


# The validity years split 1925–2025 into a few periods; one table per period, shared by years.
_PERIOD_STARTS = sorted({FIRST_YEAR} | {s for *_, s in COMMUNES + PAYS})
_COMMUNES_BY_PERIOD = {s: _places_for(COMMUNES, s) for s in _PERIOD_STARTS}
_PAYS_BY_PERIOD = {s: _places_for(PAYS, s) for s in _PERIOD_STARTS}
_COMMUNES_FOR_YEAR = {y: _COMMUNES_BY_PERIOD[max(s for s in _PERIOD_STARTS if s <= y)] for y in _YEARS}
_PAYS_FOR_YEAR = {y: _PAYS_BY_PERIOD[max(s for s in _PERIOD_STARTS if s <= y)] for y in _YEARS}

_PLACE_NAMES = {code: name for code, name, _, _ in COMMUNES} | {code: name for code, name, _, _ in PAYS}
_ORDERS = [f"{i:03d}" for i in range(1000)]
_PSEUDO_MONTHS = [str(m) for m in range(20, 31)]  # NIR month when the birth month is unknown


def birth_place_name(code: str) -> str | None:
    """Name of a birth place of the curated table (commune or country), None when unknown.

    Accepts the NIR form of a Corsican commune before 1976 (`20004` → Ajaccio) as long as it
    designates one commune only.
    """
    text = (code or "").strip().upper()
    name = _PLACE_NAMES.get(text)
    if name is None and len(text) == 5 and text.startswith("20"):
        found = [n for n in (_PLACE_NAMES.get("2A" + text[2:]), _PLACE_NAMES.get("2B" + text[2:])) if n]
        name = found[0] if len(found) == 1 else None
    return name


# ---------------------------------------------------------------------------------------------
# The stream
# ---------------------------------------------------------------------------------------------

_ADULT_POOL_SIZE = 512
_RECENT_SIZE = 256
_PARENT_TRIES = 6


def generate(count: int, seed: int = 2026) -> Iterator[Person]:
    """Yield `count` synthetic identities, the same ones for the same seed.

    Each record is drawn independently except for the deliberate links: twins come as two
    consecutive records, a homonym copies a person from the recent past of the stream, and a
    minor's `ouvrant_droit` is an adult already yielded (when the stream has none yet, a parent is
    yielded first). Matricules are unique in the stream: the order number (3 digits) counts births
    per NIR prefix (sex, year, month, place), exactly what makes real NIRs unique.
    """
    if count < 0:
        raise ValueError("count must be >= 0")
    rng = random.Random(seed)
    rand = rng.random
    bisect_right = bisect.bisect_right

    counters: dict[str, int] = {}
    adults: list[tuple[int, str, str, str]] = []  # (year, matricule, display nom, INS nom)
    adult_next = 0
    recent: list[tuple[str, str, str, tuple[str, ...], str, int, str]] = []
    recent_next = 0

    noms_display, noms_norm, noms_cum, noms_total = (
        _NOM_TABLE.display,
        _NOM_TABLE.norm,
        _NOM_TABLE.cum,
        _NOM_TABLE.total,
    )

    def draw_year() -> int:
        return FIRST_YEAR + bisect_right(_YEAR_CUM, rand() * _YEAR_TOTAL)

    def draw_date(year: int) -> tuple[str, str]:
        """The birth date and the month the NIR carries (a pseudo-month when unknown)."""
        days = _YEAR_DAYS[year]
        mm, dd = days[int(rand() * len(days))]
        r = rand()
        if r < RATE_UNKNOWN_MONTH:
            return _YEAR_STR[year] + "-00-00", _PSEUDO_MONTHS[int(rand() * len(_PSEUDO_MONTHS))]
        if r < RATE_UNKNOWN_MONTH + RATE_UNKNOWN_DAY:
            return _YEAR_STR[year] + "-" + mm + "-00", mm
        return _YEAR_STR[year] + "-" + mm + "-" + dd, mm

    def draw_place(year: int) -> tuple[str, bool]:
        """A COG code valid for the birth year and whether it is abroad."""
        if rand() < RATE_ABROAD:
            table = _PAYS_FOR_YEAR[year]
            return table.codes[bisect_right(table.cum, rand() * table.total)], True
        table = _COMMUNES_FOR_YEAR[year]
        return table.codes[bisect_right(table.cum, rand() * table.total)], False

    def draw_nom() -> tuple[str, str]:
        i = bisect_right(noms_cum, rand() * noms_total)
        return noms_display[i], noms_norm[i]

    def draw_prenoms(sexe: str, year: int, avoid: str = "") -> tuple[str, tuple[str, ...]]:
        table = _PRENOMS[sexe][_ERA[year]]
        display, norm, cum, total = table.display, table.norm, table.cum, table.total
        r = rand()
        n = 1 if r < PRENOM_COUNT_CUM[0] else 2 if r < PRENOM_COUNT_CUM[1] else 3 if r < PRENOM_COUNT_CUM[2] else 4
        chosen: list[int] = []
        while len(chosen) < n:
            i = bisect_right(cum, rand() * total)
            if i in chosen or (not chosen and norm[i] == avoid):
                continue
            chosen.append(i)
        if n == 1:
            i = chosen[0]
            return display[i], (norm[i],)
        return " ".join([display[i] for i in chosen]), tuple([norm[i] for i in chosen])

    def matricule(sexe: str, year: int, nir_month: str, place: str, nia: bool) -> str | None:
        """Next free matricule for this prefix, None when its 999 order numbers are used."""
        if nia:
            first = "7" if sexe == "M" else "8"
        else:
            first = "1" if sexe == "M" else "2"
        # Corsicans born before the 1976 split carry the old département 20 in their NIR.
        nir_place = "20" + place[2:] if year < 1976 and place[1] in "AB" else place
        prefix = first + _YY[year] + nir_month + nir_place
        n = counters.get(prefix, 0) + 1
        if n > 999:
            return None
        counters[prefix] = n
        number = prefix + _ORDERS[n]
        return number + nir_key(number)

    def choose_parent(year: int) -> tuple[int, str, str, str] | None:
        if not adults:
            return None
        size = len(adults)
        for _ in range(_PARENT_TRIES):
            candidate = adults[int(rand() * size)]
            if year - 50 <= candidate[0] <= year - 16:
                return candidate
        return adults[int(rand() * size)]

    def person(
        sexe: str,
        year: int,
        date: str,
        nir_month: str,
        place: str,
        abroad: bool,
        nom: tuple[str, str],
        prenoms: tuple[str, tuple[str, ...]],
        parent: tuple[int, str, str, str] | None,
        rang: int,
        nia: bool,
    ) -> Person:
        nonlocal adult_next, recent_next
        mat = matricule(sexe, year, nir_month, place, nia)
        while mat is None:  # this prefix is full: born in another place of the same period
            place, abroad = draw_place(year)
            mat = matricule(sexe, year, nir_month, place, nia and abroad)
        traits = Traits(nom[1], prenoms[1], sexe, date, place)
        p = Person(traits, mat, parent[1] if parent else None, rang, nom[0], prenoms[0])
        if parent is None:
            entry = (year, mat, nom[0], nom[1])
            if len(adults) < _ADULT_POOL_SIZE:
                adults.append(entry)
            else:
                adults[adult_next] = entry
                adult_next = (adult_next + 1) % _ADULT_POOL_SIZE
        rec = (nom[0], nom[1], prenoms[0], prenoms[1], sexe, year, date)
        if len(recent) < _RECENT_SIZE:
            recent.append(rec)
        else:
            recent[recent_next] = rec
            recent_next = (recent_next + 1) % _RECENT_SIZE
        return p

    def new_adult_parent(child_year: int) -> Person:
        """An adult for a minor when the stream has yielded none yet (only at its very start)."""
        year = max(FIRST_YEAR, child_year - 20 - int(rand() * 20))
        sexe = "F" if rand() < RATE_WOMEN else "M"
        date, nir_month = draw_date(year)
        place, abroad = draw_place(year)
        nia = abroad and rand() < RATE_NIA_AMONG_ABROAD
        return person(sexe, year, date, nir_month, place, abroad, draw_nom(), draw_prenoms(sexe, year), None, 1, nia)

    def family_name(year: int, parent: tuple[int, str, str, str] | None) -> tuple[str, str]:
        if parent is not None and rand() < RATE_CHILD_TAKES_PARENT_NAME:
            nom = (parent[2], parent[3])
        else:
            nom = draw_nom()
        if year >= 2005 and rand() < RATE_DOUBLE_NAME:
            other = draw_nom()
            if other[1] != nom[1]:
                # Since 2011 the two names of a double nom are separated by a single space.
                nom = (nom[0] + " " + other[0], nom[1] + " " + other[1])
        return nom

    produced = 0
    while produced < count:
        batch: list[Person] = []
        r = rand()
        if r < RATE_HOMONYM and recent:
            # Same nom, prénoms, sexe and date as someone met recently; another place, another NIR.
            nom_d, nom_n, pre_d, pre_n, sexe, year, date = recent[int(rand() * len(recent))]
            nir_month = date[5:7] if date[5:7] != "00" else _PSEUDO_MONTHS[int(rand() * len(_PSEUDO_MONTHS))]
            place, abroad = draw_place(year)
            parent = None
            if date > ADULT_BORN_ON_OR_BEFORE:
                parent = choose_parent(year)
                if parent is None:
                    batch.append(new_adult_parent(year))
                    parent = choose_parent(year)
            nia = abroad and rand() < RATE_NIA_AMONG_ABROAD
            batch.append(
                person(sexe, year, date, nir_month, place, abroad, (nom_d, nom_n), (pre_d, pre_n), parent, 1, nia)
            )
        else:
            twins = r > 1.0 - RATE_TWINS
            year = draw_year()
            sexe = "F" if rand() < RATE_WOMEN else "M"
            date, nir_month = draw_date(year)
            place, abroad = draw_place(year)
            parent = None
            if date > ADULT_BORN_ON_OR_BEFORE:
                parent = choose_parent(year)
                if parent is None:
                    batch.append(new_adult_parent(year))
                    parent = choose_parent(year)
            nom = family_name(year, parent)
            prenoms = draw_prenoms(sexe, year)
            nia = abroad and rand() < RATE_NIA_AMONG_ABROAD
            first = person(sexe, year, date, nir_month, place, abroad, nom, prenoms, parent, 1, nia)
            batch.append(first)
            if twins:
                # Same day, place, parent, nom and kind of matricule; about two pairs in three
                # share their sex.
                sexe2 = sexe if rand() < 0.65 else ("M" if sexe == "F" else "F")
                prenoms2 = draw_prenoms(sexe2, year, avoid=prenoms[1][0])
                place2 = first.traits.lieu_naissance
                assert place2 is not None  # every generated person has a place of birth
                nia2 = first.matricule[0] in "78"
                batch.append(
                    person(
                        sexe2, year, date, nir_month, place2, place2.startswith("99"), nom, prenoms2, parent, 2, nia2
                    )
                )
        for p in batch:
            yield p
            produced += 1
            if produced >= count:
                return
