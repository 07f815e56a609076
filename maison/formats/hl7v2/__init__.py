"""HL7 v2.5 as the French hospital speaks it (IHE PAM France 2.11, CI-SIS "Transmission de documents
CDA en HL7v2"): messages parsed by python-hl7, refusals in HL7's own terms, MLLP framing (issue 22).
Both ends use this package: the hospital wing's receivers and the clients that play a GAM or a DPI."""
