"""`Provider.ensure_client`: the house's own clients (its portals, issue 24) registered at start when
missing, brought to the configured redirect URIs and secret when the public URL or the key store
changed, left alone otherwise; the secret is checked by its hash like any client's."""

from __future__ import annotations

import pytest

from maison.identite.psc.provider import OAuthError, Provider

URI = "http://127.0.0.1:8000/pro/connexion/retour"


def _authenticates(provider: Provider, secret: str) -> bool:
    try:
        provider.authenticate_client(None, {"client_id": "maison-portail-pro", "client_secret": secret})
    except OAuthError:
        return False
    return True


def test_registered_when_missing_then_brought_up_to_date(db):
    provider = Provider(db)
    first = provider.ensure_client("maison-portail-pro", "Maison Pro", [URI], "secret-un")
    assert first.redirect_uris == (URI,) and first.name == "Maison Pro" and not first.ciba
    assert _authenticates(provider, "secret-un") and not _authenticates(provider, "autre")
    assert provider.ensure_client("maison-portail-pro", "Maison Pro", [URI], "secret-un") == first  # unchanged
    moved = "https://maison.example.fr/pro/connexion/retour"  # the house's public URL changed
    again = provider.ensure_client("maison-portail-pro", "Maison Pro", [moved], "secret-deux")
    assert again.redirect_uris == (moved,)
    assert _authenticates(provider, "secret-deux") and not _authenticates(provider, "secret-un")


def test_a_redirect_uri_a_client_could_not_register_is_refused(db):
    with pytest.raises(OAuthError) as refused:
        Provider(db).ensure_client("maison-portail-pro", "Maison Pro", ["http://maison.example.fr/retour"], "s")
    assert refused.value.error == "invalid_redirect_uri"
    assert Provider(db).client("maison-portail-pro") is None
