"""Identity: INS for patients (referential, INSi, identitovigilance), and later professionals."""
