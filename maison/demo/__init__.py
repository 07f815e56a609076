"""The end-to-end scenario of `maison demo`, one module per scene, driving the house over its protocols.

The demo plays everybody outside the national services: a hospital's DPI and identitovigilance
cell, a GP's practice software, a pharmacy's LGO, a patient in Mon espace santé. Each of them
reaches the house the way real software would — FHIR/HTTP, SOAP over mutual TLS, OpenID Connect,
SMTP and IMAP — so the scenario proves the protocols, not the Python objects behind them
(issue 19 §1.4): no scene reads a service's table or calls a service in process. The hospital's
own software (the INSi client, the DMP producer, the MSSanté sender, the PFI, the ordonnance's
paper and DMP copy) is the hospital wing's code, which the demo runs as the hospital would.

What the national operators do at their own desks, where the house offers no protocol (a software
habilitated to INSi, a Pro Santé Connect client registered, an e-CPS activated, a Mon espace santé
account opened, MSSanté operators and mailboxes set up, the directory loaded), is gathered in
`backoffice`, so the exceptions stand in one place with their reasons.

- `scenario`: the order of the scenes, the house started on a port of its own, the closing checks;
- `backoffice`: the operators' acts without a protocol;
- `insi`: INSi's mutual-TLS listener and the DPI's client certificate;
- `admissions`: admissions over FHIR, INSi, a planted doublon merged, the cell's report;
- `professionals`: Pro Santé Connect and the Annuaire Santé;
- `dmp`: the DMP fed at discharge, read by the GP, masked by the patient (Mon espace santé);
- `mss`: the discharge letter over MSSanté, integrated by the GP's PFI, answered by the patient;
- `ordonnance`: the ordonnance numérique, prescribed, printed, dispensed, seen with consent.
"""
