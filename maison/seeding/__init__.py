"""Synthetic data for the house: the population the INS referential is filled with, the Annuaire
Santé's practitioners and structures.

Why a package of its own, above the services (DESIGN.md §Layout): the generators describe France's
people and professionals, not a service's rules, and they feed several services (the directory's
practitioners are drawn from the population). The seeding loads what it generates through each
service's own loading functions — the INS referential's `Referential.load`, the Annuaire's
`index.put` — and never writes a service's tables itself (one owner per table, issue 19 §2.1).

- `population`: reproducible French identities (traits, NIR/NIA, carte Vitale rights);
- `referential`: the bulk load of a population into the INS referential (`maison seed`, the demo);
- `directory`: a synthetic Annuaire Santé, and the load of named entries (the demo's cast).
"""
