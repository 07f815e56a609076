"""Identitovigilance in a care structure: the local patient index, identity statuses, doublons and collisions."""
