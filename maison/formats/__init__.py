"""Wire formats: hardened XML, SOAP 1.2, FHIR helpers, Datamatrix INS."""
