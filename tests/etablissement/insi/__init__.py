"""Tests of the hospital wing's INSi client and of how the wing reaches INSi."""
