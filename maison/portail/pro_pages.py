"""What every page of the professional's tools shares: the /pro session of the Pro Santé Connect
login (`psc_connexion.PscConnexion`, the same object pro.py's pages use), the Actor it acts as, CSRF,
and the portal's frame (pro.py's navigation, names and French error pages).

The session keeps the Actor the login established (`Session.actor`): every page hands that Actor to
the same service function the API route calls, so the services decide and audit exactly as for the
API caller. No session, or a session of another portal: the French 401 page. Routes are
`@public(SESSION_PAGE)`: the portal checks its own session (as patient.py and pro.py do).
"""

from __future__ import annotations

from fastapi import Request

from maison.core.actor import Actor
from maison.portail.pro import BASE, COOKIE, NAV
from maison.portail.psc_connexion import PscConnexion
from maison.portail.sessions import Session

__all__ = ["BASE", "COOKIE", "SESSION_PAGE", "ProPages"]

SESSION_PAGE = "page de l'espace professionnel : la session du portail est vérifiée par le portail lui-même"


class ProPages:
    """The session side of a /pro tool's page: who is logged in, as which Actor, and the page's frame."""

    def __init__(self, connexion: PscConnexion) -> None:
        self.connexion = connexion
        self.route_class = connexion.route_class  # errors: the portal's French page, its name and home

    def caller(self, request: Request) -> tuple[Session, Actor]:
        session = self.connexion.session(request)  # 401 without a live session holding an Actor
        assert session.actor is not None
        return session, session.actor

    async def posted(self, request: Request) -> tuple[Session, Actor, dict[str, str]]:
        """A POST of a logged-in page: its session and Actor, and its form once the CSRF token is checked."""
        session, form = await self.connexion.posted(request)
        assert session.actor is not None
        return session, session.actor, form

    def context(self, session: Session, current: str, **more: object) -> dict:
        """base.html's frame, as on pro.py's pages: the portal's navigation, logout, CSRF token."""
        return self.connexion.context(session, NAV, current, **more)
