"""The Identité Nationale de Santé: the national referential, the INSi teleservice and its client."""
