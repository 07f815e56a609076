"""Tests of the hospital wing's identitovigilance: the local patient index, its cell, doublons."""
