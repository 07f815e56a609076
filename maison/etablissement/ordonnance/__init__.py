"""The prescriber's software for the ordonnance numérique: the paper copy with its QR code, the copy in
the patient's DMP (N1, and eP-MED-DM N3), written from what the base answered over FHIR."""
