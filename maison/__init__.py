"""Maison: la maison du numérique en santé, runnable.

The national e-health services (INSi, Annuaire Santé, Pro Santé Connect, DMP, MSSanté,
ordonnance numérique) and the client side that Ségur software must implement, in one code base.
"""

__version__ = "0.1.0"
