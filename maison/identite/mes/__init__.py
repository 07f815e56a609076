"""Mon espace santé: the patient's login (identifier, password, one-time code) and its tokens."""
