"""Signing a professional in to a portal through Pro Santé Connect, as his browser does it: the portal's
start page, the provider's login page (a test account's password), the callback. Shared by the /pro and
/observatoire tests (`psc_connexion` is the same module for both)."""

from __future__ import annotations

import re

import httpx

from tests.partage.world import PASSWORD


def field(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no field {name} in {html[:2000]}"
    return found.group(1)


def to_callback(client: httpx.Client, base: str, idnatps: str, password: str = PASSWORD) -> httpx.Response:
    """From the portal's button to the provider's answer: the 303 back to the portal's callback."""
    started = client.get(f"{base}/connexion/psc")
    assert started.status_code == 303, started.text
    login_page = client.get(started.headers["location"])
    assert login_page.status_code == 200 and "Pro Santé Connect" in login_page.text, login_page.text
    action = re.search(r'action="([^"]+)"', login_page.text).group(1)
    back = client.post(
        action, data={"request": field(login_page.text, "request"), "idnatps": idnatps, "password": password}
    )
    assert back.status_code == 303, back.text
    return back


def log_in(client: httpx.Client, base: str, idnatps: str, structure: str | None = None) -> httpx.Response:
    """The whole sign-in; with several situations d'exercice, `structure` is the one chosen. Returns the
    portal's last answer (a 303 to its landing page once the session is open)."""
    back = to_callback(client, base, idnatps)
    done = client.get(back.headers["location"])
    if done.status_code == 200 and "connexion/structure" in done.text:
        done = client.post(
            f"{base}/connexion/structure",
            data={"csrf": field(done.text, "csrf"), "choix": field(done.text, "choix"), "structure": structure or ""},
        )
    return done
